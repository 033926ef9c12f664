/**
 * `process`: one dataset -> one feature set in the Redis feature store.
 *
 * `{datasetId}` -> `{featureSetVersion, trainRows, testRows, syntheticRows}`. Stratified split, recipe v1 fitted
 * on the training split only, SMOTE on the training split only, then one versioned write made current by an atomic
 * pointer flip. The version is derived from the dataset, the recipe and the split parameters, so a re-run finds
 * the complete set and writes nothing.
 *
 * A dataset of more than `maxRows` labelled passengers is sampled first: a stratified (per outcome, proportional),
 * seeded sample of `maxRows` rows, chosen in Postgres so the other rows are never read. Its feature set version
 * carries the cap (`-s<maxRows>`), its metadata the cap and the sample, and the model artifact both (`sample`).
 *
 * Retention (FEATURE_SETS_KEEP) runs after the flip and never deletes the feature set of the promoted model, read
 * from the model records (`models.promoted`), so `GET /v1/passengers/{id}` keeps working for the model served.
 */
import type pg from 'pg';
import { countDatasetLabels, getDataset, readDatasetPassengers } from '../../shared/adapters/db/datasets.ts';
import { servedFeatureSets } from '../../shared/adapters/db/model-records.ts';
import type { FeatureSetWriter } from '../../shared/adapters/feature-store/store.ts';
import {
  type FeatureSetOptions,
  featureSetVersionFor,
  prepareFeatureSet,
  resolveFeatureSetOptions,
} from '../../shared/core/pipeline.ts';
import { stratifiedSampleSizes } from '../../shared/core/split.ts';
import { AppError } from '../../shared/errors.ts';
import { asObject, type EdgeDeps, makeJsonHandler, requireString } from '../edge.ts';

/** SPLIT_SEED, TEST_SIZE (and the SMOTE neighbours, the recipe version); unset ones take the core's defaults. */
export type ProcessConfig = FeatureSetOptions & {
  /** MAX_TRAINING_ROWS: larger datasets are sampled (stratified, seeded by the split seed) down to this many rows. */
  maxRows?: number | undefined;
};

export interface ProcessDeps extends EdgeDeps {
  pool: pg.Pool;
  featureStore: FeatureSetWriter;
  config: ProcessConfig;
  now?: () => Date;
}

export interface ProcessResult {
  featureSetVersion: string;
  trainRows: number;
  testRows: number;
  syntheticRows: number;
  /** Labelled rows of the dataset, when it was sampled down to the cap (train + test rows are the sample). */
  sampledFrom?: number;
}

export { featureSetVersionFor };

export function parseProcessRequest(body: unknown): { datasetId: string } {
  return { datasetId: requireString(asObject(body), 'datasetId', /^[A-Za-z0-9_-]{1,64}$/) };
}

export async function processDataset(deps: ProcessDeps, datasetId: string): Promise<ProcessResult> {
  const { featureStore, config } = deps;
  const { maxRows, ...featureSetOptions } = config;
  const options = resolveFeatureSetOptions(featureSetOptions);
  // Counted first: whether the dataset is over the cap decides the version (a sample is another feature set).
  const counts = maxRows === undefined ? null : await countDatasetLabels(deps.pool, datasetId);
  const total = counts === null ? 0 : counts[0] + counts[1];
  const sample =
    counts !== null && maxRows !== undefined && total > maxRows
      ? { perLabel: stratifiedSampleSizes(counts, maxRows) as [number, number], seed: options.splitSeed }
      : undefined;
  const version = `${featureSetVersionFor(datasetId, featureSetOptions)}${sample ? `-s${maxRows}` : ''}`;
  // Retention never deletes the feature set of the promoted model (the one being served), asked at deletion time.
  const retention = { protect: () => servedFeatureSets(deps.pool) };
  const done = await featureStore.readMeta(version);
  if (done) {
    await featureStore.activate(version, retention);
    return {
      featureSetVersion: version,
      trainRows: done.trainRows,
      testRows: done.testRows,
      syntheticRows: done.syntheticRows,
      ...(sample ? { sampledFrom: total } : {}),
    };
  }
  const dataset = await getDataset(deps.pool, datasetId);
  if (!dataset) throw new AppError('DATASET_NOT_FOUND', `no dataset ${datasetId}`, { datasetId });
  const passengers = await readDatasetPassengers(deps.pool, datasetId, sample);
  const { recipe, train, test, synthetic } = prepareFeatureSet(passengers, options);
  await featureStore.writeFeatureSet(
    {
      version,
      datasetId,
      featureNames: recipe.featureNames,
      recipe,
      train,
      test,
      synthetic,
      metadata: {
        splitSeed: options.splitSeed,
        testSize: options.testSize,
        smoteK: options.smoteK,
        ...(sample
          ? {
              maxRows: maxRows as number,
              sampledFrom: total,
              sampledDied: sample.perLabel[0],
              sampledSurvived: sample.perLabel[1],
            }
          : {}),
      },
      ...(deps.now ? { createdAt: deps.now() } : {}),
    },
    retention,
  );
  return {
    featureSetVersion: version,
    trainRows: train.X.length,
    testRows: test.X.length,
    syntheticRows: synthetic.X.length,
    ...(sample ? { sampledFrom: total } : {}),
  };
}

export function makeProcessHandler(deps: ProcessDeps) {
  return makeJsonHandler('process', deps, parseProcessRequest, (req) => processDataset(deps, req.datasetId));
}

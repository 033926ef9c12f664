/**
 * `process`: one dataset -> one feature set in the Redis feature store.
 *
 * `{datasetId}` -> `{featureSetVersion, trainRows, testRows, syntheticRows}`. Stratified split, recipe v1 fitted
 * on the training split only, SMOTE on the training split only, then one versioned write made current by an atomic
 * pointer flip. The version is derived from the dataset, the recipe and the split parameters, so a re-run finds
 * the complete set and writes nothing.
 *
 * A dataset of more than `maxRows` labelled passengers is sampled first: a stratified (per outcome, proportional),
 * seeded sample of `maxRows` rows, chosen in Postgres so the other rows are never read. The feature set's metadata
 * records the cap and the sample, and the model artifact carries them (`sample`).
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { countDatasetLabels, getDataset, readDatasetPassengers } from '../../shared/adapters/db/datasets.ts';
import type { FeatureStore } from '../../shared/adapters/feature-store/store.ts';
import { fitRecipe, transform } from '../../shared/core/features.ts';
import { RECIPE_VERSION } from '../../shared/core/schema.ts';
import { smote } from '../../shared/core/smote.ts';
import { stratifiedSampleSizes, stratifiedSplit } from '../../shared/core/split.ts';
import { AppError } from '../../shared/errors.ts';
import { asObject, type EdgeDeps, makeJsonHandler, requireString } from '../edge.ts';

export interface ProcessConfig {
  /** SPLIT_SEED: seeds the split and SMOTE. */
  splitSeed: number;
  /** TEST_SIZE: share of rows held out for testing. */
  testSize: number;
  /** SMOTE neighbours (imbalanced-learn's default 5). */
  smoteK?: number;
  /** MAX_TRAINING_ROWS: larger datasets are sampled (stratified, seeded by the split seed) down to this many rows. */
  maxRows?: number | undefined;
}

export interface ProcessDeps extends EdgeDeps {
  pool: pg.Pool;
  featureStore: FeatureStore;
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

/** `fs-<datasetId>-r<recipe>-<hash of the split parameters>`: same inputs, same version. */
export function featureSetVersionFor(datasetId: string, config: ProcessConfig): string {
  const params = JSON.stringify({
    seed: config.splitSeed,
    testSize: config.testSize,
    smoteK: config.smoteK ?? 5,
    // a cap changes the rows of large datasets only, but versions must differ whenever the rows could
    ...(config.maxRows === undefined ? {} : { maxRows: config.maxRows }),
  });
  const hash = createHash('sha256').update(params).digest('hex').slice(0, 8);
  return `fs-${datasetId}-r${RECIPE_VERSION}-${hash}`;
}

export function parseProcessRequest(body: unknown): { datasetId: string } {
  return { datasetId: requireString(asObject(body), 'datasetId', /^[A-Za-z0-9_-]{1,64}$/) };
}

export async function processDataset(deps: ProcessDeps, datasetId: string): Promise<ProcessResult> {
  const { featureStore, config } = deps;
  const version = featureSetVersionFor(datasetId, config);
  const done = await featureStore.readMeta(version);
  if (done) {
    await featureStore.activate(version);
    const sampledFrom = Number(done.metadata.sampledFrom);
    return {
      featureSetVersion: version,
      trainRows: done.trainRows,
      testRows: done.testRows,
      syntheticRows: done.syntheticRows,
      ...(Number.isFinite(sampledFrom) && sampledFrom > 0 ? { sampledFrom } : {}),
    };
  }
  const dataset = await getDataset(deps.pool, datasetId);
  if (!dataset) throw new AppError('DATASET_NOT_FOUND', `no dataset ${datasetId}`, { datasetId });
  const counts = config.maxRows === undefined ? null : await countDatasetLabels(deps.pool, datasetId);
  const total = counts === null ? 0 : counts[0] + counts[1];
  const sample =
    counts !== null && config.maxRows !== undefined && total > config.maxRows
      ? {
          perLabel: stratifiedSampleSizes(counts, config.maxRows) as [number, number],
          seed: config.splitSeed,
        }
      : undefined;
  const passengers = await readDatasetPassengers(deps.pool, datasetId, sample);
  const labels = passengers.map((p) => p.survived);
  const split = stratifiedSplit(labels, { testSize: config.testSize, seed: config.splitSeed });
  const trainP = split.train.map((i) => passengers[i]!);
  const testP = split.test.map((i) => passengers[i]!);
  const recipe = fitRecipe(trainP);
  const train = {
    ids: trainP.map((p) => p.passengerId),
    X: transform(recipe, trainP),
    y: trainP.map((p) => p.survived),
  };
  const test = { ids: testP.map((p) => p.passengerId), X: transform(recipe, testP), y: testP.map((p) => p.survived) };
  const synthetic = smote(train.X, train.y, { k: config.smoteK ?? 5, seed: config.splitSeed });
  await featureStore.writeFeatureSet({
    version,
    datasetId,
    featureNames: recipe.featureNames,
    recipe,
    train,
    test,
    synthetic,
    metadata: {
      splitSeed: config.splitSeed,
      testSize: config.testSize,
      smoteK: config.smoteK ?? 5,
      ...(sample
        ? {
            maxRows: config.maxRows as number,
            sampledFrom: total,
            sampledDied: sample.perLabel[0],
            sampledSurvived: sample.perLabel[1],
          }
        : {}),
    },
    ...(deps.now ? { createdAt: deps.now() } : {}),
  });
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

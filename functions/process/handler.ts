/**
 * `process`: one dataset -> one feature set in the Redis feature store.
 *
 * `{datasetId}` -> `{featureSetVersion, trainRows, testRows, syntheticRows}`. Stratified split, recipe v1 fitted
 * on the training split only, SMOTE on the training split only, then one versioned write made current by an atomic
 * pointer flip. The version is derived from the dataset, the recipe and the split parameters, so a re-run finds
 * the complete set and writes nothing.
 */
import type pg from 'pg';
import { getDataset, readDatasetPassengers } from '../../shared/adapters/db/datasets.ts';
import type { FeatureSetWriter } from '../../shared/adapters/feature-store/store.ts';
import {
  type FeatureSetOptions,
  featureSetVersionFor,
  prepareFeatureSet,
  resolveFeatureSetOptions,
} from '../../shared/core/pipeline.ts';
import { AppError } from '../../shared/errors.ts';
import { asObject, type EdgeDeps, makeJsonHandler, requireString } from '../edge.ts';

/** SPLIT_SEED, TEST_SIZE (and the SMOTE neighbours, the recipe version); unset ones take the core's defaults. */
export type ProcessConfig = FeatureSetOptions;

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
}

export { featureSetVersionFor };

export function parseProcessRequest(body: unknown): { datasetId: string } {
  return { datasetId: requireString(asObject(body), 'datasetId', /^[A-Za-z0-9_-]{1,64}$/) };
}

export async function processDataset(deps: ProcessDeps, datasetId: string): Promise<ProcessResult> {
  const { featureStore, config } = deps;
  const version = featureSetVersionFor(datasetId, config);
  const done = await featureStore.readMeta(version);
  if (done) {
    await featureStore.activate(version);
    return {
      featureSetVersion: version,
      trainRows: done.trainRows,
      testRows: done.testRows,
      syntheticRows: done.syntheticRows,
    };
  }
  const dataset = await getDataset(deps.pool, datasetId);
  if (!dataset) throw new AppError('DATASET_NOT_FOUND', `no dataset ${datasetId}`, { datasetId });
  const passengers = await readDatasetPassengers(deps.pool, datasetId);
  const options = resolveFeatureSetOptions(config);
  const { recipe, train, test, synthetic } = prepareFeatureSet(passengers, options);
  await featureStore.writeFeatureSet({
    version,
    datasetId,
    featureNames: recipe.featureNames,
    recipe,
    train,
    test,
    synthetic,
    metadata: { splitSeed: options.splitSeed, testSize: options.testSize, smoteK: options.smoteK },
    ...(deps.now ? { createdAt: deps.now() } : {}),
  });
  return {
    featureSetVersion: version,
    trainRows: train.X.length,
    testRows: test.X.length,
    syntheticRows: synthetic.X.length,
  };
}

export function makeProcessHandler(deps: ProcessDeps) {
  return makeJsonHandler('process', deps, parseProcessRequest, (req) => processDataset(deps, req.datasetId));
}

/**
 * `process`: one dataset -> one feature set in the Redis feature store.
 *
 * `{datasetId}` -> `{featureSetVersion, trainRows, testRows, syntheticRows}`. Stratified split, recipe v1 fitted
 * on the training split only, SMOTE on the training split only, then one versioned write made current by an atomic
 * pointer flip. The version is derived from the dataset, the recipe and the split parameters, so a re-run finds
 * the complete set and writes nothing.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { getDataset, readDatasetPassengers } from '../../shared/adapters/db/datasets.ts';
import type { FeatureStore } from '../../shared/adapters/feature-store/store.ts';
import { fitRecipe, transform } from '../../shared/core/features.ts';
import { RECIPE_VERSION } from '../../shared/core/schema.ts';
import { smote } from '../../shared/core/smote.ts';
import { stratifiedSplit } from '../../shared/core/split.ts';
import { AppError } from '../../shared/errors.ts';
import { asObject, type EdgeDeps, makeJsonHandler, requireString } from '../edge.ts';

export interface ProcessConfig {
  /** SPLIT_SEED: seeds the split and SMOTE. */
  splitSeed: number;
  /** TEST_SIZE: share of rows held out for testing. */
  testSize: number;
  /** SMOTE neighbours (imbalanced-learn's default 5). */
  smoteK?: number;
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
}

/** `fs-<datasetId>-r<recipe>-<hash of the split parameters>`: same inputs, same version. */
export function featureSetVersionFor(datasetId: string, config: ProcessConfig): string {
  const params = JSON.stringify({ seed: config.splitSeed, testSize: config.testSize, smoteK: config.smoteK ?? 5 });
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
    metadata: { splitSeed: config.splitSeed, testSize: config.testSize, smoteK: config.smoteK ?? 5 },
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

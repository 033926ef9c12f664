/**
 * Recipe v2 through the real pipeline: `process` writes the feature set and its group table to Redis, `train`
 * trains from Redis and embeds the recipe (group table included) in the artifact. The online features in Redis and
 * the features the artifact computes from a raw passenger must then give identical probabilities on every row.
 * Real Postgres, real Redis, the GCS emulator and the Pub/Sub emulator.
 */
import fs from 'node:fs';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { PubSub } from '@google-cloud/pubsub';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processDataset } from '../functions/process/handler.ts';
import { makeTrainHandler, type TrainConfig } from '../functions/train/handler.ts';
import { localPubSubClient, type PubSubEmulator, startPubSubEmulator } from '../local/pubsub/pubsub-emulator.ts';
import { loadDataset } from '../shared/adapters/db/datasets.ts';
import { keysFor } from '../shared/adapters/feature-store/layout.ts';
import { createFeatureStore, type FeatureStore } from '../shared/adapters/feature-store/store.ts';
import { readJson } from '../shared/adapters/storage.ts';
import { readPassengerCsv, validatePassengerCsv } from '../shared/core/csv-stream.ts';
import { loadModel } from '../shared/core/model.ts';
import { FEATURE_NAMES_V2 } from '../shared/core/schema.ts';
import { type DataPlaneEnv, MODELS_BUCKET, post, startDataPlane } from './support/data-plane.ts';
import { connect, deleteByPrefix, uniquePrefix } from './support/redis.ts';

const TITANIC = fs.readFileSync(new URL('../data/titanic.csv', import.meta.url), 'utf8');
const config: TrainConfig = {
  modelsBucket: MODELS_BUCKET,
  minAccuracy: 0,
  candidates: 2,
  folds: 3,
  repeats: 1,
  seed: 42,
  space: { nEstimators: [15], maxFeatures: [6, 12], maxDepth: [6], minNumSamples: [3], gainThreshold: [0] },
  topic: 'model-published',
};

let env: DataPlaneEnv;
let redis: Redis;
let prefix: string;
let pubsubEmulator: PubSubEmulator;
let pubsub: PubSub;
let featureStore: FeatureStore;
let featureSetVersion: string;

beforeAll(async () => {
  [env, pubsubEmulator] = await Promise.all([startDataPlane(), startPubSubEmulator({ pullWaitMs: 200 })]);
  pubsub = localPubSubClient(pubsubEmulator.host);
  await pubsub.createTopic('model-published');
  redis = connect();
  prefix = uniquePrefix('recipe-v2-test');
  featureStore = createFeatureStore(redis, { prefix });
  const { datasetId } = await loadDataset(
    env.db.pool,
    { bucket: 'b', object: 'titanic.csv', generation: '1' },
    validatePassengerCsv(TITANIC, { requireSurvived: true }),
    { maxRejectedShare: 0.05, startedAt: new Date() },
  );
  ({ featureSetVersion } = await processDataset(
    { pool: env.db.pool, featureStore, logger: env.logger, config: { recipeVersion: 2, splitSeed: 42 } },
    datasetId,
  ));
  http(
    'train-v2',
    makeTrainHandler({ pool: env.db.pool, featureStore, storage: env.storage, pubsub, logger: env.logger, config }),
  );
});
afterAll(async () => {
  await deleteByPrefix(redis, prefix);
  await redis?.quit();
  await pubsub?.close();
  await pubsubEmulator?.close();
  await env?.close();
});

describe('recipe v2 through process and train', () => {
  it('stores the group table as its own key beside a recipe without it, and reads the whole recipe back', async () => {
    expect(featureSetVersion).toMatch(/-r2-/);
    const k = keysFor(prefix, featureSetVersion);
    const recipeKey = JSON.parse((await redis.get(k.recipe))!);
    expect(recipeKey.groups).toBeUndefined();
    const groups = JSON.parse((await redis.get(k.groups))!);
    expect(groups.members).toHaveLength(712);
    const m = await featureStore.readMatrices(featureSetVersion);
    expect(m!.recipe.version).toBe(2);
    expect(m!.recipe.version === 2 && m!.recipe.groups).toEqual(groups);
    expect(m!.meta.featureNames).toEqual([...FEATURE_NAMES_V2]);
    expect(Array.from(m!.trainIds)).toHaveLength(712);
  });

  it('gives identical probabilities from the Redis features and from the artifact on every row of the data', async () => {
    const res = await post(getTestServer('train-v2'), { featureSetVersion });
    expect(res.status).toBe(200);
    const stored = await readJson(env.storage, MODELS_BUCKET, `models/${res.body.modelVersion}/model.json`);
    const model = loadModel(stored!.value);
    expect(model.artifact.recipe.version).toBe(2);

    const { rows } = await readPassengerCsv(TITANIC, { requireSurvived: true });
    expect(rows).toHaveLength(891);
    let compared = 0;
    for (const { passenger } of rows) {
      const online = await featureStore.readEntity(featureSetVersion, passenger.passengerId);
      const [fromArtifact] = model.predict([passenger]);
      expect(Array.from(online!.values)).toEqual(fromArtifact!.features);
      expect(model.forest.probability(Array.from(online!.values))).toBe(fromArtifact!.probability);
      compared++;
    }
    expect(compared).toBe(891);
  });
});

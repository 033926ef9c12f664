/**
 * The `process` function through the functions-framework test server, against real Postgres and real Redis.
 */
import fs from 'node:fs';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featureSetVersionFor, makeProcessHandler } from '../functions/process/handler.ts';
import { loadDataset } from '../shared/adapters/db/datasets.ts';
import { createRedis } from '../shared/adapters/feature-store/redis-client.ts';
import { createFeatureStore } from '../shared/adapters/feature-store/store.ts';
import { validatePassengerCsv } from '../shared/core/csv-stream.ts';
import { FEATURE_SET_DEFAULTS } from '../shared/core/pipeline.ts';
import { RECIPE_FEATURES } from '../shared/core/schema.ts';
import { type DataPlaneEnv, post, startDataPlane } from './support/data-plane.ts';
import { connect, countByPrefix, deleteByPrefix, startCuttingProxy, uniquePrefix } from './support/redis.ts';

const TITANIC = fs.readFileSync(new URL('../data/titanic.csv', import.meta.url), 'utf8');
const config = { splitSeed: 42, testSize: 0.2 };

let env: DataPlaneEnv;
let redis: Redis;
let prefix: string;
let datasetId: string;
const store = () => createFeatureStore(redis, { prefix });

beforeAll(async () => {
  env = await startDataPlane();
  redis = connect();
  prefix = uniquePrefix('process-test');
  const loaded = await loadDataset(
    env.db.pool,
    { bucket: 'b', object: 'titanic.csv', generation: '1' },
    validatePassengerCsv(TITANIC, { requireSurvived: true }),
    { maxRejectedShare: 0.05, startedAt: new Date() },
  );
  datasetId = loaded.datasetId;
  const deps = { pool: env.db.pool, logger: env.logger, config };
  http('process', makeProcessHandler({ ...deps, featureStore: store() }));
  const down = createRedis({ url: 'redis://127.0.0.1:1' });
  http('process-redis-down', makeProcessHandler({ ...deps, featureStore: createFeatureStore(down, { prefix }) }));
});
afterAll(async () => {
  await deleteByPrefix(redis, prefix);
  await redis.quit();
  await env?.close();
});

describe('process', () => {
  it('writes the split, SMOTE-balanced feature set of a dataset and makes it current', async () => {
    const res = await post(getTestServer('process'), { datasetId });
    expect(res.status).toBe(200);
    const version = featureSetVersionFor(datasetId, config);
    expect(res.body).toEqual({ featureSetVersion: version, trainRows: 712, testRows: 179, syntheticRows: 166 });
    expect(await store().currentVersion()).toBe(version);
    const m = await store().readMatrices(version);
    expect(m!.meta).toMatchObject({ datasetId, trainRows: 712, testRows: 179, syntheticRows: 166, entities: 891 });
    // the default recipe (v2: wins on repeated CV, docs/training.md)
    expect(m!.meta.featureNames).toEqual([...RECIPE_FEATURES[FEATURE_SET_DEFAULTS.recipeVersion]]);
    // SMOTE balances the training split: as many survivors (real + synthetic) as non-survivors.
    const trainSurvivors = m!.train.y.reduce((a, b) => a + b, 0);
    expect(trainSurvivors + m!.synthetic.y.length).toBe(712 - trainSurvivors);
    // The fills are learned from the training split (passenger 1: male, 3rd class, 22, fare 7.25, from S).
    const e = await store().readEntity(version, 1);
    expect(e!.features).toMatchObject({ Pclass: 3, Sex: 0, Age: 22, Fare: 7.25, Embarked: 2, Familysize: 2, Title: 0 });
    expect(m!.recipe.fills.age).toBeGreaterThan(20);
  });

  it('writes nothing when the same dataset is processed again', async () => {
    const version = featureSetVersionFor(datasetId, config);
    await redis.unlink(`${prefix}:${version}:e:2`);
    const res = await post(getTestServer('process'), { datasetId });
    expect(res.status).toBe(200);
    expect(res.body.featureSetVersion).toBe(version);
    expect(await redis.exists(`${prefix}:${version}:e:2`)).toBe(0);
  });

  it('answers 404 for a dataset that does not exist and 400 for a malformed id', async () => {
    const missing = await post(getTestServer('process'), { datasetId: 'ds-0000000000000000' });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('DATASET_NOT_FOUND');
    const bad = await post(getTestServer('process'), { datasetId: 'x y' });
    expect(bad.status).toBe(400);
  });

  it('answers 503 when Redis is unreachable', async () => {
    const res = await post(getTestServer('process-redis-down'), { datasetId });
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ error: { code: 'UNAVAILABLE', message: 'the feature store is unavailable' } });
  });

  it('answers 503 when Redis dies in the middle of the write, leaves the previous set current, and the retry succeeds', async () => {
    const other = { splitSeed: 7, testSize: 0.25 };
    const proxy = await startCuttingProxy(6379, 60_000);
    const viaProxy = createRedis({ url: proxy.url });
    try {
      http(
        'process-cut',
        makeProcessHandler({
          pool: env.db.pool,
          logger: env.logger,
          config: other,
          featureStore: createFeatureStore(viaProxy, { prefix, chunkSize: 100 }),
        }),
      );
      const before = await store().currentVersion();
      const res = await post(getTestServer('process-cut'), { datasetId });
      expect(res.status).toBe(503);
      const version = featureSetVersionFor(datasetId, other);
      expect(await store().currentVersion()).toBe(before);
      expect(await store().readMeta(version)).toBeNull();
      expect(await countByPrefix(redis, `${prefix}:${version}:*`)).toBeGreaterThan(1); // more than the ids key: cut midway

      http(
        'process-retry',
        makeProcessHandler({ pool: env.db.pool, logger: env.logger, config: other, featureStore: store() }),
      );
      const retry = await post(getTestServer('process-retry'), { datasetId });
      expect(retry.status).toBe(200);
      expect(retry.body).toMatchObject({ featureSetVersion: version, trainRows: 668, testRows: 223 });
      expect(await store().currentVersion()).toBe(version);
    } finally {
      viaProxy.disconnect();
      await proxy.close();
    }
  });
});

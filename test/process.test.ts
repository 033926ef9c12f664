/**
 * The `process` function through the functions-framework test server, against real Postgres and real Redis.
 */
import fs from 'node:fs';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featureSetVersionFor, makeProcessHandler } from '../functions/process/handler.ts';
import { loadDataset } from '../shared/adapters/db/datasets.ts';
import { registerModel } from '../shared/adapters/db/model-records.ts';
import { recordPromotion } from '../shared/adapters/db/promotions.ts';
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

describe('retention and the served model', () => {
  /** Registers a model trained on `featureSetVersion` and promotes it, as `train` records it. */
  async function promoteModelOn(version: string, featureSetVersion: string): Promise<void> {
    await registerModel(env.db.pool, {
      version,
      datasetId,
      featureSetVersion,
      uri: `gs://models/models/${version}/model.json`,
      metrics: { accuracy: 0.8 },
      params: {},
      createdAt: new Date(),
    });
    await recordPromotion(env.db.pool, {
      action: 'promote',
      modelVersion: version,
      previousVersion: null,
      at: new Date().toISOString(),
      actor: 'test',
      reason: 'test',
    });
  }

  it('never prunes the feature set of the promoted model, however many newer sets are written, and prunes it once it is no longer served', async () => {
    const keepPrefix = uniquePrefix('process-served');
    // keep 1 and no grace period: every older set is a candidate for deletion at each write.
    const retained = createFeatureStore(redis, { prefix: keepPrefix, keep: 1, pruneGraceMs: 0 });
    // process runs as its own database role, with only the grants it has in the cloud.
    const asProcess = new pg.Pool({ ...env.db.config, max: 2, options: '-c role=pipeline_process' });
    asProcess.on('error', () => {});
    const configs = [301, 302, 303, 304].map((splitSeed) => ({ splitSeed, testSize: 0.2 }));
    const versions = configs.map((c) => featureSetVersionFor(datasetId, c));
    const run = async (i: number) => {
      const name = `process-served-${i}`;
      http(
        name,
        makeProcessHandler({ pool: asProcess, logger: env.logger, config: configs[i]!, featureStore: retained }),
      );
      const res = await post(getTestServer(name), { datasetId });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.featureSetVersion).toBe(versions[i]);
    };
    try {
      await run(0);
      await promoteModelOn('m-served-0', versions[0]!);
      await run(1);
      await run(2);
      // The served model's set survives; the unserved set between is gone, every key of it.
      expect(await retained.readMeta(versions[0]!)).not.toBeNull();
      expect(await retained.readEntity(versions[0]!, 1)).not.toBeNull();
      expect(await retained.readMatrices(versions[0]!)).not.toBeNull();
      expect(await retained.readMeta(versions[1]!)).toBeNull();
      expect(await countByPrefix(redis, `${keepPrefix}:${versions[1]}:*`)).toBe(0);
      expect(await retained.currentVersion()).toBe(versions[2]);

      // A newer model is promoted on the third set: the first is no longer served, and goes at the next write.
      await promoteModelOn('m-served-2', versions[2]!);
      await run(3);
      expect(await countByPrefix(redis, `${keepPrefix}:${versions[0]}:*`)).toBe(0);
      expect(await retained.readMeta(versions[2]!)).not.toBeNull();
      expect(await redis.zrevrange(`${keepPrefix}:versions`, 0, -1)).toEqual([versions[3], versions[2]]);
    } finally {
      await asProcess.end();
      await deleteByPrefix(redis, keepPrefix);
    }
  });
});

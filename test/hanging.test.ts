/**
 * Dependencies that accept the connection and never answer. Each pipeline function, given a Postgres holding a
 * lock, a Redis behind a black hole, or a GCS that sends headers and stalls, answers the retryable 503 (the
 * workflow retries it) within its configured budget, and writes nothing. The wall time of each case up to its 503
 * is printed (`hang:` lines) for the record.
 */
import fs from 'node:fs';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { PubSub } from '@google-cloud/pubsub';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storageClient } from '../functions/clients.ts';
import { makeLoadHandler } from '../functions/load/handler.ts';
import { makeProcessHandler, processDataset } from '../functions/process/handler.ts';
import { makeTrainHandler, modelVersionFor, type TrainConfig } from '../functions/train/handler.ts';
import { localPubSubClient, type PubSubEmulator, startPubSubEmulator } from '../local/pubsub/pubsub-emulator.ts';
import { loadDataset } from '../shared/adapters/db/datasets.ts';
import { createPool } from '../shared/adapters/db/pool.ts';
import { createRedis } from '../shared/adapters/feature-store/redis-client.ts';
import { createFeatureStore } from '../shared/adapters/feature-store/store.ts';
import { validatePassengerCsv } from '../shared/core/csv-stream.ts';
import {
  count,
  DATA_BUCKET,
  type DataPlaneEnv,
  MODELS_BUCKET,
  post,
  startDataPlane,
  upload,
} from './support/data-plane.ts';
import { type Hole, type StallingProxy, startBlackHole, startStallingProxy, timed } from './support/hang.ts';
import { connect, deleteByPrefix, uniquePrefix } from './support/redis.ts';

const TITANIC = fs.readFileSync(new URL('../data/titanic.csv', import.meta.url), 'utf8');
/** The budgets the hanging clients get here: small, so the suite stays fast; production defaults are larger. */
const BUDGET = { lockTimeoutMs: 1_000, connectTimeoutMs: 1_000, redisCommandMs: 1_000, storageMs: 1_000 };
/** Each case must end well inside this: the budget, plus retries, plus the slow shared machine. */
const WALL_LIMIT_MS = 8_000;
const trainConfig: TrainConfig = {
  modelsBucket: MODELS_BUCKET,
  minAccuracy: 0.5,
  candidates: 1,
  folds: 2,
  seed: 42,
  workers: 0,
  space: { nEstimators: [5], maxFeatures: [4], maxDepth: [4], minNumSamples: [3], gainThreshold: [0] },
  topic: 'model-published',
};

let env: DataPlaneEnv;
let redis: Redis;
let prefix: string;
let pubsubEmulator: PubSubEmulator;
let pubsub: PubSub;
let datasetId: string;
let featureSetVersion: string;
let redisHole: Hole;
let pgHole: Hole;
let gcsStalledAll: StallingProxy;
let gcsStalledBody: StallingProxy;
const pools: pg.Pool[] = [];
const clients: Redis[] = [];

const lockedPool = () => {
  const pool = createPool({ ...env.db.config, lockTimeoutMs: BUDGET.lockTimeoutMs });
  pool.on('error', () => {});
  pools.push(pool);
  return pool;
};
const blackHolePool = () => {
  const pool = createPool({ ...env.db.config, port: pgHole.port, connectTimeoutMs: BUDGET.connectTimeoutMs });
  pool.on('error', () => {});
  pools.push(pool);
  return pool;
};
const blackHoleStore = () => {
  const client = createRedis({ url: redisHole.url, commandTimeoutMs: BUDGET.redisCommandMs });
  clients.push(client);
  return createFeatureStore(client, { prefix });
};
const storageVia = (proxy: StallingProxy) =>
  storageClient(proxy.url, 'local', { timeoutMs: BUDGET.storageMs, maxRetries: 1 });

/** Holds an ACCESS EXCLUSIVE lock on `table` while `work` runs (another session's long migration, say). */
async function whileLocked<T>(table: string, work: () => Promise<T>): Promise<T> {
  const holder = new pg.Client(env.db.config);
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    return await work();
  } finally {
    await holder.query('ROLLBACK').catch(() => {});
    await holder.end();
  }
}

function record(label: string, ms: number): void {
  console.log(`hang: ${label}: 503 after ${ms} ms`);
}

beforeAll(async () => {
  [env, pubsubEmulator, redisHole, pgHole] = await Promise.all([
    startDataPlane(),
    startPubSubEmulator(),
    startBlackHole('redis'),
    startBlackHole('postgres'),
  ]);
  gcsStalledAll = await startStallingProxy(env.gcs.url, () => true);
  gcsStalledBody = await startStallingProxy(env.gcs.url, (req) => (req.url ?? '').includes('alt=media'), {
    bodyBytes: 200,
  });
  pubsub = localPubSubClient(pubsubEmulator.host);
  await pubsub.createTopic('model-published');
  redis = connect();
  prefix = uniquePrefix('hang-test');
  ({ datasetId } = await loadDataset(
    env.db.pool,
    { bucket: 'b', object: 'titanic.csv', generation: '1' },
    validatePassengerCsv(TITANIC, { requireSurvived: true }),
    { maxRejectedShare: 0.05, startedAt: new Date() },
  ));
  ({ featureSetVersion } = await processDataset(
    {
      pool: env.db.pool,
      featureStore: createFeatureStore(redis, { prefix }),
      logger: env.logger,
      config: { splitSeed: 42, testSize: 0.2 },
    },
    datasetId,
  ));
});
afterAll(async () => {
  await deleteByPrefix(redis, prefix);
  await Promise.allSettled([
    redis?.quit(),
    ...clients.map((c) => c.disconnect()),
    ...pools.map((p) => p.end()),
    pubsub?.close(),
  ]);
  await Promise.allSettled([
    redisHole?.close(),
    pgHole?.close(),
    gcsStalledAll?.close(),
    gcsStalledBody?.close(),
    pubsubEmulator?.close(),
  ]);
  await env?.close();
});

const expect503 = (res: { status: number; body: { error?: { code?: string } } }) => {
  expect(res.status).toBe(503);
  expect(res.body.error?.code).toBe('UNAVAILABLE');
};

describe('load with a dependency that hangs', () => {
  const loadDeps = () => ({
    pool: env.db.pool,
    storage: env.storage,
    logger: env.logger,
    config: { maxUploadBytes: 104_857_600, maxRejectedShare: 0.05 },
  });

  it('answers 503 within its lock timeout when Postgres holds a lock on the datasets, and writes nothing', async () => {
    const name = 'uploads/hang-pg-lock.csv';
    const generation = await upload(env.storage, name, TITANIC);
    http('load-pg-locked', makeLoadHandler({ ...loadDeps(), pool: lockedPool() }));
    const { value: res, ms } = await whileLocked('datasets', () =>
      timed(() => post(getTestServer('load-pg-locked'), { bucket: DATA_BUCKET, name, generation })),
    );
    record('load, Postgres holding a lock', ms);
    expect503(res);
    expect(res.body).toEqual({ error: { code: 'UNAVAILABLE', message: 'the database is unavailable' } });
    expect(ms).toBeGreaterThanOrEqual(BUDGET.lockTimeoutMs - 50);
    expect(ms).toBeLessThan(WALL_LIMIT_MS);
    expect(await count(env.db, 'datasets', 'object = $1', [name])).toBe(0);
  });

  it('answers 503 within its connect timeout when Postgres accepts the connection and never answers', async () => {
    http('load-pg-hole', makeLoadHandler({ ...loadDeps(), pool: blackHolePool() }));
    const { value: res, ms } = await timed(() =>
      post(getTestServer('load-pg-hole'), { bucket: DATA_BUCKET, name: 'x.csv', generation: '1' }),
    );
    record('load, Postgres black hole', ms);
    expect503(res);
    expect(pgHole.accepted()).toBeGreaterThan(0);
    expect(ms).toBeLessThan(WALL_LIMIT_MS);
  });

  it('answers 503 when GCS sends the metadata headers and stalls, and writes nothing', async () => {
    const name = 'uploads/hang-gcs-meta.csv';
    const generation = await upload(env.storage, name, TITANIC);
    http('load-gcs-stalled', makeLoadHandler({ ...loadDeps(), storage: storageVia(gcsStalledAll) }));
    const { value: res, ms } = await timed(() =>
      post(getTestServer('load-gcs-stalled'), { bucket: DATA_BUCKET, name, generation }),
    );
    record('load, GCS stalls after the headers (metadata)', ms);
    expect(res.body).toEqual({ error: { code: 'UNAVAILABLE', message: 'cloud storage is unavailable' } });
    expect(gcsStalledAll.stalled()).toBeGreaterThan(0);
    expect(ms).toBeLessThan(WALL_LIMIT_MS);
    expect(await count(env.db, 'datasets', 'object = $1', [name])).toBe(0);
  });

  it('answers 503 when the download sends its headers and a few bytes then stalls, and writes nothing', async () => {
    const name = 'uploads/hang-gcs-body.csv';
    const generation = await upload(env.storage, name, TITANIC);
    http('load-gcs-body-stalled', makeLoadHandler({ ...loadDeps(), storage: storageVia(gcsStalledBody) }));
    const { value: res, ms } = await timed(() =>
      post(getTestServer('load-gcs-body-stalled'), { bucket: DATA_BUCKET, name, generation }),
    );
    record('load, GCS download stalls after headers + 200 bytes', ms);
    expect(res.body).toEqual({ error: { code: 'UNAVAILABLE', message: 'cloud storage is unavailable' } });
    expect(gcsStalledBody.stalled()).toBeGreaterThan(0);
    expect(ms).toBeLessThan(WALL_LIMIT_MS);
    expect(await count(env.db, 'datasets', 'object = $1', [name])).toBe(0);
    expect(await count(env.db, 'passengers', 'true')).toBe(891); // only the dataset loaded before
  });
});

describe('process with a dependency that hangs', () => {
  const processDeps = () => ({
    pool: env.db.pool,
    featureStore: createFeatureStore(redis, { prefix }),
    logger: env.logger,
    config: { splitSeed: 9, testSize: 0.2 },
  });

  it('answers 503 within its lock timeout when Postgres holds a lock on the datasets', async () => {
    http('process-pg-locked', makeProcessHandler({ ...processDeps(), pool: lockedPool() }));
    const { value: res, ms } = await whileLocked('datasets', () =>
      timed(() => post(getTestServer('process-pg-locked'), { datasetId })),
    );
    record('process, Postgres holding a lock', ms);
    expect(res.body).toEqual({ error: { code: 'UNAVAILABLE', message: 'the database is unavailable' } });
    expect(ms).toBeLessThan(WALL_LIMIT_MS);
  });

  it('answers 503 within its command timeout when Redis accepts the connection and never answers', async () => {
    const before = await createFeatureStore(redis, { prefix }).currentVersion();
    http('process-redis-hole', makeProcessHandler({ ...processDeps(), featureStore: blackHoleStore() }));
    const { value: res, ms } = await timed(() => post(getTestServer('process-redis-hole'), { datasetId }));
    record('process, Redis black hole', ms);
    expect(res.body).toEqual({ error: { code: 'UNAVAILABLE', message: 'the feature store is unavailable' } });
    expect(redisHole.accepted()).toBeGreaterThan(0);
    expect(ms).toBeLessThan(WALL_LIMIT_MS);
    expect(await createFeatureStore(redis, { prefix }).currentVersion()).toBe(before);
  });
});

describe('train with a dependency that hangs', () => {
  const trainDeps = () => ({
    pool: env.db.pool,
    featureStore: createFeatureStore(redis, { prefix }),
    storage: env.storage,
    pubsub,
    logger: env.logger,
    config: trainConfig,
  });

  it('answers 503 within its lock timeout when Postgres holds a lock on the models', async () => {
    http('train-pg-locked', makeTrainHandler({ ...trainDeps(), pool: lockedPool() }));
    const { value: res, ms } = await whileLocked('models', () =>
      timed(() => post(getTestServer('train-pg-locked'), { featureSetVersion })),
    );
    record('train, Postgres holding a lock', ms);
    expect(res.body).toEqual({ error: { code: 'UNAVAILABLE', message: 'the database is unavailable' } });
    expect(ms).toBeLessThan(WALL_LIMIT_MS);
    expect(await count(env.db, 'models', 'true')).toBe(0);
  });

  it('answers 503 within its command timeout when Redis accepts the connection and never answers', async () => {
    http('train-redis-hole', makeTrainHandler({ ...trainDeps(), featureStore: blackHoleStore() }));
    const { value: res, ms } = await timed(() => post(getTestServer('train-redis-hole'), { featureSetVersion }));
    record('train, Redis black hole', ms);
    expect(res.body).toEqual({ error: { code: 'UNAVAILABLE', message: 'the feature store is unavailable' } });
    expect(ms).toBeLessThan(WALL_LIMIT_MS);
    expect(await count(env.db, 'models', 'true')).toBe(0);
  });

  it('answers 503 when GCS takes the artifact and stalls its answer; nothing is promoted and the retry completes', async () => {
    http('train-gcs-stalled', makeTrainHandler({ ...trainDeps(), storage: storageVia(gcsStalledAll) }));
    const { value: res, ms } = await timed(() => post(getTestServer('train-gcs-stalled'), { featureSetVersion }));
    record('train, GCS stalls after the headers (artifact write)', ms);
    expect(res.body).toEqual({ error: { code: 'UNAVAILABLE', message: 'cloud storage is unavailable' } });
    expect(ms).toBeLessThan(WALL_LIMIT_MS);
    expect(await count(env.db, 'models', 'true')).toBe(0);
    // The write reached the bucket before the answer stalled; the pointer was never moved.
    const [files] = await env.storage.bucket(MODELS_BUCKET).getFiles();
    expect(files.map((f) => f.name)).toEqual([expect.stringMatching(/^models\/m-[0-9a-f]{16}\/model\.json$/)]);

    // The workflow's retry, with GCS answering again, reuses that artifact and promotes it.
    http('train-gcs-back', makeTrainHandler(trainDeps()));
    const retry = await post(getTestServer('train-gcs-back'), { featureSetVersion });
    expect(retry.status).toBe(200);
    expect(`gs://${MODELS_BUCKET}/${files[0]!.name}`).toBe(retry.body.uri);
    expect(retry.body.promoted).toBe(true);
    expect(await count(env.db, 'models', 'true')).toBe(1);
  });
});

describe('train when the Pub/Sub publish really fails', () => {
  const PUBLISH_BUDGET_MS = 1_500;
  const trainDeps = (client: PubSub, seed: number) => ({
    pool: env.db.pool,
    featureStore: createFeatureStore(redis, { prefix }),
    storage: env.storage,
    pubsub: client,
    logger: env.logger,
    config: { ...trainConfig, seed, publishTimeoutMs: PUBLISH_BUDGET_MS },
  });

  it('answers 503 when the emulator is stopped, keeps the model, and the retry announces it once Pub/Sub is back', async () => {
    const own = await startPubSubEmulator();
    const client = localPubSubClient(own.host);
    let back: PubSubEmulator | undefined;
    try {
      await client.createTopic('model-published');
      await own.close(); // the client now meets ECONNREFUSED -> UNAVAILABLE, retried until the budget is spent
      http('train-pubsub-stopped', makeTrainHandler(trainDeps(client, 101)));
      const { value: res, ms } = await timed(() => post(getTestServer('train-pubsub-stopped'), { featureSetVersion }));
      record('train, Pub/Sub emulator stopped (publish)', ms);
      expect(res.body).toEqual({ error: { code: 'UNAVAILABLE', message: 'Pub/Sub is unavailable' } });
      expect(ms).toBeGreaterThanOrEqual(PUBLISH_BUDGET_MS - 50);
      expect(ms).toBeLessThan(WALL_LIMIT_MS + PUBLISH_BUDGET_MS);
      const failed = [...env.logs].reverse().find((l) => l.message === 'train failed') as {
        err?: { message?: string };
      };
      expect(failed.err?.message).toMatch(/UNAVAILABLE|DEADLINE_EXCEEDED|Total timeout/);
      // Nothing lost: the model is registered (and promoted or not, as decided); only the announcement is missing.
      const version = modelVersionFor(featureSetVersion, trainDeps(client, 101).config);
      expect(await count(env.db, 'models', 'version = $1', [version])).toBe(1);

      back = await startPubSubEmulator({ port: own.port });
      const [topic] = await client.createTopic('model-published');
      const [subscription] = await topic.createSubscription('announced');
      const retry = await post(getTestServer('train-pubsub-stopped'), { featureSetVersion });
      expect(retry.status).toBe(200);
      expect(retry.body.modelVersion).toBe(version);
      const [pulled] = await client.subscription(subscription.name).get();
      const messages = await new Promise<unknown[]>((resolve) => {
        const got: unknown[] = [];
        pulled.on('message', (m: { data: Buffer; ack(): void }) => {
          m.ack();
          got.push(JSON.parse(m.data.toString('utf8')));
          resolve(got);
        });
      });
      await pulled.close();
      expect(messages).toEqual([
        expect.objectContaining({ modelVersion: version, uri: retry.body.uri, promoted: retry.body.promoted }),
      ]);
    } finally {
      await client.close();
      await back?.close();
    }
  });

  it('answers 503 when Pub/Sub accepts the connection and never answers', async () => {
    const hole = await startBlackHole('grpc');
    const client = localPubSubClient(`127.0.0.1:${hole.port}`);
    try {
      http('train-pubsub-hole', makeTrainHandler(trainDeps(client, 102)));
      const { value: res, ms } = await timed(() => post(getTestServer('train-pubsub-hole'), { featureSetVersion }));
      record('train, Pub/Sub black hole (publish)', ms);
      expect(res.body).toEqual({ error: { code: 'UNAVAILABLE', message: 'Pub/Sub is unavailable' } });
      expect(hole.accepted()).toBeGreaterThan(0);
      expect(ms).toBeLessThan(WALL_LIMIT_MS + PUBLISH_BUDGET_MS);
    } finally {
      await client.close();
      await hole.close();
    }
  });
});

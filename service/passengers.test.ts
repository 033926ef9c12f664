import { readFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis } from '../shared/adapters/feature-store/redis-client.ts';
import { createFeatureStore } from '../shared/adapters/feature-store/store.ts';
import type { ModelArtifact } from '../shared/core/artifact.ts';
import { readPassengerCsv } from '../shared/core/csv-stream.ts';
import { transform } from '../shared/core/features.ts';
import type { LabelledPassenger } from '../shared/core/schema.ts';
import { startBlackHole } from '../test/support/hang.ts';
import { connect, deleteByPrefix, startRedisServer, uniquePrefix } from '../test/support/redis.ts';
import { rawPassenger, type TestApp, tinyArtifact } from '../test/support/service.ts';
import { testAppsClosedAfterEach } from '../test/support/service-apps.ts';
import { DEFAULT_OPTIONS } from './app.ts';

const FEATURE_SET = 'fs-test-1';
let artifact: ModelArtifact;
let passengers: LabelledPassenger[];
let admin: Redis;
const prefix = uniquePrefix('svc');
const testApp = testAppsClosedAfterEach();
const clients: Redis[] = [];

/** Writes the first 100 titanic passengers (80 train, 20 test) as feature set FEATURE_SET under `keyPrefix`. */
async function writeFeatureSet(redis: Redis, keyPrefix: string): Promise<void> {
  const rows = passengers.slice(0, 100);
  const X = transform(artifact.recipe, rows);
  const part = (from: number, to: number) => ({
    X: X.slice(from, to),
    y: rows.slice(from, to).map((p) => p.survived),
    ids: rows.slice(from, to).map((p) => p.passengerId),
  });
  await createFeatureStore(redis, { prefix: keyPrefix }).writeFeatureSet({
    version: FEATURE_SET,
    datasetId: 'ds-test',
    featureNames: artifact.recipe.featureNames,
    recipe: artifact.recipe,
    train: part(0, 80),
    test: part(80, 100),
    synthetic: { X: [], y: [] },
  });
}

beforeAll(async () => {
  artifact = await tinyArtifact({ featureSetVersion: FEATURE_SET });
  const csv = await readFile(new URL('../data/titanic.csv', import.meta.url), 'utf8');
  passengers = (await readPassengerCsv(csv, { requireSurvived: true })).rows.map(
    (r) => r.passenger as LabelledPassenger,
  );
  admin = connect();
  await writeFeatureSet(admin, prefix);
});

afterAll(async () => {
  await deleteByPrefix(admin, prefix);
  await Promise.all([admin, ...clients].map((c) => c.quit().catch(() => {})));
});

async function appWithRedis(url: string, keyPrefix = prefix): Promise<TestApp> {
  const redis = createRedis({ url, commandTimeoutMs: 1_000 });
  clients.push(redis);
  return testApp(artifact, { featureStore: createFeatureStore(redis, { prefix: keyPrefix }) });
}

describe('GET /v1/passengers/:id', () => {
  it("answers the passenger's features from the served model's feature set and the prediction for them", async () => {
    const t = await appWithRedis('redis://127.0.0.1:6379');
    const p = passengers[4]!;
    const res = await t.app.inject({ method: 'GET', url: `/v1/passengers/${p.passengerId}` });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({
      passengerId: p.passengerId,
      featureSetVersion: FEATURE_SET,
      split: 'train',
      survivedActual: p.survived === 1,
      modelVersion: 'tiny-1',
    });
    const expected = transform(artifact.recipe, [p])[0]!;
    expect(Object.values(body.features)).toEqual(expected);
    // The same passenger sent as a raw row gets the same probability: one model, one recipe.
    const [fromRow] = t.registry.current()!.model.predict([p]);
    expect(body.prediction).toEqual({ survived: fromRow!.survived, probability: fromRow!.probability });
  });

  it('answers 404 for an id the feature set does not hold', async () => {
    const t = await appWithRedis('redis://127.0.0.1:6379');
    const res = await t.app.inject({ method: 'GET', url: '/v1/passengers/999999' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toMatchObject({
      code: 'NOT_FOUND',
      details: { passengerId: 999999, featureSetVersion: FEATURE_SET },
    });
  });

  it('answers 400 for an id that is not a whole number', async () => {
    const t = await appWithRedis('redis://127.0.0.1:6379');
    const res = await t.app.inject({ method: 'GET', url: '/v1/passengers/abc' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.details.field).toBe('id');
  });

  it('answers 503 with a clear error when Redis is unreachable, while /v1/predict keeps working', async () => {
    const server = await startRedisServer();
    const keyPrefix = uniquePrefix('svc-down');
    let running = true;
    try {
      const direct = connect(server.url);
      await writeFeatureSet(direct, keyPrefix);
      await direct.quit();
      const t = await appWithRedis(server.url, keyPrefix);
      expect((await t.app.inject({ method: 'GET', url: '/v1/passengers/1' })).statusCode).toBe(200);

      await server.stop();
      running = false;
      const started = Date.now();
      const down = await t.app.inject({ method: 'GET', url: '/v1/passengers/1' });
      expect(down.statusCode).toBe(503);
      expect(down.json().error.code).toBe('UNAVAILABLE');
      expect(down.json().error.message).toMatch(/feature store \(Redis\) is unreachable/);
      expect(down.headers['retry-after']).toBeDefined();
      expect(Date.now() - started).toBeLessThan(3_000);

      const predicted = await t.app.inject({ method: 'POST', url: '/v1/predict', payload: rawPassenger() });
      expect(predicted.statusCode).toBe(200);
      expect(predicted.json().predictions).toHaveLength(1);
    } finally {
      if (running) await server.stop();
    }
  });

  it('answers 503 within its budget when Redis accepts the connection and never answers, while /v1/predict keeps working', async () => {
    const hole = await startBlackHole('redis');
    try {
      // The production client settings (server.ts): no command timeout of its own below the route's budget.
      const redis = createRedis({ url: hole.url, commandTimeoutMs: 60_000 });
      clients.push(redis);
      const t = await testApp(artifact, { featureStore: createFeatureStore(redis, { prefix }) });
      const started = performance.now();
      const [down, predicted] = await Promise.all([
        t.app.inject({ method: 'GET', url: '/v1/passengers/1' }).then((r) => ({ r, ms: performance.now() - started })),
        t.app.inject({ method: 'POST', url: '/v1/predict', payload: rawPassenger() }).then((r) => ({
          r,
          ms: performance.now() - started,
        })),
      ]);
      console.log(`hang: service /v1/passengers, Redis black hole: 503 after ${Math.round(down.ms)} ms`);
      expect(hole.accepted()).toBeGreaterThan(0);
      expect(down.r.statusCode).toBe(503);
      expect(down.r.json().error).toEqual({
        code: 'UNAVAILABLE',
        message: 'the feature store (Redis) is unreachable; POST /v1/predict still works',
      });
      expect(down.ms).toBeGreaterThanOrEqual(DEFAULT_OPTIONS.featureStoreTimeoutMs - 50);
      expect(down.ms).toBeLessThan(DEFAULT_OPTIONS.featureStoreTimeoutMs + 1_500);
      // predict answered while the feature-store read was still hanging.
      expect(predicted.r.statusCode).toBe(200);
      expect(predicted.ms).toBeLessThan(down.ms);
    } finally {
      await hole.close();
    }
  });

  it('answers 503 when the instance has no feature store configured', async () => {
    const t = await testApp(artifact);
    const res = await t.app.inject({ method: 'GET', url: '/v1/passengers/1' });
    expect(res.statusCode).toBe(503);
    expect(res.json().error.message).toContain('REDIS_URL');
  });
});

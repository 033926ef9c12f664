/**
 * A public deployment (PUBLIC_MODE, set by the Pulumi program when servicePublic is true): predictions work for
 * anyone, but a training passenger's label, the model's lineage and the metrics are not shown to the public, and
 * each client address gets a bounded number of requests a minute.
 */
import { readFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis } from '../shared/adapters/feature-store/redis-client.ts';
import { createFeatureStore } from '../shared/adapters/feature-store/store.ts';
import type { ModelArtifact } from '../shared/core/artifact.ts';
import { readPassengerCsv } from '../shared/core/csv-stream.ts';
import { transform } from '../shared/core/features.ts';
import type { LabelledPassenger } from '../shared/core/schema.ts';
import { connect, deleteByPrefix, uniquePrefix } from '../test/support/redis.ts';
import { rawPassenger, tinyArtifact } from '../test/support/service.ts';
import { testAppsClosedAfterEach } from '../test/support/service-apps.ts';

const FEATURE_SET = 'fs-public-1';
const prefix = uniquePrefix('svc-public');
const testApp = testAppsClosedAfterEach();
let artifact: ModelArtifact;
let admin: Redis;
let client: Redis;

beforeAll(async () => {
  artifact = await tinyArtifact({ featureSetVersion: FEATURE_SET });
  const csv = await readFile(new URL('../data/titanic.csv', import.meta.url), 'utf8');
  const rows = (await readPassengerCsv(csv, { requireSurvived: true })).rows
    .slice(0, 20)
    .map((r) => r.passenger as LabelledPassenger);
  const X = transform(artifact.recipe, rows);
  admin = connect();
  await createFeatureStore(admin, { prefix }).writeFeatureSet({
    version: FEATURE_SET,
    datasetId: 'ds-public',
    featureNames: artifact.recipe.featureNames,
    recipe: artifact.recipe,
    train: { X, y: rows.map((p) => p.survived), ids: rows.map((p) => p.passengerId) },
    test: { X: [], y: [], ids: [] },
    synthetic: { X: [], y: [] },
  });
  client = createRedis({ url: 'redis://127.0.0.1:6379', commandTimeoutMs: 1_000 });
});
afterAll(async () => {
  await deleteByPrefix(admin, prefix);
  await Promise.all([admin.quit(), client.quit()]);
});

const app = (publicMode: boolean, extra: Record<string, unknown> = {}) =>
  testApp(artifact, {
    featureStore: createFeatureStore(client, { prefix }),
    options: { publicMode, rateLimitPerMinute: 1_000, ...extra },
  });

describe('a public deployment', () => {
  it("answers a passenger's features and prediction but not its true label or split", async () => {
    const priv = await (await app(false)).app.inject({ method: 'GET', url: '/v1/passengers/1' });
    expect(priv.json()).toHaveProperty('survivedActual');
    const pub = await (await app(true)).app.inject({ method: 'GET', url: '/v1/passengers/1' });
    expect(pub.statusCode).toBe(200);
    expect(pub.json()).toMatchObject({ passengerId: 1, prediction: expect.any(Object), features: expect.any(Object) });
    expect(pub.json()).not.toHaveProperty('survivedActual');
    expect(pub.json()).not.toHaveProperty('split');
  });

  it("does not show the model's lineage, on /v1/model or on the model page", async () => {
    const t = await app(true);
    const api = await t.app.inject({ method: 'GET', url: '/v1/model' });
    expect(api.json().lineage).toBeNull();
    expect(api.json().modelVersion).toBe('tiny-1');
    const page = await t.app.inject({ method: 'GET', url: '/model' });
    expect(page.statusCode).toBe(200);
    expect(page.body).not.toContain(FEATURE_SET);
  });

  it('serves /metrics to the in-instance sidecar (loopback, not proxied) and 404 to anyone coming through the front end', async () => {
    const t = await app(true);
    const sidecar = await t.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '127.0.0.1' });
    expect(sidecar.statusCode).toBe(200);
    expect(sidecar.body).toContain('prediction_count_total');
    const proxied = await t.app.inject({
      method: 'GET',
      url: '/metrics',
      remoteAddress: '127.0.0.1',
      headers: { 'x-forwarded-for': '203.0.113.9' },
    });
    expect(proxied.statusCode).toBe(404);
    const remote = await t.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '169.254.1.1' });
    expect(remote.statusCode).toBe(404);
    expect(remote.json().error.code).toBe('NOT_FOUND');
  });

  it('rate limits each client address (as the front end saw it) with 429 RATE_LIMITED, leaving other clients and the probes alone', async () => {
    const t = await app(true, { rateLimitPerMinute: 5 });
    const from = (ip: string, forged = '') => ({ 'x-forwarded-for': `${forged}${ip}` });
    const answers: number[] = [];
    for (let i = 0; i < 8; i++) {
      // A forged first X-Forwarded-For entry does not buy a fresh budget: the last entry is the one that counts.
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/predict',
        headers: from('198.51.100.7', `10.0.0.${i}, `),
        payload: rawPassenger(),
      });
      answers.push(res.statusCode);
      if (res.statusCode === 429) {
        expect(res.json().error.code).toBe('RATE_LIMITED');
        expect(res.headers['retry-after']).toBeDefined();
      }
    }
    expect(answers).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    const other = await t.app.inject({
      method: 'POST',
      url: '/v1/predict',
      headers: from('198.51.100.8'),
      payload: rawPassenger(),
    });
    expect(other.statusCode).toBe(200);
    const probe = await t.app.inject({ method: 'GET', url: '/healthz', headers: from('198.51.100.7') });
    expect(probe.statusCode).toBe(200);
  });

  it('enumerating passenger ids runs into the limit long before 891 ids', async () => {
    const t = await app(true, { rateLimitPerMinute: 50 });
    let served = 0;
    for (let id = 1; id <= 120; id++) {
      const res = await t.app.inject({
        method: 'GET',
        url: `/v1/passengers/${id}`,
        headers: { 'x-forwarded-for': '192.0.2.1' },
      });
      if (res.statusCode === 429) break;
      served++;
    }
    expect(served).toBe(50);
  });

  it('is off by default: a private deployment is not rate limited', async () => {
    const t = await testApp(artifact, { options: { rateLimitPerMinute: 2 } });
    for (let i = 0; i < 5; i++) {
      expect((await t.app.inject({ method: 'POST', url: '/v1/predict', payload: rawPassenger() })).statusCode).toBe(
        200,
      );
    }
  });
});

/**
 * One decision rule: a probability of exactly 0.5 (an even forest split in half) is "not survived" on every
 * route that turns a probability into a label: the JSON API, the web form's answer page and the online
 * passenger lookup.
 */
import { readFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis } from '../shared/adapters/feature-store/redis-client.ts';
import { createFeatureStore } from '../shared/adapters/feature-store/store.ts';
import type { ModelArtifact } from '../shared/core/artifact.ts';
import { readPassengerCsv } from '../shared/core/csv-stream.ts';
import { transform } from '../shared/core/features.ts';
import { loadModel } from '../shared/core/model.ts';
import { passengerRecord } from '../shared/core/passenger-validation.ts';
import type { LabelledPassenger } from '../shared/core/schema.ts';
import { connect, deleteByPrefix, REDIS_URL, uniquePrefix } from '../test/support/redis.ts';
import { tinyArtifact } from '../test/support/service.ts';
import { testAppsClosedAfterEach } from '../test/support/service-apps.ts';

const FEATURE_SET = 'fs-tie-1';
const prefix = uniquePrefix('tie');
const testApp = testAppsClosedAfterEach();
let artifact: ModelArtifact;
let tie: LabelledPassenger;
let admin: Redis;
let client: Redis;

beforeAll(async () => {
  // Four trees: a passenger on whom they split two against two has a probability of exactly 0.5.
  artifact = await tinyArtifact({ nEstimators: 4, featureSetVersion: FEATURE_SET });
  const csv = await readFile(new URL('../data/titanic.csv', import.meta.url), 'utf8');
  const passengers = (await readPassengerCsv(csv, { requireSurvived: true })).rows.map(
    (r) => r.passenger as LabelledPassenger,
  );
  const model = loadModel(artifact);
  const found = passengers.find((p) => model.predict([p])[0]!.probability === 0.5);
  if (!found) throw new Error('no Titanic passenger gets exactly two of the four votes; the tie cannot be tested');
  tie = found;
  admin = connect();
  client = createRedis({ url: REDIS_URL, commandTimeoutMs: 2_000 });
  const X = transform(artifact.recipe, [tie]);
  await createFeatureStore(admin, { prefix }).writeFeatureSet({
    version: FEATURE_SET,
    datasetId: 'ds-tie',
    featureNames: artifact.recipe.featureNames,
    recipe: artifact.recipe,
    train: { X, y: [tie.survived], ids: [tie.passengerId] },
    test: { X: [], y: [], ids: [] },
    synthetic: { X: [], y: [] },
  });
});

afterAll(async () => {
  await deleteByPrefix(admin, prefix);
  await Promise.all([admin, client].map((c) => c.quit().catch(() => {})));
});

describe('a probability of exactly 0.5', () => {
  it('is "not survived" from POST /v1/predict, one passenger or a batch', async () => {
    const t = await testApp(artifact);
    for (const payload of [passengerRecord(tie), { instances: [passengerRecord(tie), passengerRecord(tie)] }]) {
      const res = await t.app.inject({ method: 'POST', url: '/v1/predict', payload });
      expect(res.statusCode).toBe(200);
      for (const p of res.json().predictions) expect(p).toMatchObject({ survived: false, probability: 0.5 });
    }
  });

  it('is "not survived" on the web form\'s answer page, verdict and probability bar alike', async () => {
    const t = await testApp(artifact);
    const form = {
      name: tie.name,
      sex: tie.sex,
      age: tie.age === null ? '' : String(tie.age),
      pclass: String(tie.pclass),
      fare: tie.fare === null ? '' : String(tie.fare),
      sibsp: String(tie.sibSp),
      parch: String(tie.parch),
      cabin: tie.cabin ?? '',
      embarked: tie.embarked ?? '',
    };
    const res = await t.app.inject({
      method: 'POST',
      url: '/predict',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(form).toString(),
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('<strong id="probability">50%</strong>');
    expect(res.body).toContain('Likely did not survive');
    expect(res.body).toContain('class="probability-no"');
    expect(res.body).not.toContain('class="probability-yes"');
  });

  it('is "not survived" from GET /v1/passengers/:id, read from the feature store', async () => {
    const t = await testApp(artifact, { featureStore: createFeatureStore(client, { prefix }) });
    const res = await t.app.inject({ method: 'GET', url: `/v1/passengers/${tie.passengerId}` });
    expect(res.statusCode).toBe(200);
    expect(res.json().prediction).toEqual({ survived: false, probability: 0.5 });
  });
});

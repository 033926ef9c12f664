import { beforeAll, describe, expect, it } from 'vitest';
import type { ModelArtifact } from '../shared/core/artifact.ts';
import { FEATURE_NAMES } from '../shared/core/schema.ts';
import { ERROR_CATALOGUE } from '../shared/errors.ts';
import { rawPassenger, type TestApp, tinyArtifact, titanicInstances } from '../test/support/service.ts';
import { testAppsClosedAfterEach } from '../test/support/service-apps.ts';

let artifact: ModelArtifact;
let ordinary: Array<Record<string, unknown>>;

beforeAll(async () => {
  artifact = await tinyArtifact();
  ordinary = await titanicInstances(40);
});

const testApp = testAppsClosedAfterEach();

async function metricValue(t: TestApp, name: string, labels = ''): Promise<number> {
  const res = await t.app.inject({ method: 'GET', url: '/metrics' });
  const line = res.body.split('\n').find((l) => l.startsWith(`${name}${labels} `) || l === `${name}${labels}`);
  return line === undefined ? Number.NaN : Number(line.split(' ').pop());
}

const predict = (t: TestApp, payload: unknown, url = '/v1/predict') =>
  t.app.inject({ method: 'POST', url, payload: payload as Record<string, unknown> });

describe('POST /v1/predict', () => {
  it('scores a Vertex AI instances batch and answers predictions, the model version and the drift verdict', async () => {
    const t = await testApp(artifact);
    const res = await predict(t, {
      instances: [rawPassenger(), rawPassenger({ PassengerId: 1002, Sex: 'male', Name: 'Smith, Mr. John', Pclass: 3 })],
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.modelVersion).toBe('tiny-1');
    expect(body.predictions).toHaveLength(2);
    for (const p of body.predictions) {
      expect(typeof p.survived).toBe('boolean');
      expect(p.probability).toBeGreaterThanOrEqual(0);
      expect(p.probability).toBeLessThanOrEqual(1);
      expect(p.survived).toBe(p.probability >= 0.5);
      expect(p.drift).toEqual({ isDrift: body.drift.isDrift, drifted: body.drift.drifted });
    }
    expect(Object.keys(body.drift.pValues)).toEqual([...FEATURE_NAMES]);
    expect(body.drift.threshold).toBeCloseTo(0.05 / FEATURE_NAMES.length);
  });

  it('gives the same answer as the core model for the same passenger', async () => {
    const t = await testApp(artifact);
    const res = await predict(t, { instances: [rawPassenger()] });
    const served = t.registry.current()!;
    const [expected] = served.model.predict([
      {
        passengerId: 1001,
        pclass: 2,
        name: 'Hart, Mrs. Benjamin (Esther Ada Bloomfield)',
        sex: 'female',
        age: 45,
        sibSp: 1,
        parch: 1,
        ticket: 'F.C.C. 13529',
        fare: 26.25,
        cabin: null,
        embarked: 'S',
      },
    ]);
    expect(res.json().predictions[0].probability).toBe(expected!.probability);
  });

  it('accepts one bare passenger object instead of an instances list', async () => {
    const t = await testApp(artifact);
    const res = await predict(t, rawPassenger());
    expect(res.statusCode).toBe(200);
    expect(res.json().predictions).toHaveLength(1);
  });

  it('accepts a missing Age, Fare, Cabin or Embarked as null or absent, and numbers as numeric strings', async () => {
    const t = await testApp(artifact);
    const { Age: _a, Cabin: _c, ...noAge } = rawPassenger();
    // Keys in any case: the third passenger spells every key in lower case (one spelling per column).
    const lowerCased = Object.fromEntries(
      Object.entries(rawPassenger({ Age: '30.5', Pclass: '1' })).map(([key, value]) => [key.toLowerCase(), value]),
    );
    const res = await predict(t, {
      instances: [noAge, rawPassenger({ Fare: null, Embarked: null }), lowerCased],
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().predictions).toHaveLength(3);
  });

  it('computes the features itself: engineered values sent by the caller change nothing', async () => {
    const t = await testApp(artifact);
    const plain = (await predict(t, rawPassenger())).json().predictions[0].probability;
    const sneaky = (await predict(t, rawPassenger({ Age_Fare: 1e9, Title: 4, HasCabin: 1 }))).json().predictions[0]
      .probability;
    expect(sneaky).toBe(plain);
  });

  it('answers 400 naming the field and the instance index of a wrongly typed value', async () => {
    const t = await testApp(artifact);
    const res = await predict(t, { instances: [rawPassenger(), rawPassenger({ Age: 'old' })] });
    expect(res.statusCode).toBe(400);
    const { error } = res.json();
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.message).toContain('instances[1]');
    expect(error.message).toContain('Age');
    expect(error.details).toMatchObject({ instance: 1, field: 'Age' });
  });

  it('answers 400 naming a missing required field', async () => {
    const t = await testApp(artifact);
    const { Sex: _s, ...noSex } = rawPassenger();
    const res = await predict(t, { instances: [noSex] });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.details).toMatchObject({ instance: 0, field: 'Sex' });
    expect(res.json().error.message).toContain('Sex is missing');
  });

  it('answers 400 for a value of the wrong JSON type (a boolean class)', async () => {
    const t = await testApp(artifact);
    const res = await predict(t, { instances: [rawPassenger({ Pclass: true })] });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.details).toMatchObject({ instance: 0, field: 'Pclass' });
  });

  it.each([
    ['an instance that is not an object', { instances: [rawPassenger(), 42] }, 'instances[1]'],
    ['instances that are not a list', { instances: 'all of them' }, 'instances'],
    ['an empty instances list', { instances: [] }, 'instances'],
    ['a JSON array body', [rawPassenger()], 'body'],
  ])('answers 400 for %s', async (_what, payload, field) => {
    const t = await testApp(artifact);
    const res = await predict(t, payload);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('BAD_REQUEST');
    expect(res.json().error.details.field).toBe(field);
  });

  it('answers 400, not 500, for a body that is not valid JSON', async () => {
    const t = await testApp(artifact);
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/predict',
      headers: { 'content-type': 'application/json' },
      payload: '{"instances": [',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('BAD_REQUEST');
  });

  it('answers 415 for a body that is neither JSON nor a form', async () => {
    const t = await testApp(artifact);
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/predict',
      headers: { 'content-type': 'application/xml' },
      payload: '<passenger/>',
    });
    expect(res.statusCode).toBe(415);
    expect(res.json().error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers 413 for more instances than the configured batch size', async () => {
    const t = await testApp(artifact, { options: { maxBatch: 3 } });
    const res = await predict(t, { instances: Array.from({ length: 4 }, () => rawPassenger()) });
    expect(res.statusCode).toBe(413);
    expect(res.json().error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', details: { maxBatch: 3, received: 4 } });
  });

  it('answers 413 for a body over the size limit', async () => {
    const t = await testApp(artifact);
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/predict',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ instances: [rawPassenger({ Name: 'x'.repeat(2 << 20) })] }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('scores a full batch of 1,000 passengers', async () => {
    const t = await testApp(artifact);
    const res = await predict(t, {
      instances: Array.from({ length: 1000 }, (_, i) => rawPassenger({ PassengerId: i + 1 })),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().predictions).toHaveLength(1000);
    expect(await metricValue(t, 'prediction_count_total')).toBe(1000);
  });

  it('scores implausible but well-typed values (Age 1000, Fare -500) and reports them as drift', async () => {
    const t = await testApp(artifact);
    const res = await predict(t, { instances: [rawPassenger({ Age: 1000, Fare: -500 })] });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.drift.isDrift).toBe(true);
    expect(body.drift.drifted).toEqual(expect.arrayContaining(['Age', 'Fare']));
    expect(body.predictions[0].drift.isDrift).toBe(true);
    expect(await metricValue(t, 'drift_count_total')).toBe(1);
  });

  it('does not count an ordinary passenger as drift', async () => {
    const t = await testApp(artifact);
    const res = await predict(t, rawPassenger());
    expect(res.json().drift.isDrift).toBe(false);
    expect(await metricValue(t, 'drift_count_total')).toBe(0);
  });

  it('answers 503 MODEL_NOT_LOADED while no model is loaded', async () => {
    const t = await testApp(null);
    const res = await predict(t, rawPassenger());
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('MODEL_NOT_LOADED');
    expect(res.headers['retry-after']).toBe('5');
  });

  it('serves the Vertex AI predict and health routes (AIP_PREDICT_ROUTE, AIP_HEALTH_ROUTE) as aliases', async () => {
    const t = await testApp(artifact, {
      options: { predictRoute: '/v1/endpoints/e/deployedModels/m:predict', healthRoute: '/health' },
    });
    const res = await predict(t, { instances: [rawPassenger()] }, '/v1/endpoints/e/deployedModels/m:predict');
    expect(res.statusCode).toBe(200);
    expect(res.json().predictions).toHaveLength(1);
    const health = await t.app.inject({ method: 'GET', url: '/health' });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toEqual({ status: 'ready', modelVersion: 'tiny-1' });
  });
});

describe('GET /healthz and /readyz', () => {
  it('says alive at once, and ready only once a model is loaded', async () => {
    const t = await testApp(null);
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const notReady = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json().error.code).toBe('MODEL_NOT_LOADED');
    t.source.promote(artifact);
    await t.registry.refresh();
    const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', modelVersion: 'tiny-1' });
  });
});

describe('GET /v1/model', () => {
  it('describes the served model: version, lineage, params, metrics and importances', async () => {
    const t = await testApp(artifact);
    const res = await t.app.inject({ method: 'GET', url: '/v1/model' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({
      modelVersion: 'tiny-1',
      lineage: { datasetId: 'ds-test', featureSetVersion: null },
      params: artifact.params,
      metrics: artifact.metrics,
      importances: artifact.importances,
      featureNames: [...FEATURE_NAMES],
    });
    expect(body.forest).toBeUndefined();
    expect(body.driftReference).toBeUndefined();
  });

  it('answers 503 before a model is loaded', async () => {
    const t = await testApp(null);
    expect((await t.app.inject({ method: 'GET', url: '/v1/model' })).statusCode).toBe(503);
  });
});

describe('GET /v1/drift', () => {
  it('reports the window per feature, unevaluated until the window is full, then with every figure', async () => {
    const t = await testApp(artifact, { driftWindow: 20, driftEvery: 10 });
    const before = (await t.app.inject({ method: 'GET', url: '/v1/drift' })).json();
    expect(before).toMatchObject({
      evaluated: false,
      isDrift: false,
      windowSize: 20,
      evaluateEvery: 10,
      ert: 1_000_000,
      alpha: 1e-5,
      rowsPerRequest: 5,
      correction: 'bonferroni',
      rowsSeen: 0,
    });
    expect(before.features.map((f: { name: string }) => f.name)).toEqual([...FEATURE_NAMES]);
    expect(before.features[0]).toMatchObject({ type: 'categorical', test: 'chi2', pValue: null, distance: null });

    for (let i = 0; i < 4; i++) await predict(t, { instances: ordinary.slice(5 * i, 5 * i + 5) });
    const after = (await t.app.inject({ method: 'GET', url: '/v1/drift' })).json();
    expect(after).toMatchObject({
      evaluated: true,
      isDrift: false,
      rowsSeen: 20,
      requestsSeen: 4,
      windowRows: 20,
      requestsUntilEvaluation: 10,
      drifted: [],
      driftedShare: 0,
      threshold: 1e-5 / 11,
    });
    const byName = Object.fromEntries(after.features.map((f: { name: string }) => [f.name, f]));
    expect(byName.Age).toMatchObject({
      type: 'continuous',
      test: 'ks',
      distanceKind: 'jensen-shannon',
      drifted: false,
    });
    expect(byName.Embarked).toMatchObject({ type: 'categorical', test: 'chi2', distanceKind: 'l-infinity' });
    for (const f of after.features) {
      for (const key of ['statistic', 'pValue', 'threshold', 'distance']) expect(typeof f[key]).toBe('number');
      expect(f.histogram).toBeUndefined();
    }
    const withHistograms = (await t.app.inject({ method: 'GET', url: '/v1/drift?histograms=true' })).json();
    expect(withHistograms.features[2].histogram.current).toHaveLength(20);
  });

  it('lets one request of 1,000 identical passengers put 5 rows in the window and raise no alert', async () => {
    const t = await testApp(artifact);
    const many = await titanicInstances(800);
    for (let i = 0; i < 200; i++) await predict(t, many[i]!);
    const flood = Array.from({ length: 1000 }, () => many[7]!);
    const res = await predict(t, { instances: flood });
    expect(res.statusCode).toBe(200);
    for (let i = 200; i < 230; i++) await predict(t, many[i]!);
    const drift = (await t.app.inject({ method: 'GET', url: '/v1/drift' })).json();
    expect(drift).toMatchObject({ evaluated: true, isDrift: false, requestsSeen: 231, rowsSeen: 235, windowRows: 200 });
    await t.app.close();
    expect(t.alerts).toEqual([]);
    // The request itself does not look like the training data: 1,000 copies of one passenger fail the batch tests.
    expect(res.json().drift.isDrift).toBe(true);
  });
});

describe('GET /metrics', () => {
  it("exposes the seed's counters, latency, outcomes, window gauges, model_info and process metrics", async () => {
    const t = await testApp(artifact, { driftWindow: 6, driftEvery: 5 });
    await predict(t, { instances: ordinary.slice(0, 5) });
    await predict(t, rawPassenger({ Age: 1000, Fare: -500 }));
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const text = res.body;
    expect(text).toContain('# TYPE prediction_count_total counter');
    expect(text).toMatch(/^prediction_count_total 6$/m);
    expect(text).toMatch(/^drift_count_total 1$/m);
    expect(text).toMatch(/^prediction_latency_seconds_count\{route="api"\} 2$/m);
    expect(text).toMatch(/^predictions_by_outcome_total\{outcome="(survived|died)"\} \d+$/m);
    expect(text).toMatch(/^model_info\{version="tiny-1"\} 1$/m);
    for (const feature of FEATURE_NAMES)
      expect(text).toMatch(new RegExp(`^drift_window_p_value\\{feature="${feature}"\\} `, 'm'));
    expect(text).toMatch(/^drift_window_distance\{feature="Age",kind="jensen-shannon"\} [\d.e-]+$/m);
    expect(text).toMatch(/^drift_window_distance\{feature="Embarked",kind="l-infinity"\} [\d.e-]+$/m);
    expect(text).toMatch(/^drift_window_drifted_share [\d.e-]+$/m);
    expect(text).toMatch(/^drift_window_detected [01]$/m);
    expect(text).toContain('process_resident_memory_bytes');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });

  it('keeps one registry per app, so two apps in one process count separately', async () => {
    const a = await testApp(artifact);
    const b = await testApp(artifact);
    await predict(a, rawPassenger());
    expect(await metricValue(a, 'prediction_count_total')).toBe(1);
    expect(await metricValue(b, 'prediction_count_total')).toBe(0);
  });
});

describe('window drift alerts', () => {
  it('on the transition into drift publishes one drift-alerts event and writes one WARNING line', async () => {
    const t = await testApp(artifact, { driftWindow: 10, driftEvery: 5 });
    const odd = Array.from({ length: 5 }, (_, i) => rawPassenger({ PassengerId: i + 1, Age: 1000, Fare: -500 }));
    await predict(t, { instances: odd });
    await predict(t, { instances: odd }); // the window is full: into drift
    for (let i = 0; i < 5; i++) await predict(t, { instances: odd }); // still in drift: no second alert
    await t.app.close();
    expect(t.alerts).toHaveLength(1);
    const alert = t.alerts[0]!;
    expect(alert).toMatchObject({ type: 'drift-detected', modelVersion: 'tiny-1', windowRows: 10, requestsSeen: 2 });
    expect(alert.drifted).toEqual(expect.arrayContaining(['Age', 'Fare']));
    expect(alert.driftedShare).toBe(alert.drifted.length / 11);
    const age = alert.features.find((f) => f.name === 'Age')!;
    expect(age).toMatchObject({ type: 'continuous', test: 'ks', drifted: true, distanceKind: 'jensen-shannon' });
    expect(age.pValue).toBeLessThan(age.threshold);
    expect(age.distance).toBeGreaterThan(0.5);
    const warnings = t.logs.filter((l) => l.severity === 'WARNING');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toContain('drift');
    // The log line carries the same figures as the event.
    const { type: _type, detectedAt: _at, ...figures } = alert;
    expect(warnings[0]).toMatchObject(JSON.parse(JSON.stringify(figures)));
    expect(t.registry.current()?.windowDrift.state().isDrift).toBe(true);
  });

  it('rate-limits alerts when the window leaves and re-enters drift quickly', async () => {
    let now = 1_000_000;
    const t = await testApp(artifact, {
      driftWindow: 5,
      driftEvery: 1,
      now: () => now,
      options: { driftAlertMinIntervalSeconds: 60 },
    });
    const odd = Array.from({ length: 5 }, (_, i) => rawPassenger({ PassengerId: i + 1, Age: 1000, Fare: -500 }));
    const normal = ordinary.slice(0, 5);
    await predict(t, { instances: odd }); // entered: published
    await predict(t, { instances: normal }); // cleared
    now += 10_000;
    await predict(t, { instances: odd }); // entered again 10 s later: rate-limited
    now += 120_000;
    await predict(t, { instances: normal });
    await predict(t, { instances: odd }); // entered again after the interval: published
    await new Promise((resolve) => setImmediate(resolve));
    expect(t.alerts).toHaveLength(2);
    expect(t.logs.filter((l) => l.severity === 'WARNING')).toHaveLength(3);
    const text = (await t.app.inject({ method: 'GET', url: '/metrics' })).body.split('\n');
    expect(text).toContain('drift_alerts_total{result="published"} 2');
    expect(text).toContain('drift_alerts_total{result="rate_limited"} 1');
  });

  it('feeds the window after answering, one request at a time and in order', async () => {
    const t = await testApp(artifact, { driftWindow: 5, driftEvery: 1 });
    const odd = Array.from({ length: 5 }, (_, i) => rawPassenger({ PassengerId: i + 1, Age: 1000, Fare: -500 }));
    // both answered before the window is fed: still two evaluations (into drift, then out of it)
    const first = predict(t, { instances: odd });
    const second = predict(t, { instances: ordinary.slice(0, 5) });
    expect((await first).statusCode).toBe(200);
    expect((await second).statusCode).toBe(200);
    const drift = (await t.app.inject({ method: 'GET', url: '/v1/drift' })).json();
    expect(drift).toMatchObject({ evaluated: true, isDrift: false, rowsSeen: 10, windowRows: 5 });
    await t.app.close();
    expect(t.alerts).toHaveLength(1);
    expect(t.logs.some((l) => l.message.includes('no longer drifts'))).toBe(true);
  });

  it('logs an ERROR and keeps serving when the alert cannot be published', async () => {
    const t = await testApp(artifact, {
      driftWindow: 5,
      driftEvery: 5,
      publishAlert: async () => {
        throw new Error('pubsub down');
      },
    });
    const odd = Array.from({ length: 5 }, (_, i) => rawPassenger({ PassengerId: i + 1, Age: 1000, Fare: -500 }));
    expect((await predict(t, { instances: odd })).statusCode).toBe(200);
    await t.app.close();
    expect(t.logs.some((l) => l.severity === 'ERROR' && l.message.includes('drift alert'))).toBe(true);
  });
});

describe('errors at the edge', () => {
  it('answers 404 with a JSON error for an unknown API route', async () => {
    const t = await testApp(artifact);
    const res = await t.app.inject({ method: 'GET', url: '/v1/nothing' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('NOT_FOUND');
  });

  it('uses only documented catalogue codes with their catalogue status', async () => {
    const t = await testApp(null);
    for (const [url, method] of [
      ['/v1/predict', 'POST'],
      ['/v1/model', 'GET'],
      ['/v1/drift', 'GET'],
      ['/v1/passengers/1', 'GET'],
      ['/nowhere', 'GET'],
    ] as const) {
      const res = await t.app.inject({ method, url, ...(method === 'POST' ? { payload: rawPassenger() } : {}) });
      const { code } = res.json().error as { code: keyof typeof ERROR_CATALOGUE };
      expect(ERROR_CATALOGUE[code].status).toBe(res.statusCode);
    }
  });
});

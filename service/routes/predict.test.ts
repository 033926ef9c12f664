import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelArtifact } from '../../shared/core/artifact.ts';
import {
  buildTestApp,
  rawPassenger,
  type TestApp,
  tinyArtifact,
  titanicInstances,
} from '../../test/support/service.ts';
import { responseSchema, serializePrediction } from './predict.ts';

let artifact: ModelArtifact;
let ordinary: Array<Record<string, unknown>>;
const schemaApp = Fastify({ logger: false });
let t: TestApp;
let answer: unknown;

beforeAll(async () => {
  artifact = await tinyArtifact();
  ordinary = await titanicInstances(300);
  // fastify's own serializer for the response schema: what the route answered before it wrote the JSON itself
  schemaApp.get('/', { schema: { response: responseSchema } }, async () => answer);
  await schemaApp.ready();
  t = await buildTestApp(artifact, { driftWindow: 20, driftEvery: 10 });
});

afterAll(async () => {
  await Promise.all([schemaApp.close(), t.app.close()]);
});

async function schemaBytes(value: unknown): Promise<string> {
  answer = value;
  const res = await schemaApp.inject({ method: 'GET', url: '/' });
  expect(res.statusCode).toBe(200);
  return res.body;
}

describe('POST /v1/predict answer bytes', () => {
  it('are exactly what the response schema serializer writes, for one passenger, batches, a bare passenger and drift', async () => {
    const odd = rawPassenger({ Age: 1000, Fare: -500 });
    const payloads: unknown[] = [
      { instances: [ordinary[1]] },
      rawPassenger(),
      { instances: ordinary },
      { instances: [odd, odd, ordinary[3]] },
      odd,
      { instances: [rawPassenger({ Name: 'Quote "Q" \\ Backslash, Mr. \u00e9\u2028', Age: null, Fare: '7.25' })] },
    ];
    let drifted = 0;
    for (const payload of payloads) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/predict',
        payload: payload as Record<string, unknown>,
      });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.body).toBe(await schemaBytes(res.json()));
      if (res.json().drift.isDrift) drifted++;
    }
    expect(drifted).toBeGreaterThan(0);
  });

  it('write infinite numbers as null and refuse NaN, as the schema serializer does', async () => {
    const scored = {
      modelVersion: 'v "1"',
      featureNames: ['a', 'b'],
      predictions: [{ survived: false, probability: 0, features: [] }],
      drift: {
        isDrift: true,
        threshold: 0.025,
        pValues: { a: Number.POSITIVE_INFINITY, 'b"': -0 },
        statistics: { a: 1e-300, 'b"': 5e-324 },
        drifted: ['a', 'b"'],
      },
    };
    const text = serializePrediction(scored);
    expect(text).toBe(
      await schemaBytes({
        predictions: [{ survived: false, probability: 0, drift: { isDrift: true, drifted: ['a', 'b"'] } }],
        modelVersion: 'v "1"',
        drift: scored.drift,
      }),
    );
    const bad = { ...scored, drift: { ...scored.drift, pValues: { a: Number.NaN } } };
    expect(() => serializePrediction(bad)).toThrow(/cannot be converted to a number/);
  });
});

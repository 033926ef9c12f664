import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelArtifact } from '../../shared/core/artifact.ts';
import { createRng } from '../../shared/core/rng.ts';
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

  it("are the schema serializer's over thousands of random answers: kept texts, layouts, zeros, odd keys and numbers", async () => {
    // The serializer keeps texts between answers (per feature, per probability, the model's constants) and the
    // layout of the last number maps: random answers that repeat values, switch layouts, overflow the tables and
    // carry odd numbers must still be written exactly as fastify's serializer for the schema writes them.
    const random = createRng(14).next;
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const features = artifact.recipe.featureNames;
    const keySets: ReadonlyArray<readonly string[]> = [
      features,
      features,
      features,
      ['a', 'b"', 'caf\u00e9\u2028', '10', '2'],
      [],
      ['x'],
      features.slice(0, 5),
    ];
    const odd = [0, -0, 1, 2, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 5e-324, 1e21, 1e-7, -1.5, 0.1 + 0.2];
    const repeated = Array.from({ length: 40 }, (_, k) => (2 * (1 + k)) / 713);
    const value = (fresh: boolean): number => {
      const r = random();
      if (fresh || r < 0.3) return random();
      if (r < 0.8) return pick(repeated);
      if (r < 0.995) return pick(odd);
      return Number.NaN;
    };
    const count = (): number => (random() < 0.85 ? 0 : pick([0, -0, 1, 2, 3, 0.5, Number.POSITIVE_INFINITY]));
    let compared = 0;
    let refused = 0;
    let usual = 0;
    for (let c = 0; c < 2500; c++) {
      // cases 1000-2199 write 1,200 fresh p-values for one layout: more than a table keeps
      const fresh = c >= 1000 && c < 2200;
      const keys = fresh ? features : pick(keySets);
      const pValues: Record<string, number> = {};
      const statistics: Record<string, number> = {};
      const allZero = random() < 0.5;
      for (const key of keys) {
        pValues[key] = value(fresh);
        statistics[key] = allZero ? 0 : count();
      }
      const isDrift = random() < 0.3;
      const drifted = random() < 0.7 ? [] : keys.filter(() => random() < 0.3);
      if (!isDrift && drifted.length === 0) usual++;
      const n = 1 + Math.floor(random() * (random() < 0.9 ? 1 : 5));
      const predictions = Array.from({ length: n }, () => ({
        survived: random() < 0.5,
        probability: random() < 0.9 ? Math.floor(random() * 201) / 200 : value(false),
        features: [],
      }));
      const drift = { isDrift, threshold: random() < 0.9 ? 0.05 / 11 : value(false), drifted, pValues, statistics };
      const scored = {
        modelVersion: pick(['bench-200', 'v "1"', 'mod\u00e8le']),
        featureNames: keys,
        predictions,
        drift,
      };
      const short = { isDrift, drifted };
      const schemaInput = {
        predictions: predictions.map((p) => ({ survived: p.survived, probability: p.probability, drift: short })),
        modelVersion: scored.modelVersion,
        drift,
      };
      const numbers = [drift.threshold, ...predictions.map((p) => p.probability), ...Object.values(pValues)];
      if (numbers.some(Number.isNaN) || Object.values(statistics).some(Number.isNaN)) {
        expect(() => serializePrediction(scored)).toThrow('The value "NaN" cannot be converted to a number.');
        refused++;
        continue;
      }
      expect(serializePrediction(scored), `case ${c}`).toBe(await schemaBytes(schemaInput));
      compared++;
    }
    expect(compared).toBeGreaterThan(2000);
    expect(refused).toBeGreaterThan(0);
    expect(usual).toBeGreaterThan(500);
  });
});

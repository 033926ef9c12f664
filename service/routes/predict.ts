/**
 * POST /v1/predict (and the AIP_PREDICT_ROUTE alias): Vertex AI's prediction format in and out.
 *   {"instances": [passenger, ...]} or one bare passenger ->
 *   {"predictions": [{"survived", "probability", "drift": {"isDrift", "drifted"}}], "modelVersion", "drift": {...}}
 * The request-level drift verdict (KS against the training reference) is repeated in each prediction in short
 * form, so a Vertex AI client that reads only `predictions` still sees it.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { type AppContext, requireModel } from '../context.ts';
import { readInstances } from '../instances.ts';
import type { ScoredRequest } from '../scoring.ts';

const pValueMap = { type: 'object', additionalProperties: { type: 'number' } } as const;

export const responseSchema = {
  200: {
    type: 'object',
    required: ['predictions', 'modelVersion', 'drift'],
    properties: {
      predictions: {
        type: 'array',
        items: {
          type: 'object',
          required: ['survived', 'probability', 'drift'],
          properties: {
            survived: { type: 'boolean' },
            probability: { type: 'number' },
            drift: {
              type: 'object',
              properties: { isDrift: { type: 'boolean' }, drifted: { type: 'array', items: { type: 'string' } } },
            },
          },
        },
      },
      modelVersion: { type: 'string' },
      drift: {
        type: 'object',
        properties: {
          isDrift: { type: 'boolean' },
          threshold: { type: 'number' },
          drifted: { type: 'array', items: { type: 'string' } },
          pValues: pValueMap,
          statistics: pValueMap,
        },
      },
    },
  },
} as const;

/**
 * The 200 answer as JSON text, byte for byte what fast-json-stringify writes from `responseSchema` (keys in the
 * schema's order, numbers as `'' + n`, ±Infinity as null, NaN refused with an error as fast-json-stringify
 * does), but in one pass with the request's short drift verdict written once and repeated in every prediction:
 * the schema serializer is a tenth of a one-passenger request and several milliseconds of a 1,000-row batch.
 * `predict.test.ts` checks the bytes against fastify's serializer for the schema.
 */
export function serializePrediction(scored: ScoredRequest): string {
  const drift = scored.drift;
  const drifted = stringArray(drift.drifted);
  const isDrift = drift.isDrift ? 'true' : 'false';
  const tail = `,"drift":{"isDrift":${isDrift},"drifted":${drifted}}}`;
  let out = '{"predictions":[';
  const predictions = scored.predictions;
  for (let i = 0; i < predictions.length; i++) {
    const p = predictions[i]!;
    out += `${i === 0 ? '' : ','}{"survived":${p.survived ? 'true' : 'false'},"probability":${number(p.probability)}${tail}`;
  }
  out += `],"modelVersion":${quoted(scored.modelVersion)}`;
  out += `,"drift":{"isDrift":${isDrift},"threshold":${number(drift.threshold)},"drifted":${drifted}`;
  out += `,"pValues":${numberMap(drift.pValues)},"statistics":${numberMap(drift.statistics)}}}`;
  return out;
}

/**
 * JSON.stringify of the strings every answer repeats (feature names, the model version), kept: a few dozen of
 * them per model, at most QUOTED_LIMIT (a caller cannot make the process keep its strings).
 */
const QUOTED_LIMIT = 1024;
const quotedStrings = new Map<string, string>();
function quoted(s: string): string {
  let q = quotedStrings.get(s);
  if (q === undefined) {
    q = JSON.stringify(s);
    if (quotedStrings.size < QUOTED_LIMIT) quotedStrings.set(s, q);
  }
  return q;
}

function number(n: number): string {
  // biome-ignore lint/suspicious/noSelfCompare: NaN test, as fast-json-stringify does it
  if (n !== n) throw new Error(`The value "${n}" cannot be converted to a number.`);
  return n === Number.POSITIVE_INFINITY || n === Number.NEGATIVE_INFINITY ? 'null' : `${n}`;
}

function stringArray(xs: readonly string[]): string {
  if (xs.length === 0) return '[]';
  let out = '[';
  for (let i = 0; i < xs.length; i++) out += (i === 0 ? '' : ',') + quoted(xs[i]!);
  return `${out}]`;
}

function numberMap(map: Record<string, number>): string {
  const keys = Object.keys(map);
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    out += `${i === 0 ? '' : ','}${quoted(key)}:${number(map[key]!)}`;
  }
  return `${out}}`;
}

export function predictRoutes(app: FastifyInstance, ctx: AppContext): void {
  // The histogram's child for this route, bound once (startTimer would validate and hash the label every time).
  const latency = ctx.metrics.latency.labels({ route: 'api' });
  const handler = async (request: { body: unknown }, reply: FastifyReply) => {
    const started = performance.now();
    const passengers = readInstances(request.body, ctx.options.maxBatch);
    const served = requireModel(ctx.models);
    const scored = ctx.scorer(served, passengers);
    latency.observe((performance.now() - started) / 1000);
    const body = serializePrediction(scored);
    // A string with a JSON content type is sent as it is (the schema below documents it and serves tests).
    reply.header('content-type', 'application/json; charset=utf-8');
    return body;
  };
  app.post('/v1/predict', { schema: { response: responseSchema } }, handler);
  const alias = ctx.options.predictRoute;
  if (alias && alias !== '/v1/predict' && alias !== '/predict') {
    app.post(alias, { schema: { response: responseSchema } }, handler);
  }
}

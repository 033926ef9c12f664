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
 *
 * The answer is made of few pieces, most of them kept from earlier answers (see `MEMO_LIMIT`): each piece is a
 * string concatenation here and a node to copy when the string is flattened to be sent, which costs about as
 * much as converting the numbers.
 */
export function serializePrediction(scored: ScoredRequest): string {
  const drift = scored.drift;
  const usual = !drift.isDrift && drift.drifted.length === 0;
  const drifted = usual ? '[]' : stringArray(drift.drifted);
  const tail = usual ? '' : `,"drift":{"isDrift":${drift.isDrift},"drifted":${drifted}}}`;
  const predictions = scored.predictions;
  let out = '{"predictions":[';
  for (let i = 0; i < predictions.length; i++) {
    const p = predictions[i]!;
    if (i > 0) out += ',';
    out += usual ? predictionText(p.survived, p.probability) : probabilityText(p.survived, p.probability) + tail;
  }
  out += usual
    ? usualMiddle(scored.modelVersion, drift.threshold)
    : `],"modelVersion":${quoted(scored.modelVersion)},"drift":{"isDrift":${drift.isDrift},"threshold":${number(drift.threshold)},"drifted":${drifted},"pValues":`;
  out += members(drift.pValues);
  out += '},"statistics":';
  out += members(drift.statistics);
  return `${out}}}}`;
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

/**
 * Texts kept between requests, each table bounded (emptied when full, so a run of new values cannot pin it):
 * a number's text depends on the number only, and the values an answer repeats come from small sets. A
 * probability is a share of the forest's trees (at most trees + 1 values); a request under `minTestRows` rows
 * gets, per feature, a conformal tail p-value of the form k / (reference rows + 1) and a count of rows as its
 * statistic, so a feature sees a few hundred distinct values however many requests come. Larger batches' KS
 * and chi-squared p-values are continuous: they miss, and cost what they cost before.
 */
const MEMO_LIMIT = 1024;

/**
 * A kept text is made flat (`join` copies its parts into one string; `+` would keep a pair of them): the answer's
 * flattening then copies one piece for it rather than walking two.
 */
function flat(...parts: string[]): string {
  return parts.join('');
}

function remember<K>(memo: Map<K, string>, key: K, text: string): string {
  if (memo.size >= MEMO_LIMIT) memo.clear();
  memo.set(key, text);
  return text;
}

const USUAL_TAIL = ',"drift":{"isDrift":false,"drifted":[]}}';
const survivedTexts = new Map<number, string>();
const diedTexts = new Map<number, string>();
const usualSurvivedTexts = new Map<number, string>();
const usualDiedTexts = new Map<number, string>();

/** `{"survived":…,"probability":…` of one prediction. */
function probabilityText(survived: boolean, probability: number): string {
  const memo = survived ? survivedTexts : diedTexts;
  const text = memo.get(probability);
  if (text !== undefined) return text;
  return remember(memo, probability, `{"survived":${survived},"probability":${number(probability)}`);
}

/** One prediction of a request without drift, its short drift verdict included. */
function predictionText(survived: boolean, probability: number): string {
  const memo = survived ? usualSurvivedTexts : usualDiedTexts;
  const text = memo.get(probability);
  if (text !== undefined) return text;
  return remember(memo, probability, flat(probabilityText(survived, probability), USUAL_TAIL));
}

/** From the end of the predictions to the p-values for a request without drift: the same for every such answer. */
let usualVersion = '';
let usualThreshold = Number.NaN;
let usualText = '';
function usualMiddle(modelVersion: string, threshold: number): string {
  if (modelVersion !== usualVersion || threshold !== usualThreshold) {
    usualText = flat(
      '],"modelVersion":',
      quoted(modelVersion),
      ',"drift":{"isDrift":false,"threshold":',
      number(threshold),
      ',"drifted":[],"pValues":',
    );
    usualVersion = modelVersion;
    usualThreshold = threshold;
  }
  return usualText;
}

/**
 * The members of the number maps (`pValues`, `statistics`), for the keys of the last map written: per key
 * position, `{"name":` or `,"name":`, and the text of that member per value seen. Both maps of an answer have
 * the feature names as keys, in feature order, so the layout changes only when the served model's features do.
 * `layoutZeros[i]` is the text of the first i members all 0: a request in the training support (nearly every
 * request) has no row out of support, so its `statistics` are all 0 and are written as one piece.
 */
let layoutKeys: readonly string[] = [];
let layoutPrefixes: readonly string[] = [];
let layoutMembers: ReadonlyArray<Map<number, string>> = [];
let layoutZeros: readonly string[] = [''];

function member(i: number, v: number): string {
  const memo = layoutMembers[i]!;
  const text = memo.get(v);
  return text !== undefined ? text : remember(memo, v, flat(layoutPrefixes[i]!, number(v)));
}

/**
 * `{"key":value,...` without the closing brace, keys in Object.keys' order as fast-json-stringify writes
 * `additionalProperties`.
 */
function members(map: Record<string, number>): string {
  // for-in walks the keys without making an array; a key that is not the layout's (another map, or an
  // inherited enumerable key, which Object.keys leaves out) sends the map to the general path. A map with the
  // layout's first keys only is written right by the layout too.
  let out = '';
  let zeros = true;
  let i = 0;
  for (const key in map) {
    if (key !== layoutKeys[i]) return membersByKeys(map);
    const v = map[key]!;
    if (zeros) {
      if (v === 0) {
        i++;
        continue;
      }
      zeros = false;
      out = layoutZeros[i]!;
    }
    out += member(i, v);
    i++;
  }
  if (i === 0) return '{';
  return zeros ? layoutZeros[i]! : out;
}

function membersByKeys(map: Record<string, number>): string {
  const keys = Object.keys(map);
  if (keys.length === 0) return '{';
  layoutKeys = keys;
  layoutPrefixes = keys.map((key, i) => (i === 0 ? '{' : ',') + quoted(key) + ':');
  layoutMembers = keys.map(() => new Map<number, string>());
  const zeros = [''];
  for (let i = 0; i < keys.length; i++) zeros.push(flat(zeros[i]!, layoutPrefixes[i]!, '0'));
  layoutZeros = zeros;
  let out = '';
  for (let i = 0; i < keys.length; i++) out += member(i, map[keys[i]!]!);
  return out;
}

export function predictRoutes(app: FastifyInstance, ctx: AppContext): void {
  const latency = ctx.metrics.latencyOf('api');
  // Not async: the answer is ready when the handler returns, and fastify sends a returned string at once
  // (what is thrown goes to the error handler as a rejection would).
  const handler = (request: { body: unknown }, reply: FastifyReply): string => {
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

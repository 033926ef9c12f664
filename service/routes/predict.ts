/**
 * POST /v1/predict (and the AIP_PREDICT_ROUTE alias): Vertex AI's prediction format in and out.
 *   {"instances": [passenger, ...]} or one bare passenger ->
 *   {"predictions": [{"survived", "probability", "drift": {"isDrift", "drifted"}}], "modelVersion", "drift": {...}}
 * The request-level drift verdict (KS against the training reference) is repeated in each prediction in short
 * form, so a Vertex AI client that reads only `predictions` still sees it.
 */
import type { FastifyInstance } from 'fastify';
import { type AppContext, requireModel } from '../context.ts';
import { readInstances } from '../instances.ts';

const pValueMap = { type: 'object', additionalProperties: { type: 'number' } } as const;

const responseSchema = {
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

export function predictRoutes(app: FastifyInstance, ctx: AppContext): void {
  const handler = async (request: { body: unknown }) => {
    const stopTimer = ctx.metrics.latency.startTimer({ route: 'api' });
    const passengers = readInstances(request.body, ctx.options.maxBatch);
    const served = requireModel(ctx.models);
    const scored = ctx.scorer(served, passengers);
    const short = { isDrift: scored.drift.isDrift, drifted: scored.drift.drifted };
    const body = {
      predictions: scored.predictions.map((p) => ({ survived: p.survived, probability: p.probability, drift: short })),
      modelVersion: scored.modelVersion,
      drift: scored.drift,
    };
    stopTimer();
    return body;
  };
  app.post('/v1/predict', { schema: { response: responseSchema } }, handler);
  const alias = ctx.options.predictRoute;
  if (alias && alias !== '/v1/predict' && alias !== '/predict') {
    app.post(alias, { schema: { response: responseSchema } }, handler);
  }
}

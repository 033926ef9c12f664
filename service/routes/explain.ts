/**
 * POST /v1/explain: the body of POST /v1/predict in, Vertex AI's explain answer out:
 *   {"predictions": [as /v1/predict], "explanations": [{"attributions": [Attribution]}], "modelVersion",
 *    "drift", "explanationMetadata": {"method", "covers"}}
 * One explanation per instance, in order. An explained request is a prediction like any other: it is counted
 * and feeds the drift detectors the same way. /v1/predict does not compute explanations, so it pays nothing.
 */
import type { FastifyInstance } from 'fastify';
import { type AppContext, requireModel } from '../context.ts';
import { attributionOf } from '../explanations.ts';
import { readInstances } from '../instances.ts';
import { responseSchema as predictSchema } from './predict.ts';

const numberMap = { type: 'object', additionalProperties: { type: 'number' } } as const;
const predict200 = predictSchema[200];

export const explainResponseSchema = {
  200: {
    type: 'object',
    required: ['predictions', 'explanations', 'modelVersion', 'drift', 'explanationMetadata'],
    properties: {
      predictions: predict200.properties.predictions,
      explanations: {
        type: 'array',
        items: {
          type: 'object',
          required: ['attributions'],
          properties: {
            attributions: {
              type: 'array',
              items: {
                type: 'object',
                required: [
                  'outputName',
                  'baselineOutputValue',
                  'instanceOutputValue',
                  'featureAttributions',
                  'passengerFieldAttributions',
                  'approximationError',
                ],
                properties: {
                  outputName: { type: 'string' },
                  baselineOutputValue: { type: 'number' },
                  instanceOutputValue: { type: 'number' },
                  featureAttributions: numberMap,
                  passengerFieldAttributions: numberMap,
                  approximationError: { type: 'number' },
                },
              },
            },
          },
        },
      },
      modelVersion: { type: 'string' },
      drift: predict200.properties.drift,
      explanationMetadata: {
        type: 'object',
        required: ['method', 'covers'],
        properties: { method: { type: 'string' }, covers: { type: 'string' } },
      },
    },
  },
} as const;

export function explainRoutes(app: FastifyInstance, ctx: AppContext): void {
  const latency = ctx.metrics.latencyOf('explain');
  app.post('/v1/explain', { schema: { response: explainResponseSchema } }, async (request) => {
    const started = performance.now();
    const passengers = readInstances(request.body, ctx.options.maxBatch);
    const served = requireModel(ctx.models);
    const scored = ctx.scorer(served, passengers);
    const explainer = served.model.explainer;
    const explanations = scored.predictions.map((p) => ({
      attributions: [attributionOf(explainer, p.features, p.probability)],
    }));
    latency.observe((performance.now() - started) / 1000);
    const drift = scored.drift;
    const short = { isDrift: drift.isDrift, drifted: drift.drifted };
    return {
      predictions: scored.predictions.map((p) => ({ survived: p.survived, probability: p.probability, drift: short })),
      explanations,
      modelVersion: scored.modelVersion,
      drift,
      explanationMetadata: {
        method: 'path-dependent TreeSHAP (exact)',
        // 'bootstrap': covers recorded at training; 'reference': an older artifact, covers counted on its
        // drift reference rows (the expectation is then over the real training rows)
        covers: explainer.coverSource,
      },
    };
  });
}

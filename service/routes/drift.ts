/** GET /v1/drift: the sliding-window detector of the served model, per feature. */
import type { FastifyInstance } from 'fastify';
import { type AppContext, requireModel } from '../context.ts';

export function driftRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/v1/drift', async () => {
    const served = requireModel(ctx.models);
    ctx.driftMonitor.settle();
    const window = served.windowDrift;
    const state = window.state();
    const last = state.last;
    return {
      modelVersion: served.version,
      windowSize: window.windowSize,
      evaluateEvery: window.evaluateEvery,
      isDrift: state.isDrift,
      windowRows: state.windowRows,
      rowsSeen: state.rowsSeen,
      rowsUntilEvaluation: state.rowsUntilEvaluation,
      threshold: served.requestDrift.threshold,
      evaluated: last !== null,
      features: served.requestDrift.featureNames.map((name) => ({
        name,
        pValue: last ? (last.pValues[name] ?? null) : null,
        statistic: last ? (last.statistics[name] ?? null) : null,
        drifted: last ? last.drifted.includes(name) : false,
      })),
    };
  });
}

/**
 * GET /v1/drift: the served model's sliding-window detector. `isDrift` is the last evaluation's verdict; for each
 * feature its type, test (KS or chi-squared), statistic, p-value, the threshold that p-value is held to, and the
 * distance between the window and the reference (Jensen-Shannon for continuous features, L-infinity for
 * categorical ones), plus the share of features that drifted. `histograms=true` adds the histograms the drift
 * page draws.
 */
import type { FastifyInstance } from 'fastify';
import { type AppContext, requireModel } from '../context.ts';
import { featureReports } from '../drift-monitor.ts';

export function driftRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get<{ Querystring: { histograms?: string } }>('/v1/drift', async (request) => {
    const served = requireModel(ctx.models);
    ctx.driftMonitor.settle();
    const window = served.windowDrift;
    const state = window.state();
    const last = state.last;
    const withHistograms = request.query.histograms === 'true';
    return {
      modelVersion: served.version,
      windowSize: window.windowSize,
      evaluateEvery: window.evaluateEvery,
      ert: window.ert,
      alpha: window.alpha,
      rowsPerRequest: window.rowsPerRequest,
      correction: window.tests.correction,
      isDrift: state.isDrift,
      windowRows: state.windowRows,
      rowsSeen: state.rowsSeen,
      requestsSeen: state.requestsSeen,
      requestsUntilEvaluation: state.requestsUntilEvaluation,
      threshold: window.tests.threshold,
      evaluated: last !== null,
      evaluatedAtRequest: last?.requestsSeen ?? null,
      drifted: last?.drifted ?? [],
      driftedShare: last?.driftedShare ?? 0,
      features: last
        ? featureReports(last).map((f, i) => (withHistograms ? { ...f, histogram: last.detail[i]!.histogram } : f))
        : window.tests.featureNames.map((name, f) => ({
            name,
            type: window.tests.featureTypes[f]!,
            test: window.tests.featureTypes[f] === 'continuous' ? 'ks' : 'chi2',
            statistic: null,
            pValue: null,
            threshold: window.tests.threshold,
            drifted: false,
            distance: null,
            distanceKind: window.tests.featureTypes[f] === 'continuous' ? 'jensen-shannon' : 'l-infinity',
          })),
    };
  });
}

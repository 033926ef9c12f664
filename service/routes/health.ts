/**
 * GET /healthz: the process is alive, with the model it serves and how its polls of the models bucket are going. GET /readyz (and the AIP_HEALTH_ROUTE alias): ready to serve, which
 * means a model is loaded; 503 until then, so neither Cloud Run's startup probe nor Vertex AI sends traffic early.
 */
import type { FastifyInstance } from 'fastify';
import { type AppContext, requireModel } from '../context.ts';

export function healthRoutes(app: FastifyInstance, ctx: AppContext): void {
  // Alive whatever the models bucket does (a restart would not bring GCS back, and the loaded model keeps
  // serving); the detail says whether the model polls are failing, for an operator and for the dashboards.
  app.get('/healthz', async () => {
    const modelSource = ctx.models.sourceHealth?.();
    return {
      status: 'ok',
      modelVersion: ctx.models.current()?.version ?? null,
      ...(modelSource ? { modelSource } : {}),
    };
  });
  const ready = async () => {
    const served = requireModel(ctx.models);
    return { status: 'ready', modelVersion: served.version };
  };
  app.get('/readyz', ready);
  const alias = ctx.options.healthRoute;
  if (alias && alias !== '/readyz' && alias !== '/healthz') app.get(alias, ready);
}

/**
 * GET /healthz: the process is alive. GET /readyz (and the AIP_HEALTH_ROUTE alias): ready to serve, which
 * means a model is loaded; 503 until then, so neither Cloud Run's startup probe nor Vertex AI sends traffic early.
 */
import type { FastifyInstance } from 'fastify';
import { type AppContext, requireModel } from '../context.ts';

export function healthRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  const ready = async () => {
    const served = requireModel(ctx.models);
    return { status: 'ready', modelVersion: served.version };
  };
  app.get('/readyz', ready);
  const alias = ctx.options.healthRoute;
  if (alias && alias !== '/readyz' && alias !== '/healthz') app.get(alias, ready);
}

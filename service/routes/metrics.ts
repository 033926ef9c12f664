/** GET /metrics: the app's own Prometheus registry, in the text exposition format. */
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../shared/errors.ts';
import { isLocalUnproxied } from '../callers.ts';
import type { AppContext } from '../context.ts';

export function metricsRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/metrics', async (request, reply) => {
    // A public service shows its metrics to the monitoring sidecar only (same instance, loopback, not proxied).
    if (ctx.options.publicMode && !isLocalUnproxied(request)) {
      throw new AppError('NOT_FOUND', 'no route for GET /metrics');
    }
    const { registry } = ctx.metrics;
    ctx.driftMonitor.settle(); // the window gauges read the window's last evaluation
    reply.header('content-type', registry.contentType).header('cache-control', 'no-store');
    return registry.metrics();
  });
}

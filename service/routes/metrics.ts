/** GET /metrics: the app's own Prometheus registry, in the text exposition format. */
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.ts';

export function metricsRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/metrics', async (_request, reply) => {
    const { registry } = ctx.metrics;
    ctx.driftMonitor.settle(); // the window gauges read the window's last evaluation
    reply.header('content-type', registry.contentType).header('cache-control', 'no-store');
    return registry.metrics();
  });
}

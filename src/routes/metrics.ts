import type { FastifyInstance } from 'fastify';
import type { RouteContext } from './context.ts';

/** GET /metrics: Prometheus text exposition. Public (scraped inside the cluster). */
export function metricsRoutes(ctx: RouteContext) {
  return async (app: FastifyInstance) => {
    app.get('/metrics', { schema: { tags: ['health'], hide: true } }, async (_req, reply) => {
      reply.header('content-type', ctx.metrics.registry.contentType);
      return ctx.metrics.registry.metrics();
    });
  };
}

import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorSchema } from './common-schemas.ts';
import type { RouteContext } from './context.ts';

const Health = z.object({ status: z.enum(['ok', 'unavailable']), checks: z.record(z.string(), z.object({ ok: z.boolean(), message: z.string() })) });

/** GET /healthz (the process serves) and GET /readyz (the audit log can be written). Public. */
export function healthRoutes(ctx: RouteContext) {
  return async (app: FastifyInstance) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    r.get('/healthz', { schema: { tags: ['health'], response: { 200: Health } } }, async () => ({
      status: 'ok' as const,
      checks: { process: { ok: true, message: 'serving' } },
    }));
    // 503: the health report (the audit log cannot be written), or the gate's error while it stops
    r.get('/readyz', { schema: { tags: ['health'], response: { 200: Health, 503: z.union([Health, ErrorSchema]) } } }, async (_req, reply) => {
      const writable = ctx.audit.writable();
      const persistError = ctx.store.lastWriteError();
      // a log changed by another hand does not recover by itself as a full or lost volume does
      const forGood = writable ? null : (ctx.audit.refusedUntilRestart?.() ?? null);
      const unwritable = forGood === null ? 'audit log cannot be written: decisions are refused (503)' : `${forGood}: decisions are refused (503) until then`;
      const checks = {
        audit: { ok: writable, message: writable ? `writable, head seq ${ctx.audit.head().seq}` : unwritable },
        state: { ok: persistError === null, message: persistError ? `state checkpoint not written (${persistError.message}); the audit log still holds every change` : 'checkpoint written' },
      };
      // readiness follows the audit log only: the state checkpoint is rebuilt from it
      reply.code(writable ? 200 : 503);
      return { status: writable ? ('ok' as const) : ('unavailable' as const), checks };
    });
  };
}

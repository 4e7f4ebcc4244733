import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AUDIT_TYPES } from '../audit/event.ts';
import type { AuditQuery } from '../audit/log.ts';
import type { RouteContext } from './context.ts';
import { ErrorSchema, IsoInstant, authErrors } from './common-schemas.ts';

const TYPE_FAMILIES = [...new Set(AUDIT_TYPES.filter((t) => t.includes('.')).map((t) => `${t.split('.')[0]}.`))];

export const AuditQuerySchema = z.strictObject({
  stage: z.string().min(1).max(63).optional(),
  type: z
    .string()
    .refine((t) => (AUDIT_TYPES as readonly string[]).includes(t) || TYPE_FAMILIES.includes(t), {
      message: `must be one of ${[...AUDIT_TYPES, ...TYPE_FAMILIES].join(', ')}`,
    })
    .optional(),
  since: IsoInstant.optional(),
  limit: z.coerce.number().int('must be an integer').min(1).max(500).default(50),
  cursor: z.coerce.number().int('must be an integer').positive().optional(),
});

const AuditRecordSchema = z.object({ seq: z.number(), hash: z.string(), prev: z.string(), type: z.string(), at: z.string() }).catchall(z.unknown());

/** GET /v1/audit: newest-first pages of audit records, for any authenticated identity. */
export function auditRoutes(ctx: RouteContext) {
  return async (app: FastifyInstance) => {
    app.withTypeProvider<ZodTypeProvider>().get('/v1/audit', {
      onRequest: ctx.guard('authenticated'),
      schema: {
        summary: 'Newest-first page of audit records',
        tags: ['audit'],
        querystring: AuditQuerySchema,
        response: {
          200: z.object({ records: z.array(AuditRecordSchema), nextCursor: z.number().nullable(), head: z.object({ seq: z.number(), hash: z.string() }) }),
          400: ErrorSchema,
          ...authErrors,
        },
      },
      handler: async (req) => {
        const q: AuditQuery = { limit: req.query.limit };
        if (req.query.stage) q.stage = req.query.stage;
        if (req.query.type) q.type = req.query.type as AuditQuery['type'];
        if (req.query.since) q.since = new Date(req.query.since).toISOString();
        if (req.query.cursor) q.cursor = req.query.cursor;
        const page = await ctx.audit.query(q);
        return { ...page, head: ctx.audit.head() };
      },
    });
  };
}

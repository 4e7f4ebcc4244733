import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AUDIT_TYPES } from '../audit/event.ts';
import type { AuditQuery } from '../audit/log.ts';
import type { Permission } from '../auth/identity.ts';
import { inTurnOrShed } from '../http/turn-or-shed.ts';
import { RECORDED_STAGE_MAX } from '../http/refusals.ts';
import type { RouteContext } from './context.ts';
import { ErrorSchema, IsoInstant, authErrors } from './common-schemas.ts';

const TYPE_FAMILIES = [...new Set(AUDIT_TYPES.filter((t) => t.includes('.')).map((t) => `${t.split('.')[0]}.`))];

export const AuditQuerySchema = z.strictObject({
  // as long as the stage a record can hold: a refusal's is the client's path segment, up to 64
  stage: z.string().min(1).max(RECORDED_STAGE_MAX).optional(),
  // an enum, not a refined string: /openapi.json then lists the values the route takes
  type: z.enum([...AUDIT_TYPES, ...TYPE_FAMILIES], { message: `must be one of ${[...AUDIT_TYPES, ...TYPE_FAMILIES].join(', ')}` }).optional(),
  since: IsoInstant.optional(),
  limit: z.coerce.number().int('must be an integer').min(1).max(500).default(50),
  cursor: z.coerce.number().int('must be an integer').positive().optional(),
});

const AuditRecordSchema = z.object({ seq: z.number(), hash: z.string(), prev: z.string(), type: z.string(), at: z.string() }).catchall(z.unknown());

/** The AuditQuery of validated query-string values (shared by GET /v1/audit and /v1/audit/verify). */
export function toAuditQuery(query: z.infer<typeof AuditQuerySchema>): AuditQuery {
  const q: AuditQuery = { limit: query.limit };
  if (query.stage) q.stage = query.stage;
  if (query.type) q.type = query.type as AuditQuery['type'];
  if (query.since) q.since = new Date(query.since).toISOString();
  if (query.cursor) q.cursor = query.cursor;
  return q;
}

/**
 * How many audit reads (GET /v1/audit queries, /v1/audit/verify page checks) may wait behind the
 * one that has the turn; the next is answered 503 `audit_reads_saturated` at once. The line
 * drains some 23-28 reads a second (see auditRoutes), so the last of 32 waits about 1-1.5 s, far
 * inside the console's 5 s timeout; 16 clients looping worst-case queries (the measured case)
 * never have more than 15 waiting. Past that, a reader that loops without waiting for its
 * answers (a script, a console polling in many tabs) would only lengthen every reader's wait and
 * keep sockets and requests held: it is told to come back instead.
 */
export const AUDIT_READS_WAITING = 32;

const AUDIT_READS_LINE = { saturated: 'audit_reads_saturated', what: 'audit reads', turn: 'its turn to read the audit log' };

/**
 * Runs `scan` in the audit log's turn (ctx.auditReads) by inTurnOrShed: one whose client left while
 * it waited (a console tab closed, a script's timeout) costs no scan, and past AUDIT_READS_WAITING
 * waiting it is answered 503 `audit_reads_saturated` at once. Not audited (a 503 is no refusal to
 * isAuditedRefusal in app.ts): the reader's permission was checked and granted, and a record for
 * each, never summed up for an authenticated caller, would turn a flood of reads into appends
 * beside the decisions.
 */
export function scanInTurn<T>(ctx: RouteContext, req: FastifyRequest, reply: FastifyReply, scan: () => Promise<T>): Promise<T> {
  return inTurnOrShed(ctx.auditReads, req, reply, AUDIT_READS_LINE, scan);
}

/** The permission reading the audit log takes (GET /v1/audit and /v1/audit/verify; whoami reports it). */
export const READ_AUDIT: Permission = { resource: 'auditrecords', verb: 'get' };

/**
 * GET /v1/audit: newest-first pages of audit records, for holders of get auditrecords. Queries
 * take turns (ctx.auditReads, with /v1/audit/verify's page checks): one examines up to
 * DEFAULT_SCAN_LIMIT lines, and with `since` parses each (~30-45 ms of CPU, in 64 KiB stretches);
 * side by side, the stretches of several queries queue up ahead of a decision on the same thread
 * (bench/audit-contention.ts, 150,000 records, decisions at 50/s beside 16 clients looping
 * worst-case queries: p50 26-32 ms, p99 52-260 ms, against 3-4 and 9-17 ms alone; back to back,
 * 249 decisions in 6 s instead of 2,880). One at a time, a decision waits behind one query's
 * stretch at most (beside 16: p50 3.5-3.8 ms, p99 8-24 ms, 2,586 back to back), and the queries
 * answered per second hardly change (23-24 against 26-28): they were waiting for the thread anyway.
 * The line is bounded (AUDIT_READS_WAITING): past it a read is answered 503 at once, not queued.
 */
export function auditRoutes(ctx: RouteContext) {
  return async (app: FastifyInstance) => {
    app.withTypeProvider<ZodTypeProvider>().get('/v1/audit', {
      onRequest: ctx.guard(READ_AUDIT),
      schema: {
        summary: 'Newest-first page of audit records (get auditrecords: operator, approver, auditor, admin)',
        tags: ['audit'],
        querystring: AuditQuerySchema,
        response: {
          200: z.object({
            records: z.array(AuditRecordSchema),
            nextCursor: z.number().nullable(),
            partial: z.boolean().describe('the search stopped at its budget of records examined before the page was full: older records may still match; nextCursor goes on'),
            head: z.object({ seq: z.number(), hash: z.string() }),
          }),
          400: ErrorSchema,
          ...authErrors,
        },
      },
      handler: async (req, reply) => {
        const page = await scanInTurn(ctx, req, reply, () => ctx.audit.query(toAuditQuery(req.query)));
        return { ...page, head: ctx.audit.head() };
      },
    });
  };
}

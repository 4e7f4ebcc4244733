import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { auditEntry } from '../audit/entry.ts';
import { HttpError } from '../http/errors.ts';
import { identityRateLimit } from '../http/identity-rate-limit.ts';
import { identityOf } from '../http/request-identity.ts';
import { isApprovalLive } from '../policy/approvals.ts';
import { getOwn } from '../policy/own.ts';
import { personKey } from '../policy/person-key.ts';
import { openPerPerson } from './open-per-person.ts';
import { expiryEntries } from '../gate/decision-service.ts';
import { revokeOpen } from '../gate/revoke-open.ts';
import { isStage } from '../stages.ts';
import type { RouteContext } from './context.ts';
import { ErrorSchema, KubeName, NoQuery, OciTag, authErrors, statement } from './common-schemas.ts';
import { isoOf } from '../policy/clock.ts';

export const ApprovalRequest = z.strictObject({
  project: KubeName.max(63),
  stage: KubeName.max(63),
  imageTag: OciTag,
  notes: statement(10, 4000, 'say what you checked'),
});

const ApprovalView = z.object({
  id: z.string(),
  project: z.string(),
  stage: z.string(),
  imageTag: z.string(),
  notes: z.string(),
  approvedBy: z.string(),
  approvedAt: z.string(),
  expiresAt: z.string(),
  status: z.enum(['open', 'consumed', 'revoked', 'expired']),
});

/**
 * Approvals one identity may record a minute. Far above what a person reviews; it bounds what a
 * leaked approver token (or a script gone wrong) can add to the state and to the public
 * /v1/status, each approval staying up to approvals.ttlHours.
 */
export const APPROVALS_PER_MINUTE = 30;

/**
 * Open approvals one person may hold at once (409 past it). The rate limit alone let a script at
 * 30 a minute keep tens of thousands open for approvals.ttlHours, each in every checkpoint and
 * walked by every decision; a person approves a handful of tags for live.
 */
export const OPEN_APPROVALS_PER_APPROVER = 100;

/** POST /v1/approvals (approver), DELETE /v1/approvals/{id} (approver) and GET /v1/approvals (pending ones). */
export function approvalRoutes(ctx: RouteContext) {
  const limit = identityRateLimit(ctx.clock, APPROVALS_PER_MINUTE, 'approvals');
  const cap = openPerPerson(OPEN_APPROVALS_PER_APPROVER, 'approvals', 'revoke the ones not needed (DELETE /v1/approvals/{id})');
  return async (app: FastifyInstance) => {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.post('/v1/approvals', {
      onRequest: ctx.guard({ resource: 'approvals', verb: 'create' }),
      schema: {
        summary: 'Approve an image tag for a stage that requires approval (approver), with notes',
        tags: ['approvals'],
        querystring: NoQuery,
        body: ApprovalRequest,
        response: { 201: ApprovalView, 400: ErrorSchema, 409: ErrorSchema, 429: ErrorSchema, ...authErrors },
      },
      handler: async (req, reply) => {
        const { project, stage, imageTag, notes } = req.body;
        if (project !== ctx.config.project) throw new HttpError(400, 'invalid_request', `body.project: unknown project "${project}"`, { field: 'body.project' });
        if (!isStage(stage)) throw new HttpError(400, 'invalid_request', `body.stage: unknown stage "${stage}"`, { field: 'body.stage' });
        if (!ctx.config.stages[stage].requireApproval) {
          throw new HttpError(400, 'invalid_request', `body.stage: ${stage} does not require approvals`, { field: 'body.stage' });
        }
        const now = ctx.clock.now();
        const id = ctx.newId('ap');
        const approvedAt = isoOf(now);
        const expiresAt = isoOf(now.plus({ hours: ctx.config.approvals.ttlHours }));
        const actor = identityOf(req);
        const openNow = (person: string) => Object.values(ctx.store.read().approvals).filter((a) => isApprovalLive(a, now) && personKey(a.approvedBy) === person).length;
        await cap.hold(actor.name, openNow, () =>
          // counted per identity once the approval would be recorded, as break-glass requests are:
          // the limit bounds what one identity adds, and a mistyped request (400) costs nothing
          limit(req, reply, () =>
            ctx.recorder.record([
              auditEntry({ at: approvedAt, type: 'approval.recorded', id, actor, project, stage, imageTag, approval: { id, notes, approvedAt, expiresAt }, data: { requestId: req.id } }),
            ]),
          ),
        );
        reply.code(201);
        return { id, project, stage, imageTag, notes, approvedBy: actor.name, approvedAt, expiresAt, status: 'open' as const };
      },
    });

    r.delete('/v1/approvals/:id', {
      onRequest: ctx.guard({ resource: 'approvals', verb: 'delete' }),
      schema: {
        summary: 'Revoke an unused approval (approver): a live promotion of its tag waits for another',
        tags: ['approvals'],
        params: z.strictObject({ id: z.string().regex(/^[a-z]+_[0-9a-z]{1,40}$/, 'must be an approval id such as ap_01k…') }),
        querystring: NoQuery,
        response: { 200: ApprovalView, 400: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, ...authErrors },
      },
      handler: async (req) => {
        const approval = getOwn(ctx.store.read().approvals, req.params.id);
        if (!approval) throw new HttpError(404, 'not_found', `no approval ${req.params.id}`, { field: 'params.id' });
        const actor = identityOf(req);
        await revokeOpen(ctx, approval, {
          what: 'approval',
          isLive: isApprovalLive,
          expired: (at) => expiryEntries(at, [], [approval]),
          revoked: (at) =>
            auditEntry({
              at,
              type: 'approval.revoked',
              id: approval.id,
              actor,
              project: approval.project,
              stage: approval.stage,
              imageTag: approval.imageTag,
              approval: { id: approval.id, approvedBy: approval.approvedBy, notes: approval.notes, approvedAt: approval.approvedAt, expiresAt: approval.expiresAt },
              data: { requestId: req.id },
            }),
        });
        return getOwn(ctx.store.read().approvals, approval.id) ?? { ...approval, status: 'revoked' as const };
      },
    });

    r.get('/v1/approvals', {
      onRequest: ctx.guard('authenticated'),
      schema: { summary: 'Pending (unused, unexpired) approvals', tags: ['approvals'], querystring: NoQuery, response: { 200: z.object({ approvals: z.array(ApprovalView) }), ...authErrors } },
      handler: async () => {
        const now = ctx.clock.now();
        return { approvals: Object.values(ctx.store.read().approvals).filter((a) => isApprovalLive(a, now)) };
      },
    });
  };
}

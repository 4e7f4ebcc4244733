import { randomBytes } from 'node:crypto';
import { hashToken } from '../auth/local-tokens.ts';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { auditEntry } from '../audit/entry.ts';
import { HttpError } from '../http/errors.ts';
import { identityRateLimit } from '../http/identity-rate-limit.ts';
import { identityOf } from '../http/request-identity.ts';
import { isGrantLive, liveGrantSummaries } from '../policy/grants.ts';
import { getOwn } from '../policy/own.ts';
import { personKey } from '../policy/person-key.ts';
import { openPerPerson } from './open-per-person.ts';
import { isStage } from '../stages.ts';
import { expiryEntries } from '../gate/decision-service.ts';
import { revokeOpen } from '../gate/revoke-open.ts';
import type { RouteContext } from './context.ts';
import { ErrorSchema, KubeName, NoQuery, OciTag, authErrors, statement } from './common-schemas.ts';
import { isoOf } from '../policy/clock.ts';

export const BreakGlassRequest = z.strictObject({
  project: KubeName.max(63),
  stage: KubeName.max(63),
  imageTag: OciTag,
  justification: statement(20, 2000, 'say why this cannot wait for the close'),
  ttlMinutes: z.number().int('must be a whole number of minutes').min(1, 'must be at least 1').optional(),
});

const GrantView = z.object({
  id: z.string(),
  project: z.string(),
  stage: z.string(),
  imageTag: z.string(),
  justification: z.string(),
  requestedBy: z.string(),
  issuedAt: z.string(),
  expiresAt: z.string(),
  status: z.enum(['open', 'consumed', 'revoked', 'expired']),
});

/**
 * Open break-glass grants one person may hold at once (409 past it): the rate limit alone let a
 * script keep thousands open for their TTL, each in every checkpoint and walked by every
 * decision; an incident needs one or two.
 */
export const OPEN_GRANTS_PER_REQUESTER = 20;

/** The one-time break-glass token: "gbg_" + 256 random bits. */
export function newBreakGlassToken(): string {
  return `gbg_${randomBytes(32).toString('base64url')}`;
}

/** POST /v1/break-glass, DELETE /v1/break-glass/{id}, GET /v1/break-glass. */
export function grantRoutes(ctx: RouteContext) {
  const limit = identityRateLimit(ctx.clock, ctx.config.breakGlass.requestsPerMinute, 'break-glass requests');
  const cap = openPerPerson(OPEN_GRANTS_PER_REQUESTER, 'break-glass grants', 'revoke the ones not needed (DELETE /v1/break-glass/{id})');
  return async (app: FastifyInstance) => {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.post('/v1/break-glass', {
      onRequest: ctx.guard({ resource: 'breakglassgrants', verb: 'create' }),
      schema: {
        summary: 'Request a one-shot break-glass grant (operator). The token is shown once.',
        tags: ['break-glass'],
        querystring: NoQuery,
        body: BreakGlassRequest,
        response: { 201: GrantView.extend({ token: z.string(), ttlMinutes: z.number() }), 400: ErrorSchema, 409: ErrorSchema, 429: ErrorSchema, ...authErrors },
      },
      handler: async (req, reply) => {
        const { project, stage, imageTag, justification } = req.body;
        const ttlMinutes = req.body.ttlMinutes ?? ctx.config.breakGlass.defaultTtlMinutes;
        if (project !== ctx.config.project) throw new HttpError(400, 'invalid_request', `body.project: unknown project "${project}"`, { field: 'body.project' });
        if (!isStage(stage)) throw new HttpError(400, 'invalid_request', `body.stage: unknown stage "${stage}"`, { field: 'body.stage' });
        if (ctx.config.stages[stage].marketHours === null) {
          throw new HttpError(400, 'invalid_request', `body.stage: ${stage} is not held by market hours, so break-glass does not apply`, { field: 'body.stage' });
        }
        if (ttlMinutes > ctx.config.breakGlass.maxTtlMinutes) {
          throw new HttpError(400, 'invalid_request', `body.ttlMinutes: must be at most ${ctx.config.breakGlass.maxTtlMinutes}`, { field: 'body.ttlMinutes' });
        }
        const now = ctx.clock.now();
        const id = ctx.newId('bg');
        const token = newBreakGlassToken();
        const issuedAt = isoOf(now);
        const expiresAt = isoOf(now.plus({ minutes: ttlMinutes }));
        const actor = identityOf(req);
        const openNow = (person: string) => Object.values(ctx.store.read().grants).filter((g) => isGrantLive(g, now) && personKey(g.requestedBy) === person).length;
        await cap.hold(actor.name, openNow, () =>
          // counted per identity once the request would be granted: the limit bounds the grants one
          // identity mints, and an operator who mistypes during an incident does not lock themselves
          // out (a request refused for its input, 400, costs nothing; 401 and 403 never get here)
          limit(req, reply, () =>
            ctx.recorder.record([
              auditEntry({
                at: issuedAt,
                type: 'breakglass.issued',
                id,
                actor,
                project,
                stage,
                imageTag,
                breakGlass: { id, tokenHash: hashToken(token), justification, issuedAt, expiresAt, ttlMinutes },
                data: { requestId: req.id },
              }),
            ]),
          ),
        );
        reply.code(201);
        return { id, token, project, stage, imageTag, justification, requestedBy: actor.name, issuedAt, expiresAt, ttlMinutes, status: 'open' as const };
      },
    });

    r.delete('/v1/break-glass/:id', {
      onRequest: ctx.guard({ resource: 'breakglassgrants', verb: 'delete' }),
      schema: {
        summary: 'Revoke an unused grant (operator)',
        tags: ['break-glass'],
        params: z.strictObject({ id: z.string().regex(/^[a-z]+_[0-9a-z]{1,40}$/, 'must be a grant id such as bg_01k…') }),
        querystring: NoQuery,
        response: { 200: GrantView, 400: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, ...authErrors },
      },
      handler: async (req) => {
        const grant = getOwn(ctx.store.read().grants, req.params.id);
        if (!grant) throw new HttpError(404, 'not_found', `no break-glass grant ${req.params.id}`, { field: 'params.id' });
        const actor = identityOf(req);
        await revokeOpen(ctx, grant, {
          what: 'grant',
          isLive: isGrantLive,
          expired: (at) => expiryEntries(at, [grant], []),
          revoked: (at) =>
            auditEntry({
              at,
              type: 'breakglass.revoked',
              id: grant.id,
              actor,
              project: grant.project,
              stage: grant.stage,
              imageTag: grant.imageTag,
              breakGlass: { id: grant.id, requestedBy: grant.requestedBy, justification: grant.justification, issuedAt: grant.issuedAt, expiresAt: grant.expiresAt },
              data: { requestId: req.id },
            }),
        });
        const { tokenHash: _hidden, ...view } = getOwn(ctx.store.read().grants, grant.id) ?? { ...grant, status: 'revoked' as const };
        return view;
      },
    });

    r.get('/v1/break-glass', {
      onRequest: ctx.guard('authenticated'),
      schema: { summary: 'Open break-glass grants (never their tokens)', tags: ['break-glass'], querystring: NoQuery, response: { 200: z.object({ grants: z.array(GrantView) }), ...authErrors } },
      handler: async () => {
        const now = ctx.clock.now();
        return { grants: liveGrantSummaries(ctx.store.read().grants, now).map((g) => ({ ...g, status: 'open' as const })) };
      },
    });
  };
}

import type { FastifyInstance } from 'fastify';
import { DateTime } from 'luxon';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { hashToken } from '../auth/local-tokens.ts';
import { identityOf } from '../http/request-identity.ts';
import { addLogFields } from '../http/log-fields.ts';
import type { DecisionInput, Outcome } from '../policy/decide.ts';
import { marketStateToJson } from '../policy/market-hours.ts';
import type { RouteContext } from './context.ts';
import { ErrorSchema, IsoInstant, KubeName, MarketJson, NoQuery, OciTag, ReasonSchema, authErrors, recordedText } from './common-schemas.ts';
import { isoOf } from '../policy/clock.ts';
import { isStage } from '../stages.ts';

/**
 * Optional free text Kargo may render empty or null (e.g. the actor of an auto-promotion): both
 * mean absent. The bound leaves room for Kargo's longest actor, a service account's
 * `kubernetes:system:serviceaccount:<namespace>:<name>` (up to 350 characters): a 400 here is
 * final for Kargo, and would fail a promotion over a field that is only recorded.
 */
const OptionalText = recordedText(z.string().max(1024, 'must be at most 1024 characters'))
  .nullish()
  .transform((v) => (v === undefined || v === null || v === '' ? null : v));

export const DecisionRequest = z.strictObject({
  project: KubeName.max(63),
  stage: KubeName.max(63),
  imageTag: OciTag,
  // Kargo renders a missing value as null: null means absent for every optional field
  promotion: KubeName.nullish(),
  freight: KubeName.nullish(),
  actor: OptionalText,
  rollback: z.boolean().nullish(),
  breakGlassToken: z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters').nullish(),
});

export const PreviewRequest = DecisionRequest.extend({ at: IsoInstant.optional() });

export const DecisionResponse = z.object({
  id: z.string().describe('decision id (for a replay: the id of the original allow)'),
  decision: z.enum(['allow', 'wait', 'deny']),
  allowed: z.boolean(),
  skip: z.boolean().describe('true when the stage is disabled: the promotion steps after the gate are skipped'),
  replayed: z.boolean(),
  preview: z.boolean(),
  reasons: z.array(ReasonSchema),
  message: z.string(),
  project: z.string(),
  stage: z.string(),
  imageTag: z.string(),
  promotion: z.string().nullable(),
  market: MarketJson,
  breakGlass: z
    .object({ id: z.string(), requestedBy: z.string(), justification: z.string(), expiresAt: z.string(), consumed: z.boolean() })
    .nullable(),
  approval: z.object({ id: z.string(), approvedBy: z.string(), notes: z.string(), consumed: z.boolean() }).nullable(),
  audit: z.object({ seq: z.number(), hash: z.string() }).nullable(),
  at: z.string(),
});
type DecisionResponseBody = z.infer<typeof DecisionResponse>;

function toInput(body: z.infer<typeof DecisionRequest>): DecisionInput {
  return {
    project: body.project,
    stage: body.stage,
    imageTag: body.imageTag,
    promotion: body.promotion ?? null,
    breakGlassTokenHash: body.breakGlassToken ? hashToken(body.breakGlassToken) : null,
  };
}

function toResponse(
  id: string,
  input: DecisionInput,
  outcome: Outcome,
  at: DateTime,
  audit: { seq: number; hash: string } | null,
  market: DecisionResponseBody['market'] = marketStateToJson(outcome.market),
): DecisionResponseBody {
  const consumed = outcome.decision === 'allow' && outcome.replayOf === null && audit !== null;
  return {
    id,
    decision: outcome.decision,
    allowed: outcome.decision === 'allow',
    skip: outcome.skip,
    replayed: outcome.replayOf !== null,
    preview: audit === null,
    reasons: outcome.reasons,
    message: outcome.message,
    project: input.project,
    stage: input.stage,
    imageTag: input.imageTag,
    promotion: input.promotion,
    market,
    breakGlass: outcome.grant
      ? { id: outcome.grant.id, requestedBy: outcome.grant.requestedBy, justification: outcome.grant.justification, expiresAt: outcome.grant.expiresAt, consumed }
      : null,
    approval: outcome.approval ? { id: outcome.approval.id, approvedBy: outcome.approval.approvedBy, notes: outcome.approval.notes, consumed } : null,
    audit,
    at: isoOf(at),
  };
}

/**
 * Both routes answer what toResponse builds, which is exactly the documented shape, so plain
 * JSON.stringify serialises it (the zod schema still documents it in /openapi.json, and the
 * route tests check answers against it).
 */
const plainJson = () => (data: unknown) => JSON.stringify(data);

/** POST /v1/decisions (Kargo's gate step) and POST /v1/decisions/preview. */
export function decisionRoutes(ctx: RouteContext) {
  return async (app: FastifyInstance) => {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.post('/v1/decisions', {
      onRequest: ctx.guard({ resource: 'decisions', verb: 'create' }),
      serializerCompiler: plainJson,
      schema: {
        summary: 'May this promotion proceed? Records the answer in the audit log before replying.',
        tags: ['decisions'],
        // a parameter such as ?dryRun=true would otherwise be ignored, and the decision made (and a grant spent) for real
        querystring: NoQuery,
        body: DecisionRequest,
        response: { 200: DecisionResponse, 400: ErrorSchema, 413: ErrorSchema, 415: ErrorSchema, ...authErrors },
      },
      handler: async (req) => {
        const input = toInput(req.body);
        let done;
        try {
          done = await ctx.decisions.decide(input, {
            actor: identityOf(req),
            requestedBy: req.body.actor,
            freight: req.body.freight ?? null,
            rollback: req.body.rollback ?? null,
            requestId: req.id,
          });
        } catch (err) {
          // decided at the gate clock's now: a clock run past the calendar is a 503 naming it
          // (a try around the await, not a .catch(): no extra promise on every decision)
          if (err instanceof RangeError) ctx.calendarGuard(() => ctx.calendar.state(ctx.clock.now()), null);
          throw err;
        }
        // the label is one of the five stages: a client-chosen name would add a series per request
        ctx.metrics.decisions.inc({ stage: isStage(input.stage) ? input.stage : 'unknown', decision: done.outcome.decision });
        addLogFields(req, { decisionId: done.id, stage: input.stage, imageTag: input.imageTag, decision: done.outcome.decision, seq: done.record.seq });
        return toResponse(done.id, input, done.outcome, done.at, { seq: done.record.seq, hash: done.record.hash }, done.market);
      },
    });

    r.post('/v1/decisions/preview', {
      onRequest: ctx.guard('authenticated'),
      serializerCompiler: plainJson,
      schema: {
        summary: 'The same evaluation at an optional instant; consumes and records nothing.',
        tags: ['decisions'],
        querystring: NoQuery,
        body: PreviewRequest,
        response: { 200: DecisionResponse, 400: ErrorSchema, ...authErrors },
      },
      handler: async (req) => {
        const input = toInput(req.body);
        const at = req.body.at ? DateTime.fromISO(req.body.at, { setZone: true }).toUTC() : ctx.clock.now();
        const outcome = ctx.calendarGuard(() => ctx.decisions.preview(input, at), req.body.at ? 'body.at' : null);
        return toResponse(`preview-${req.id}`, input, outcome, at, null);
      },
    });
  };
}

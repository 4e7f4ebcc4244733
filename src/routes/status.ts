import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { redactTokensInJson } from '../auth/redact-tokens.ts';
import { isApprovalLive } from '../policy/approvals.ts';
import { liveGrantSummaries } from '../policy/grants.ts';
import { marketStateToJson } from '../policy/market-hours.ts';
import { STAGES } from '../stages.ts';
import type { RouteContext } from './context.ts';
import { MarketJson, ReasonSchema } from './common-schemas.ts';
import { marketHold } from '../policy/market-hold.ts';
import { isoOf } from '../policy/clock.ts';
import type { AllowedPromotion } from '../policy/state.ts';

const LastDecision = z.object({
  id: z.string(),
  at: z.string(),
  decision: z.enum(['allow', 'wait', 'deny']),
  imageTag: z.string(),
  promotion: z.string().nullable(),
  skip: z.boolean(),
  reasons: z.array(ReasonSchema),
  message: z.string(),
});

export const StatusResponse = z.object({
  at: z.string(),
  project: z.string(),
  authMode: z.enum(['local', 'kubernetes']),
  clock: z
    .object({
      source: z.enum(['system', 'GATE_NOW']),
      startedAt: z.string().nullable().describe('GATE_NOW: the instant the gate clock started at (null on the system clock)'),
    })
    .describe('where the gate takes "now" from: a gate on GATE_NOW answers for a simulated instant, never for production'),
  market: MarketJson,
  stages: z.array(
    z.object({
      name: z.enum(STAGES),
      enabled: z.boolean(),
      note: z.string().nullable(),
      changedBy: z.string().nullable(),
      changedAt: z.string().nullable(),
      policy: z.object({
        requireIntegrationTests: z.boolean(),
        marketHours: z.enum(['wait', 'deny']).nullable(),
        quietBeforeOpenMinutes: z.number().describe('the market-hours answer holds from this many minutes before the open (0: from the open)'),
        requireApproval: z.boolean(),
      }),
      blockedByMarket: z.boolean().describe("true while the stage's market-hours answer holds: the session is open, or opens within its quietBeforeOpenMinutes (and the stage is enabled)"),
      deployed: z
        .object({
          imageTag: z.string(),
          source: z.enum(['kargo', 'gate']),
          at: z.string().nullable(),
          passedThrough: z
            .boolean()
            .describe("true when the gate let this tag through the stage only as a pass-through of the stage switched off (allow with skip): Kargo counts it as the stage's freight, but nothing was deployed there"),
        })
        .nullable(),
      lastDecision: LastDecision.nullable(),
    }),
  ),
  grants: z.array(
    z.object({ id: z.string(), project: z.string(), stage: z.string(), imageTag: z.string(), justification: z.string(), requestedBy: z.string(), issuedAt: z.string(), expiresAt: z.string() }),
  ),
  approvals: z.array(
    z.object({ id: z.string(), project: z.string(), stage: z.string(), imageTag: z.string(), notes: z.string(), approvedBy: z.string(), approvedAt: z.string(), expiresAt: z.string() }),
  ),
  waiting: z.array(
    z.object({ project: z.string(), stage: z.string(), imageTag: z.string(), promotion: z.string(), since: z.string(), lastSeen: z.string(), reasons: z.array(ReasonSchema), message: z.string() }),
  ),
  kargo: z
    .object({
      source: z.enum(['kubernetes', 'local']).describe('kubernetes: deployed tags are read from the Kargo Stages; local: there is no reader, each stage shows the tag the gate last allowed'),
      lastReadAt: z.string().nullable().describe('when the Stage list was last read (null: never, or local)'),
      lastError: z.string().nullable().describe('why the latest read failed (null once a read succeeds)'),
      stale: z.boolean().describe('true while the latest read failed: the tags with deployed.source kargo are those of lastReadAt'),
    })
    .describe('the Kargo Stage list the deployed tags come from'),
  audit: z.object({ seq: z.number(), hash: z.string(), writable: z.boolean() }),
});

/** GET /status and /v1/status: the dashboards' view. Public; never carries tokens or their hashes. */
/**
 * The stages whose tag (Kargo's current freight there) the gate let through only as pass-throughs
 * of the stage switched off (allows with skip, whose later steps Kargo skips): there it was never
 * deployed. A stage is not in it when one of the promotions the gate remembers deployed its tag,
 * or it remembers none. One walk over the remembered promotions (up to PROMOTIONS_KEPT) for all
 * stages: the route is public.
 */
function onlyPassedThrough(promotions: Readonly<Record<string, AllowedPromotion>>, tags: ReadonlyMap<string, string>): Set<string> {
  const skipped = new Set<string>();
  const deployed = new Set<string>();
  if (tags.size === 0) return skipped;
  for (const p of Object.values(promotions)) {
    if (tags.get(p.stage) !== p.imageTag) continue;
    (p.skip === true ? skipped : deployed).add(p.stage);
  }
  for (const stage of deployed) skipped.delete(stage);
  return skipped;
}

export function statusRoutes(ctx: RouteContext) {
  return async (app: FastifyInstance) => {
    const handler = async () => {
      const now = ctx.clock.now();
      const state = ctx.store.read();
      const market = ctx.calendarGuard(() => ctx.calendar.state(now), null);
      const kargoTags = ctx.deployedTags?.() ?? null;
      const kargoHealth = ctx.kargoHealth?.() ?? null;
      const passedThrough = onlyPassedThrough(
        state.promotions,
        new Map(STAGES.flatMap((s) => (kargoTags?.[s] ? [[s, kargoTags[s].imageTag] as const] : []))),
      );
      return {
        at: isoOf(now),
        project: ctx.config.project,
        authMode: ctx.config.auth,
        clock: { source: ctx.config.now === null ? ('system' as const) : ('GATE_NOW' as const), startedAt: ctx.config.now },
        market: marketStateToJson(market),
        stages: STAGES.map((name) => {
          const policy = ctx.config.stages[name];
          const toggle = state.stages[name];
          const fromKargo = kargoTags?.[name];
          const fromGate = state.allowedTags[name];
          return {
            name,
            enabled: toggle.enabled,
            note: toggle.note,
            changedBy: toggle.changedBy,
            changedAt: toggle.changedAt,
            policy: {
              requireIntegrationTests: policy.requireIntegrationTests,
              marketHours: policy.marketHours,
              quietBeforeOpenMinutes: policy.quietBeforeOpenMinutes,
              requireApproval: policy.requireApproval,
            },
            blockedByMarket: toggle.enabled && marketHold(policy, market, now) !== null,
            deployed: fromKargo
              ? { imageTag: fromKargo.imageTag, source: 'kargo' as const, at: fromKargo.at, passedThrough: passedThrough.has(name) }
              : fromGate
                ? // the gate keeps only allows that were not skips
                  { imageTag: fromGate.imageTag, source: 'gate' as const, at: fromGate.at, passedThrough: false }
                : null,
            // a deny message made before the results' `error` refused tokens may quote one
            lastDecision: redactTokensInJson(state.lastDecisions[name] ?? null),
          };
        }),
        grants: liveGrantSummaries(state.grants, now),
        approvals: Object.values(state.approvals)
          .filter((a) => isApprovalLive(a, now))
          .map(({ id, project, stage, imageTag, notes, approvedBy, approvedAt, expiresAt }) => ({ id, project, stage, imageTag, notes, approvedBy, approvedAt, expiresAt })),
        waiting: Object.values(state.waiting).sort((a, b) => a.since.localeCompare(b.since)),
        kargo: kargoHealth
          ? { source: 'kubernetes' as const, lastReadAt: kargoHealth.lastSuccess, lastError: kargoHealth.lastError, stale: kargoHealth.lastError !== null || kargoHealth.lastSuccess === null }
          : { source: 'local' as const, lastReadAt: null, lastError: null, stale: false },
        audit: { ...ctx.audit.head(), writable: ctx.audit.writable() },
      };
    };
    const r = app.withTypeProvider<ZodTypeProvider>();
    const schema = { summary: 'Market, stages, open grants, pending approvals, waiting promotions', tags: ['status'], response: { 200: StatusResponse } };
    r.get('/v1/status', { schema }, handler);
    r.get('/status', { schema: { ...schema, hide: true } }, handler);
  };
}

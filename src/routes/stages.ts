import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { auditEntry } from '../audit/entry.ts';
import { identityOf } from '../http/request-identity.ts';
import { STAGES } from '../stages.ts';
import { takeTurns } from '../take-turns.ts';
import type { RouteContext } from './context.ts';
import { ErrorSchema, NoQuery, authErrors, statement } from './common-schemas.ts';
import { isoOf } from '../policy/clock.ts';

export const ToggleRequest = z.strictObject({
  enabled: z.boolean(),
  note: statement(3, 1000, 'say why'),
});

/** What a toggle's record keeps of the stage's state before it. */
const previousOf = (s: { enabled: boolean; note: string | null }) => ({ enabled: s.enabled, note: s.note });

const StageToggleView = z.object({
  stage: z.enum(STAGES),
  enabled: z.boolean(),
  note: z.string().nullable(),
  changedBy: z.string().nullable(),
  changedAt: z.string().nullable(),
});

/** GET /v1/stages (public: the CI pipeline reads the ci and integration toggles) and PUT /v1/stages/{stage} (admin). */
export function stageRoutes(ctx: RouteContext) {
  const view = () => {
    const stages = ctx.store.read().stages;
    return STAGES.map((stage) => ({ stage, ...stages[stage] }));
  };
  // toggles take turns: each reads the state its predecessor left, so a record's `previous` is
  // the toggle it replaces even when two admins switch one stage at the same moment
  const inTurn = takeTurns();
  return async (app: FastifyInstance) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    r.get('/v1/stages', {
      schema: { summary: 'Every stage toggle, in pipeline order', tags: ['stages'], response: { 200: z.object({ stages: z.array(StageToggleView) }) } },
      handler: async () => ({ stages: view() }),
    });

    r.put('/v1/stages/:stage', {
      onRequest: ctx.guard({ resource: 'stagetoggles', verb: 'update' }),
      schema: {
        summary: 'Switch a stage on or off (admin), with a note',
        tags: ['stages'],
        params: z.strictObject({ stage: z.enum(STAGES, { message: `must be one of ${STAGES.join(', ')}` }) }),
        querystring: NoQuery,
        body: ToggleRequest,
        response: { 200: StageToggleView, 400: ErrorSchema, ...authErrors },
      },
      handler: async (req) => inTurn(async () => {
        const { stage } = req.params;
        const [rec] = await ctx.recorder.recordChange(() => [
          auditEntry({
            at: isoOf(ctx.clock.now()),
            type: 'stage.toggled',
            id: req.id,
            actor: identityOf(req),
            project: ctx.config.project,
            stage,
            data: { enabled: req.body.enabled, note: req.body.note, previous: previousOf(ctx.store.read().stages[stage]) },
          }),
        ]);
        // this request's change, from its record: the state read now may already hold another
        // admin's toggle of the same stage, recorded in the same write
        return { stage, enabled: req.body.enabled, note: req.body.note, changedBy: rec!.actor.name, changedAt: rec!.at };
      }),
    });
  };
}

import type { FastifyInstance } from 'fastify';
import { DateTime } from 'luxon';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { marketStateToJson } from '../policy/market-hours.ts';
import type { RouteContext } from './context.ts';
import { ErrorSchema, IsoInstant, MarketJson } from './common-schemas.ts';

export const MarketQuery = z.strictObject({ at: IsoInstant.optional() });

/** GET /v1/market?at=ISO: the NYSE regular session at an instant (default now). Public. */
export function marketRoutes(ctx: RouteContext) {
  return async (app: FastifyInstance) => {
    app.withTypeProvider<ZodTypeProvider>().get('/v1/market', {
      schema: {
        summary: 'NYSE regular-session state at an instant',
        tags: ['market'],
        querystring: MarketQuery,
        response: { 200: MarketJson, 400: ErrorSchema },
      },
      handler: async (req) => {
        const at = req.query.at ? DateTime.fromISO(req.query.at, { setZone: true }).toUTC() : ctx.clock.now();
        return ctx.calendarGuard(() => marketStateToJson(ctx.calendar.state(at)), req.query.at ? 'querystring.at' : null);
      },
    });
  };
}

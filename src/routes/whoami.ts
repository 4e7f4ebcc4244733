import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AuthzResult, Permission, Resource } from '../auth/identity.ts';
import { identityOf } from '../http/request-identity.ts';
import { READ_AUDIT } from './audit.ts';
import type { RouteContext } from './context.ts';
import { authErrors } from './common-schemas.ts';

/**
 * The permission each route that checks one takes (the console enables its forms, buttons and the
 * audit view by these): by resource for the route that creates or updates (for `auditrecords`,
 * the reads of the audit log), `<resource>.delete` for the revokes. With Kubernetes RBAC the two
 * verbs can be granted apart, so a revoke button is not enabled by the right to create.
 */
const ROUTE_PERMISSIONS: Record<Resource | 'breakglassgrants.delete' | 'approvals.delete', Permission> = {
  decisions: { resource: 'decisions', verb: 'create' },
  breakglassgrants: { resource: 'breakglassgrants', verb: 'create' },
  'breakglassgrants.delete': { resource: 'breakglassgrants', verb: 'delete' },
  approvals: { resource: 'approvals', verb: 'create' },
  'approvals.delete': { resource: 'approvals', verb: 'delete' },
  stagetoggles: { resource: 'stagetoggles', verb: 'update' },
  testresults: { resource: 'testresults', verb: 'update' },
  auditrecords: READ_AUDIT,
};

export const WhoamiResponse = z.object({
  name: z.string(),
  groups: z.array(z.string()),
  via: z.enum(['local-token', 'kubernetes', 'proxy-header', 'system', 'none']),
  mode: z.enum(['local', 'kubernetes']),
  /** whether this identity may use each route that checks a permission (the routes check again) */
  can: z.record(z.string(), z.boolean()),
});

/** GET /v1/whoami: the identity the gate sees for these credentials and what it may do. */
export function whoamiRoutes(ctx: RouteContext) {
  return async (app: FastifyInstance) => {
    app.withTypeProvider<ZodTypeProvider>().get('/v1/whoami', {
      onRequest: ctx.guard('authenticated'),
      schema: { summary: 'The signed-in identity, how it was established, and what it may do', tags: ['console'], response: { 200: WhoamiResponse, ...authErrors } },
      handler: async (req) => {
        const identity = identityOf(req);
        const answers = await Promise.all(
          Object.entries(ROUTE_PERMISSIONS).map(async ([resource, perm]) => {
            const r: AuthzResult = await ctx.auth.authorize(identity, perm, ctx.config.project).catch((err: unknown) => {
              req.log.error({ err }, 'authorization failed unexpectedly');
              return { ok: false, status: 503, error: 'auth_unavailable', message: 'permission could not be checked' };
            });
            return [resource, r] as const;
          }),
        );
        // A permission that could not be checked (the API server down or slow) is not a "no": the
        // console would say "you may not" until its next read. The whole answer is the 503, and the
        // console keeps what it last knew and asks again.
        for (const [resource, r] of answers) {
          // as the guard's own 503 for a permission it could not check: audited and counted
          if (!r.ok && r.status === 503) return ctx.refuse(req, identity, 503, r.error, `${r.message} (asked for ${resource})`);
        }
        return { name: identity.name, groups: identity.groups, via: identity.via, mode: ctx.auth.mode, can: Object.fromEntries(answers.map(([resource, r]) => [resource, r.ok])) };
      },
    });
  };
}

import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { STAGES } from '../stages.ts';
import { ApprovalRequest } from './approvals.ts';
import type { RouteContext } from './context.ts';
import { BreakGlassRequest } from './grants.ts';
import { ToggleRequest } from './stages.ts';
import { redactedExcerpt } from '../auth/redact-tokens.ts';

/** Security headers of every console response: no inline script or style, no framing, no referrer. */
export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};
const ASSET_NAME = /^[a-z0-9][a-z0-9-]*\.(?:css|js)$/;

/**
 * The directory holding the console's files: `../console` next to this module (src/console when
 * running from source, dist/console in the image, where the build copies it), else the source
 * tree seen from dist/routes. Null when neither has index.html.
 */
export function findConsoleDir(moduleDir: string = import.meta.dirname): string | null {
  for (const dir of [join(moduleDir, '..', 'console'), join(moduleDir, '..', '..', 'src', 'console')]) {
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  return null;
}

interface Asset {
  body: Buffer;
  type: string;
}

/** index.html and every .css/.js file of the directory, read once. */
async function loadAssets(dir: string): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  assets.set('index.html', { body: await readFile(join(dir, 'index.html')), type: TYPES['.html']! });
  for (const name of await readdir(dir)) {
    if (ASSET_NAME.test(name)) assets.set(name, { body: await readFile(join(dir, name)), type: TYPES[extname(name)]! });
  }
  return assets;
}

const Settings = z.object({
  project: z.string(),
  authMode: z.enum(['local', 'kubernetes']),
  /** an authenticating proxy's identity header is trusted from configured addresses */
  proxyAuth: z.boolean(),
  pollMs: z.number(),
  stages: z.array(z.string()),
  breakGlass: z.object({ stages: z.array(z.string()), justificationMin: z.number(), justificationMax: z.number(), defaultTtlMinutes: z.number(), maxTtlMinutes: z.number() }),
  approvals: z.object({ stages: z.array(z.string()), notesMin: z.number(), notesMax: z.number(), ttlHours: z.number() }),
  toggles: z.object({ noteMin: z.number(), noteMax: z.number() }),
});

/**
 * GET / (the operator console), GET /console/<file> (its script and style), and
 * GET /v1/console/settings (public: the limits the console shows next to its fields, taken from
 * the same schemas the API validates with). When the files cannot be found the gate still runs
 * and GET / answers 503 saying so.
 */
export function consoleRoutes(ctx: RouteContext, dir: string | null = findConsoleDir()) {
  return async (app: FastifyInstance) => {
    const assets = dir ? await loadAssets(dir) : null;
    if (!assets) app.log.warn('console files not found (src/console or dist/console): GET / answers 503');

    const send = (reply: FastifyReply, asset: Asset) => reply.headers(CONSOLE_HEADERS).type(asset.type).send(asset.body);
    const missing = (reply: FastifyReply, what: string) =>
      reply.code(assets ? 404 : 503).headers(CONSOLE_HEADERS).type('application/json; charset=utf-8').send({
        error: assets ? 'not_found' : 'console_unavailable',
        message: assets ? `no console file ${redactedExcerpt(what, 200)}` : 'the console files are not installed with this gate',
      });

    // its 200 is listed: the errors every route can answer are added to the document, and a route
    // listing none of its own would then show no success at all
    app.get('/', { schema: { summary: 'The operator console (HTML)', tags: ['console'], response: { 200: { description: 'the console page', content: { 'text/html': { schema: z.string() } } } } } }, async (_req, reply) => {
      const index = assets?.get('index.html');
      return index ? send(reply, index) : missing(reply, 'index.html');
    });

    app.get<{ Params: { file: string } }>('/console/:file', { schema: { hide: true } }, async (req, reply) => {
      const { file } = req.params;
      const asset = ASSET_NAME.test(file) ? assets?.get(file) : undefined;
      return asset ? send(reply, asset) : missing(reply, file);
    });

    app.withTypeProvider<ZodTypeProvider>().get('/v1/console/settings', {
      schema: { summary: 'Limits and modes the console shows (public)', tags: ['console'], response: { 200: Settings } },
      handler: async () => {
        const s = ctx.config.stages;
        const just = BreakGlassRequest.shape.justification;
        const notes = ApprovalRequest.shape.notes;
        const note = ToggleRequest.shape.note;
        return {
          project: ctx.config.project,
          authMode: ctx.auth.mode,
          proxyAuth: ctx.config.proxyAuth.trustedCidrs.length > 0,
          pollMs: 2000,
          stages: [...STAGES],
          breakGlass: {
            stages: STAGES.filter((n) => s[n].marketHours !== null),
            justificationMin: just.minLength ?? 0,
            justificationMax: just.maxLength ?? 0,
            defaultTtlMinutes: ctx.config.breakGlass.defaultTtlMinutes,
            maxTtlMinutes: ctx.config.breakGlass.maxTtlMinutes,
          },
          approvals: { stages: STAGES.filter((n) => s[n].requireApproval), notesMin: notes.minLength ?? 0, notesMax: notes.maxLength ?? 0, ttlHours: ctx.config.approvals.ttlHours },
          toggles: { noteMin: note.minLength ?? 0, noteMax: note.maxLength ?? 0 },
        };
      },
    });
  };
}

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Authenticator, Identity, Permission } from '../auth/identity.ts';
import { hasNoToken, redactTokens } from '../auth/redact-tokens.ts';
import { HttpError } from './errors.ts';
import { clientAddress } from './peer-address.ts';
import { rawHeaderCount } from './raw-header-count.ts';
import { clientKey, type RefusalRecorder } from './refusal-recorder.ts';
import { setIdentity } from './request-identity.ts';

/**
 * The headers every answer carries, set by the first hook (and by the answer to a request fastify
 * cannot route, which runs no hooks): its id, never cached, never sniffed as HTML, never framed,
 * nothing loaded from it even if a browser were made to render it (the console's routes set their
 * own policy).
 */
export function setCommonHeaders(req: FastifyRequest, reply: FastifyReply): void {
  reply.header('x-request-id', req.id);
  reply.header('cache-control', 'no-store');
  reply.header('x-content-type-options', 'nosniff');
  reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
}

/** Who may call a route: anyone, any authenticated identity, or holders of a permission. */
export type Access = 'public' | 'authenticated' | Permission;

/** The hooks guard() made that ask for an identity (every access but 'public'). */
const identityHooks = new WeakSet<object>();

/** Whether a route's onRequest hook(s) include one that asks for an identity: the OpenAPI document marks those operations. */
export function asksForIdentity(onRequest: unknown): boolean {
  return [onRequest].flat().some((hook) => typeof hook === 'function' && identityHooks.has(hook));
}

/** Query parameters that look like credentials: a token in a URL ends up in logs and proxies. */
const CREDENTIAL_PARAM = /^(access[_-]?token|token|bearer|auth|authorization|api[_-]?key|password|secret|breakglasstoken|id[_-]?token)$/i;

export interface GuardDeps {
  auth: Authenticator;
  refusals: RefusalRecorder;
  /** the Kargo project permissions are checked in */
  project: string;
}

/**
 * Builds the onRequest hooks that enforce access. They run before the body is read, so an
 * unauthenticated client cannot make the gate parse anything. Every refusal is accounted for in
 * the audit log before it is answered (one record each, or over a client address's budget a
 * count in a summary record: refusal-recorder.ts); if it cannot be recorded, the answer is 503.
 */
export function createGuard(deps: GuardDeps) {
  const refuse = async (
    req: FastifyRequest,
    identity: Identity,
    status: number,
    code: string,
    message: string,
    extra: Record<string, unknown> = {},
    verified = identity.via !== 'none',
  ): Promise<never> => {
    // an audit log that cannot take it makes this a 503 (the error handler maps the error)
    await deps.refusals.refuse(req, identity, status, code, message, verified);
    throw new HttpError(status, code, message, extra);
  };

  /**
   * Every request's first hook (callback style: most requests have no query string and pass
   * without a promise): sets the response headers every answer carries, and refuses credentials
   * in the query string.
   */
  const firstHook = (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void => {
    setCommonHeaders(req, reply);
    // HTTP/1.1 requires it (RFC 9112 §3.2); Node's own check is off so that this is the gate's answer
    if (req.raw.httpVersionMajor === 1 && req.raw.httpVersionMinor >= 1 && req.headers.host === undefined) {
      return done(new HttpError(400, 'invalid_request', 'headers.host: an HTTP/1.1 request needs a Host header', { field: 'headers.host' }));
    }
    // Node keeps the first of two Authorization headers and drops the other, where a proxy in
    // front may have checked the last: which credential the request carries is not clear
    if (req.headers.authorization !== undefined && rawHeaderCount(req.raw.rawHeaders, 'authorization') > 1) {
      return done(new HttpError(400, 'invalid_request', 'headers.authorization: sent more than once; send one credential', { field: 'headers.authorization' }));
    }
    const q = req.url.indexOf('?');
    if (q === -1) return done();
    for (const [key, value] of new URLSearchParams(req.url.slice(q + 1))) {
      // a parameter named like a credential, or a gate or break-glass token anywhere in one (it
      // would sit in proxies' access logs and browser history): named with the token blanked
      const named = CREDENTIAL_PARAM.test(key);
      if (named || !hasNoToken(key) || !hasNoToken(value)) {
        const name = redactTokens(key).slice(0, 64);
        const why = named ? 'looks like a credential' : 'holds a gate token';
        refuse(req, { name: 'anonymous', groups: [], via: 'none' }, 400, 'credentials_in_url', `query parameter "${name}" ${why}; send tokens only in the Authorization header`, {
          field: `querystring.${name}`,
        }).catch((err: Error) => done(err));
        return;
      }
    }
    done();
  };

  const guard = (access: Access) => {
    const hook = hookFor(access);
    if (access !== 'public') identityHooks.add(hook);
    return hook;
  };

  const hookFor = (access: Access) => async (req: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    if (access === 'public') return;
    let result;
    try {
      result = await deps.auth.authenticate({
        headers: req.headers,
        remoteAddress: req.socket?.remoteAddress ?? '',
        rawHeaders: req.raw.rawHeaders,
        // worked out only when an authenticator asks (the Kubernetes one, for a token it must review)
        get client() {
          return clientKey(clientAddress(req) ?? undefined);
        },
      });
    } catch (err) {
      req.log.error({ err }, 'authentication failed unexpectedly');
      result = { ok: false as const, status: 503 as const, error: 'auth_unavailable', message: 'identity could not be checked', presented: { name: 'anonymous', groups: [], via: 'none' as const } };
    }
    // an identity that was not established (a bad token, or one the API server could not check)
    // is what the request presented: its refusals are budgeted per client
    if (!result.ok) return refuse(req, result.presented, result.status, result.error, result.message, {}, false);
    setIdentity(req, result.identity);
    if (access === 'authenticated') return;
    let authz;
    try {
      authz = await deps.auth.authorize(result.identity, access, deps.project);
    } catch (err) {
      req.log.error({ err }, 'authorization failed unexpectedly');
      authz = { ok: false as const, status: 503 as const, error: 'auth_unavailable', message: 'permission could not be checked' };
    }
    if (!authz.ok) return refuse(req, result.identity, authz.status, authz.error, authz.message);
  };

  return { guard, firstHook, refuse };
}

export type Guard = ReturnType<typeof createGuard>;

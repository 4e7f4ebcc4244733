import { cutWhole, redactTokens, redactTokensInPath } from '../auth/redact-tokens.ts';
import type { FastifyRequest } from 'fastify';
import { auditEntry } from '../audit/entry.ts';
import type { Actor, AuditEntry } from '../audit/event.ts';
import { clientAddress } from './peer-address.ts';
import { withUnsafeReplaced } from '../unsafe-characters.ts';

const audited = new WeakSet<FastifyRequest>();

/** Marks the request's refusal as already recorded (so the error handler does not record it twice). */
export function markRefusalAudited(req: FastifyRequest): void {
  audited.add(req);
}

export function isRefusalAudited(req: FastifyRequest): boolean {
  return audited.has(req);
}

/**
 * The path of a request without its query string (query strings may carry secrets; never log or
 * record them), its tokens blanked. It is ASCII: Node's parser refuses a raw byte above 0x7f or a
 * control character in the request line (400 before any route), so only percent-escapes arrive.
 */
export function pathOf(req: FastifyRequest): string {
  const q = req.url.indexOf('?');
  return redactTokensInPath(q === -1 ? req.url : req.url.slice(0, q));
}

/** Characters of a refused request's stage path parameter its record holds at most (GET /v1/audit?stage= takes as many). */
export const RECORDED_STAGE_MAX = 64;
const RECORDED_TAG_MAX = 128;

/**
 * A path parameter as a refusal record holds it: tokens blanked before the cut (so a cut never
 * leaves most of a token unmatched), characters that could rewrite what is shown replaced, cut to `max` without keeping half of a surrogate pair (no
 * query could name a value ending in one), null for an empty segment (it names nothing).
 */
function recordedParam(value: unknown, max: number): string | null {
  if (typeof value !== 'string' || value === '') return null;
  return cutWhole(withUnsafeReplaced(redactTokens(value)), max);
}

/** The audit entry of a refused request: who presented what, where, and why it was refused. */
export function refusalEntry(
  req: FastifyRequest,
  at: string,
  actor: Actor,
  status: number,
  code: string,
  message: string,
  project: string,
): AuditEntry {
  const params = (req.params ?? {}) as Record<string, unknown>;
  // a refused request's path parameters are whatever the client sent, a pasted token included
  const stage = recordedParam(params['stage'], RECORDED_STAGE_MAX);
  const imageTag = recordedParam(params['imageTag'], RECORDED_TAG_MAX);
  const remoteAddress = clientAddress(req);
  const peer = req.socket?.remoteAddress ?? null;
  return auditEntry({
    at,
    type: 'refusal',
    id: req.id,
    actor,
    project,
    stage,
    imageTag,
    reasons: [{ code, message }],
    data: { status, error: code, method: req.method, path: pathOf(req).slice(0, 512), remoteAddress, ...(peer !== remoteAddress ? { peerAddress: peer } : {}) },
  });
}

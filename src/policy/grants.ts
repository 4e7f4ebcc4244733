import { timingSafeEqual } from 'node:crypto';
import type { DateTime } from 'luxon';
import { findExpired, isLive } from './expiry.ts';
import type { GrantRecord } from './state.ts';

/** True while a grant can still cover a promotion: open and not past its expiry. */
export const isGrantLive: (grant: GrantRecord, now: DateTime) => boolean = isLive;

/** What the API shows of a grant: never its token's hash. */
export type GrantSummary = Pick<GrantRecord, 'id' | 'project' | 'stage' | 'imageTag' | 'justification' | 'requestedBy' | 'issuedAt' | 'expiresAt'>;

/** The grants that can still cover a promotion, as /v1/status and GET /v1/break-glass show them. */
export function liveGrantSummaries(grants: Record<string, GrantRecord>, now: DateTime): GrantSummary[] {
  return Object.values(grants)
    .filter((g) => isGrantLive(g, now))
    .map(({ id, project, stage, imageTag, justification, requestedBy, issuedAt, expiresAt }) => ({ id, project, stage, imageTag, justification, requestedBy, issuedAt, expiresAt }));
}

/** Open grants whose expiry has passed: the shell records their expiry the first time they are noticed. */
export const findExpiredGrants: (grants: Iterable<GrantRecord>, now: DateTime) => GrantRecord[] = findExpired;

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/**
 * The grant a presented token names, compared in constant time against every stored hash, or
 * null when no grant carries that token.
 */
export function findGrantByTokenHash(grants: Iterable<GrantRecord>, tokenHash: string): GrantRecord | null {
  let found: GrantRecord | null = null;
  for (const g of grants) if (sameHash(g.tokenHash, tokenHash) && found === null) found = g;
  return found;
}

export interface GrantTarget {
  project: string;
  stage: string;
  imageTag: string;
}

/** Whether the grant is bound to exactly this project, stage and image tag. */
export function grantMatches(grant: GrantRecord, target: GrantTarget): boolean {
  return grant.project === target.project && grant.stage === target.stage && grant.imageTag === target.imageTag;
}

/**
 * The oldest live grant for this project+stage+imageTag that no in-flight decision holds, or null.
 * Oldest first, so the grant closest to expiring is the one spent. When `preferred` is given, the
 * oldest grant it accepts wins over older ones it does not (under separation of duties: a grant
 * whose requester is not the only approver), and the oldest of all is the fallback.
 */
export function findCoveringGrant(
  grants: Iterable<GrantRecord>,
  target: GrantTarget,
  now: DateTime,
  reserved: ReadonlySet<string>,
  preferred: (grant: GrantRecord) => boolean = () => true,
): GrantRecord | null {
  let best: GrantRecord | null = null;
  let bestPreferred = false;
  for (const g of grants) {
    if (!grantMatches(g, target) || !isGrantLive(g, now) || reserved.has(g.id)) continue;
    const p = preferred(g);
    if (best === null || (p && !bestPreferred) || (p === bestPreferred && g.expiresAt < best.expiresAt)) {
      best = g;
      bestPreferred = p;
    }
  }
  return best;
}

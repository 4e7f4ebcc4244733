import type { Actor } from '../audit/event.ts';

/** Who is asking, as the audit log records it. */
export type Identity = Actor;

/**
 * The virtual resources of API group gate.stonks-oracle.io that permissions are checked on.
 * `auditrecords` (verb get) is reading the audit log: the compliance record (actors, approval
 * notes, break-glass justifications, refusals), not for every identity that can sign in.
 */
export const RESOURCES = ['decisions', 'breakglassgrants', 'approvals', 'stagetoggles', 'testresults', 'auditrecords'] as const;
export type Resource = (typeof RESOURCES)[number];
export type Verb = 'create' | 'update' | 'delete' | 'get';

export interface Permission {
  resource: Resource;
  verb: Verb;
}

/**
 * Local roles and the permissions each grants; `admin` holds every permission. `auditor` only
 * reads the audit log (compliance staff), as the chart's ClusterRole gate-auditor.
 */
export const ROLES = ['caller', 'operator', 'approver', 'admin', 'ci', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

/**
 * The roles that grant each resource's permissions (besides `admin`, which holds them all). The
 * audit log is read by the people who act on what it records: operators (break-glass, whose
 * grants and refusals they answer for), approvers (what ran on paper before they approve live),
 * and auditors; not by Kargo's `caller` token nor CI's `ci` token, which only need their one call.
 */
export const ROLES_FOR_RESOURCE: Record<Resource, readonly Role[]> = {
  decisions: ['caller'],
  breakglassgrants: ['operator'],
  approvals: ['approver'],
  stagetoggles: ['admin'],
  testresults: ['ci'],
  auditrecords: ['operator', 'approver', 'auditor'],
};

export const ANONYMOUS: Identity = { name: 'anonymous', groups: [], via: 'none' };

/** The outcome of checking credentials: an identity, or why there is none. */
export type AuthResult =
  | { ok: true; identity: Identity }
  | { ok: false; status: 401 | 503; error: string; message: string; presented: Identity };

/** The outcome of a permission check. */
export type AuthzResult = { ok: true } | { ok: false; status: 403 | 503; error: string; message: string };

/** What the HTTP layer sees of a request when authenticating it. */
export interface AuthRequest {
  headers: Record<string, string | string[] | undefined>;
  /** the TCP peer address (not X-Forwarded-For) */
  remoteAddress: string;
  /**
   * the client as the refusal budgets tell clients apart (the TCP peer, or the client a trusted
   * proxy forwarded; IPv6 by /64); absent, the TCP peer is the client
   */
  client?: string;
  /**
   * The header lines as received (name, value, name, value, ...: Node's rawHeaders). Node joins a
   * repeated custom header into one string ("a, b") in `headers`, so only these show that a
   * header came twice.
   */
  rawHeaders?: readonly string[];
}

/** Establishes identity and permission. Implementations: local token file, Kubernetes reviews. */
export interface Authenticator {
  readonly mode: 'local' | 'kubernetes';
  authenticate(req: AuthRequest): Promise<AuthResult>;
  authorize(identity: Identity, permission: Permission, namespace: string): Promise<AuthzResult>;
}

/** The bearer token of an Authorization header, or null. */
export function bearerToken(headers: AuthRequest['headers']): string | null {
  const h = headers['authorization'];
  const value = Array.isArray(h) ? h[0] : h;
  if (!value) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return m?.[1] ?? null;
}

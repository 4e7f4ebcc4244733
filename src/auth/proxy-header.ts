import type { BlockList } from 'node:net';
import { isInList, parseCidrs } from '../http/peer-address.ts';
import { hasInvisible } from '../policy/person-key.ts';
import { type AuthRequest, type Authenticator, type Identity, ROLES, type Role } from './identity.ts';

export interface ProxyHeaderOptions {
  /** CIDRs (or single addresses) of the authenticating proxy; empty = never trust the header */
  trustedCidrs: readonly string[];
  /** header carrying the user name, e.g. x-auth-request-user (oauth2-proxy) or x-forwarded-user */
  userHeader: string;
  /** header carrying comma-separated groups, e.g. x-auth-request-groups */
  groupsHeader: string;
}

const MAX_NAME = 256;
const MAX_GROUPS = 100;
// printable, no control characters and no line or paragraph separator (U+2028, U+2029, which
// break the line on the console): the name ends up in the audit log and on the console
const PRINTABLE = /^[^\p{Cc}\p{Zl}\p{Zp}]+$/u;
/** HTTP's optional whitespace around a value or a list item: spaces and tabs, nothing else. */
const trimOws = (s: string): string => s.replace(/^[ \t]+|[ \t]+$/g, '');
// any other whitespace at either end (no-break, ideographic, em space...): trimmed, 'olivia' +
// U+3000 would be signed in, and reviewed, as olivia, a different account of the proxy's
const EDGE_SPACE = /^\s|\s$/u;

/** The proxyAuth.trustedCidrs list; throws an Error naming that key and the entry at fault. */
export function parseTrustedCidrs(cidrs: readonly string[]): BlockList {
  return parseCidrs(cidrs, 'proxyAuth.trustedCidrs');
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A header value as the proxy wrote it. Node reads header bytes as Latin-1 (one byte, one
 * character), while a proxy writes a claim's UTF-8 bytes as they are (oauth2-proxy and Traefik:
 * Go's net/http): "José" arrives as "JosÃ©", and "王" as "ç" and two C1 control characters. A
 * value whose bytes are UTF-8 is read as UTF-8 (a byte-order mark kept, to be refused as
 * invisible); any other is left as Latin-1. ASCII reads the same either way, and a character above
 * U+00FF did not come off the wire.
 */
function fromWire(value: string): string {
  if (!/[\x80-\xff]/.test(value) || /[^\x00-\xff]/.test(value)) return value;
  try {
    return strictUtf8.decode(Buffer.from(value, 'latin1'));
  } catch {
    return value;
  }
}

/**
 * The one value of header `name` (lower case), or null when it is absent or came more than once.
 * A repeated header is ambiguous (the proxy's copy and a client's, if the proxy appends): refuse
 * to pick one. Node joins a repeated custom header into one string ("a, b") in `headers`, so the
 * repetition is counted in the raw header lines when the request has them.
 */
function single(req: AuthRequest, name: string): string | null {
  const v = req.headers[name];
  if (v === undefined) return null;
  if (req.rawHeaders) {
    let seen = 0;
    for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]?.toLowerCase() === name) seen++;
    if (seen > 1) return null;
  }
  if (Array.isArray(v)) return v.length === 1 && v[0] !== undefined ? fromWire(v[0]) : null;
  return fromWire(v);
}

/**
 * Kubernetes keeps names that start with `system:` for its own users and groups
 * (system:masters, system:serviceaccount:<ns>:<name>, system:nodes...). A sign-in proxy's identity
 * must not become one of them in a SubjectAccessReview: Kubernetes' own OIDC sign-in prefixes
 * outside names for the same reason.
 */
const KUBERNETES_RESERVED = /^system:/i;

/** Groups from the header: split on commas, spaces and tabs trimmed; empty, control-character, other edge-whitespace and `system:` entries dropped. */
export function parseGroups(value: string | null): string[] {
  if (value === null) return [];
  const out: string[] = [];
  for (const g of value.split(',')) {
    const t = trimOws(g);
    if (t && t.length <= MAX_NAME && PRINTABLE.test(t) && !EDGE_SPACE.test(t) && !KUBERNETES_RESERVED.test(t) && !out.includes(t)) out.push(t);
    if (out.length >= MAX_GROUPS) break;
  }
  return out;
}

/**
 * Local-mode roles of a proxy identity: each group named exactly like a local role (caller,
 * operator, approver, admin, ci) or `gate-<role>` gives that role; other groups give nothing.
 */
export function rolesFromGroups(groups: readonly string[]): Role[] {
  const roles: Role[] = [];
  for (const g of groups) {
    const name = g.toLowerCase().replace(/^gate-/, '');
    if ((ROLES as readonly string[]).includes(name) && !roles.includes(name as Role)) roles.push(name as Role);
  }
  return roles;
}

/**
 * Wraps an authenticator so that a request whose TCP peer (AuthRequest.remoteAddress, never
 * X-Forwarded-For) is inside `trustedCidrs` and carries the user header is the identity
 * `{name: <user header>, groups: <groups header split on commas>, via: 'proxy-header'}`. Any other
 * request, and every request when trustedCidrs is empty, goes to `inner` unchanged. A user name
 * Kubernetes reserves (`system:...`) is refused (401) and such groups are dropped, so a proxy
 * identity can never be reviewed as a Kubernetes system user or group.
 *
 * Permission: in kubernetes mode inner.authorize (a SubjectAccessReview for that user and those
 * groups) decides as is. In local mode proxy users have no token-file roles, so their groups are
 * mapped with rolesFromGroups before inner.authorize sees them; the audited identity keeps the
 * groups the proxy sent. Throws when a CIDR cannot be parsed.
 */
export function createProxyHeaderAuthenticator(inner: Authenticator, opts: ProxyHeaderOptions): Authenticator {
  const trusted = parseTrustedCidrs(opts.trustedCidrs);
  const enabled = opts.trustedCidrs.length > 0;
  const userHeader = opts.userHeader.toLowerCase();
  const groupsHeader = opts.groupsHeader.toLowerCase();

  return {
    mode: inner.mode,
    async authenticate(req) {
      if (!enabled || !isInList(trusted, req.remoteAddress)) return inner.authenticate(req);
      const rawName = single(req, userHeader);
      if (rawName === null) return inner.authenticate(req);
      const name = trimOws(rawName);
      // and nothing invisible anywhere in the header (zero-width space, soft hyphen, BOM, ...):
      // "olivia" + U+200B would read as olivia in the audit log and on the console
      if (!name || name.length > MAX_NAME || !PRINTABLE.test(name) || EDGE_SPACE.test(name) || hasInvisible(rawName)) {
        return {
          ok: false,
          status: 401,
          error: 'unauthorized',
          message: `the ${userHeader} header from the authenticating proxy is not a usable user name`,
          presented: { name: 'anonymous', groups: [], via: 'proxy-header' },
        };
      }
      if (KUBERNETES_RESERVED.test(name)) {
        return {
          ok: false,
          status: 401,
          error: 'unauthorized',
          message: `the ${userHeader} header from the authenticating proxy names a Kubernetes system user (system:...), which a signed-in person cannot be`,
          presented: { name: 'anonymous', groups: [], via: 'proxy-header' },
        };
      }
      const identity: Identity = { name, groups: parseGroups(single(req, groupsHeader)), via: 'proxy-header' };
      return { ok: true, identity };
    },
    async authorize(identity, permission, namespace) {
      if (identity.via === 'proxy-header' && inner.mode === 'local') {
        return inner.authorize({ ...identity, groups: rolesFromGroups(identity.groups) }, permission, namespace);
      }
      return inner.authorize(identity, permission, namespace);
    },
  };
}

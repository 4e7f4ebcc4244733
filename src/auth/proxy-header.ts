import { createHash, timingSafeEqual } from 'node:crypto';
import type { BlockList } from 'node:net';
import { isInList, parseCidrs } from '../http/peer-address.ts';
import { rawHeaderCount } from '../http/raw-header-count.ts';
import { hasInvisible } from '../policy/person-key.ts';
import { isReadableName, isReservedName, RESERVED_WHAT } from './readable-name.ts';
import { type AuthRequest, type Authenticator, type Identity, ROLES, type Role } from './identity.ts';

export interface ProxyHeaderOptions {
  /** CIDRs (or single addresses) of the authenticating proxy; empty = never trust the header */
  trustedCidrs: readonly string[];
  /** header carrying the user name, e.g. x-auth-request-user (oauth2-proxy) or x-forwarded-user */
  userHeader: string;
  /** header carrying comma-separated groups, e.g. x-auth-request-groups */
  groupsHeader: string;
  /**
   * hex SHA-256 of the secret the proxy adds to every request it forwards: one, or two while the
   * secret is being rotated (either secret is right); empty or absent = the peer address alone
   * decides (proxyAuth.secretSha256)
   */
  secretSha256?: readonly string[];
  /** header carrying that secret (default X-Gate-Proxy-Secret; proxyAuth.secretHeader) */
  secretHeader?: string;
}

/** The header the proxy's secret comes in when proxyAuth.secretHeader is not set. */
export const DEFAULT_SECRET_HEADER = 'X-Gate-Proxy-Secret';

const MAX_GROUPS = 100;
/** HTTP's optional whitespace around a value or a list item: spaces and tabs, nothing else (any other at either end: not a readable name). */
const trimOws = (s: string): string => s.replace(/^[ \t]+|[ \t]+$/g, '');

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
  if (occurrences(req, name) !== 1) return null;
  const v = req.headers[name];
  if (Array.isArray(v)) return v[0] === undefined ? null : fromWire(v[0]);
  return v === undefined ? null : fromWire(v);
}

/** How many times header `name` (lower case) came: its raw header lines when the request has them. */
function occurrences(req: AuthRequest, name: string): number {
  const v = req.headers[name];
  if (v === undefined) return 0;
  if (req.rawHeaders) return rawHeaderCount(req.rawHeaders, name);
  return Array.isArray(v) ? v.length : 1;
}

/** How many hashes proxyAuth.secretSha256 holds at most: the old secret's and the new one's, during a rotation. */
export const MAX_SECRET_HASHES = 2;

/**
 * What the request's secret header proves: `absent` (not sent), `repeated` (sent more than once:
 * a copy besides the proxy's), `wrong` (its SHA-256 is none of `digests`) or, when right, the
 * index of the digest it matched (the first, when the list is padded with it). The value is
 * hashed as the bytes that came (Node reads header bytes as Latin-1, one byte a character) and
 * compared in constant time with every digest, all of them each time (`digests` always holds
 * MAX_SECRET_HASHES: the time taken tells neither which one matched nor how many are configured;
 * the counts of gate_proxy_secret_matches_total do, on purpose); it is never kept, logged or echoed.
 */
function proxySecretProof(req: AuthRequest, name: string, digests: readonly Buffer[]): 'absent' | 'repeated' | 'wrong' | number {
  const count = occurrences(req, name);
  if (count === 0) return 'absent';
  const v = req.headers[name];
  if (count > 1 || typeof v !== 'string') return 'repeated';
  // no secret is empty: an empty value (or spaces, which HTTP trims away) proves nothing, even
  // against the hash of the empty string
  if (v === '') return 'wrong';
  const presented = proxySecretDigest(v);
  let matched = 0;
  for (const [i, digest] of digests.entries()) matched |= (timingSafeEqual(presented, digest) ? 1 : 0) << i;
  if (matched === 0) return 'wrong';
  return matched & 1 ? 0 : 1;
}

/**
 * The SHA-256 of a proxy secret as the gate compares it: of the value's bytes as they came (Node
 * reads header bytes as Latin-1, one byte a character). `proxy-secret hash` prints it in hex for
 * proxyAuth.secretSha256, so the two cannot disagree.
 */
export function proxySecretDigest(value: string): Buffer {
  return createHash('sha256').update(Buffer.from(value, 'latin1')).digest();
}

/**
 * Kubernetes keeps names that start with `system:` for its own users and groups
 * (system:masters, system:serviceaccount:<ns>:<name>, system:nodes...). A sign-in proxy's identity
 * must not become one of them in a SubjectAccessReview: Kubernetes' own OIDC sign-in prefixes
 * outside names for the same reason.
 */
const KUBERNETES_RESERVED = /^system:/i;

/**
 * Groups from the header: split on commas, spaces and tabs trimmed; empty, control-character,
 * invisible-character (as the user name: a right-to-left override or a zero-width space would
 * show a group in the audit log and the console as another), other edge-whitespace and
 * `system:` entries dropped.
 */
export function parseGroups(value: string | null): string[] {
  if (value === null) return [];
  const out: string[] = [];
  for (const g of value.split(',')) {
    const t = trimOws(g);
    if (isReadableName(t) && !KUBERNETES_RESERVED.test(t) && !out.includes(t)) out.push(t);
    if (out.length >= MAX_GROUPS) break;
  }
  return out;
}

/**
 * Local-mode roles of a proxy identity: each group named exactly like a local role (caller,
 * operator, approver, admin, ci, auditor) or `gate-<role>` gives that role; other groups give nothing.
 */
export function rolesFromGroups(groups: readonly string[]): Role[] {
  const roles: Role[] = [];
  for (const g of groups) {
    const name = g.toLowerCase().replace(/^gate-/, '');
    if ((ROLES as readonly string[]).includes(name) && !roles.includes(name as Role)) roles.push(name as Role);
  }
  return roles;
}

/** A proxy-header authenticator, and how often each configured secret has come. */
export interface ProxyHeaderAuthenticator extends Authenticator {
  /**
   * Requests whose secret header matched each hash of proxyAuth.secretSha256, by its position,
   * since start (gate_proxy_secret_matches_total): during a rotation, the old hash can go once
   * its count stops growing. Counted once the secret is right, whatever the user header then
   * turns out to be. This tells whoever can read /metrics how many hashes there are and which one
   * the proxy sends, by design: an operator needs it to finish a rotation; never a hash.
   */
  secretMatches(): number[];
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
 *
 * With `secretSha256` the peer address is not enough: the user header is used only when the
 * request also carries `secretHeader` exactly once, with a value whose SHA-256 is one of those
 * hashes (the secret the proxy adds to every request it forwards; two while it is rotated).
 * Without the header the identity headers are ignored, as from an untrusted peer (the request
 * needs a token; a 401 says why). A header
 * with another secret, or sent more than once, is refused (401, audited as any refusal): from a
 * trusted address that is a client forging the proxy or a proxy configured with another secret,
 * and either is for an operator to see, not to pass over.
 */
export function createProxyHeaderAuthenticator(inner: Authenticator, opts: ProxyHeaderOptions): ProxyHeaderAuthenticator {
  const trusted = parseTrustedCidrs(opts.trustedCidrs);
  const enabled = opts.trustedCidrs.length > 0;
  const userHeader = opts.userHeader.toLowerCase();
  const groupsHeader = opts.groupsHeader.toLowerCase();
  const secretHeader = (opts.secretHeader ?? DEFAULT_SECRET_HEADER).toLowerCase();
  const hashes = opts.secretSha256 ?? [];
  if (hashes.length > MAX_SECRET_HASHES) throw new Error(`proxyAuth.secretSha256: expected at most ${MAX_SECRET_HASHES} hashes (the old secret's and the new one's)`);
  for (const [i, h] of hashes.entries()) {
    if (!/^[0-9a-f]{64}$/i.test(h)) throw new Error(`proxyAuth.secretSha256[${i}]: expected the SHA-256 of the secret as 64 hex digits`);
  }
  // padded to MAX_SECRET_HASHES with the first: every request is compared as many times
  const secretDigests = hashes.length > 0 ? Array.from({ length: MAX_SECRET_HASHES }, (_, i) => Buffer.from(hashes[i] ?? hashes[0]!, 'hex')) : null;
  const matches = hashes.map(() => 0);

  return {
    mode: inner.mode,
    secretMatches: () => [...matches],
    async authenticate(req) {
      if (!enabled || !isInList(trusted, req.remoteAddress)) return inner.authenticate(req);
      const rawName = single(req, userHeader);
      if (rawName === null) return inner.authenticate(req);
      if (secretDigests) {
        const proof = proxySecretProof(req, secretHeader, secretDigests);
        if (proof === 'absent') {
          // as from an untrusted peer: the token decides; a refusal says why the header was not used
          const result = await inner.authenticate(req);
          if (result.ok || result.status !== 401) return result;
          return { ...result, message: `${result.message} (the ${userHeader} header was not used: the request did not carry ${secretHeader}, the authenticating proxy's secret)` };
        }
        if (typeof proof === 'number') matches[proof] = (matches[proof] ?? 0) + 1;
        else {
          return {
            ok: false,
            status: 401,
            error: 'unauthorized',
            message:
              proof === 'repeated'
                ? `the ${secretHeader} header came more than once: the ${userHeader} header is not trusted`
                : `the ${secretHeader} header does not hold the authenticating proxy's secret (proxyAuth.secretSha256): the ${userHeader} header is not trusted`,
            presented: { name: 'anonymous', groups: [], via: 'proxy-header' },
          };
        }
      }
      const name = trimOws(rawName);
      // and nothing invisible anywhere in the header (zero-width space, soft hyphen, BOM, ...):
      // "olivia" + U+200B would read as olivia in the audit log and on the console
      if (!isReadableName(name) || hasInvisible(rawName)) {
        return {
          ok: false,
          status: 401,
          error: 'unauthorized',
          message: `the ${userHeader} header from the authenticating proxy is not a usable user name`,
          presented: { name: 'anonymous', groups: [], via: 'proxy-header' },
        };
      }
      if (isReservedName(name)) {
        return {
          ok: false,
          status: 401,
          error: 'unauthorized',
          message: `the ${userHeader} header from the authenticating proxy names "${name}", which the audit log uses for ${RESERVED_WHAT}: refused, as it would read as one of them`,
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

/**
 * What start-up logs about proxy sign-in: which peers' identity headers are trusted, and a warning
 * when that is by address alone (no proxyAuth.secretSha256): any client that can reach the gate
 * from inside those ranges, a pod on the same node's pod subnet, can then name any user. A warning
 * while two hashes are configured (a rotation, which should not be left half done: the old secret
 * still signs in). Also a warning for a secret with no trusted address (it turns nothing on).
 * Never a hash itself.
 */
export function proxyAuthNotices(opts: ProxyHeaderOptions): { level: 'info' | 'warn'; fields: Record<string, unknown>; message: string }[] {
  const hashes = opts.secretSha256?.length ?? 0;
  const hasSecret = hashes > 0;
  const secretHeader = opts.secretHeader ?? DEFAULT_SECRET_HEADER;
  if (opts.trustedCidrs.length === 0) {
    return hasSecret ? [{ level: 'warn', fields: { key: 'proxyAuth.secretSha256' }, message: 'proxyAuth.secretSha256 is set but proxyAuth.trustedCidrs is empty: no identity header is trusted from anyone (set the proxy\'s addresses, or remove the secret)' }] : [];
  }
  const fields = { trustedCidrs: opts.trustedCidrs, userHeader: opts.userHeader };
  if (hasSecret) {
    const trusting = { level: 'info' as const, fields: { ...fields, secretHeader }, message: 'trusting the identity headers of an authenticating proxy from these peer addresses, on requests that carry its secret' };
    if (hashes < 2) return [trusting];
    return [
      trusting,
      {
        level: 'warn',
        fields: { key: 'proxyAuth.secretSha256', hashes },
        message:
          'proxyAuth.secretSha256 holds two hashes: a rotation of the authenticating proxy\'s secret is in progress, and either secret signs in; once the proxy sends the new secret, remove the old hash (README, Sign-in)',
      },
    ];
  }
  return [
    {
      level: 'warn',
      fields: { ...fields, key: 'proxyAuth.secretSha256' },
      message:
        'trusting the identity headers of an authenticating proxy by peer address alone: any client inside these ranges can sign in as anyone; set proxyAuth.secretSha256 to the SHA-256 of a secret the proxy adds to every request (README, Sign-in)',
    },
  ];
}

import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { hashToken } from '../auth/local-tokens.ts';
import { type Authenticator, type AuthResult, type AuthzResult, type Identity, type Permission, bearerToken } from '../auth/identity.ts';
import { firstUnsafeCharacter } from '../unsafe-characters.ts';
import { MAX_NAME, isReadableName, isReservedName, RESERVED_WHAT } from '../auth/readable-name.ts';
import { KubeUnavailableError, callWithDeadline } from './api-call.ts';
import { createRateLimiter } from '../http/rate-limiter.ts';

/** The API group of the gate's virtual resources (checked with SubjectAccessReview). */
export const GATE_API_GROUP = 'gate.stonks-oracle.io';

export interface KubernetesAuthOptions {
  kubeConfig: KubeConfig;
  /** a review that takes longer than this is a 503 (default 2000 ms) */
  timeoutMs?: number;
  /** how long a review result is reused (at most 10 s) */
  cacheSeconds?: number;
  /** milliseconds, for the cache (injected in tests); by default a monotonic clock, so a wall clock set back cannot stretch a cached answer */
  now?: () => number;
  /** the most results kept per cache (default 10,000); a full cache drops its oldest result for each new one */
  maxEntries?: number;
  /**
   * the most TokenReviews in flight at once (default 64): a token that would need one more is a
   * 503 at once. A quarter of them (at least one) is kept for tokens the API server accepted in
   * the last 7 days, at most 2 for one user, so a flood of made-up tokens cannot lock out the
   * callers it has seen; of the others (the shared slots), one client (AuthRequest.client) holds
   * at most a quarter (at least 2, where there are 2), so one pod's flood leaves the rest to other
   * clients' new tokens.
   */
  maxReviewsInFlight?: number;
  /**
   * TokenReviews of tokens the API server has not accepted in the last 7 days, per client a
   * minute (default 60): past it such a token is a 503 `auth_saturated` at once, counted as shed.
   * The bound on reviews in flight limits how many run at once, not how many a client starts: a
   * client looping made-up tokens made the API server review each (a thousand in under 2 s).
   */
  unknownReviewsPerClientMinute?: number;
}

/** What a Kubernetes authenticator tells beyond the Authenticator: for the metrics. */
export interface KubernetesAuthenticator extends Authenticator {
  /** TokenReviews not made because the bound on reviews in flight was reached, since start */
  reviewsShed(): number;
}

interface Cached<T> {
  value: T;
  until: number;
}

/**
 * Results kept until `until`, at most `max` of them. The Map is in insertion order, and every
 * result of one cache is kept equally long, so its front holds the oldest results, the ones that
 * expire first: a full cache drops one there for each new key. A burst of new keys thus pushes
 * out as many old results as it adds, never the whole cache.
 */
function cache<T>(max: number) {
  const m = new Map<string, Cached<T>>();
  return {
    get(key: string, now: number): T | undefined {
      const hit = m.get(key);
      if (!hit) return undefined;
      if (hit.until <= now) {
        m.delete(key);
        return undefined;
      }
      return hit.value;
    },
    delete(key: string): void {
      m.delete(key);
    },
    set(key: string, value: T, until: number): void {
      m.delete(key);
      for (const oldest of m.keys()) {
        if (m.size < max) break;
        m.delete(oldest);
      }
      m.set(key, { value, until });
    },
  };
}

/**
 * One call per key at a time: a caller asking for a key whose call is still running gets that
 * call's promise, its answer or its failure, instead of starting another. Nothing is kept once it
 * settles (keeping answers is the caches' job), so a failure reaches only the callers that waited
 * on it.
 */
function singleFlight<T>() {
  const running = new Map<string, Promise<T>>();
  return (key: string, call: () => Promise<T>): Promise<T> => {
    let p = running.get(key);
    if (!p) {
      p = call().finally(() => running.delete(key));
      running.set(key, p);
    }
    return p;
  };
}

/** Counts per key, each key dropped when its count is back to 0: the map holds only keys in use. */
function tally() {
  const counts = new Map<string, number>();
  let total = 0;
  return {
    of: (key: string): number => counts.get(key) ?? 0,
    total: (): number => total,
    /** counts one for `key`; the function it returns takes it back */
    add(key: string): () => void {
      counts.set(key, (counts.get(key) ?? 0) + 1);
      total++;
      return () => {
        total--;
        const left = (counts.get(key) ?? 1) - 1;
        if (left === 0) counts.delete(key);
        else counts.set(key, left);
      };
    },
  };
}

/**
 * At most `max` calls at a time, `reserved` of them only for known callers: `take(caller, client)`
 * says whether a call may start (it then holds its slot until the `release` it returns), `caller`
 * being the user a known token was last reviewed as, or null for an unknown token, and `client`
 * where the request came from. Everyone shares the other `max - reserved`, no one client holding
 * more than `perClient` of them, so one pod's flood of made-up tokens leaves the rest to other
 * clients' new tokens (a CI job's); and however many clients flood, known callers still find a
 * kept slot, no one user holding more than `perUser` of them, so one identity's many tokens (any
 * pod can be given a fresh one) cannot take them all.
 */
function slots(max: number, reserved: number, perUser: number, perClient: number) {
  const shared = tally();
  const kept = tally();
  return {
    take(caller: string | null, client: string): (() => void) | null {
      if (shared.total() < max - reserved && shared.of(client) < perClient) return shared.add(client);
      if (caller === null || kept.total() >= reserved || kept.of(caller) >= perUser) return null;
      return kept.add(caller);
    },
  };
}

/**
 * How long a token the API server accepted counts as a known caller's (for the kept slots): a
 * week, so Kargo's token (a Secret's, the same for months) is still known at the first promotion
 * after a quiet weekend. Knowing a token only reserves capacity: it is reviewed again whenever
 * its cached answer expires, and forgotten when the API server rejects it.
 */
const KNOWN_MS = 7 * 24 * 60 * 60 * 1000;
/** The kept slots one user may hold at once. */
const KEPT_PER_USER = 2;

/** The name a request that presented a token the gate could not (or did not) accept goes by in the audit log. */
const presentedToken = (key: string): Identity => ({ name: `token:${key.slice(0, 8)}`, groups: [], via: 'kubernetes' });

/**
 * What a TokenReview said of a user beyond its Identity, passed on to the SubjectAccessReviews:
 * uid, extra, and all its groups when the identity (recorded) left some out (a group that does not
 * read as it is: isReadableName; RBAC still binds it by its exact name).
 */
type Reviewed = { uid?: string; extra?: Record<string, string[]>; groups?: string[] };
const reviewed = new WeakMap<Identity, Reviewed>();

const unavailable = (message: string): { ok: false; status: 503; error: string; message: string } => ({ ok: false, status: 503, error: 'auth_unavailable', message });

/**
 * Identity and permission from the Kubernetes API: bearer tokens are checked with a TokenReview
 * (the reviewed user is the audit actor), permissions with a SubjectAccessReview on the virtual
 * resources of gate.stonks-oracle.io in the Kargo project's namespace, so ordinary RBAC grants
 * them. Results are reused for at most 10 s, and requests that arrive together with the same new
 * token or question wait for one review. At most `maxReviewsInFlight` TokenReviews run at once
 * (a quarter of them kept for tokens accepted in the last 7 days, and one client holding at most a
 * quarter of the others, at least 2); a token that would need another is a 503 `auth_saturated` at
 * once. An API server that is unreachable, slower than the timeout, or answers an error or nonsense
 * gives 503 `auth_unavailable` — never an identity, never a permission.
 */
export function createKubernetesAuthenticator(opts: KubernetesAuthOptions): KubernetesAuthenticator {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const ttlMs = Math.min(opts.cacheSeconds ?? 10, 10) * 1000;
  const now = opts.now ?? (() => performance.now());
  const authn = opts.kubeConfig.makeApiClient(AuthenticationV1Api);
  const authz = opts.kubeConfig.makeApiClient(AuthorizationV1Api);
  const max = opts.maxEntries ?? 10_000;
  // tokens the API server accepted and tokens it rejected are kept apart: a flood of made-up
  // tokens fills only the second, and cannot push a caller's review out of the first
  const identities = cache<AuthResult>(max);
  const rejected = cache<AuthResult>(max);
  const access = cache<AuthzResult>(max);
  // hashes of the tokens the API server accepted in the last 7 days, with the user each was
  // reviewed as (its own cache: made-up tokens never enter it), whose reviews may take the slots
  // kept for known callers; the token is still reviewed whenever its cached identity expires, so
  // a revoked one is refused as before
  const known = cache<string>(max);
  const maxReviews = opts.maxReviewsInFlight ?? 64;
  if (!Number.isInteger(maxReviews) || maxReviews < 2) throw new RangeError(`maxReviewsInFlight must be an integer of at least 2, not ${maxReviews}`);
  const reserved = Math.max(1, Math.floor(maxReviews / 4));
  // a quarter of the shared slots for one client (12 of 48 by default), at least 2 (where there
  // are 2), so two new tokens of one client (two CI jobs behind one address) are reviewed together
  const shared = maxReviews - reserved;
  const reviewSlots = slots(maxReviews, reserved, KEPT_PER_USER, Math.min(shared, Math.max(2, Math.floor(shared / 4))));
  const unknownReviews = createRateLimiter(opts.unknownReviewsPerClientMinute ?? 60, 60_000);
  let shed = 0;

  /** Asks the API server who holds `token` (hashed: `key`); keeps an answer, never a failure. */
  const reviewToken = async (token: string, key: string): Promise<AuthResult> => {
    const anonymous: Identity = { name: 'anonymous', groups: [], via: 'none' };
    let review;
    try {
      review = await callWithDeadline('TokenReview', opts.kubeConfig, timeoutMs, (options) =>
        authn.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } }, options),
      );
    } catch (err) {
      return { ...unavailable(`identity could not be checked: ${(err as Error).message}`), presented: presentedToken(key) };
    }
    const status = review?.status;
    // The API server writes status.authenticated with `omitempty`: a rejected token comes back
    // as {"status":{"user":{},"error":"..."}}, without the key. Absent therefore means not
    // authenticated (401); only a value that is there and not a boolean is nonsense (503).
    if (!status || typeof status !== 'object' || (status.authenticated !== undefined && typeof status.authenticated !== 'boolean')) {
      return { ...unavailable('identity could not be checked: the TokenReview answer has no usable status'), presented: anonymous };
    }
    let result: AuthResult;
    if (status.authenticated !== true) {
      result = { ok: false, status: 401, error: 'unauthorized', message: `token rejected by the Kubernetes API${status.error ? `: ${status.error}` : ''}`, presented: presentedToken(key) };
    } else if (typeof status.user?.username !== 'string' || status.user.username === '') {
      return { ...unavailable('identity could not be checked: the TokenReview answer names no user'), presented: anonymous };
    } else if (!isReadableName(status.user.username)) {
      // a name must read the same in the audit log, a terminal and the console as it is, as for
      // the sign-in proxy's user header (an OIDC claim or a webhook's answer is not checked by
      // the API server): refused, and its characters never echoed
      const at = firstUnsafeCharacter(status.user.username);
      result = {
        ok: false,
        status: 401,
        error: 'unauthorized',
        message: `the Kubernetes API names this token's user with a character that does not read as it is (a control or invisible character, a bidirectional override, a line separator, space at an end${at ? `: ${at}` : ''}) or at more than ${MAX_NAME} characters: refused, as a name must read the same in the audit log as it is`,
        presented: presentedToken(key),
      };
    } else if (isReservedName(status.user.username)) {
      result = {
        ok: false,
        status: 401,
        error: 'unauthorized',
        message: `the Kubernetes API names this token's user "${status.user.username}", which the audit log uses for ${RESERVED_WHAT}: refused, as it would read as one of them`,
        presented: presentedToken(key),
      };
    } else {
      const all = Array.isArray(status.user.groups) ? status.user.groups.filter((g): g is string => typeof g === 'string') : [];
      // such a group is left out of the identity (recorded, shown) and kept for the permission checks
      const groups = all.filter((g) => isReadableName(g));
      const identity: Identity = { name: status.user.username, groups, via: 'kubernetes' };
      const more: Reviewed = groups.length === all.length ? {} : { groups: all };
      if (typeof status.user.uid === 'string' && status.user.uid) more.uid = status.user.uid;
      if (status.user.extra && typeof status.user.extra === 'object') more.extra = status.user.extra as Record<string, string[]>;
      reviewed.set(identity, more);
      result = { ok: true, identity };
    }
    (result.ok ? identities : rejected).set(key, result, now() + ttlMs);
    if (result.ok) known.set(key, result.identity.name, now() + KNOWN_MS);
    else known.delete(key);
    return result;
  };

  /** Asks the API server whether `identity` may do `permission` in `namespace`; keeps an answer, never a failure. */
  const reviewAccess = async (identity: Identity, more: Reviewed, permission: Permission, namespace: string, key: string): Promise<AuthzResult> => {
    let review;
    try {
      review = await callWithDeadline('SubjectAccessReview', opts.kubeConfig, timeoutMs, (options) =>
        authz.createSubjectAccessReview(
          {
            body: {
              apiVersion: 'authorization.k8s.io/v1',
              kind: 'SubjectAccessReview',
              spec: {
                user: identity.name,
                groups: more.groups ?? identity.groups,
                // the whole reviewed user, as the API server's own authorizer would see it
                ...(more.uid ? { uid: more.uid } : {}),
                ...(more.extra ? { extra: more.extra } : {}),
                resourceAttributes: { group: GATE_API_GROUP, resource: permission.resource, verb: permission.verb, namespace },
              },
            },
          },
          options,
        ),
      );
    } catch (err) {
      if (err instanceof KubeUnavailableError) return unavailable(`permission could not be checked: ${err.message}`);
      return unavailable(`permission could not be checked: ${(err as Error).message}`);
    }
    const status = review?.status;
    if (!status || typeof status.allowed !== 'boolean') return unavailable('permission could not be checked: the SubjectAccessReview answer has no status.allowed');
    const result: AuthzResult = status.allowed
      ? { ok: true }
      : {
          ok: false,
          status: 403,
          error: 'forbidden',
          message:
            `${identity.name} may not ${permission.verb} ${permission.resource}.${GATE_API_GROUP} in namespace ${namespace}${status.reason ? `: ${status.reason}` : ''}` +
            (status.evaluationError ? ` (the API server also reports: ${status.evaluationError})` : ''),
        };
    // A refusal that came with an evaluation error is not kept: an authorizer failed (a webhook
    // down), and the next request asks again. It stays a 403, not a 503: the API server sets
    // the error for a RoleBinding to a missing Role too, where the answer is a real no.
    if (status.allowed || !status.evaluationError) access.set(key, result, now() + ttlMs);
    return result;
  };

  // requests that arrive together with the same uncached token, or the same uncached question,
  // share one review and its answer (or its 503)
  const tokenReviews = singleFlight<AuthResult>();
  const accessReviews = singleFlight<AuthzResult>();

  /**
   * A TokenReview if a slot is free (a known token may take a kept one), else at once a 503
   * `auth_saturated`: its own code, not `auth_unavailable`, so that a flood (a warning, shed
   * reviews counted) is not taken for an API server the gate cannot reach (critical).
   */
  const boundedReview = (token: string, key: string, client: string): Promise<AuthResult> => {
    const knownUser = known.get(key, now()) ?? null;
    // a token the API server has not accepted lately: within the client's budget a minute
    const budget = knownUser === null ? unknownReviews.take(client, now()) : null;
    const release = budget?.ok === false ? null : reviewSlots.take(knownUser, client);
    if (release === null) {
      if (budget?.ok) budget.release(); // no review made: the budget is not spent
      shed++;
      return Promise.resolve({
        ok: false,
        status: 503,
        error: 'auth_saturated',
        message: `identity could not be checked: the gate's identity checks are saturated (too many TokenReviews in flight, from all clients or from this one, or of new tokens from this client in the last minute); retry shortly`,
        presented: presentedToken(key),
      });
    }
    return reviewToken(token, key)
      .then((result) => {
        // a review the API server did not answer (a 5xx or 429, a timeout, a broken connection,
        // a body that is no answer) does not spend the client's budget for new tokens: after an
        // outage its real token (unknown again after a restart) would be refused as a flood
        if (!result.ok && result.error === 'auth_unavailable' && budget?.ok) budget.release();
        return result;
      })
      .finally(release);
  };

  return {
    mode: 'kubernetes',
    reviewsShed: () => shed,
    async authenticate(req): Promise<AuthResult> {
      const token = bearerToken(req.headers);
      if (token === null) return { ok: false, status: 401, error: 'unauthorized', message: 'Authorization: Bearer <token> required', presented: { name: 'anonymous', groups: [], via: 'none' } };
      const key = hashToken(token);
      const hit = identities.get(key, now()) ?? rejected.get(key, now());
      if (hit) return hit;
      return tokenReviews(key, () => boundedReview(token, key, req.client ?? req.remoteAddress));
    },

    async authorize(identity, permission, namespace): Promise<AuthzResult> {
      const more = reviewed.get(identity) ?? {};
      const key = JSON.stringify([identity.name, more.groups ?? identity.groups, more.uid ?? null, more.extra ?? null, permission.resource, permission.verb, namespace]);
      const hit = access.get(key, now());
      if (hit) return hit;
      return accessReviews(key, () => reviewAccess(identity, more, permission, namespace, key));
    },
  };
}

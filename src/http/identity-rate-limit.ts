import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../policy/clock.ts';
import { HttpError } from './errors.ts';
import { createRateLimiter } from './rate-limiter.ts';
import { personKey } from '../policy/person-key.ts';
import { identityOf } from './request-identity.ts';

/**
 * A check that lets each identity make at most `perMinute` requests of one kind a minute (on the
 * gate clock), answering the rest 429 with `retry-after`; the refusal is audited like any 429.
 * Called by the handler once the request has passed the guard and every check of its input, so
 * only requests that would change something count: a request refused for its input (400) costs
 * nothing (break-glass grants, approvals). Counts the request, then makes the `change` (its audit
 * record); a change that fails (the audit log refused it: 503) gives its place back, so an
 * operator who retries through an outage is not locked out once it ends.
 */
export function identityRateLimit(clock: Clock, perMinute: number, what: string) {
  const limiter = createRateLimiter(perMinute, 60_000);
  return async <T>(req: FastifyRequest, reply: FastifyReply, change: () => Promise<T>): Promise<T> => {
    // one budget per sign-in path and person: a proxy user and a local token of one name do not
    // share one (nor use up each other's), and "Olivia" and "olivia" of one path are one person
    const actor = identityOf(req);
    const taken = limiter.take(`${actor.via}:${personKey(actor.name)}`, clock.now().toMillis());
    if (!taken.ok) {
      reply.header('retry-after', String(taken.retryAfterSeconds));
      throw new HttpError(429, 'rate_limited', `at most ${perMinute} ${what} a minute per identity; retry in ${taken.retryAfterSeconds} s`);
    }
    try {
      return await change();
    } catch (err) {
      taken.release(); // nothing was made: the request does not count
      throw err;
    }
  };
}

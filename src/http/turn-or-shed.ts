import type { FastifyReply, FastifyRequest } from 'fastify';
import { TurnsFullError } from '../bounded-turns.ts';
import { HttpError, ShedError } from './errors.ts';

/** What a bounded line's answers call its jobs: the 503's code, "<n> <what> are already waiting", and "before <turn>" in the 499. */
export interface LineNames {
  saturated: string;
  what: string;
  turn: string;
}

/**
 * Runs `job` in its turn on a bounded line (boundedTurns), unless the client has gone by then:
 * one that left while it waited costs no work, so a line of abandoned requests drains at once. Its
 * answer (499, nginx's "client closed request") reaches nobody; it shows in the request log. When
 * the line is full the request is not queued: 503 `names.saturated` with `retry-after: 1`, shed
 * (a 503 as `auth_saturated`, not a 429: the line is every client's, and the one turned away need
 * not have sent many).
 */
export async function inTurnOrShed<T>(
  line: <R>(fn: () => Promise<R>) => Promise<R>,
  req: FastifyRequest,
  reply: FastifyReply,
  names: LineNames,
  job: () => Promise<T>,
): Promise<T> {
  try {
    return await line(() => {
      if (req.socket?.destroyed === true) throw new HttpError(499, 'client_closed_request', `the client closed the connection before ${names.turn}`);
      return job();
    });
  } catch (err) {
    if (!(err instanceof TurnsFullError)) throw err;
    reply.header('retry-after', '1');
    throw new ShedError(503, names.saturated, `${err.maxWaiting} ${names.what} are already waiting for their turn (from all clients); retry shortly`, { retryable: true });
  }
}

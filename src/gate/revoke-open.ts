import type { DateTime } from 'luxon';
import type { AuditEntry } from '../audit/event.ts';
import { HttpError } from '../http/errors.ts';
import { isoOf } from '../policy/clock.ts';
import type { Clock } from '../policy/clock.ts';
import type { Recorder } from './recorder.ts';

/** A break-glass grant or an approval, as far as revoking it goes. */
interface Revocable {
  id: string;
  status: string;
  expiresAt: string;
}

/**
 * Revokes an open grant or approval (`what` names it in the answers): 409 while a decision or
 * another request holds it (`reserved`), when it is closed already, or when it has expired (that
 * expiry recorded here when nobody has yet, held like the sweep and decisions hold it); otherwise
 * the `revoked(at)` record is made while it is held, so no decision uses it meanwhile.
 */
export async function revokeOpen<T extends Revocable>(
  ctx: { clock: Clock; recorder: Recorder; reserved: Set<string> },
  item: T,
  how: { what: string; isLive: (item: T, now: DateTime) => boolean; expired: (at: string) => AuditEntry[]; revoked: (at: string) => AuditEntry },
): Promise<void> {
  const { what } = how;
  const now = ctx.clock.now();
  if (ctx.reserved.has(item.id)) throw new HttpError(409, 'conflict', `${what} ${item.id} is being used or closed by another request right now`);
  const held = async (entries: AuditEntry[]) => {
    ctx.reserved.add(item.id);
    try {
      await ctx.recorder.record(entries);
    } finally {
      ctx.reserved.delete(item.id);
    }
  };
  if (item.status === 'open' && !how.isLive(item, now)) {
    // noticed here first: the expiry is recorded once (a failure to is the sweep's to make good)
    await held(how.expired(isoOf(now))).catch(() => undefined);
    throw new HttpError(409, 'conflict', `${what} ${item.id} has already expired (at ${item.expiresAt})`);
  }
  if (item.status !== 'open') throw new HttpError(409, 'conflict', `${what} ${item.id} is already ${item.status}`);
  await held([how.revoked(isoOf(now))]);
}

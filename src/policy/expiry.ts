import type { DateTime } from 'luxon';

/** What grants and approvals share: an open/closed status and an expiry instant. */
export interface Expiring {
  status: string;
  expiresAt: string;
}

/** True while the record can still be used: open and not past its expiry. */
export function isLive(record: Expiring, now: DateTime): boolean {
  return record.status === 'open' && now.toMillis() < Date.parse(record.expiresAt);
}

/** Open records whose expiry has passed: the shell records their expiry the first time they are noticed. */
export function findExpired<T extends Expiring>(records: Iterable<T>, now: DateTime): T[] {
  const out: T[] = [];
  for (const r of records) if (r.status === 'open' && now.toMillis() >= Date.parse(r.expiresAt)) out.push(r);
  return out;
}

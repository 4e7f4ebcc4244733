import type { DateTime } from 'luxon';
import { findExpired, isLive } from './expiry.ts';
import type { ApprovalRecord } from './state.ts';
import type { GrantTarget } from './grants.ts';
import { personKey } from './person-key.ts';

/** True while an approval can still be used: open and not past its expiry. */
export const isApprovalLive: (approval: ApprovalRecord, now: DateTime) => boolean = isLive;

/** Open approvals whose expiry has passed (recorded as expired the first time they are noticed). */
export const findExpiredApprovals: (approvals: Iterable<ApprovalRecord>, now: DateTime) => ApprovalRecord[] = findExpired;

/**
 * Live, unreserved approvals of exactly this project+stage+imageTag, oldest first, split by
 * whether `excludedApprover` gave them (separation of duties: the person who requested the
 * break-glass grant may not be the only approver). Names are compared by personKey, so
 * "Olivia", "ｏlivia" and "olivia" + U+200B are all the requester "olivia".
 */
export function findApprovals(
  approvals: Iterable<ApprovalRecord>,
  target: GrantTarget,
  now: DateTime,
  reserved: ReadonlySet<string>,
  excludedApprover: string | null,
): { usable: ApprovalRecord[]; excluded: ApprovalRecord[] } {
  const usable: ApprovalRecord[] = [];
  const excluded: ApprovalRecord[] = [];
  const excludedKey = excludedApprover === null ? null : personKey(excludedApprover);
  for (const a of approvals) {
    if (a.project !== target.project || a.stage !== target.stage || a.imageTag !== target.imageTag) continue;
    if (!isApprovalLive(a, now) || reserved.has(a.id)) continue;
    (excludedKey !== null && personKey(a.approvedBy) === excludedKey ? excluded : usable).push(a);
  }
  const byAge = (x: ApprovalRecord, y: ApprovalRecord) => x.approvedAt.localeCompare(y.approvedAt);
  return { usable: usable.sort(byAge), excluded: excluded.sort(byAge) };
}

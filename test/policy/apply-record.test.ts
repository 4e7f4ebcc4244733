import t from 'tap';
import type { AuditEventV1 } from '../../src/audit/event.ts';
import { parseConfig } from '../../src/config.ts';
import { applyRecord } from '../../src/policy/apply-record.ts';
import { WAITING_KEPT, emptyState, promotionKey } from '../../src/policy/state.ts';
import { CLOSED_KEPT } from '../../src/policy/apply-record.ts';

const config = parseConfig({});
const BASE = Date.parse('2026-11-25T15:00:00.000Z');
const caller = { name: 'caller', groups: ['caller'], via: 'local-token' as const };

/** A decision record as the decision service writes it, at BASE + seq seconds. */
function decision(seq: number, promotion: string, decision: 'allow' | 'wait' | 'deny'): AuditEventV1 {
  return {
    v: 1,
    seq,
    at: new Date(BASE + seq * 1000).toISOString(),
    type: 'decision',
    id: `dec_${seq}`,
    actor: caller,
    requestedBy: null,
    project: 'stonks-pipeline',
    stage: 'paper',
    imageTag: 'abc123',
    promotion,
    decision,
    reasons: [{ code: 'market_open', effect: 'wait', message: 'NYSE regular session is open' }],
    breakGlass: null,
    approval: null,
    data: { skip: false, message: 'NYSE regular session is open', replayOf: null },
    prev: '0'.repeat(64),
    hash: '0'.repeat(64),
  };
}

t.test('the waiting list drops the promotions polled longest ago, not the ones seen first that still poll', async (t) => {
  const state = emptyState(config.stages);
  let seq = 0;
  // one more waiting promotion than are kept; p0 is the first seen
  for (let i = 0; i <= WAITING_KEPT; i++) applyRecord(state, decision(++seq, `p${i}`, 'wait'));
  // p0 keeps polling (Kargo asks every minute) while the others went quiet
  while (seq < 1023) applyRecord(state, decision(++seq, 'p0', 'wait'));
  // seq 1024 is a trim step
  applyRecord(state, decision(++seq, 'other', 'deny'));
  const p0 = state.waiting[promotionKey('stonks-pipeline', 'paper', 'p0')];
  t.ok(p0, 'the promotion still polling is still shown as waiting');
  t.equal(p0?.since, new Date(BASE + 1000).toISOString(), 'waiting since its first answer');
  t.equal(p0?.lastSeen, new Date(BASE + 1023 * 1000).toISOString());
  t.notOk(state.waiting[promotionKey('stonks-pipeline', 'paper', 'p1')], 'the one polled longest ago is dropped');
  t.equal(Object.keys(state.waiting).length, WAITING_KEPT);
});

t.test('approval.revoked closes an open approval as revoked, and leaves one already closed as it was', async (t) => {
  const state = emptyState(config.stages);
  const approver = { name: 'amir', groups: ['approver'], via: 'local-token' as const };
  const record = (seq: number, type: AuditEventV1['type'], id: string, actor = approver): AuditEventV1 => ({
    ...decision(seq, 'unused', 'wait'),
    type,
    id,
    actor,
    stage: 'live',
    promotion: null,
    decision: null,
    reasons: [],
    approval: { id, notes: 'paper P&L reviewed', expiresAt: '2026-11-26T15:00:00.000Z', decisionId: 'dec_9' },
    data: null,
  });
  applyRecord(state, record(1, 'approval.recorded', 'ap_1'));
  applyRecord(state, record(2, 'approval.recorded', 'ap_2'));
  applyRecord(state, record(3, 'approval.consumed', 'ap_2', caller));
  applyRecord(state, record(4, 'approval.revoked', 'ap_1', { ...approver, name: 'olga' }));
  applyRecord(state, record(5, 'approval.revoked', 'ap_2'));
  t.match(state.approvals['ap_1'], { status: 'revoked', closedAt: '2026-11-25T15:00:04.000Z', consumedBy: null });
  t.match(state.approvals['ap_2'], { status: 'consumed', closedAt: '2026-11-25T15:00:03.000Z', consumedBy: { decisionId: 'dec_9' } });
});

t.test('a replayed allow leaves the stage\'s allowed tag as the last new allow set it, tag and time', async (t) => {
  const state = emptyState(config.stages);
  const allow = (seq: number, promotion: string, imageTag: string, replayOf: string | null): AuditEventV1 => ({
    ...decision(seq, promotion, 'allow'),
    imageTag,
    data: { skip: false, message: 'allowed', replayOf },
  });
  applyRecord(state, allow(1, 'b3', 'aaa111', null));
  applyRecord(state, allow(2, 'b4', 'bbb222', null));
  t.same(state.allowedTags.paper, { imageTag: 'bbb222', decisionId: 'dec_2', at: new Date(BASE + 2000).toISOString() });
  applyRecord(state, allow(3, 'b3', 'aaa111', 'dec_1'));
  t.same(state.allowedTags.paper, { imageTag: 'bbb222', decisionId: 'dec_2', at: new Date(BASE + 2000).toISOString() }, 'a replay of the older promotion does not set the stage back');
  applyRecord(state, allow(4, 'b4', 'bbb222', 'dec_2'));
  t.equal(state.allowedTags.paper?.at, new Date(BASE + 2000).toISOString(), 'a replay of the current one does not move its time');
});

t.test('closed approvals are kept for a week, and no more than CLOSED_KEPT of them: the newest closed', async (t) => {
  const state = emptyState(config.stages);
  const approver = { name: 'amir', groups: ['approver'], via: 'local-token' as const };
  const record = (seq: number, type: AuditEventV1['type'], id: string): AuditEventV1 => ({
    ...decision(seq, 'unused', 'wait'),
    type,
    id,
    actor: approver,
    stage: 'live',
    promotion: null,
    decision: null,
    reasons: [],
    approval: { id, notes: 'paper P&L reviewed', expiresAt: '2026-12-25T15:00:00.000Z' },
    data: null,
  });
  const n = CLOSED_KEPT + 50;
  let seq = 0;
  for (let i = 0; i < n; i++) applyRecord(state, record(++seq, 'approval.recorded', `ap_${i}`));
  for (let i = 0; i < n; i++) applyRecord(state, record(++seq, 'approval.revoked', `ap_${i}`));
  applyRecord(state, record(++seq, 'approval.recorded', 'ap_open'));
  // the next prune: a minute of record time after the last
  applyRecord(state, record(seq + 120, 'approval.recorded', 'ap_later'));
  const closed = Object.values(state.approvals).filter((a) => a.status !== 'open');
  t.equal(closed.length, CLOSED_KEPT, 'closed ones beyond the count are dropped');
  t.notOk('ap_0' in state.approvals, 'the first closed is gone');
  t.ok(`ap_${n - 1}` in state.approvals, 'the newest closed is kept');
  t.equal(state.approvals['ap_open']?.status, 'open', 'open ones are never dropped');
});

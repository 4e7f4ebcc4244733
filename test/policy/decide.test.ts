import t from 'tap';
import { DateTime } from 'luxon';
import { parseConfig } from '../../src/config.ts';
import { type DecisionInput, type DecisionState, decide } from '../../src/policy/decide.ts';
import { createMarketCalendar } from '../../src/policy/market-hours.ts';
import { type ApprovalRecord, type GateState, type GrantRecord, TEST_RESULTS_KEPT, emptyState, promotionKey } from '../../src/policy/state.ts';

const OPEN = '2026-11-25T15:00:00Z'; // Wed 10:00 ET, closes 16:00 ET
const CLOSED = '2026-11-25T22:00:00Z'; // Wed 17:00 ET
const WEEKEND = '2026-11-28T15:00:00Z'; // Saturday
const config = parseConfig({});
const calendar = createMarketCalendar(config.market);

const PASSED = { imageTag: 'abc123', passed: true, exitCode: 0, counts: { passed: 10, failed: 0, skipped: 0, total: 10 }, recordedAt: '2026-11-25T14:00:00Z', recordedBy: 'ci', artifact: 'a' };
const FAILED = { ...PASSED, passed: false, exitCode: 3, counts: { passed: 7, failed: 3, skipped: null, total: 10 } };

function grant(over: Partial<GrantRecord> = {}): GrantRecord {
  return {
    id: 'bg_1',
    project: 'stonks-pipeline',
    stage: 'paper',
    imageTag: 'abc123',
    tokenHash: 'aa'.repeat(32),
    justification: 'hotfix for a broken order router',
    requestedBy: 'olivia',
    issuedAt: '2026-11-25T14:50:00Z',
    expiresAt: '2026-11-25T15:20:00Z',
    status: 'open',
    closedAt: null,
    closedBy: null,
    consumedBy: null,
    ...over,
  };
}

function approval(over: Partial<ApprovalRecord> = {}): ApprovalRecord {
  return {
    id: 'ap_1',
    project: 'stonks-pipeline',
    stage: 'live',
    imageTag: 'abc123',
    notes: 'reviewed the diff and the paper P&L',
    approvedBy: 'alice',
    approvedAt: '2026-11-25T14:00:00Z',
    expiresAt: '2026-11-26T14:00:00Z',
    status: 'open',
    closedAt: null,
    consumedBy: null,
    ...over,
  };
}

interface Setup {
  tests?: 'passed' | 'failed' | 'none';
  grants?: GrantRecord[];
  approvals?: ApprovalRecord[];
  disabled?: string[];
  reserved?: string[];
  promotions?: GateState['promotions'];
  sod?: boolean;
}

function state(s: Setup): DecisionState {
  const st = emptyState(config.stages);
  if ((s.tests ?? 'passed') !== 'none') st.testResults['abc123'] = s.tests === 'failed' ? FAILED : PASSED;
  for (const g of s.grants ?? []) st.grants[g.id] = g;
  for (const a of s.approvals ?? []) st.approvals[a.id] = a;
  for (const d of s.disabled ?? []) st.stages[d as 'beta'].enabled = false;
  st.promotions = s.promotions ?? {};
  return { project: 'stonks-pipeline', policies: config.stages, state: st, reserved: new Set(s.reserved ?? []), calendar, separationOfDuties: s.sod ?? false };
}

function input(over: Partial<DecisionInput> = {}): DecisionInput {
  return { project: 'stonks-pipeline', stage: 'paper', imageTag: 'abc123', promotion: 'promo-1', breakGlassTokenHash: null, ...over };
}

interface Case {
  name: string;
  at: string;
  input?: Partial<DecisionInput>;
  setup?: Setup;
  decision: 'allow' | 'wait' | 'deny';
  codes: string[];
  skip?: boolean;
  grant?: string | null;
  approval?: string | null;
  message?: RegExp;
}

const cases: Case[] = [
  // rules before any policy
  { name: 'unknown project', at: CLOSED, input: { project: 'stonks-oracle' }, decision: 'deny', codes: ['unknown_stage'], message: /Unknown project "stonks-oracle"/ },
  { name: 'unknown stage', at: CLOSED, input: { stage: 'prod' }, decision: 'deny', codes: ['unknown_stage'], message: /Unknown stage "prod"/ },
  {
    name: 'replay of an allowed promotion, even while the market is open',
    at: OPEN,
    setup: { promotions: { [promotionKey('stonks-pipeline', 'paper', 'promo-1')]: { project: 'stonks-pipeline', stage: 'paper', imageTag: 'abc123', promotion: 'promo-1', decisionId: 'dec_9', at: CLOSED } } },
    decision: 'allow',
    codes: ['replayed'],
  },
  {
    name: 'same promotion name with another tag is refused',
    at: CLOSED,
    input: { imageTag: 'def456' },
    setup: { promotions: { [promotionKey('stonks-pipeline', 'paper', 'promo-1')]: { project: 'stonks-pipeline', stage: 'paper', imageTag: 'abc123', promotion: 'promo-1', decisionId: 'dec_9', at: CLOSED } } },
    decision: 'deny',
    codes: ['promotion_mismatch'],
  },
  { name: 'disabled stage passes through even with failed tests and open market', at: OPEN, setup: { disabled: ['paper'], tests: 'failed' }, decision: 'allow', codes: ['stage_disabled'], skip: true },
  // market hours
  { name: 'paper, market open: wait naming 16:00 ET and the time left', at: OPEN, decision: 'wait', codes: ['tests_passed', 'market_open'], message: /closes 16:00 ET \(in 6h 0m\)/ },
  { name: 'paper, market closed (after hours)', at: CLOSED, decision: 'allow', codes: ['tests_passed', 'market_closed'] },
  { name: 'paper, weekend', at: WEEKEND, decision: 'allow', codes: ['tests_passed', 'market_closed'], message: /weekend/ },
  { name: 'paper, Thanksgiving (holiday named)', at: '2026-11-26T15:00:00Z', decision: 'allow', codes: ['tests_passed', 'market_closed'], message: /Thanksgiving/ },
  { name: 'paper, 12:59:59 on the early close', at: '2026-11-27T17:59:59Z', decision: 'wait', codes: ['tests_passed', 'market_open'], message: /^NYSE regular session is open; closes 13:00 ET \(early close, in 1s\)\. The promotion waits/ },
  { name: 'live, 12:00 on the early close: one pair of brackets', at: '2026-11-27T17:00:00Z', input: { stage: 'live' }, decision: 'deny', codes: ['tests_passed', 'market_open', 'awaiting_approval'], message: /\(closes 13:00 ET, an early close, in 1h 0m\)\. Promote again/ },
  { name: 'paper, 13:00:00 on the early close', at: '2026-11-27T18:00:00Z', decision: 'allow', codes: ['tests_passed', 'market_closed'] },
  { name: 'paper, 09:29:59', at: '2026-11-25T14:29:59Z', decision: 'allow', codes: ['tests_passed', 'market_closed'] },
  { name: 'paper, 09:30:00', at: '2026-11-25T14:30:00Z', decision: 'wait', codes: ['tests_passed', 'market_open'] },
  { name: 'paper, 15:59:59', at: '2026-11-25T20:59:59Z', decision: 'wait', codes: ['tests_passed', 'market_open'], message: /in 1s/ },
  { name: 'paper, 15:59:59.400: the last 0.6 s left is "1s", not "0s"', at: '2026-11-25T20:59:59.400Z', decision: 'wait', codes: ['tests_passed', 'market_open'], message: /closes 16:00 ET \(in 1s\)/ },
  { name: 'paper, 16:00:00', at: '2026-11-25T21:00:00Z', decision: 'allow', codes: ['tests_passed', 'market_closed'] },
  { name: 'beta ignores the market', at: OPEN, input: { stage: 'beta' }, decision: 'allow', codes: ['tests_passed'] },
  {
    name: 'live, market open: deny (and still lists the missing approval)',
    at: OPEN,
    input: { stage: 'live' },
    decision: 'deny',
    codes: ['tests_passed', 'market_open', 'awaiting_approval'],
    message: /live promotions are refused during market hours/,
  },
  { name: 'live, market closed, no approval: wait', at: CLOSED, input: { stage: 'live' }, decision: 'wait', codes: ['tests_passed', 'market_closed', 'awaiting_approval'] },
  { name: 'live, market closed, approved: allow consuming the approval', at: CLOSED, input: { stage: 'live' }, setup: { approvals: [approval()] }, decision: 'allow', codes: ['tests_passed', 'market_closed', 'approval_applied'], approval: 'ap_1' },
  // tests
  { name: 'tests pending: wait', at: CLOSED, setup: { tests: 'none' }, decision: 'wait', codes: ['tests_pending', 'market_closed'] },
  { name: 'tests failed: deny with counts and exit code', at: CLOSED, setup: { tests: 'failed' }, decision: 'deny', codes: ['tests_failed', 'market_closed'], message: /exit code 3, 3 failed, 7 passed, 10 total/ },
  { name: 'tests failed beats market open (deny over wait), all reasons listed', at: OPEN, setup: { tests: 'failed' }, decision: 'deny', codes: ['tests_failed', 'market_open'] },
  { name: 'tests pending and market open: wait with both reasons', at: OPEN, setup: { tests: 'none' }, decision: 'wait', codes: ['tests_pending', 'market_open'] },
  { name: 'integration stage disabled lifts the test requirement', at: CLOSED, setup: { tests: 'none', disabled: ['integration'] }, decision: 'allow', codes: ['tests_not_required', 'market_closed'] },
  // grants
  { name: 'grant covers the market for its project+stage+tag', at: OPEN, setup: { grants: [grant()] }, decision: 'allow', codes: ['tests_passed', 'break_glass_applied'], grant: 'bg_1' },
  { name: 'grant does not cover failed tests', at: OPEN, setup: { grants: [grant()], tests: 'failed' }, decision: 'deny', codes: ['tests_failed', 'break_glass_applied'], grant: 'bg_1' },
  { name: 'grant covers market but approval still missing (live): wait, grant not consumed', at: OPEN, input: { stage: 'live' }, setup: { grants: [grant({ stage: 'live' })] }, decision: 'wait', codes: ['tests_passed', 'break_glass_applied', 'awaiting_approval'], grant: 'bg_1' },
  { name: 'grant + approval on live: allow', at: OPEN, input: { stage: 'live' }, setup: { grants: [grant({ stage: 'live' })], approvals: [approval()] }, decision: 'allow', codes: ['tests_passed', 'break_glass_applied', 'approval_applied'], grant: 'bg_1', approval: 'ap_1' },
  { name: 'grant for another stage never applies', at: OPEN, setup: { grants: [grant({ stage: 'live' })] }, decision: 'wait', codes: ['tests_passed', 'market_open'], grant: null },
  { name: 'grant for another tag never applies', at: OPEN, setup: { grants: [grant({ imageTag: 'zzz999' })] }, decision: 'wait', codes: ['tests_passed', 'market_open'], grant: null },
  { name: 'expired grant never applies', at: OPEN, setup: { grants: [grant({ expiresAt: '2026-11-25T15:00:00Z' })] }, decision: 'wait', codes: ['tests_passed', 'market_open'], grant: null },
  { name: 'revoked grant never applies', at: OPEN, setup: { grants: [grant({ status: 'revoked' })] }, decision: 'wait', codes: ['tests_passed', 'market_open'], grant: null },
  { name: 'consumed grant never applies', at: OPEN, setup: { grants: [grant({ status: 'consumed' })] }, decision: 'wait', codes: ['tests_passed', 'market_open'], grant: null },
  { name: 'grant held by an in-flight decision does not apply', at: OPEN, setup: { grants: [grant()], reserved: ['bg_1'] }, decision: 'wait', codes: ['tests_passed', 'market_open'], grant: null },
  { name: 'grant is not needed (nor used) while the market is closed', at: CLOSED, setup: { grants: [grant()] }, decision: 'allow', codes: ['tests_passed', 'market_closed'], grant: null },
  { name: 'presented token selects its grant', at: OPEN, input: { breakGlassTokenHash: 'aa'.repeat(32) }, setup: { grants: [grant()] }, decision: 'allow', codes: ['tests_passed', 'break_glass_applied'], grant: 'bg_1' },
  { name: 'unknown token: noted, market still holds', at: OPEN, input: { breakGlassTokenHash: 'bb'.repeat(32) }, decision: 'wait', codes: ['tests_passed', 'break_glass_invalid', 'market_open'] },
  { name: 'token of a grant for another tag: noted, not applied', at: OPEN, input: { breakGlassTokenHash: 'aa'.repeat(32) }, setup: { grants: [grant({ imageTag: 'zzz999' })] }, decision: 'wait', codes: ['tests_passed', 'break_glass_invalid', 'market_open'] },
  // separation of duties
  {
    name: 'SoD: the grant requester as only approver does not count',
    at: OPEN,
    input: { stage: 'live' },
    setup: { sod: true, grants: [grant({ stage: 'live', requestedBy: 'alice' })], approvals: [approval({ approvedBy: 'alice' })] },
    decision: 'wait',
    codes: ['tests_passed', 'break_glass_applied', 'awaiting_approval'],
    message: /separation of duties/,
  },
  {
    name: 'SoD: another approver counts',
    at: OPEN,
    input: { stage: 'live' },
    setup: { sod: true, grants: [grant({ stage: 'live', requestedBy: 'alice' })], approvals: [approval({ approvedBy: 'alice' }), approval({ id: 'ap_2', approvedBy: 'bob' })] },
    decision: 'allow',
    codes: ['tests_passed', 'break_glass_applied', 'approval_applied'],
    approval: 'ap_2',
  },
  {
    name: 'SoD: an older grant by the only approver is passed over for a younger grant another operator requested',
    at: OPEN,
    input: { stage: 'live' },
    setup: {
      sod: true,
      grants: [
        grant({ id: 'bg_old', stage: 'live', requestedBy: 'alice', expiresAt: '2026-11-25T15:10:00Z' }),
        grant({ id: 'bg_new', stage: 'live', requestedBy: 'bob', tokenHash: 'bb'.repeat(32), expiresAt: '2026-11-25T15:40:00Z' }),
      ],
      approvals: [approval({ approvedBy: 'alice' })],
    },
    decision: 'allow',
    codes: ['tests_passed', 'break_glass_applied', 'approval_applied'],
    grant: 'bg_new',
    approval: 'ap_1',
  },
  {
    name: 'SoD: with no grant that leaves an approver, the oldest is named and the wait says why',
    at: OPEN,
    input: { stage: 'live' },
    setup: {
      sod: true,
      grants: [
        grant({ id: 'bg_old', stage: 'live', requestedBy: 'alice', expiresAt: '2026-11-25T15:10:00Z' }),
        grant({ id: 'bg_new', stage: 'live', requestedBy: 'alice', tokenHash: 'bb'.repeat(32), expiresAt: '2026-11-25T15:40:00Z' }),
      ],
      approvals: [approval({ approvedBy: 'alice' })],
    },
    decision: 'wait',
    codes: ['tests_passed', 'break_glass_applied', 'awaiting_approval'],
    grant: 'bg_old',
    message: /separation of duties/,
  },
  {
    name: 'SoD: the requester under another spelling (case, fullwidth, zero-width space) is still the requester',
    at: OPEN,
    input: { stage: 'live' },
    setup: {
      sod: true,
      grants: [grant({ stage: 'live', requestedBy: 'alice' })],
      approvals: [approval({ approvedBy: 'Alice' }), approval({ id: 'ap_2', approvedBy: '\uFF41lice' }), approval({ id: 'ap_3', approvedBy: 'alice\u200B' })],
    },
    decision: 'wait',
    codes: ['tests_passed', 'break_glass_applied', 'awaiting_approval'],
    approval: null,
    message: /approval by Alice, \uFF41lice, alice\u200B does not count: .*requested by alice.*separation of duties/,
  },
  {
    name: 'SoD: a grant whose requester is the only approver under another case is passed over for one that leaves an approver',
    at: OPEN,
    input: { stage: 'live' },
    setup: {
      sod: true,
      grants: [
        grant({ id: 'bg_old', stage: 'live', requestedBy: 'alice', expiresAt: '2026-11-25T15:10:00Z' }),
        grant({ id: 'bg_new', stage: 'live', requestedBy: 'bob', tokenHash: 'bb'.repeat(32), expiresAt: '2026-11-25T15:40:00Z' }),
      ],
      approvals: [approval({ approvedBy: 'ALICE' })],
    },
    decision: 'allow',
    codes: ['tests_passed', 'break_glass_applied', 'approval_applied'],
    grant: 'bg_new',
    approval: 'ap_1',
  },
  {
    name: 'SoD off: the grant requester may approve',
    at: OPEN,
    input: { stage: 'live' },
    setup: { grants: [grant({ stage: 'live', requestedBy: 'alice' })], approvals: [approval({ approvedBy: 'alice' })] },
    decision: 'allow',
    codes: ['tests_passed', 'break_glass_applied', 'approval_applied'],
  },
  // approvals
  { name: 'approval for another tag does not count', at: CLOSED, input: { stage: 'live' }, setup: { approvals: [approval({ imageTag: 'zzz999' })] }, decision: 'wait', codes: ['tests_passed', 'market_closed', 'awaiting_approval'] },
  { name: 'expired approval does not count', at: CLOSED, input: { stage: 'live' }, setup: { approvals: [approval({ expiresAt: '2026-11-25T21:00:00Z' })] }, decision: 'wait', codes: ['tests_passed', 'market_closed', 'awaiting_approval'] },
  { name: 'consumed approval does not count', at: CLOSED, input: { stage: 'live' }, setup: { approvals: [approval({ status: 'consumed' })] }, decision: 'wait', codes: ['tests_passed', 'market_closed', 'awaiting_approval'] },
  { name: 'revoked approval does not count', at: CLOSED, input: { stage: 'live' }, setup: { approvals: [approval({ status: 'revoked' })] }, decision: 'wait', codes: ['tests_passed', 'market_closed', 'awaiting_approval'] },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const out = decide(input(c.input), state(c.setup ?? {}), DateTime.fromISO(c.at, { zone: 'utc' }));
    t.equal(out.decision, c.decision, 'decision');
    t.same(
      out.reasons.map((r) => r.code),
      c.codes,
      'every reason listed, in policy order',
    );
    t.equal(out.skip, c.skip ?? false, 'skip');
    if (c.grant !== undefined) t.equal(out.grant?.id ?? null, c.grant, 'grant');
    if (c.approval !== undefined) t.equal(out.approval?.id ?? null, c.approval, 'approval');
    if (c.message) t.match(out.message, c.message, 'message');
    // the message leads with what decides it
    const deciding = out.reasons.find((r) => r.effect === out.decision);
    if (deciding && out.decision !== 'allow') t.ok(out.message.startsWith(deciding.message), 'message starts with the deciding reason');
  });
}

t.test('expired grants and approvals are reported for recording', async (t) => {
  const out = decide(
    input(),
    state({ grants: [grant({ expiresAt: '2026-11-25T14:00:00Z' })], approvals: [approval({ expiresAt: '2026-11-25T14:00:00Z' })] }),
    DateTime.fromISO(OPEN),
  );
  t.same(out.expired.grants.map((g) => g.id), ['bg_1']);
  t.same(out.expired.approvals.map((a) => a.id), ['ap_1']);
});

t.test('a presented grant held by another request: "being used" while live, "expired" once its time is up (its expiry being recorded)', async (t) => {
  const held = (at: string) => decide(input({ breakGlassTokenHash: 'aa'.repeat(32) }), state({ grants: [grant()], reserved: ['bg_1'] }), DateTime.fromISO(at));
  t.match(held(OPEN).reasons.find((r) => r.code === 'break_glass_invalid')?.message, /^Break-glass grant bg_1 is being used\.$/);
  t.match(held('2026-11-25T15:30:00Z').reasons.find((r) => r.code === 'break_glass_invalid')?.message, /^Break-glass grant bg_1 is expired\.$/);
});

t.test('a token no grant in the state has: refused, and the message says it may be a long-closed grant, not only a wrong token', async (t) => {
  const out = decide(input({ breakGlassTokenHash: 'bb'.repeat(32) }), state({}), DateTime.fromISO(OPEN));
  t.equal(out.decision, 'wait');
  t.match(out.reasons.find((r) => r.code === 'break_glass_invalid')?.message, /^The break-glass token presented is not known: never issued, or its grant closed long enough ago to be dropped from the gate's state \(its records stay in the audit log\)\.$/);
});

t.test('the oldest of two approvals of one tag is the one a live allow spends (the newer lasts longer)', async (t) => {
  const older = approval({ id: 'ap_old' });
  const newer = approval({ id: 'ap_new', approvedAt: '2026-11-25T20:00:00Z', expiresAt: '2026-11-26T20:00:00Z' });
  for (const order of [[older, newer], [newer, older]]) {
    const out = decide(input({ stage: 'live' }), state({ approvals: order }), DateTime.fromISO(CLOSED));
    t.equal(out.decision, 'allow');
    t.equal(out.approval?.id, 'ap_old', `listed ${order.map((a) => a.id).join(', ')}`);
  }
});

t.test('the oldest-expiring of two matching grants is the one used', async (t) => {
  const out = decide(input(), state({ grants: [grant({ id: 'bg_late', expiresAt: '2026-11-25T16:00:00Z' }), grant({ id: 'bg_soon' })] }), DateTime.fromISO(OPEN));
  t.equal(out.grant?.id, 'bg_soon');
});

t.test('a tag with no result while the gate keeps as many as it can: the message says an old result may have been dropped, and how to send it again', async (t) => {
  const ds = state({ tests: 'none' });
  const fill = (n: number) => {
    ds.state.testResults = {};
    for (let i = 0; i < n; i++) ds.state.testResults[`tag${i}`] = { ...PASSED, imageTag: `tag${i}` };
  };
  fill(TEST_RESULTS_KEPT - 1);
  let out = decide(input({ imageTag: 'old1' }), ds, DateTime.fromISO(CLOSED));
  t.equal(out.reasons[0]?.message, 'No integration-test result for old1 yet.', 'room for more: nothing can have been dropped, no hint');
  fill(TEST_RESULTS_KEPT);
  out = decide(input({ imageTag: 'old1' }), ds, DateTime.fromISO(CLOSED));
  t.equal(out.decision, 'wait');
  t.match(out.reasons[0], { code: 'tests_pending', effect: 'wait' });
  t.equal(
    out.reasons[0]?.message,
    "No integration-test result for old1 yet. The gate keeps the newest 1,000 results: if old1's was recorded before them (a rollback to an old release), send its stored result again (README, Test results).",
    'full: the hint',
  );
  t.equal(decide(input({ imageTag: 'tag7' }), ds, DateTime.fromISO(CLOSED)).reasons[0]?.code, 'tests_passed', 'a kept one is used as ever');
});

t.test('the times a message names are in ET, like the market times beside them', async (t) => {
  const live = decide(input({ stage: 'live' }), state({ approvals: [approval()] }), DateTime.fromISO(CLOSED));
  const applied = live.reasons.find((r) => r.code === 'approval_applied');
  t.match(applied?.message, /^Approved by .* at 2026-11-25 09:00:00 ET: /, 'the approval (14:00 UTC) at 09:00 ET');
});

t.test('decide is pure: the state is not changed', async (t) => {
  const ds = state({ grants: [grant()], approvals: [approval()] });
  const before = JSON.stringify(ds.state);
  decide(input(), ds, DateTime.fromISO(OPEN));
  decide(input({ stage: 'live' }), ds, DateTime.fromISO(CLOSED));
  t.equal(JSON.stringify(ds.state), before);
});

// Every combination of the policy inputs, against an oracle written independently of decide():
// the answer is the strictest reason and every unmet policy is listed.
t.test('combinations: tests × market × grant × approval × stage', async (t) => {
  const tests = ['passed', 'failed', 'none'] as const;
  const markets = [
    ['open', OPEN],
    ['closed', CLOSED],
  ] as const;
  let n = 0;
  for (const stage of ['beta', 'paper', 'live'] as const) {
    for (const tr of tests) {
      for (const [market, at] of markets) {
        for (const withGrant of [false, true]) {
          for (const withApproval of [false, true]) {
            const policy = config.stages[stage];
            const expected: { code: string; effect: string }[] = [];
            if (tr === 'none') expected.push({ code: 'tests_pending', effect: 'wait' });
            if (tr === 'failed') expected.push({ code: 'tests_failed', effect: 'deny' });
            if (tr === 'passed') expected.push({ code: 'tests_passed', effect: 'allow' });
            if (policy.marketHours) {
              if (market === 'closed') expected.push({ code: 'market_closed', effect: 'allow' });
              else if (withGrant) expected.push({ code: 'break_glass_applied', effect: 'allow' });
              else expected.push({ code: 'market_open', effect: policy.marketHours });
            }
            if (policy.requireApproval) expected.push(withApproval ? { code: 'approval_applied', effect: 'allow' } : { code: 'awaiting_approval', effect: 'wait' });
            const answer = expected.some((r) => r.effect === 'deny') ? 'deny' : expected.some((r) => r.effect === 'wait') ? 'wait' : 'allow';

            const out = decide(
              input({ stage }),
              state({ tests: tr, grants: withGrant ? [grant({ stage: stage === 'beta' ? 'paper' : stage })] : [], approvals: withApproval ? [approval({ stage: stage === 'beta' ? 'live' : stage })] : [] }),
              DateTime.fromISO(at),
            );
            const label = `${stage} tests=${tr} market=${market} grant=${withGrant} approval=${withApproval}`;
            t.equal(out.decision, answer, `${label}: ${answer}`);
            t.same(out.reasons.map((r) => ({ code: r.code, effect: r.effect })), expected, `${label}: reasons`);
            // consumption: only an allow spends, and only what it used
            t.equal(out.decision === 'allow' && out.grant !== null, answer === 'allow' && market === 'open' && withGrant && policy.marketHours !== null, `${label}: grant used only by an allow that needed it`);
            n++;
          }
        }
      }
    }
  }
  t.equal(n, 72);
});

t.test('quietBeforeOpenMinutes: the market-hours answer holds from that many minutes before the open', async (t) => {
  const quiet = parseConfig({}, 'stages:\n  paper: { quietBeforeOpenMinutes: 30 }\n  live: { quietBeforeOpenMinutes: 30 }\n  beta: { quietBeforeOpenMinutes: 30 }\n');
  t.equal(parseConfig({}).stages.paper.quietBeforeOpenMinutes, 0, 'off by default');
  const run = (at: string, over: Partial<DecisionInput> = {}, setup: Setup = {}) =>
    decide(input(over), { ...state(setup), policies: quiet.stages }, DateTime.fromISO(at, { zone: 'utc' }));
  const rows: { name: string; at: string; stage?: string; setup?: Setup; decision: string; codes: string[]; message?: RegExp }[] = [
    { name: 'paper, 08:59:59: before the window', at: '2026-11-25T13:59:59Z', decision: 'allow', codes: ['tests_passed', 'market_closed'] },
    {
      name: 'paper, 09:00:00: the window begins',
      at: '2026-11-25T14:00:00Z',
      decision: 'wait',
      codes: ['tests_passed', 'market_opening'],
      message: /^NYSE regular session opens at 09:30 ET \(in 30m\); paper promotions are held from 30 minutes before the open until the close \(16:00 ET, in 7h 0m\)\. The promotion waits for the close\./,
    },
    { name: 'paper, 09:29:59', at: '2026-11-25T14:29:59Z', decision: 'wait', codes: ['tests_passed', 'market_opening'], message: /opens at 09:30 ET \(in 1s\)/ },
    { name: 'paper, 09:30:00: the session itself', at: '2026-11-25T14:30:00Z', decision: 'wait', codes: ['tests_passed', 'market_open'] },
    { name: 'paper, 16:00:00: after the close, the next open is tomorrow', at: '2026-11-25T21:00:00Z', decision: 'allow', codes: ['tests_passed', 'market_closed'] },
    {
      name: 'live, 09:10: denied, naming the open and the close',
      at: '2026-11-25T14:10:00Z',
      stage: 'live',
      decision: 'deny',
      codes: ['tests_passed', 'market_opening', 'awaiting_approval'],
      message: /^NYSE regular session opens at 09:30 ET \(in 20m\); live promotions are held from 30 minutes before the open, and refused until the close \(16:00 ET, in 6h 50m\)\. Promote again after the close/,
    },
    {
      name: 'live, 09:10 with a grant: the grant covers the window as it covers the session',
      at: '2026-11-25T14:10:00Z',
      stage: 'live',
      setup: { grants: [grant({ stage: 'live' })], approvals: [approval()] },
      decision: 'allow',
      codes: ['tests_passed', 'break_glass_applied', 'approval_applied'],
      message: /opens at 09:30 ET \(in 20m\); live promotions are held from 30 minutes before the open; break-glass grant/,
    },
    { name: 'beta has no market-hours rule: the window means nothing to it', at: '2026-11-25T14:10:00Z', stage: 'beta', decision: 'allow', codes: ['tests_passed'] },
    { name: 'paper, the Friday after Thanksgiving at 09:00 (an early-close day)', at: '2026-11-27T14:00:00Z', decision: 'wait', codes: ['tests_passed', 'market_opening'], message: /until the close \(13:00 ET, an early close, in 4h 0m\)/ },
    { name: 'paper, Thanksgiving 09:10: a holiday, no open to come', at: '2026-11-26T14:10:00Z', decision: 'allow', codes: ['tests_passed', 'market_closed'], message: /Thanksgiving/ },
    // the first Monday of daylight time: the open is 13:30 UTC, not 14:30
    { name: 'paper, 2026-03-09 12:59:59 UTC (08:59:59 EDT)', at: '2026-03-09T12:59:59Z', decision: 'allow', codes: ['tests_passed', 'market_closed'] },
    { name: 'paper, 2026-03-09 13:00:00 UTC (09:00 EDT)', at: '2026-03-09T13:00:00Z', decision: 'wait', codes: ['tests_passed', 'market_opening'], message: /opens at 09:30 ET \(in 30m\)/ },
  ];
  for (const r of rows) {
    const out = run(r.at, { stage: r.stage ?? 'paper' }, r.setup);
    t.equal(out.decision, r.decision, `${r.name}: decision`);
    t.same(out.reasons.map((x) => x.code), r.codes, `${r.name}: reasons`);
    if (r.message) t.match(out.message, r.message, `${r.name}: message`);
  }
  // the longest window (12 h) on a Sunday evening: it counts to the Monday open, not to a Sunday one
  const long = parseConfig({}, 'stages:\n  paper: { quietBeforeOpenMinutes: 720 }\n');
  const sunday = (at: string) => decide(input(), { ...state({}), policies: long.stages }, DateTime.fromISO(at, { zone: 'utc' }));
  t.same(sunday('2026-11-30T02:29:59Z').reasons.map((x) => x.code), ['tests_passed', 'market_closed'], 'Sunday 21:29:59 ET: the Monday open is 12 h 0 m 1 s away');
  t.same(sunday('2026-11-30T02:30:00Z').reasons.map((x) => x.code), ['tests_passed', 'market_opening'], 'Sunday 21:30:00 ET: exactly 12 h before it, held');
});

t.test('a quiet window that begins the evening before names the close of the session to come, early or not', async (t) => {
  const long = parseConfig({}, 'stages:\n  paper: { quietBeforeOpenMinutes: 720 }\n');
  // Wed 2026-12-23 22:00 ET, a full day over; Thu 12-24 closes early at 13:00
  const evening = decide(input(), { ...state({}), policies: long.stages }, DateTime.fromISO('2026-12-24T03:00:00Z', { zone: 'utc' }));
  t.same(evening.reasons.map((x) => x.code), ['tests_passed', 'market_opening']);
  t.match(evening.message, /until the close \(13:00 ET, an early close, in 15h 0m\)/, "Dec 24's 13:00 close is an early close");
  // Wed 2026-12-02 an extra early close at 13:00; Thu 12-03 a full day: at 22:00 ET the window holds for the Thursday
  const x = parseConfig({}, 'stages:\n  paper: { quietBeforeOpenMinutes: 720 }\nmarket:\n  extraEarlyCloses: [{ date: "2026-12-02", close: "13:00", name: "x" }]\n');
  const out = decide(input(), { ...state({}), policies: x.stages, calendar: createMarketCalendar(x.market) }, DateTime.fromISO('2026-12-03T03:00:00Z', { zone: 'utc' }));
  t.same(out.reasons.map((r) => r.code), ['tests_passed', 'market_opening']);
  t.match(out.message, /until the close \(16:00 ET, in 18h 0m\)/, "Thursday's 16:00 close, not Wednesday's early one");
});

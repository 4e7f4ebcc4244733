/**
 * decide() invariants over random states (grants/approvals of several projects, stages, tags,
 * statuses, expiries, reservations, spellings of one person), inputs and instants 09:00-19:00 ET on
 * 2026-11-25: pure (deep-frozen input and state, same answer twice), a used grant or approval is
 * live, unreserved and bound to exactly this project+stage+tag, a grant only while the market is
 * open, separation of duties holds, an allow in market hours needs a grant, on live an approval,
 * with tests required a passing result, and a replay uses nothing.
 */
import t from 'tap';
import fc from 'fast-check';
import { DateTime } from 'luxon';
import { parseConfig } from '../../src/config.ts';
import { decide, type DecisionState } from '../../src/policy/decide.ts';
import { createMarketCalendar } from '../../src/policy/market-hours.ts';
import { emptyState, promotionKey, type GrantRecord, type ApprovalRecord } from '../../src/policy/state.ts';
import { personKey } from '../../src/policy/person-key.ts';
const config = parseConfig({});
/** written here, not imported: open and strictly before its expiry */
const isLive = (r: { status: string; expiresAt: string }, now: DateTime) => r.status === 'open' && now.toMillis() < Date.parse(r.expiresAt);
const calendar = createMarketCalendar(config.market);
function deepFreeze(o: any): any { if (o && typeof o === 'object' && !Object.isFrozen(o)) { Object.freeze(o); for (const k of Object.keys(o)) deepFreeze(o[k]); } return o; }
const base = Date.parse('2026-11-25T14:00:00Z');
// whole minutes, so an instant often equals an expiry exactly (a grant is dead at its expiresAt)
const times = fc.integer({ min: 0, max: 600 }).map((m) => base + m * 60_000);
const proj = fc.constantFrom('stonks-pipeline', 'other');
const stage = fc.constantFrom('beta', 'paper', 'live');
const tag = fc.constantFrom('abc', 'def');
const person = fc.constantFrom('olivia', 'Olivia', 'ｏlivia', 'bob', 'alice');
const status = fc.constantFrom('open', 'open', 'open', 'consumed', 'revoked', 'expired');
const grantArb = fc.record({ id: fc.constantFrom('g1', 'g2', 'g3', 'g4'), project: proj, stage, imageTag: tag, tokenHash: fc.constantFrom('aa'.repeat(32), 'bb'.repeat(32), 'cc'.repeat(32)), justification: fc.constant('x'.repeat(20)), requestedBy: person, issuedAt: fc.constant('2026-11-25T13:00:00.000Z'), expiresAt: times.map((t) => new Date(t).toISOString()), status, closedAt: fc.constant(null), closedBy: fc.constant(null), consumedBy: fc.constant(null) });
const apArb = fc.record({ id: fc.constantFrom('a1', 'a2', 'a3'), project: proj, stage, imageTag: tag, notes: fc.constant('notes notes'), approvedBy: person, approvedAt: times.map((t) => new Date(t - 3600_000).toISOString()), expiresAt: times.map((t) => new Date(t).toISOString()), status: fc.constantFrom('open', 'open', 'consumed', 'expired'), closedAt: fc.constant(null), consumedBy: fc.constant(null) });
t.test('decide() invariants on random states', async (t) => {
const r = fc.check(fc.property(
  fc.array(grantArb, { maxLength: 4 }), fc.array(apArb, { maxLength: 3 }), fc.subarray(['g1', 'g2', 'a1', 'a2']), fc.boolean(),
  fc.record({ project: proj, stage: fc.constantFrom('beta', 'paper', 'live', 'ci', 'prod'), imageTag: tag, promotion: fc.constantFrom(null, 'p1', 'p2'), breakGlassTokenHash: fc.constantFrom(null, 'aa'.repeat(32), 'bb'.repeat(32), 'dd'.repeat(32)) }),
  times, fc.constantFrom('passed', 'failed', 'none'), fc.boolean(), fc.subarray(['integration', 'paper', 'live']),
  (grants, aps, reservedL, sod, input, t, tests, withPromo, disabled) => {
    const st = emptyState(config.stages);
    for (const g of grants) st.grants[g.id] = g as GrantRecord;
    for (const a of aps) st.approvals[a.id] = a as ApprovalRecord;
    if (tests !== 'none') st.testResults[input.imageTag] = { imageTag: input.imageTag, passed: tests === 'passed', exitCode: tests === 'passed' ? 0 : 1, counts: { passed: 1, failed: 0, skipped: 0, total: 1 }, recordedAt: 'x', recordedBy: 'ci', artifact: 'a' };
    for (const d of disabled) st.stages[d as 'paper'].enabled = false;
    if (withPromo) st.promotions[promotionKey('stonks-pipeline', 'paper', 'p1')] = { project: 'stonks-pipeline', stage: 'paper', imageTag: 'abc', promotion: 'p1', decisionId: 'dec_0', at: 'x' };
    const ds: DecisionState = { project: 'stonks-pipeline', policies: config.stages, state: st, reserved: new Set(reservedL), calendar, separationOfDuties: sod };
    const snapshot = JSON.stringify({ st, input, r: [...ds.reserved] });
    deepFreeze(st); deepFreeze(input);
    const now = DateTime.fromMillis(t, { zone: 'utc' });
    const out = decide(input, ds, now);
    const out2 = decide(input, ds, now);
    if (JSON.stringify(out) !== JSON.stringify(out2)) throw new Error('nondeterministic');
    if (JSON.stringify({ st, input, r: [...ds.reserved] }) !== snapshot) throw new Error('mutated');
    const target = { project: input.project, stage: input.stage, imageTag: input.imageTag };
    const g = out.grant, a = out.approval;
    if (g) {
      if (g.project !== target.project || g.stage !== target.stage || g.imageTag !== target.imageTag) throw new Error('grant wrong target');
      if (!isLive(g, now) || ds.reserved.has(g.id)) throw new Error('grant not live/reserved');
      if (!calendar.state(now).open) throw new Error('grant used while closed');
    }
    if (a) {
      if (a.project !== target.project || a.stage !== target.stage || a.imageTag !== target.imageTag) throw new Error('approval wrong target');
      if (!isLive(a, now) || ds.reserved.has(a.id)) throw new Error('approval not live/reserved');
      if (sod && g && personKey(a.approvedBy) === personKey(g.requestedBy)) throw new Error('SoD bypass');
    }
    if (out.decision === 'allow' && out.replayOf === null && !out.skip && input.project === 'stonks-pipeline') {
      const pol = (config.stages as any)[input.stage];
      if (pol?.marketHours && calendar.state(now).open && !g) throw new Error('allowed in market hours without grant');
      if (pol?.requireApproval && !a) throw new Error('allowed without approval');
      if (pol?.requireIntegrationTests && st.stages.integration.enabled && tests !== 'passed') throw new Error('allowed without tests');
    }
    if (out.replayOf !== null && (g || a)) throw new Error('replay uses grant');
    return true;
  }), { numRuns: 20_000 });
t.equal(r.failed, false, `20000 runs; ${r.failed ? `${JSON.stringify(r.counterexample)} ${r.errorInstance}` : 'no counterexample'}`);
});

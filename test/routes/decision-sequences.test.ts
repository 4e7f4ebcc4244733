/**
 * Random sequences of what operators, CI and Kargo do (grants issued and revoked, approvals,
 * test results, stage toggles, the clock moving across the session, promotions asked once, again,
 * with another tag, several at once), checked against the rules the design states:
 * - a grant or an approval is spent by at most one allow, never after its revoke or expiry;
 * - an allow in market hours on paper or live spends a grant, on live an approval, with tests
 *   required a passing result is the newest;
 * - a promotion once allowed gets the same id and skip back, whatever changed since;
 * - the state folded from the audit log equals the live state.
 */
import t from 'tap';
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { buildTestApp, decisionBody, type TestApp } from '../helpers/build-app.ts';
import { applyRecord } from '../../src/policy/apply-record.ts';
import { createMarketCalendar } from '../../src/policy/market-hours.ts';
import { emptyState, promotionKey } from '../../src/policy/state.ts';
import { DateTime } from 'luxon';

const SEED = Number(process.env['SEQ_SEED'] ?? 20261125);
const RUNS = Number(process.env['SEQ_RUNS'] ?? 100);
const JUSTIFY = 'order router drops fills; hotfix cannot wait for the close';
/** instants the clock jumps to: open, the last second of the session, the close, after hours, a holiday */
const INSTANTS = ['2026-11-25T15:00:00Z', '2026-11-25T18:00:00Z', '2026-11-25T20:59:59Z', '2026-11-25T21:00:00Z', '2026-11-25T23:00:00Z', '2026-11-26T15:00:00Z'];

type Op =
  | { k: 'grant'; who: 'operator' | 'operator2'; stage: 'paper' | 'live'; tag: string; ttl: number }
  | { k: 'revoke'; nth: number }
  | { k: 'approve'; who: 'approver' | 'approver2'; tag: string }
  | { k: 'tests'; tag: string; passed: boolean }
  | { k: 'toggle'; stage: 'paper' | 'live' | 'integration'; enabled: boolean }
  | { k: 'clock'; to: number; plusMinutes: number }
  | { k: 'decide'; asks: { stage: 'beta' | 'paper' | 'live'; tag: string; promotion: string | null }[] };

const tag = fc.constantFrom('aaa111', 'bbb222');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('grant' as const), who: fc.constantFrom('operator' as const, 'operator2' as const), stage: fc.constantFrom('paper' as const, 'live' as const), tag, ttl: fc.constantFrom(1, 30, 240) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('revoke' as const), nth: fc.nat(5) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('approve' as const), who: fc.constantFrom('approver' as const, 'approver2' as const), tag }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('tests' as const), tag, passed: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('toggle' as const), stage: fc.constantFrom('paper' as const, 'live' as const, 'integration' as const), enabled: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('clock' as const), to: fc.integer({ min: -3, max: INSTANTS.length - 1 }), plusMinutes: fc.constantFrom(1, 29, 31, 300) }) },
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('decide' as const),
      asks: fc.array(
        fc.record({ stage: fc.constantFrom('beta' as const, 'paper' as const, 'live' as const), tag, promotion: fc.constantFrom(null, 'p1', 'p2', 'p3') }),
        { minLength: 1, maxLength: 4 },
      ),
    }),
  },
);

interface Answer {
  id: string;
  decision: string;
  skip: boolean;
  replayed: boolean;
  reasons: { code: string }[];
  breakGlass: { id: string; consumed: boolean } | null;
  approval: { id: string; consumed: boolean } | null;
  at: string;
}

const calendar = createMarketCalendar();

async function run(g: TestApp, ops: Op[]): Promise<string | null> {
  const grantIds: string[] = [];
  /** first allow per promotion key: its id, tag and skip */
  const allowed = new Map<string, { id: string; imageTag: string; skip: boolean }>();
  const ok = (res: LightMyRequestResponse, what: string) => {
    if (res.statusCode >= 500) throw new Error(`${what}: ${res.statusCode} ${res.body}`);
  };
  for (const op of ops) {
    switch (op.k) {
      case 'grant': {
        const res = await g.as(op.who, { method: 'POST', url: '/v1/break-glass', payload: { project: 'stonks-pipeline', stage: op.stage, imageTag: op.tag, justification: JUSTIFY, ttlMinutes: op.ttl } });
        ok(res, 'grant');
        if (res.statusCode === 201) grantIds.push(res.json().id);
        break;
      }
      case 'revoke': {
        const id = grantIds[op.nth % Math.max(1, grantIds.length)];
        if (id) ok(await g.as('operator', { method: 'DELETE', url: `/v1/break-glass/${id}` }), 'revoke');
        break;
      }
      case 'approve':
        ok(await g.as(op.who, { method: 'POST', url: '/v1/approvals', payload: { project: 'stonks-pipeline', stage: 'live', imageTag: op.tag, notes: 'read the diff and the paper P&L' } }), 'approve');
        break;
      case 'tests':
        ok(await g.as('ci', { method: 'PUT', url: `/v1/test-results/${op.tag}`, payload: { exitCode: op.passed ? 0 : 1, passed: 3, failed: op.passed ? 0 : 1 } }), 'tests');
        break;
      case 'toggle':
        ok(await g.as('admin', { method: 'PUT', url: `/v1/stages/${op.stage}`, payload: { enabled: op.enabled, note: 'sequence test' } }), 'toggle');
        break;
      case 'clock':
        g.clock.set(op.to < 0 ? g.clock.now().plus({ minutes: op.plusMinutes }).toISO()! : INSTANTS[op.to]!);
        break;
      case 'decide': {
        // the state as every request of this step found it (they are answered concurrently)
        const before = structuredClone(g.store.read());
        const answers = await Promise.all(
          op.asks.map((a) => g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: a.stage, imageTag: a.tag, promotion: a.promotion }) })),
        );
        for (const [i, res] of answers.entries()) {
          ok(res, 'decide');
          const ask = op.asks[i]!;
          const b = res.json() as Answer;
          const key = ask.promotion === null ? null : promotionKey('stonks-pipeline', ask.stage, ask.promotion);
          const first = key === null ? undefined : allowed.get(key);
          if (first) {
            if (first.imageTag === ask.tag) {
              if (b.decision !== 'allow' || !b.replayed || b.id !== first.id || b.skip !== first.skip) return `promotion ${key} allowed as ${first.id} (skip ${first.skip}) got ${b.decision} ${b.id} skip ${b.skip}`;
              if (b.breakGlass || b.approval) return `the replay ${b.id} of ${key} used a grant or an approval`;
            } else if (b.decision !== 'deny' || b.reasons[0]?.code !== 'promotion_mismatch') {
              return `promotion ${key} allowed for ${first.imageTag} got ${b.decision} for ${ask.tag}`;
            }
            continue;
          }
          if (b.decision !== 'allow' || b.replayed) continue;
          if (key) allowed.set(key, { id: b.id, imageTag: ask.tag, skip: b.skip });
          if (b.skip) {
            if (before.stages[ask.stage].enabled) return `${b.id}: skip while ${ask.stage} was enabled`;
            continue;
          }
          const at = DateTime.fromISO(b.at);
          const open = calendar.state(at).open;
          if (ask.stage !== 'beta' && open && !b.breakGlass?.consumed) return `${b.id}: ${ask.stage} allowed in market hours without a grant`;
          if (ask.stage === 'live' && !b.approval?.consumed) return `${b.id}: live allowed without an approval`;
          if (before.stages.integration.enabled && before.testResults[ask.tag]?.passed !== true) return `${b.id}: allowed without a passing newest result for ${ask.tag}`;
        }
        for (const [i, res] of answers.entries()) {
          const ask = op.asks[i]!;
          const b = res.json() as Answer;
          const key = ask.promotion === null ? null : promotionKey('stonks-pipeline', ask.stage, ask.promotion);
          if (b.replayed && key !== null) {
            const first = allowed.get(key);
            if (!first || first.id !== b.id) return `${key}: a replay of ${b.id}, which is not the allow this promotion got`;
          }
        }
        break;
      }
    }
  }

  const records = g.audit.records();
  // each grant and approval spent by at most one allow, while open and before its expiry
  const spentBy = new Map<string, string>();
  const closed = new Map<string, string>();
  const expiresAt = new Map<string, string>();
  for (const r of records) {
    if (r.type === 'breakglass.issued') expiresAt.set(r.id, String(r.breakGlass?.['expiresAt']));
    if (r.type === 'approval.recorded') expiresAt.set(r.id, String(r.approval?.['expiresAt']));
    if (r.type === 'breakglass.revoked' || r.type === 'breakglass.expired' || r.type === 'approval.revoked' || r.type === 'approval.expired') closed.set(r.id, r.type);
    if (r.type !== 'decision') continue;
    for (const used of [r.breakGlass, r.approval]) {
      if (!used || used['consumed'] !== true) continue;
      const id = String(used['id']);
      if (r.decision !== 'allow') return `${r.id} (${r.decision}) spent ${id}`;
      if (spentBy.has(id)) return `${id} spent twice: by ${spentBy.get(id)} and ${r.id}`;
      if (closed.has(id)) return `${id} spent by ${r.id} after ${closed.get(id)}`;
      if (!(Date.parse(r.at) < Date.parse(expiresAt.get(id) ?? ''))) return `${id} spent by ${r.id} at ${r.at}, at or after its expiry ${expiresAt.get(id)}`;
      spentBy.set(id, r.id);
    }
  }
  // the state a restart rebuilds from the log is the state the gate ran on
  const rebuilt = emptyState(g.config.stages);
  for (const r of JSON.parse(JSON.stringify(records))) applyRecord(rebuilt, r);
  if (JSON.stringify(rebuilt) !== JSON.stringify(JSON.parse(JSON.stringify(g.store.read())))) return 'the state folded from the audit log differs from the live state';
  return null;
}

t.test('property: grants and approvals spent once, allows only with what the rules need, replays stable, the fold equals the live state', async (t) => {
  t.comment(`fast-check seed ${SEED}, ${RUNS} runs (SEQ_SEED / SEQ_RUNS override)`);
  await fc.assert(
    fc.asyncProperty(fc.boolean(), fc.array(opArb, { minLength: 5, maxLength: 40 }), async (sod, ops) => {
      const teardowns: (() => unknown)[] = [];
      const g = await buildTestApp({ teardown: (fn) => teardowns.push(fn) }, { now: INSTANTS[0]!, configYaml: `approvals: { separationOfDuties: ${sod} }\n` });
      try {
        // both tags start with a passing result: most sequences then reach the market and approval rules
        const prelude: Op[] = [
          { k: 'tests', tag: 'aaa111', passed: true },
          { k: 'tests', tag: 'bbb222', passed: true },
        ];
        const problem = await run(g, [...prelude, ...ops]);
        if (problem) throw new Error(problem);
      } finally {
        for (const fn of teardowns) await fn();
      }
    }),
    { seed: SEED, numRuns: RUNS },
  );
  t.pass(`${RUNS} sequences`);
});

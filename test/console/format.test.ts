import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { REPO_ROOT } from '../helpers/spawn-gate.ts';

// the viewer's zone for the "your time" helpers; set before the module makes any formatter
process.env['TZ'] = 'Asia/Tokyo';
// the browser module (plain JS, no types): loaded by URL so the typecheck leaves it alone
const f: any = await import(pathToFileURL(join(REPO_ROOT, 'src', 'console', 'format.js')).href);

t.test('formatDuration', async (t) => {
  const cases: [number, string][] = [
    [-5000, '0s'],
    [0, '0s'],
    [999, '0s'],
    [12_000, '12s'],
    [65_000, '1m 05s'],
    [3_600_000, '1h 00m 00s'],
    [(5 * 3600 + 59 * 60 + 59) * 1000, '5h 59m 59s'],
    [(2 * 86400 + 3 * 3600 + 4 * 60 + 5) * 1000, '2d 3h 04m'],
  ];
  for (const [ms, want] of cases) t.equal(f.formatDuration(ms), want, String(ms));
});

t.test('formatCountdown rounds up: the session\'s last second reads 1s, never 0s before the instant', async (t) => {
  const cases: [number, string][] = [
    [-5000, '0s'],
    [0, '0s'],
    [1, '1s'],
    [999, '1s'],
    [1000, '1s'],
    [59_001, '1m 00s'],
    [(5 * 3600 + 59 * 60 + 59) * 1000 + 1, '6h 00m 00s'],
  ];
  for (const [ms, want] of cases) t.equal(f.formatCountdown(ms), want, String(ms));
});

t.test('shortTag', async (t) => {
  const cases: [unknown, string][] = [
    ['3f2c1a9b8e7d6c5b4a39281706f5e4d3c2b1a098', '3f2c1a9'],
    ['3F2C1A9B8E7D', '3F2C1A9'],
    ['3f2c1a9', '3f2c1a9'],
    ['v1.2.3', 'v1.2.3'],
    ['release-2026-11-25-hotfix-for-paper', 'release-2026-11-25-hotf…'],
    [null, ''],
  ];
  for (const [tag, want] of cases) t.equal(f.shortTag(tag), want, String(tag));
});

t.test('times in ET and in the viewer’s zone', async (t) => {
  t.equal(f.clockTime('2026-11-25T21:00:00Z', f.ET), '16:00');
  t.equal(f.clockTime('2026-07-01T20:00:00Z', f.ET), '16:00', 'daylight saving time');
  t.equal(f.clockTime('2026-11-25T21:00:00Z', undefined, true), '06:00:00', 'viewer: Tokyo');
  t.equal(f.stamp('2026-11-25T15:00:07Z'), 'Wed, 25 Nov 2026 10:00:07 ET');
  t.equal(f.localZone(), 'Asia/Tokyo');
  t.equal(f.yourTime('2026-11-25T21:00:00Z'), 'your time (Asia/Tokyo) Thu, 26 Nov 2026 06:00', 'the local time names the zone, and the local date when it is not the ET one');
  t.equal(f.yourTime('2026-11-25T14:00:05Z', true), 'your time (Asia/Tokyo) 23:00:05', 'with seconds, on the ET date');
  t.equal(f.localRange('2026-11-25T14:30:00Z', '2026-11-25T21:00:00Z'), 'Wed, 25 Nov 2026 23:30 – Thu, 26 Nov 2026 06:00', 'a session crossing midnight names both days');
  t.equal(f.localRange('2026-11-25T01:00:00Z', '2026-11-25T03:00:00Z'), 'Wed, 25 Nov 2026 10:00–12:00');
  t.equal(f.clockTime('not a date'), '');
});

t.test('marketReasonText says why, with the holiday name', async (t) => {
  const session = { date: '2026-11-27', open: '2026-11-27T14:30:00Z', close: '2026-11-27T18:00:00Z', earlyClose: true };
  const cases: [Record<string, unknown>, string][] = [
    [{ reason: 'open', session: { ...session, close: '2026-11-25T21:00:00Z', earlyClose: false } }, 'Regular session open until 16:00 ET'],
    [{ reason: 'open', session }, 'Regular session open; early close today at 13:00 ET'],
    [{ reason: 'pre_open', session }, 'Before the opening bell (opens 09:30 ET)'],
    [{ reason: 'after_close', session: null }, 'After the close (outside regular trading hours)'],
    [{ reason: 'early_close', session, holiday: 'Day after Thanksgiving' }, 'Early close: the session ended at 13:00 ET (Day after Thanksgiving)'],
    [{ reason: 'weekend', session: null }, 'Weekend: the exchange is closed'],
    [{ reason: 'holiday', session: null, holiday: 'Thanksgiving Day' }, 'Holiday: Thanksgiving Day'],
    [{ reason: 'closure', session: null, holiday: 'National Day of Mourning' }, 'Exchange closed: National Day of Mourning'],
  ];
  for (const [m, want] of cases) t.equal(f.marketReasonText(m), want, String(m['reason']));
});

t.test('nextChange counts to the close while open, to the open while closed', async (t) => {
  const now = Date.parse('2026-11-25T15:00:00Z');
  t.same(f.nextChange({ open: true, nextClose: '2026-11-25T21:00:00Z', nextOpen: '2026-11-27T14:30:00Z' }, now), { what: 'close', at: '2026-11-25T21:00:00Z', ms: 6 * 3600_000 });
  t.same(f.nextChange({ open: false, nextClose: '2026-11-27T18:00:00Z', nextOpen: '2026-11-27T14:30:00Z' }, now), { what: 'open', at: '2026-11-27T14:30:00Z', ms: Date.parse('2026-11-27T14:30:00Z') - now });
});

t.test('marketGate: blocked / open / disabled for stages with a market policy only', async (t) => {
  const stage = (enabled: boolean, marketHours: string | null) => ({ enabled, policy: { marketHours } });
  const cases: [ReturnType<typeof stage>, boolean, string | null][] = [
    [stage(true, 'wait'), true, 'blocked'],
    [stage(true, 'deny'), true, 'blocked'],
    [stage(true, 'wait'), false, 'open'],
    [stage(false, 'wait'), true, 'disabled'],
    [stage(true, null), true, null],
  ];
  for (const [s, open, want] of cases) t.equal(f.marketGate(s, { open }), want, JSON.stringify([s, open]));
  // the gate says when its hold applies (before the open too, within quietBeforeOpenMinutes)
  t.equal(f.marketGate({ ...stage(true, 'wait'), blockedByMarket: true }, { open: false }), 'blocked', 'blocked before the open when the gate says so');
  t.equal(f.marketGate({ ...stage(true, 'wait'), blockedByMarket: false }, { open: false }), 'open');
  t.equal(f.marketGate({ ...stage(false, 'wait'), blockedByMarket: false }, { open: true }), 'disabled');
});

t.test('holdStartsAt: the next open, less the stage quietBeforeOpenMinutes', async (t) => {
  const market = { nextOpen: '2026-11-30T14:30:00Z' };
  t.equal(f.holdStartsAt({ policy: { marketHours: 'wait', quietBeforeOpenMinutes: 30 } }, market), '2026-11-30T14:00:00Z');
  t.equal(f.holdStartsAt({ policy: { marketHours: 'wait', quietBeforeOpenMinutes: 0 } }, market), '2026-11-30T14:30:00Z');
  t.equal(f.holdStartsAt({ policy: { marketHours: 'wait' } }, market), '2026-11-30T14:30:00Z', 'a gate from before the window');
});

t.test('candidateTag: waiting promotion, else the stage before, else the last decision', async (t) => {
  const stages = (deployed: Record<string, string>, last: Record<string, string> = {}) =>
    ['ci', 'integration', 'beta', 'paper', 'live'].map((name) => ({
      name,
      deployed: deployed[name] ? { imageTag: deployed[name] } : null,
      lastDecision: last[name] ? { imageTag: last[name] } : null,
    }));
  const cases: [string, Record<string, unknown>, string][] = [
    ['paper', { stages: stages({ beta: 'b1' }), waiting: [{ stage: 'paper', imageTag: 'w1' }, { stage: 'paper', imageTag: 'w2' }] }, 'w2'],
    ['live', { stages: stages({ paper: 'p1' }), waiting: [{ stage: 'paper', imageTag: 'w1' }] }, 'p1'],
    ['live', { stages: stages({}, { live: 'l0' }), waiting: [] }, 'l0'],
    ['ci', { stages: stages({}), waiting: [] }, ''],
  ];
  for (const [stage, status, want] of cases) t.equal(f.candidateTag(status, stage), want, `${stage} -> ${want}`);
});

t.test('recordFields: every field, the known ones first; displayValue', async (t) => {
  const rec = { hash: 'h', seq: 3, zeta: 1, at: 'x', actor: { name: 'a' }, type: 'decision', prev: 'p', breakGlass: null };
  t.same(
    f.recordFields(rec).map(([k]: [string]) => k),
    ['seq', 'at', 'type', 'actor', 'breakGlass', 'prev', 'hash', 'zeta'],
  );
  t.same(f.recordFields(rec)[3], ['actor', '{"name":"a"}']);
  t.equal(f.displayValue(null), '—');
  t.equal(f.displayValue(false), 'false');
  t.equal(f.displayValue('<b>'), '<b>', 'text stays text (it is rendered with textContent)');
});

t.test('TAG_PATTERN matches the API’s OCI tag rule', async (t) => {
  for (const ok of ['abc', '3f2c1a9b8e7d6c5b4a39281706f5e4d3c2b1a098', '_x', 'v1.2-rc_1']) t.ok(f.TAG_PATTERN.test(ok), ok);
  for (const bad of ['', '-x', '.x', 'a b', 'a/b', 'x'.repeat(129)]) t.notOk(f.TAG_PATTERN.test(bad), bad);
});

t.test('toggleEffect: what switching a stage does, from the stages’ policies', async (t) => {
  const stages = [
    { name: 'ci', enabled: true, policy: {} },
    { name: 'integration', enabled: true, policy: {} },
    { name: 'beta', enabled: true, policy: { requireIntegrationTests: true } },
    { name: 'paper', enabled: true, policy: { requireIntegrationTests: true, marketHours: 'wait' } },
    { name: 'live', enabled: true, policy: { requireIntegrationTests: true, marketHours: 'deny', requireApproval: true } },
  ];
  t.match(f.toggleEffect('integration', false, stages), /drops the test requirement of beta, paper and live/);
  t.match(f.toggleEffect('paper', false, stages), /paper promotions go through while the market is open, with no break-glass/);
  t.match(f.toggleEffect('live', false, stages), /live promotions need no approval/);
  t.match(f.toggleEffect('ci', false, stages), /CI pipeline skips lint-test/);
  t.match(f.toggleEffect('beta', false, [...stages.slice(0, 3), { ...stages[3], enabled: false }, stages[4]]), /flows on to live/, 'the next enabled stage');
  t.match(f.toggleEffect('paper', true, stages), /checks them again\. They need a passing integration-test result and the market-hours hold \(wait\) again\./);
  // with the integration stage off no stage needs a test result (decide.ts), and a stage that is off passes everything
  const noIntegration = stages.map((s) => (s.name === 'integration' ? { ...s, enabled: false } : s));
  t.match(f.toggleEffect('paper', true, noIntegration), /They need the market-hours hold \(wait\) again\.$/, 'no test result while integration is off');
  t.notMatch(f.toggleEffect('live', false, noIntegration), /integration-test result/);
  const paperOff = stages.map((s) => (s.name === 'paper' ? { ...s, enabled: false } : s));
  t.match(f.toggleEffect('integration', true, paperOff), /beta and live need a passing test result again/, 'a stage that is off is not named');
  t.match(f.toggleEffect('integration', false, paperOff), /drops the test requirement of beta and live/);
});

t.test('localTime: the viewer’s time, with the local date when it is not the ET date (viewer in Tokyo)', async (t) => {
  t.equal(f.localTime('2026-11-25T21:00:00Z'), 'Thu, 26 Nov 2026 06:00', 'Wed 16:00 ET is Thu 06:00 in Tokyo');
  t.equal(f.localTime('2026-11-27T18:00:00Z', true), 'Sat, 28 Nov 2026 03:00:00', 'an early close on Fri ET is Sat in Tokyo');
  t.equal(f.localTime('2026-11-25T14:30:00Z'), '23:30', 'the same date: the time alone');
});

t.test('laterStamp: the time alone on the same ET day, the date too on another', async (t) => {
  t.equal(f.laterStamp('2026-11-25T21:30:00Z', '2026-11-25T17:30:00Z'), '16:30:00 ET', 'same ET day');
  // issued 21:30 ET, valid 4 h: it expires at 01:30 ET the next day
  t.equal(f.laterStamp('2026-11-26T06:30:00Z', '2026-11-26T02:30:00Z'), 'Thu, 26 Nov 2026 01:30:00 ET', 'past midnight ET: dated');
  t.equal(f.laterStamp('2026-11-26T04:59:59Z', '2026-11-26T02:30:00Z'), '23:59:59 ET', 'the same ET day although the UTC day differs');
  t.equal(f.laterStamp(null, '2026-11-26T02:30:00Z'), '');
});

// A decision is not evaluated across a change still on its way to the audit log that decisions
// read (a stage toggle, a test result): it would read the state before the change and be
// recorded, and answered, after it. And a request waiting behind another (a change, or an earlier
// request for the same promotion) gets 503 at once when the log stops being writable, instead of
// an answer that never comes.
import t from 'tap';
import type { AuditEntry } from '../../src/audit/event.ts';
import { type AuditLog, AuditUnavailableError } from '../../src/audit/log.ts';
import { createMemoryAuditLog } from '../../src/audit/memory-log.ts';
import { buildTestApp, decisionBody } from '../helpers/build-app.ts';
import { heldAuditLog } from '../helpers/slow-audit-log.ts';

const OPEN = '2026-11-25T15:00:00Z'; // Wednesday 10:00 ET

/**
 * The in-memory log with appends that take their records (and their place) at once but are
 * acknowledged only when the test says, as the file log's group commit does while its fsync is
 * under way; and a writable() the test sets.
 */
function heldLog() {
  const inner = createMemoryAuditLog();
  let hold: Promise<boolean> | null = null;
  let release = (_fail: boolean) => {};
  let writable = true;
  const audit: AuditLog = {
    ...inner,
    async append(entries: readonly AuditEntry[]) {
      // as the file log: refused at once while not writable
      if (!writable) throw new AuditUnavailableError('audit log is not writable');
      const waitFor = hold;
      const records = await inner.append(entries);
      // released as failed: the write did not become durable (the records stay in the inner
      // log, which the tests read only for what was recorded before)
      if (waitFor && (await waitFor)) throw new AuditUnavailableError('audit log write failed (EIO)');
      return records;
    },
    writable: () => writable && inner.writable(),
  };
  return {
    audit,
    inner,
    holdAppends() {
      hold = new Promise((r) => (release = r));
    },
    releaseAppends(fail = false) {
      hold = null;
      release(fail);
    },
    setWritable(w: boolean) {
      writable = w;
    },
  };
}

/** Until the log holds `n` records (the last one's acknowledgement held). */
const inFlight = async (log: ReturnType<typeof heldLog>, n: number) => {
  for (let i = 0; log.inner.records().length < n; i++) {
    if (i > 500) throw new Error(`the log never held ${n} records`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** Whether the promise has settled after `ms`. */
const settledWithin = async (p: Promise<unknown>, ms: number) => {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setTimeout(r, ms));
  return done;
};

t.test('a decision asked while a stage is being re-enabled is decided with the stage enabled, after it', async (t) => {
  const log = heldLog();
  const g = await buildTestApp(t, { now: OPEN, deps: { audit: log.audit } });
  const put = (enabled: boolean, note: string) => g.as('admin', { method: 'PUT', url: '/v1/stages/live', payload: { enabled, note } });
  t.equal((await put(false, 'maintenance')).statusCode, 200);
  log.holdAppends();
  const enabling = put(true, 'maintenance over');
  await inFlight(log, 2); // the toggle's record is in the log, its acknowledgement held
  const deciding = g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'live', imageTag: 'untested1' }) });
  t.notOk(await settledWithin(deciding, 100), 'the decision waits for the toggle');
  log.releaseAppends();
  const [toggled, decided] = await Promise.all([enabling, deciding]);
  t.equal(toggled.statusCode, 200);
  const d = decided.json();
  t.not(d.skip, true, 'not skipped as a disabled stage');
  t.equal(d.decision, 'deny', `denied: market open (${d.message})`);
  const recs = log.inner.records().map((r) => `${r.type}:${r.type === 'decision' ? r.decision : (r.data as { enabled?: boolean })?.enabled}`);
  t.same(recs, ['stage.toggled:false', 'stage.toggled:true', 'decision:deny'], 'the log reads as the answers came');
});

t.test('a decision asked while a failed test result is being recorded is decided with it', async (t) => {
  const log = heldLog();
  const CLOSED = '2026-11-25T22:00:00Z';
  const g = await buildTestApp(t, { now: CLOSED, deps: { audit: log.audit } });
  t.equal((await g.as('ci', { method: 'PUT', url: '/v1/test-results/t1', payload: { exitCode: 0, passed: 5, failed: 0 } })).statusCode, 200);
  log.holdAppends();
  const failing = g.as('ci', { method: 'PUT', url: '/v1/test-results/t1', payload: { exitCode: 1, passed: 4, failed: 1 } });
  await inFlight(log, 2); // after its artifact is written, the result's record is in the log, held
  const deciding = g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'beta', imageTag: 't1' }) });
  t.notOk(await settledWithin(deciding, 100), 'the decision waits for the result');
  log.releaseAppends();
  const [stored, decided] = await Promise.all([failing, deciding]);
  t.equal(stored.json().passed, false);
  t.equal(decided.json().decision, 'deny', decided.json().message);
  t.same(
    log.inner.records().map((r) => r.type),
    ['testresult.recorded', 'testresult.recorded', 'decision'],
  );
});

t.test('a decision waiting behind a change gets 503 at once when the log stops being writable, and decides nothing', async (t) => {
  const log = heldLog();
  const g = await buildTestApp(t, { now: OPEN, deps: { audit: log.audit } });
  log.holdAppends();
  const toggling = g.as('admin', { method: 'PUT', url: '/v1/stages/live', payload: { enabled: false, note: 'maintenance' } });
  await inFlight(log, 1);
  const deciding = g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'live', imageTag: 'x1' }) });
  t.notOk(await settledWithin(deciding, 60), 'waiting');
  log.setWritable(false); // the toggle's fsync has not returned for the stall time
  const started = Date.now();
  const refused = await deciding;
  t.equal(refused.statusCode, 503, refused.body);
  t.equal(refused.json().error, 'audit_unavailable');
  t.ok(Date.now() - started < 1000, `answered at once (${Date.now() - started} ms)`);
  log.setWritable(true);
  log.releaseAppends();
  t.equal((await toggling).statusCode, 200);
  await new Promise((r) => setTimeout(r, 100));
  t.same(log.inner.records().map((r) => r.type), ['stage.toggled'], 'the refused decision recorded nothing, then or later');
});

t.test("a retry of a promotion whose first request is stalled gets 503 at once, and decides nothing later", async (t) => {
  const log = heldLog();
  const g = await buildTestApp(t, { now: OPEN, configYaml: 'stages: { beta: { requireIntegrationTests: false } }\n', deps: { audit: log.audit } });
  const ask = () => g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'beta', imageTag: 'r1', promotion: 'p-1' }) });
  log.holdAppends();
  const first = ask();
  await inFlight(log, 1);
  const queued = ask(); // asked while the log still looked writable: waits its turn
  t.notOk(await settledWithin(queued, 60), 'the retry waits behind the first');
  log.setWritable(false);
  const t0 = Date.now();
  t.equal((await queued).statusCode, 503, 'the waiting retry: 503 once the log is not writable');
  const late = await ask();
  t.equal(late.statusCode, 503, 'a retry after that: 503 at once');
  t.ok(Date.now() - t0 < 1000, `both within a second (${Date.now() - t0} ms)`);
  log.setWritable(true);
  log.releaseAppends();
  const answered = await first;
  t.equal(answered.statusCode, 200, 'the first is answered once its append returns');
  t.equal(answered.json().decision, 'allow');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(log.inner.records().filter((r) => r.type === 'decision').length, 1, 'only the first decided');
  const again = (await ask()).json();
  t.equal(again.id, answered.json().id, 'a later retry is a replay of the first');
});

t.test('a retry waiting behind a request whose append fails decides for itself', async (t) => {
  const log = heldLog();
  const g = await buildTestApp(t, { now: OPEN, configYaml: 'stages: { beta: { requireIntegrationTests: false } }\n', deps: { audit: log.audit } });
  const ask = () => g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'beta', imageTag: 'f1', promotion: 'p-f' }) });
  log.holdAppends();
  const first = ask();
  await inFlight(log, 1);
  const queued = ask();
  t.notOk(await settledWithin(queued, 60), 'the retry waits behind the first');
  log.releaseAppends(true);
  t.equal((await first).statusCode, 503, 'the first: its write failed');
  const retried = await queued;
  t.equal(retried.statusCode, 200, `the retry decided for itself: ${retried.body}`);
  t.equal(retried.json().decision, 'allow');
});

t.test('changes that keep overlapping do not hold a waiting decision back: a change asked while a decision waits goes after it', async (t) => {
  // each append is acknowledged only when the test says, one by one (each its own fsync)
  const { audit, inner, ack, recorded } = heldAuditLog();
  const g = await buildTestApp(t, { now: OPEN, deps: { audit } });
  const first = g.as('admin', { method: 'PUT', url: '/v1/stages/paper', payload: { enabled: false, note: 'change 1' } });
  await recorded(1); // its acknowledgement held
  const deciding = g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'paper', imageTag: 'k1' }) });
  t.notOk(await settledWithin(deciding, 60), 'the decision waits for the change in flight');
  // a test result (toggles go one at a time anyway; the results of many CI jobs overlap)
  const second = g.as('ci', { method: 'PUT', url: '/v1/test-results/t2', payload: { exitCode: 0, passed: 1, failed: 0 } });
  await new Promise((r) => setTimeout(r, 20)); // its artifact is written: it waits for its turn
  g.clock.set('2026-11-25T15:00:05Z'); // time passes while the first change's fsync is under way
  t.notOk(await settledWithin(second, 60), 'a change asked while the decision waits waits too');
  t.equal(inner.records().length, 1, 'and is not recorded yet');
  ack(); // the first change is durable
  await recorded(2);
  t.same(inner.records().slice(0, 2).map((r) => r.type), ['stage.toggled', 'decision'], 'the waiting decision goes next, before the second change');
  await recorded(3); // the second change once the decision's append is queued
  ack();
  const decided = await deciding;
  t.equal(decided.statusCode, 200);
  t.equal(decided.json().skip, true, 'decided with the stage as the first change left it (off)');
  ack();
  t.equal((await first).statusCode, 200);
  t.equal((await second).statusCode, 200);
  t.same(inner.records().map((r) => r.type), ['stage.toggled', 'decision', 'testresult.recorded'], 'the log reads as the answers came');
  t.same(inner.records().map((r) => r.at), ['2026-11-25T15:00:00.000Z', '2026-11-25T15:00:05.000Z', '2026-11-25T15:00:05.000Z'], "the result is stamped at its turn, not before the decision's time");
  t.equal((await second).json().recordedAt, '2026-11-25T15:00:05.000Z', 'and answered with that time');
});

t.test('a stage toggle asked while a decision waits is stamped at its turn, not before the decision\'s time', async (t) => {
  const { audit, inner, ack, recorded } = heldAuditLog();
  const g = await buildTestApp(t, { now: OPEN, deps: { audit } });
  const result = g.as('ci', { method: 'PUT', url: '/v1/test-results/t3', payload: { exitCode: 0, passed: 1, failed: 0 } });
  await recorded(1);
  const deciding = g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'paper', imageTag: 't3' }) });
  t.notOk(await settledWithin(deciding, 60), 'the decision waits for the result');
  const toggling = g.as('admin', { method: 'PUT', url: '/v1/stages/beta', payload: { enabled: false, note: 'later' } });
  t.notOk(await settledWithin(toggling, 60), 'the toggle waits for the decision');
  g.clock.set('2026-11-25T15:00:07Z');
  ack();
  await recorded(3);
  ack();
  ack();
  t.equal((await result).statusCode, 200);
  t.equal((await deciding).statusCode, 200);
  const toggled = await toggling;
  t.equal(toggled.statusCode, 200);
  t.same(inner.records().map((r) => [r.type, r.at]), [
    ['testresult.recorded', '2026-11-25T15:00:00.000Z'],
    ['decision', '2026-11-25T15:00:07.000Z'],
    ['stage.toggled', '2026-11-25T15:00:07.000Z'],
  ], 'the log\'s times run forward');
  t.equal(toggled.json().changedAt, '2026-11-25T15:00:07.000Z');
});

import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import t from 'tap';
import type { Test } from 'tap';
import { createMemoryAuditLog } from '../../src/audit/memory-log.ts';
import type { AuditLog } from '../../src/audit/log.ts';
import { createLogger } from '../../src/logger.ts';
import { TOKEN_IN_TEXT } from '../../src/routes/common-schemas.ts';
import { newBreakGlassToken } from '../../src/routes/grants.ts';
import { ARTIFACT_RESERVE_BYTES, UPLOADS_WAITING } from '../../src/routes/test-results.ts';
import { buildTestApp, decisionBody } from '../helpers/build-app.ts';
import { eventually } from '../helpers/eventually.ts';

const CLOSED = '2026-11-25T22:00:00Z';

t.test('PUT stores the file verbatim plus a summary; GET always answers 200 JSON', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  const missing = await g.app.inject({ url: '/v1/test-results/abc123' });
  t.equal(missing.statusCode, 200);
  t.same(missing.json(), { imageTag: 'abc123', found: false, passed: null, exitCode: null, counts: null, recordedAt: null, required: true });
  await g.as('admin', { method: 'PUT', url: '/v1/stages/integration', payload: { enabled: false, note: 'sandbox down' } });
  t.equal((await g.app.inject({ url: '/v1/test-results/abc123' })).json().required, false, 'not required while the integration stage is off');
  await g.as('admin', { method: 'PUT', url: '/v1/stages/integration', payload: { enabled: true, note: 'sandbox back' } });

  const raw = '{\n  "exitCode": 1,\n  "tests": {"passed": 118, "failed": 2},\n  "suites": [{"name": "orders", "failures": ["fills"]}]\n}\n';
  const put = await g.as('ci', { method: 'PUT', url: '/v1/test-results/abc123', headers: { 'content-type': 'application/json' }, payload: raw });
  t.equal(put.statusCode, 200);
  t.match(put.json(), { found: true, passed: false, exitCode: 1, counts: { passed: 118, failed: 2, skipped: null, total: null } });
  t.equal(await readFile(join(g.dataDir, 'artifacts', 'inttest', 'abc123.json'), 'utf8'), raw, 'stored byte for byte');

  const denied = (await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'beta' }) })).json();
  t.equal(denied.decision, 'deny');
  t.equal(denied.reasons[0].code, 'tests_failed');
  t.match(denied.message, /exit code 1, 2 failed, 118 passed/);

  const fixed = { exitCode: 0, passed: 120, failed: 0, skipped: 3, total: 123 };
  const again = await g.as('ci', { method: 'PUT', url: '/v1/test-results/abc123', payload: fixed });
  t.equal(again.json().passed, true);
  t.same(again.json().counts, { passed: 120, failed: 0, skipped: 3, total: 123 });
  const files = (await readdir(join(g.dataDir, 'artifacts', 'inttest'))).sort();
  t.same(files, ['abc123.json', 'abc123~2.json'], 'the earlier artifact is kept');
  t.equal(await readFile(join(g.dataDir, 'artifacts', 'inttest', 'abc123.json'), 'utf8'), raw, 'untouched');
  const got = (await g.app.inject({ url: '/v1/test-results/abc123' })).json();
  t.match(got, { imageTag: 'abc123', found: true, passed: true, exitCode: 0, artifact: 'artifacts/inttest/abc123~2.json' });
  t.equal((await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'beta' }) })).json().decision, 'allow');

  const rec = g.audit.records().filter((r) => r.type === 'testresult.recorded');
  t.equal(rec.length, 2);
  t.match(rec[0]?.data, { bytes: Buffer.byteLength(raw), sha256: /^[0-9a-f]{64}$/ });
  t.equal(rec[0]?.actor.name, 'ci');
});

t.test('a broken run reported with an error: failed, and the error is in the deny message', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  const r = (await g.as('ci', { method: 'PUT', url: '/v1/test-results/t9', payload: { exitCode: 1, error: 'no usable results file: inttest-results.json: file not found' } })).json();
  t.match(r, { passed: false, exitCode: 1, error: 'no usable results file: inttest-results.json: file not found' });
  const d = (await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'beta', imageTag: 't9' }) })).json();
  t.equal(d.decision, 'deny');
  t.match(d.message, /exit code 1, no counts reported: no usable results file: inttest-results.json: file not found/);
  const odd = (await g.as('ci', { method: 'PUT', url: '/v1/test-results/t10', payload: { exitCode: 0, error: 'harness crashed after the suite' } })).json();
  t.equal(odd.passed, false, 'an error makes the run failed even with exit code 0');
});

t.test('exit code 0 with failed tests counts as failed; counts at the top level win', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  const r = (await g.as('ci', { method: 'PUT', url: '/v1/test-results/t1', payload: { exitCode: 0, failed: 1, tests: { failed: 0 } } })).json();
  t.equal(r.passed, false);
  t.equal(r.counts.failed, 1);
});

t.test('exit code 0 with no test passed (none ran, every one skipped) counts as failed; counts that are absent leave it to the exit code', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  const cases: [string, Record<string, unknown>, boolean][] = [
    ['none found', { exitCode: 0, passed: 0, failed: 0, total: 0 }, false],
    ['every one skipped', { exitCode: 0, tests: { passed: 0, failed: 0, skipped: 12, total: 12 } }, false],
    ['total 0 only', { exitCode: 0, total: 0 }, false],
    ['passed 0 only', { exitCode: 0, passed: 0 }, false],
    ['no counts at all', { exitCode: 0 }, true],
    ['one passed', { exitCode: 0, passed: 1, skipped: 40, total: 41 }, true],
    ['a total without passes named', { exitCode: 0, total: 7 }, true],
    ['every one skipped, passes not named', { exitCode: 0, total: 12, skipped: 12 }, false],
    ['every one skipped, under tests, passes not named', { exitCode: 0, tests: { total: 12, skipped: 12, failed: 0 } }, false],
    ['some skipped, passes not named', { exitCode: 0, total: 12, skipped: 11 }, true],
  ];
  for (const [i, [name, body, passed]] of cases.entries()) {
    const r = (await g.as('ci', { method: 'PUT', url: `/v1/test-results/z${i}`, payload: body })).json();
    t.equal(r.passed, passed, `${name}: passed ${passed}`);
  }
  const d = (await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'beta', imageTag: 'z1' }) })).json();
  t.equal(d.decision, 'deny');
  t.match(d.message, /Integration tests failed for z1: exit code 0, 0 failed, 0 passed, 12 skipped, 12 total; no test passed, which proves nothing \(recorded /);
});

t.test('bad results are refused with the field named; nothing stored', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  const cases: [unknown, string][] = [
    [{ passed: 3 }, 'body.exitCode'],
    [{ exitCode: '0' }, 'body.exitCode'],
    [{ exitCode: 0.5 }, 'body.exitCode'],
    [{ exitCode: 0, passed: -1 }, 'body.passed'],
    [{ exitCode: 0, failed: 1.5 }, 'body.failed'],
    [{ exitCode: 0, tests: { passed: 'many' } }, 'body.tests.passed'],
    [{ exitCode: 0, tests: [] }, 'body.tests'],
    [[1, 2], 'body'],
  ];
  for (const [payload, field] of cases) {
    const r = await g.as('ci', { method: 'PUT', url: '/v1/test-results/t2', payload: JSON.stringify(payload), headers: { 'content-type': 'application/json' } });
    t.equal(r.statusCode, 400, JSON.stringify(payload));
    t.equal(r.json().field, field, `${JSON.stringify(payload)} names ${field}`);
  }
  const bad = await g.as('ci', { method: 'PUT', url: '/v1/test-results/t2', payload: '{"exitCode": 0,', headers: { 'content-type': 'application/json' } });
  t.equal(bad.statusCode, 400);
  t.equal(bad.json().error, 'invalid_json');
  // bytes that are not UTF-8 would be summarised as U+FFFD and stored as they came
  for (const bytes of [[0xff, 0xc0, 0xa2], [0xed, 0xa0, 0x80] /* an encoded surrogate */, [0xe2, 0x82] /* cut short */]) {
    const payload = Buffer.concat([Buffer.from('{"exitCode":0,"passed":3,"note":"'), Buffer.from(bytes), Buffer.from('"}')]);
    const notUtf8 = await g.as('ci', { method: 'PUT', url: '/v1/test-results/t2', payload, headers: { 'content-type': 'application/json' } });
    t.equal(notUtf8.statusCode, 400, `${Buffer.from(bytes).toString('hex')}: 400`);
    t.match(notUtf8.json(), { error: 'invalid_json', field: 'body', message: 'body: not valid UTF-8' });
  }
  const bom = await g.as('ci', { method: 'PUT', url: '/v1/test-results/t9', payload: '\ufeff{"exitCode":0,"passed":1,"note":"é 🚀"}', headers: { 'content-type': 'application/json' } });
  t.equal(bom.statusCode, 200, `valid UTF-8 with a byte order mark is taken: ${bom.body}`);
  const huge = await g.as('ci', { method: 'PUT', url: '/v1/test-results/t2', payload: { exitCode: 0, log: 'x'.repeat(1024 * 1024) } });
  t.equal(huge.statusCode, 413);
  const big = await g.as('ci', { method: 'PUT', url: '/v1/test-results/t3', payload: { exitCode: 0, log: 'x'.repeat(200 * 1024) } });
  t.equal(big.statusCode, 200, 'up to 1 MiB is accepted (more than the 64 KiB elsewhere)');
  t.equal((await g.as('ci', { method: 'PUT', url: '/v1/test-results/-bad', payload: { exitCode: 0 } })).statusCode, 400);
  const dots = await g.as('ci', { method: 'PUT', url: '/v1/test-results/..', payload: { exitCode: 0 } });
  t.ok(dots.statusCode >= 400 && dots.statusCode < 500, `".." is refused (${dots.statusCode})`);
  t.equal((await g.app.inject({ url: '/v1/test-results/a%2Fb' })).statusCode, 400);
  t.equal((await g.as('caller', { method: 'PUT', url: '/v1/test-results/t2', payload: { exitCode: 0 } })).statusCode, 403);
  t.equal((await g.as(null, { method: 'PUT', url: '/v1/test-results/t2', payload: { exitCode: 0 } })).statusCode, 401);
  t.equal((await g.as('ci', { method: 'PUT', url: '/v1/test-results/t2?token=x', payload: { exitCode: 0 } })).statusCode, 400);
  const dir = await readdir(join(g.dataDir, 'artifacts', 'inttest')).catch(() => []);
  t.same(dir.sort(), ['t3.json', 't9.json'], 'only the accepted files are stored');
  t.equal((await g.app.inject({ url: '/v1/test-results/t2' })).json().found, false);
});

t.test('the newest 1,000 summaries are kept', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  for (let i = 0; i < 1003; i++) {
    g.clock.set(new Date(Date.parse(CLOSED) + i * 1000).toISOString());
    await g.as('ci', { method: 'PUT', url: `/v1/test-results/tag${i}`, payload: { exitCode: 0 } });
  }
  const kept = Object.keys(g.store.read().testResults);
  t.equal(kept.length, 1000);
  t.notOk(kept.includes('tag0'));
  t.ok(kept.includes('tag1002'));
  t.equal((await g.app.inject({ url: '/v1/test-results/tag1' })).json().found, false, 'dropped from the summaries');
  t.equal((await readdir(join(g.dataDir, 'artifacts', 'inttest'))).length, 1003, 'artifacts stay on disk');

  // a rollback to tag1: its result was dropped, so it waits, and the message says what to do
  const waiting = (await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'beta', imageTag: 'tag1', promotion: 'rollback-1' }) })).json();
  t.match(waiting, { decision: 'wait', reasons: [{ code: 'tests_pending' }] });
  t.match(waiting.message, /keeps the newest 1,000 results: if tag1's was recorded before them \(a rollback to an old release\), send its stored result again/);
  // the README's remedy: the stored file sent again (an admin may, as CI may)
  const stored = await readFile(join(g.dataDir, 'artifacts', 'inttest', 'tag1.json'));
  const again = await g.as('admin', { method: 'PUT', url: '/v1/test-results/tag1', payload: stored, headers: { 'content-type': 'application/json' } });
  t.equal(again.statusCode, 200, 'sent again: recorded anew');
  t.match((await g.app.inject({ url: '/v1/test-results/tag1' })).json(), { found: true, passed: true, artifact: 'artifacts/inttest/tag1~2.json' });
  const allowed = (await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'beta', imageTag: 'tag1', promotion: 'rollback-1' }) })).json();
  t.match(allowed, { decision: 'allow', reasons: [{ code: 'tests_passed' }] }, 'the rollback goes on');
});

t.test('a nearly full data volume: results are refused 507 and nothing is stored, so uploads never fill the audit log\'s volume', async (t) => {
  let free = ARTIFACT_RESERVE_BYTES + 4096;
  const g = await buildTestApp(t, { now: CLOSED, deps: { freeBytes: async () => free } });
  const put = (tag: string) => g.as('ci', { method: 'PUT', url: `/v1/test-results/${tag}`, payload: { exitCode: 0 } });
  t.equal((await put('fits')).statusCode, 200, 'room left above the reserve: stored');
  free = ARTIFACT_RESERVE_BYTES + 10;
  const full = await put('too-big');
  t.match({ status: full.statusCode, body: full.json() }, { status: 507, body: { error: 'insufficient_storage', message: /test results are refused below 256 MiB/ } });
  t.same(await readdir(join(g.dataDir, 'artifacts', 'inttest')), ['fits.json'], 'no artifact written');
  t.same(g.audit.records().filter((r) => r.type === 'testresult.recorded').map((r) => r.imageTag), ['fits'], 'nothing recorded');
  // a refused upload is a refusal like a 413: the CI run's result was not taken, and who sent it is on record
  t.match(
    g.audit.records().filter((r) => r.type === 'refusal'),
    [{ actor: { name: 'ci' }, data: { status: 507, error: 'insufficient_storage' } }],
    'the refusal is audited',
  );
  t.match((await g.app.inject({ method: 'GET', url: '/metrics' })).body, /gate_refusals_total\{status="507",error="insufficient_storage"\} 1/, 'and counted');
  free = ARTIFACT_RESERVE_BYTES * 4;
  t.equal((await put('later')).statusCode, 200, 'stored again once there is room');
});

t.test('a 507 for a nearly full volume is logged as a warning and a refusal, not as a failed request (error level, with a stack)', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk, _enc, cb) => void (lines.push(String(chunk)), cb()) });
  const g = await buildTestApp(t, { now: CLOSED, deps: { freeBytes: async () => ARTIFACT_RESERVE_BYTES, logger: createLogger('info', sink) } });
  t.equal((await g.as('ci', { method: 'PUT', url: '/v1/test-results/full', payload: { exitCode: 0 } })).statusCode, 507);
  const logged = lines.map((l) => JSON.parse(l) as { level: number | string; msg: string });
  t.ok(logged.some((l) => /nearly full/.test(l.msg)), 'the warning');
  t.ok(logged.some((l) => l.msg === 'request refused'), 'logged as a refusal');
  t.same(logged.filter((l) => l.msg === 'request failed'), [], 'not as a failure');
});

t.test('an artifact the data volume will not store is a retryable 503 (not a 500): nothing recorded, and the cause logged', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk, _enc, cb) => void (lines.push(String(chunk)), cb()) });
  const g = await buildTestApp(t, { now: CLOSED, deps: { logger: createLogger('info', sink) } });
  // artifacts/ is a file: making artifacts/inttest fails as a volume gone wrong would (ENOTDIR)
  await writeFile(join(g.dataDir, 'artifacts'), 'in the way');
  const put = await g.as('ci', { method: 'PUT', url: '/v1/test-results/abc123', payload: { exitCode: 0 } });
  t.match({ status: put.statusCode, body: put.json() }, { status: 503, body: { error: 'storage_unavailable', retryable: true, message: /could not be stored on the data volume, so nothing was recorded\. Retry later\./ } });
  t.same(g.audit.records().filter((r) => r.type === 'testresult.recorded'), [], 'nothing recorded');
  t.equal((await g.app.inject({ url: '/v1/test-results/abc123' })).json().found, false, 'no result');
  const failed = lines.map((l) => JSON.parse(l) as { msg: string; err?: { message?: string } }).filter((l) => l.msg === 'request failed');
  t.match(failed, [{ err: { message: /could not be stored on the data volume.*: ENOTDIR: not a directory, mkdir / } }], 'logged as a failed request, naming the file system\'s error');
  await rm(join(g.dataDir, 'artifacts'));
  t.equal((await g.as('ci', { method: 'PUT', url: '/v1/test-results/abc123', payload: { exitCode: 0 } })).statusCode, 200, 'stored once the volume takes it');
});

t.test('uploads of one tag at the same time: the result the gate holds is the one in the highest-numbered file (the one the README says to send again)', async (t) => {
  // the failing run's record takes a while (a busy audit log): the passing run, sent just after
  // it, must not be numbered after it and recorded before it
  const memory = createMemoryAuditLog();
  const slowFailures: AuditLog = {
    ...memory,
    append: async (entries) => {
      if (entries.some((e) => e.type === 'testresult.recorded' && (e.data?.['summary'] as { exitCode?: number } | undefined)?.exitCode === 1)) {
        await new Promise((r) => setTimeout(r, 50));
      }
      return memory.append(entries);
    },
  };
  const g = await buildTestApp(t, { now: CLOSED, deps: { audit: slowFailures } });
  const tags = Array.from({ length: 5 }, (_, i) => `race${i}`);
  for (const tag of tags) {
    const sent = await Promise.all([
      g.as('ci', { method: 'PUT', url: `/v1/test-results/${tag}`, payload: { exitCode: 1, failed: 1 } }),
      g.as('admin', { method: 'PUT', url: `/v1/test-results/${tag}`, payload: { exitCode: 0, passed: 1 } }),
    ]);
    t.same(sent.map((r) => r.statusCode), [200, 200], `${tag}: both taken`);
  }
  const files = await readdir(join(g.dataDir, 'artifacts', 'inttest'));
  const wrong: string[] = [];
  for (const tag of tags) {
    const highest = files.includes(`${tag}~2.json`) ? `${tag}~2.json` : `${tag}.json`;
    const stored = JSON.parse(await readFile(join(g.dataDir, 'artifacts', 'inttest', highest), 'utf8')) as { exitCode: number };
    const held = (await g.app.inject({ url: `/v1/test-results/${tag}` })).json() as { exitCode: number; artifact: string };
    if (held.exitCode !== stored.exitCode || held.artifact !== `artifacts/inttest/${highest}`) wrong.push(`${tag}: holds ${held.artifact} (exit ${held.exitCode}), highest ${highest} (exit ${stored.exitCode})`);
  }
  t.same(wrong, [], 'every tag: the result held is the highest file\'s');
});

t.test('uploads wait in a short line: past UPLOADS_WAITING behind the one being stored, 503 uploads_saturated with retry-after, not queued', async (t) => {
  // a slow free-space read (a busy NFS server): each upload takes 100 ms
  const g = await buildTestApp(t, { now: CLOSED, deps: { freeBytes: () => new Promise((r) => setTimeout(() => r(Number.POSITIVE_INFINITY), 100)) } });
  const answers = await Promise.all(Array.from({ length: UPLOADS_WAITING + 3 }, (_, i) => g.as('ci', { method: 'PUT', url: `/v1/test-results/line${i}`, payload: { exitCode: 0, passed: 1 } })));
  t.same(answers.map((a) => a.statusCode), [...Array.from({ length: UPLOADS_WAITING + 1 }, () => 200), 503, 503], 'the one stored and those waiting: 200; the rest at once: 503');
  const turned = answers.at(-1)!;
  t.equal(turned.headers['retry-after'], '1');
  t.match(turned.json(), { error: 'uploads_saturated', retryable: true, message: `${UPLOADS_WAITING} test-result uploads are already waiting for their turn (from all clients); retry shortly` });
  t.equal(g.audit.records().filter((r) => r.type === 'testresult.recorded').length, UPLOADS_WAITING + 1, 'only those taken are recorded');
  t.equal((await g.as('ci', { method: 'PUT', url: '/v1/test-results/line9', payload: { exitCode: 0, passed: 1 } })).statusCode, 200, 'the line free again: taken');
});

t.test('an upload whose client left while it waited for its turn is neither stored nor recorded', async (t) => {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let reads = 0;
  // the first upload's free-space read waits until released: the next one waits for its turn
  const g = await buildTestApp(t, {
    now: CLOSED,
    deps: {
      freeBytes: async () => {
        reads += 1;
        if (reads === 1) await held;
        return Number.POSITIVE_INFINITY;
      },
    },
  });
  await g.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = g.app.server.address() as AddressInfo;
  const first = g.as('ci', { method: 'PUT', url: '/v1/test-results/first', payload: { exitCode: 0, passed: 1 } });
  await eventually(() => reads === 1);
  const body = JSON.stringify({ exitCode: 0, passed: 1 });
  await new Promise<void>((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(`PUT /v1/test-results/gone HTTP/1.1\r\nHost: gate\r\nAuthorization: Bearer ${g.tokens['ci']}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      // long enough to be read and wait in the line, then gone
      setTimeout(() => s.resetAndDestroy(), 200);
    });
    s.on('error', () => undefined);
    s.on('close', () => resolve());
  });
  release();
  t.equal((await first).statusCode, 200, 'the first stored');
  await new Promise((r) => setTimeout(r, 200));
  t.same(g.audit.records().filter((r) => r.type === 'testresult.recorded').map((r) => r.imageTag), ['first'], 'the one whose client left: not recorded');
  t.same(await readdir(join(g.dataDir, 'artifacts', 'inttest')), ['first.json'], 'nor stored');
  t.equal(reads, 1, 'nor its free space read');
  t.match(g.audit.records().filter((r) => r.type === 'refusal'), [{ imageTag: 'gone', data: { status: 499, error: 'client_closed_request' } }], 'its skip audited as the refusal it is');
});

t.test('a volume whose free space cannot be read is written to as before', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED, deps: { freeBytes: async () => Promise.reject(Object.assign(new Error('statfs: operation not permitted'), { code: 'EPERM' })) } });
  t.equal((await g.as('ci', { method: 'PUT', url: '/v1/test-results/abc123', payload: { exitCode: 0 } })).statusCode, 200);
});

t.test('prototype poisoning in a results body is refused like anywhere else', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  const r = await g.as('ci', { method: 'PUT', url: '/v1/test-results/p1', headers: { 'content-type': 'application/json' }, payload: '{"exitCode":0,"__proto__":{"failed":3}}' });
  t.equal(r.statusCode, 400);
  t.equal((await g.app.inject({ url: '/v1/test-results/p1' })).json().found, false);
});

/**
 * GET ?stage= answers `required` by the rule the stage's own decisions use: for every stage and
 * switch position, required exactly when a decision without results waits with tests_pending.
 */
async function requiredMatchesDecisions(t: Test, g: Awaited<ReturnType<typeof buildTestApp>>, tag: string, label: string): Promise<Record<string, boolean>> {
  const out: Record<string, boolean> = {};
  for (const stage of ['beta', 'paper', 'live']) {
    const got = await g.app.inject({ url: `/v1/test-results/${tag}?stage=${stage}` });
    t.equal(got.statusCode, 200, `${label}: GET ?stage=${stage} answers 200`);
    const required = got.json().required as boolean;
    const decision = (await g.as('caller', { method: 'POST', url: '/v1/decisions/preview', payload: decisionBody({ stage, imageTag: tag }) })).json();
    const pending = (decision.reasons as { code: string }[]).some((r) => r.code === 'tests_pending');
    t.equal(required, pending, `${label}: ${stage} required=${required}, and its decision ${pending ? 'waits for' : 'does not wait for'} results`);
    out[stage] = required;
  }
  return out;
}

t.test('required follows the asking stage: beta with requireIntegrationTests false needs no results', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED, configYaml: 'stages:\n  beta: { requireIntegrationTests: false }\n' });
  const beta = (await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'beta', imageTag: 'f00d' }) })).json();
  t.equal(beta.decision, 'allow', 'a beta decision is allow without results');
  t.same(
    (await g.app.inject({ url: '/v1/test-results/f00d?stage=beta' })).json(),
    { imageTag: 'f00d', found: false, passed: null, exitCode: null, counts: null, recordedAt: null, required: false },
    'GET ?stage=beta: not required, so the beta verification succeeds without results',
  );
  t.same(await requiredMatchesDecisions(t, g, 'f00d', 'integration on'), { beta: false, paper: true, live: true });
  t.equal((await g.app.inject({ url: '/v1/test-results/f00d' })).json().required, true, 'without a stage: paper and live still require results');
  await g.as('admin', { method: 'PUT', url: '/v1/stages/integration', payload: { enabled: false, note: 'sandbox down' } });
  t.same(await requiredMatchesDecisions(t, g, 'f00d', 'integration off'), { beta: false, paper: false, live: false });
  t.equal((await g.app.inject({ url: '/v1/test-results/f00d' })).json().required, false, 'without a stage: no stage requires results');
});

t.test('required follows the asking stage: the default policy requires results for beta', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  const beta = (await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'beta', imageTag: 'f00d' }) })).json();
  t.equal(beta.decision, 'wait', 'a beta decision waits for results');
  t.equal((await g.app.inject({ url: '/v1/test-results/f00d?stage=beta' })).json().required, true, 'GET ?stage=beta: required');
  t.same(await requiredMatchesDecisions(t, g, 'f00d', 'integration on'), { beta: true, paper: true, live: true });
  for (const stage of ['ci', 'integration']) {
    t.equal((await g.app.inject({ url: `/v1/test-results/f00d?stage=${stage}` })).json().required, false, `${stage} never requires results`);
  }
  await g.as('admin', { method: 'PUT', url: '/v1/stages/integration', payload: { enabled: false, note: 'sandbox down' } });
  t.same(await requiredMatchesDecisions(t, g, 'f00d', 'integration off'), { beta: false, paper: false, live: false });
});

t.test('required follows the asking stage: a stage switched off passes freight through, so it needs no results', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  await g.as('admin', { method: 'PUT', url: '/v1/stages/beta', payload: { enabled: false, note: 'beta cluster rebuilt' } });
  const beta = (await g.as('caller', { method: 'POST', url: '/v1/decisions/preview', payload: decisionBody({ stage: 'beta', imageTag: 'f00d' }) })).json();
  t.match(beta, { decision: 'allow', skip: true }, 'a beta decision passes through without results');
  t.equal((await g.app.inject({ url: '/v1/test-results/f00d?stage=beta' })).json().required, false, 'GET ?stage=beta: not required');
  t.equal((await g.app.inject({ url: '/v1/test-results/f00d?stage=paper' })).json().required, true, 'paper still requires results');
});

t.test('GET with an unknown stage or query parameter is a 400 naming it', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  for (const [url, field] of [
    ['/v1/test-results/f00d?stage=prod', 'querystring.stage'],
    ['/v1/test-results/f00d?stage=', 'querystring.stage'],
    ['/v1/test-results/f00d?stag=beta', 'querystring.stag'],
  ] as const) {
    const res = await g.app.inject({ url });
    t.equal(res.statusCode, 400, `${url}: 400`);
    t.match(res.json(), { error: 'invalid_request', field }, `${url}: names ${field}`);
  }
});

t.test('a results file with a key twice in one object is refused, naming it: nothing stored, the refusal audited', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  for (const [raw, field] of [
    ['{"exitCode":1,"failed":3,"exitCode":0,"failed":0}', 'body.exitCode'],
    ['{"exitCode":0,"tests":{"failed":2,"failed":0}}', 'body.tests.failed'],
  ] as const) {
    const res = await g.as('ci', { method: 'PUT', url: '/v1/test-results/abc123', headers: { 'content-type': 'application/json' }, payload: raw });
    t.equal(res.statusCode, 400, raw);
    t.match(res.json(), { error: 'invalid_request', field, message: `${field}: appears more than once in its object` });
  }
  const deep = `${'{"a":'.repeat(300)}{"k":1,"k":2}${'}'.repeat(300)}`;
  const refused = await g.as('ci', { method: 'PUT', url: '/v1/test-results/abc123', headers: { 'content-type': 'application/json' }, payload: `{"exitCode":0,"x":${deep}}` });
  t.equal(refused.statusCode, 400);
  t.equal(refused.json().field, `body.x${'.a'.repeat(99)}…`, 'a deep path is named up to 200 characters');
  t.ok(refused.body.length < 1000, 'and the answer stays small');
  t.same(await readdir(join(g.dataDir, 'artifacts', 'inttest')).catch(() => []), [], 'no artifact written');
  t.equal((await g.app.inject({ url: '/v1/test-results/abc123' })).json().found, false, 'no result recorded');
  const refusals = g.audit.records().filter((r) => r.type === 'refusal');
  t.equal(refusals.length, 3, 'every refusal audited');
  t.equal(g.audit.records().filter((r) => r.type === 'testresult.recorded').length, 0);
});

t.test('a repeated key that holds a token across the 200-character cut: the token is blanked before the path is cut, in the answer and the refusal record', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  const token = newBreakGlassToken();
  // ".<153 p>" then the token: cut at 200 characters first, 46 of its 47 would stay, unmatched
  const key = `${'p'.repeat(153)}${token}`;
  const res = await g.as('ci', { method: 'PUT', url: '/v1/test-results/abc123', headers: { 'content-type': 'application/json' }, payload: `{"exitCode":0,"${key}":1,"${key}":2}` });
  t.equal(res.statusCode, 400);
  t.equal(res.json().field, `body.${'p'.repeat(153)}gbg_[redacted]`, 'the field names the key, its token blanked');
  const secret = token.slice(4, 20);
  t.notMatch(res.body, secret, 'no part of the token in the answer');
  const refusals = g.audit.records().filter((r) => r.type === 'refusal');
  t.equal(refusals.length, 1, 'the refusal audited');
  t.notMatch(JSON.stringify(refusals), secret, 'no part of the token in the refusal record');
});

t.test('an error holding a gate or break-glass token is refused naming body.error: nothing stored, the refusal audited, nothing published', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  const admin = g.tokens['admin']!;
  const bg = newBreakGlassToken();
  const escaped = `gate\\u005f${admin.slice('gate_'.length)}`; // the JSON text spells the "_" as \u005f
  const cases = [
    `{"exitCode":1,"error":"runner crashed, env: GATE_TOKEN=${admin}"}`,
    `{"exitCode":0,"passed":3,"failed":0,"error":"old grant ${bg} expired"}`,
    `{"exitCode":1,"error":"${escaped}"}`,
  ];
  for (const raw of cases) {
    const res = await g.as('ci', { method: 'PUT', url: '/v1/test-results/abc123', headers: { 'content-type': 'application/json' }, payload: raw });
    t.equal(res.statusCode, 400, raw);
    t.match(res.json(), { error: 'invalid_request', field: 'body.error', message: `body.error: ${TOKEN_IN_TEXT}` });
    t.notMatch(res.body, admin);
    t.notMatch(res.body, bg);
  }
  t.same(await readdir(join(g.dataDir, 'artifacts', 'inttest')).catch(() => []), [], 'no artifact written');
  const got = await g.app.inject({ url: '/v1/test-results/abc123' });
  t.equal(got.statusCode, 200);
  t.match(got.json(), { imageTag: 'abc123', found: false, error: undefined }, 'no result recorded');
  const refusals = g.audit.records().filter((r) => r.type === 'refusal');
  t.equal(refusals.length, cases.length, 'every refusal audited');
  for (const r of refusals) t.match(r, { actor: { name: 'ci' }, imageTag: 'abc123', data: { status: 400, error: 'invalid_request', method: 'PUT' } });
  t.equal(g.audit.records().filter((r) => r.type !== 'refusal').length, 0, 'and nothing else recorded');
  const decision = await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'beta', imageTag: 'abc123' }) });
  t.equal(decision.json().reasons[0].code, 'tests_pending', 'beta still waits for a result');
  const status = (await g.app.inject({ url: '/v1/status' })).body;
  for (const text of [status, JSON.stringify(g.audit.records()), decision.body, got.body]) {
    t.notMatch(text, admin);
    t.notMatch(text, bg);
  }
  // the text with the token blanked, as the CI script sends it, is fine
  const ok = await g.as('ci', { method: 'PUT', url: '/v1/test-results/abc123', payload: { exitCode: 1, error: 'runner crashed, env: GATE_TOKEN=gate_[redacted]' } });
  t.equal(ok.statusCode, 200);
  t.match(ok.json(), { found: true, passed: false, error: 'runner crashed, env: GATE_TOKEN=gate_[redacted]' });
});

t.test('a result recorded before tokens in `error` were refused: the token is blanked in the deny message and the GET answer', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  const admin = g.tokens['admin']!;
  const bg = newBreakGlassToken();
  // as an older gate recorded it (the state checkpoint, or the replayed audit log)
  g.store.apply((s) => {
    s.testResults['old1'] = {
      imageTag: 'old1',
      passed: false,
      exitCode: 1,
      counts: { passed: null, failed: null, skipped: null, total: null },
      error: `runner crashed, env: GATE_TOKEN=${admin} BG=${bg}`,
      recordedAt: '2026-11-24T20:00:00.000Z',
      recordedBy: 'ci',
      artifact: 'artifacts/inttest/old1.json',
    };
  });
  const decision = await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'beta', imageTag: 'old1' }) });
  t.equal(decision.json().decision, 'deny');
  t.equal(decision.json().reasons[0].code, 'tests_failed');
  t.match(decision.json().message, 'exit code 1, no counts reported: runner crashed, env: GATE_TOKEN=gate_[redacted] BG=gbg_[redacted] (recorded 2026-11-24 15:00:00 ET)');
  const got = await g.app.inject({ url: '/v1/test-results/old1' });
  t.match(got.json(), { found: true, passed: false, error: 'runner crashed, env: GATE_TOKEN=gate_[redacted] BG=gbg_[redacted]' });
  const status = (await g.app.inject({ url: '/v1/status' })).body;
  for (const [what, text] of [['decision', decision.body], ['GET', got.body], ['/v1/status', status], ['audit', JSON.stringify(g.audit.records())]] as const) {
    t.notMatch(text, admin, `no gate token in the ${what}`);
    t.notMatch(text, bg, `no break-glass token in the ${what}`);
  }
});

t.test("a stage's last decision recorded before then: /v1/status blanks the token in its message", async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  const admin = g.tokens['admin']!;
  const message = `Integration tests failed for old1: exit code 1, no counts reported: env: GATE_TOKEN=${admin} (recorded 2026-11-24 15:00:00 ET).`;
  g.store.apply((s) => {
    s.lastDecisions['beta'] = { id: 'dec_old', at: '2026-11-24T20:01:00.000Z', decision: 'deny', imageTag: 'old1', promotion: null, skip: false, reasons: [{ code: 'tests_failed', effect: 'deny', message }], message };
  });
  const status = await g.app.inject({ url: '/v1/status' });
  t.equal(status.statusCode, 200);
  t.notMatch(status.body, admin);
  const beta = status.json().stages.find((s: { name: string }) => s.name === 'beta');
  t.match(beta.lastDecision, { id: 'dec_old', decision: 'deny', message: /GATE_TOKEN=gate_\[redacted\] \(recorded/ });
  t.match(beta.lastDecision.reasons[0].message, /GATE_TOKEN=gate_\[redacted\]/);
});

t.test('/openapi.json: the GET answer always carries `required` (the Rollouts metric reads it), the PUT answer does not', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  const doc = (await g.app.inject({ url: '/openapi.json' })).json();
  const answer = (method: 'get' | 'put') => doc.paths['/v1/test-results/{imageTag}'][method].responses['200'].content['application/json'].schema;
  t.ok(answer('get').required.includes('required'), 'GET: required');
  t.notOk(answer('put').required.includes('required'), 'PUT: not in its answer');
  t.equal(answer('get').properties.required.type, 'boolean');
});

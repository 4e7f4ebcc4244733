import { readdir, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { openFileAuditLog } from '../../src/audit/file-log.ts';
import { createMemoryAuditLog } from '../../src/audit/memory-log.ts';
import type { AuditLog } from '../../src/audit/log.ts';
import type { Authenticator } from '../../src/auth/identity.ts';
import { createLogger } from '../../src/logger.ts';
import { fixedClock } from '../../src/policy/clock.ts';
import { AUDIT_READS_WAITING } from '../../src/routes/audit.ts';
import { MAX_PAGE_SPAN, createFullVerifier, verifyPage } from '../../src/routes/audit-verify.ts';
import { within } from '../../src/within.ts';
import { entry } from '../audit/helpers.ts';
import { buildTestApp, decisionBody } from '../helpers/build-app.ts';
import { eventually } from '../helpers/eventually.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const clock = fixedClock('2026-11-25T15:00:00Z');

async function memoryLogWith(n: number) {
  const log = createMemoryAuditLog();
  for (let i = 1; i <= n; i += 500) await log.append(Array.from({ length: Math.min(500, n - i + 1) }, (_, k) => entry(i + k)));
  return log;
}

t.test('GET /v1/audit/verify: the page chain and the full walk, authenticated', async (t) => {
  const g = await buildTestApp(t);
  await g.as('ci', { method: 'PUT', url: '/v1/test-results/abc123', payload: { exitCode: 0 } });
  for (let i = 0; i < 6; i++) await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'paper', promotion: `p-${i}` }) });
  await g.as('admin', { method: 'PUT', url: '/v1/stages/beta', payload: { enabled: false, note: 'maintenance' } });
  t.equal((await g.as(null, { url: '/v1/audit/verify' })).statusCode, 401, 'anonymous: 401 (itself an audited refusal)');
  const head = g.audit.head().seq;
  const cases: { name: string; url: string; from: number; to: number; checked: number }[] = [
    { name: 'newest page', url: '/v1/audit/verify?limit=3', from: head - 2, to: head, checked: 4 },
    { name: 'pinned older page', url: `/v1/audit/verify?limit=2&cursor=${head - 2}`, from: head - 4, to: head - 3, checked: 3 },
    { name: 'the page holding seq 1 links it to the genesis hash', url: `/v1/audit/verify?limit=2&cursor=3`, from: 1, to: 2, checked: 2 },
    { name: 'a filtered page is checked over its whole stretch', url: '/v1/audit/verify?type=testresult.recorded', from: 1, to: 1, checked: 1 },
    { name: 'filtered: decisions', url: '/v1/audit/verify?type=decision&limit=500', from: 2, to: head - 2, checked: head - 2 },
  ];
  for (const c of cases) {
    const res = await g.as('operator', { url: c.url });
    t.equal(res.statusCode, 200, c.name);
    t.match(res.json().page, { scope: 'range', ok: true, from: c.from, to: c.to, checked: c.checked, unlinked: 0, firstBroken: null }, c.name);
  }
  const empty = (await g.as('operator', { url: '/v1/audit/verify?stage=nowhere' })).json();
  t.match(empty.page, { scope: 'empty', ok: true, checked: 0 });
  t.equal((await g.as('operator', { url: '/v1/audit/verify?limit=0' })).statusCode, 400, 'the same query validation as /v1/audit');

  // the full walk runs in the background; the in-memory log of these tests is checked as held
  let full = (await g.as('operator', { url: '/v1/audit/verify' })).json().full;
  for (let i = 0; i < 50 && (full.status === 'running' || full.status === 'never'); i++) {
    await new Promise((r) => setTimeout(r, 10));
    full = (await g.as('operator', { url: '/v1/audit/verify' })).json().full;
  }
  t.match(full, { status: 'ok', source: 'memory', count: head, throughSeq: head, firstBroken: null, intervalMinutes: 10 });
  t.match(full.startedAt, /^2026-11-25T15:00:00/, 'stamped with the gate clock');
});

t.test('a page search that ran out of its scan budget is checked as partial, with the cursor to go on from, as GET /v1/audit says', async (t) => {
  // a filter that matches nothing among the records one request may examine: the page is empty
  // because the search stopped, not because nothing is there; verify must not read as "all checked"
  const SCAN = 5;
  const audit = createMemoryAuditLog({ scanLimit: SCAN });
  const g = await buildTestApp(t, { deps: { audit } });
  for (let i = 0; i < 4; i++) await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'paper', promotion: `p-${i}` }) });
  await g.as('admin', { method: 'PUT', url: '/v1/stages/beta', payload: { enabled: false, note: 'maintenance' } });
  for (let i = 0; i < 4; i++) await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'paper', promotion: `q-${i}` }) });
  const head = audit.head().seq;
  const cases = [
    { name: 'a filter matching nothing within the budget', q: 'stage=nowhere&limit=3', partial: true, scope: 'empty' },
    { name: 'a filter matching fewer than the limit within the budget', q: `stage=paper&limit=5&cursor=${head - 2}`, partial: true, scope: 'range' },
    { name: 'a full page', q: 'limit=2', partial: false, scope: 'range' },
  ];
  for (const c of cases) {
    const listed = (await g.as('operator', { url: `/v1/audit?${c.q}` })).json();
    const res = await g.as('operator', { url: `/v1/audit/verify?${c.q}` });
    t.equal(res.statusCode, 200, c.name);
    const page = res.json().page;
    t.match(page, { scope: c.scope, ok: true, partial: c.partial }, `${c.name}: partial ${c.partial}`);
    t.same({ partial: page.partial, nextCursor: page.nextCursor }, { partial: listed.partial, nextCursor: listed.nextCursor }, `${c.name}: the same partial and nextCursor as GET /v1/audit`);
    if (c.partial) t.ok(page.nextCursor !== null && page.nextCursor <= head - SCAN + 1, `${c.name}: goes on below what was examined (${page.nextCursor})`);
  }
  const doc = (await g.app.inject({ url: '/openapi.json' })).json();
  const pageSchema = doc.paths['/v1/audit/verify'].get.responses['200'].content['application/json'].schema.properties.page;
  t.match(pageSchema.properties, { partial: { type: 'boolean', description: /budget/ }, nextCursor: { type: ['number', 'null'] } }, 'the OpenAPI document describes both');
  t.ok(['partial', 'nextCursor'].every((k) => pageSchema.required.includes(k)), 'and says the answer always has them');
});

t.test('a tampered record is found by the page check, with its seq', async (t) => {
  const g = await buildTestApp(t);
  for (let i = 0; i < 5; i++) await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ promotion: `b-${i}` }) });
  const victim = g.audit.records()[2]!;
  (victim.actor as { name: string }).name = 'mallory';
  const res = (await g.as('operator', { url: '/v1/audit/verify?limit=5' })).json();
  t.match(res.page, { ok: false, firstBroken: { seq: 3, reason: 'hash does not match the record content' } });
  const other = (await g.as('operator', { url: '/v1/audit/verify?limit=1' })).json();
  t.match(other.page, { ok: true, from: 5, to: 5 }, 'a page whose stretch does not reach it still verifies');
});

t.test('pages spanning more than MAX_PAGE_SPAN seqs: each hash, and neighbours only', async (t) => {
  const log = await memoryLogWith(MAX_PAGE_SPAN + 100);
  const all = log.records();
  const last = all.at(-1)!;
  const page = [last, all[MAX_PAGE_SPAN + 98]!, all[1]!, all[0]!];
  const r = await verifyPage(log, page);
  t.match(r, { scope: 'records', ok: true, from: 1, to: last.seq, checked: 4, unlinked: 1 }, 'seq 1 links to genesis, seq 2 to seq 1, the newest to its neighbour; one record unlinked');
  const tampered = { ...all[1]!, imageTag: 'evil' };
  t.match(await verifyPage(log, [last, tampered, all[0]!]), { scope: 'records', ok: false, firstBroken: { seq: 2 } });
  const relinked = { ...all[1]!, prev: '1'.repeat(64) };
  t.match(await verifyPage(log, [relinked, all[0]!]), { scope: 'range', ok: false }, 'a small page is read from the log: a forged page record differs from the chain');
});

t.test('full verification of the file log: ok, tampered, missing records, throttled', async (t) => {
  const dataDir = await tempDir(t, 'gate-verify-');
  const dir = join(dataDir, 'audit');
  const log = await openFileAuditLog({ dir, fsync: false });
  t.teardown(() => log.close());
  for (let i = 1; i <= 30; i++) await log.append([entry(i)]);

  let mono = 0;
  const v = createFullVerifier({ audit: log, dataDir, clock, intervalMs: 60_000, monotonicMs: () => mono });
  t.equal(v.state().status, 'never');
  v.maybeStart();
  t.equal(v.state().status, 'running');
  await v.settled();
  t.match(v.state(), { status: 'ok', source: 'file', count: 30, throughSeq: 30, firstBroken: null, message: '30 records in 1 file(s)' });

  // throttled: nothing starts again within the interval
  await log.append([entry(31)]);
  mono = 59_000;
  v.maybeStart();
  t.equal(v.state().status, 'ok', 'not started again within the interval');
  mono = 61_000;
  v.maybeStart();
  await v.settled();
  t.equal(v.state().count, 31, 'ran again after the interval');

  // tamper with one line on disk
  const [file] = (await readdir(dir)).filter((n) => n.endsWith('.jsonl'));
  const text = await readFile(join(dir, file!), 'utf8');
  await writeFile(join(dir, file!), text.replace('"promo-7"', '"promo-X"'));
  const v2 = createFullVerifier({ audit: log, dataDir, clock });
  v2.maybeStart();
  await v2.settled();
  t.match(v2.state(), { status: 'broken', source: 'file', count: 6, firstBroken: { seq: 7, file: file!, line: 7, reason: 'hash does not match the record content' } });

  // the files hold fewer records than the gate acknowledged
  await writeFile(join(dir, file!), text);
  const liar: AuditLog = { ...log, head: () => ({ seq: 40, hash: 'f'.repeat(64) }) };
  const v3 = createFullVerifier({ audit: liar, dataDir, clock });
  v3.maybeStart();
  await v3.settled();
  t.match(v3.state(), { status: 'broken', firstBroken: { seq: 31, reason: 'the files end at seq 31 but the gate acknowledged seq 40' } });
});

t.test('full verification of an in-memory log, and a broken one', async (t) => {
  const dataDir = await tempDir(t, 'gate-verify-');
  const log = await memoryLogWith(12);
  const ok = createFullVerifier({ audit: log, dataDir, clock });
  ok.maybeStart();
  await ok.settled();
  t.match(ok.state(), { status: 'ok', source: 'memory', count: 12, throughSeq: 12 });
  (log.records()[4]!.reasons[0] as { message: string }).message = 'edited';
  const bad = createFullVerifier({ audit: log, dataDir, clock });
  bad.maybeStart();
  await bad.settled();
  t.match(bad.state(), { status: 'broken', source: 'memory', count: 4, firstBroken: { seq: 5, reason: 'hash does not match the record content' } });
  const failing = createFullVerifier({ audit: { ...log, since: async () => Promise.reject(new Error('disk gone')) }, dataDir, clock });
  failing.maybeStart();
  await failing.settled();
  t.match(failing.state(), { status: 'error', message: /disk gone/ });
});

/** A log of n records whose queries take 5 ms each and count how many ran at once, at most. */
async function overlapCountingLog(n: number): Promise<{ audit: AuditLog; most: () => number }> {
  const log = await memoryLogWith(n);
  let inFlight = 0;
  let most = 0;
  const audit: AuditLog = {
    ...log,
    async query(q) {
      inFlight += 1;
      most = Math.max(most, inFlight);
      try {
        await new Promise((r) => setTimeout(r, 5));
        return await log.query(q);
      } finally {
        inFlight -= 1;
      }
    },
  };
  return { audit, most: () => most };
}

/** A log of n records whose first query waits until release(); scans: each query's cursor, in order. */
async function firstQueryHeld(n: number): Promise<{ audit: AuditLog; scans: string[]; release: () => void }> {
  const log = await memoryLogWith(n);
  let release: () => void = () => {};
  const held = new Promise<void>((r) => (release = r));
  const scans: string[] = [];
  const audit: AuditLog = {
    ...log,
    async query(q) {
      scans.push(String(q.cursor ?? 'newest'));
      if (scans.length === 1) await held;
      return log.query(q);
    },
  };
  return { audit, scans, release };
}

/** An authenticator that lets everyone in and counts permission checks: a request past its check is on its way to the queue. */
function permissionCountingAuth(): { auth: Authenticator; checked: () => number } {
  let checked = 0;
  const auth: Authenticator = {
    mode: 'local',
    authenticate: async () => ({ ok: true, identity: { name: 'auditor', groups: [], via: 'local-token' } }),
    authorize: async () => {
      checked += 1;
      return { ok: true };
    },
  };
  return { auth, checked: () => checked };
}

t.test('page verifications take turns: concurrent requests do not pile their hashing onto the event loop at once', async (t) => {
  // each page check reads and hashes up to MAX_PAGE_SPAN records in one synchronous stretch;
  // run side by side, those stretches add up and a decision waits behind all of them
  const { audit, most } = await overlapCountingLog(1200);
  const g = await buildTestApp(t, { deps: { audit } });
  const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => g.as('operator', { url: `/v1/audit/verify?limit=500&cursor=${1200 - i * 100}` })));
  for (const [i, res] of answers.entries()) {
    t.equal(res.statusCode, 200, `request ${i}`);
    t.match(res.json().page, { scope: 'range', ok: true, to: 1199 - i * 100 }, `request ${i}: its own page verified`);
  }
  t.equal(most(), 1, 'one page verification reads the log at a time');
  const page = await g.as('operator', { url: '/v1/audit?limit=5' });
  t.equal(page.statusCode, 200, 'GET /v1/audit answers once they are done');
});

t.test('GET /v1/audit queries take turns, with each other and with page verifications', async (t) => {
  // a query with `since` parses every line of its scan budget (10,000), reading 64 KiB at a time;
  // side by side, K of them interleave their stretches ahead of a decision's (measured with
  // bench/audit-contention.ts: decision p99 9-14 ms alone, 26-28 ms beside 4, 100-260 ms beside 16)
  const { audit, most } = await overlapCountingLog(1200);
  const g = await buildTestApp(t, { deps: { audit } });
  const queries = Array.from({ length: 6 }, (_, i) => g.as('auditor', { url: `/v1/audit?limit=3&cursor=${1200 - i * 100}` }));
  const verifies = Array.from({ length: 2 }, (_, i) => g.as('auditor', { url: `/v1/audit/verify?limit=3&cursor=${600 - i * 100}` }));
  const [answers, checks] = await Promise.all([Promise.all(queries), Promise.all(verifies)]);
  for (const [i, res] of answers.entries()) {
    t.equal(res.statusCode, 200, `query ${i}`);
    t.same(res.json().records.map((r: { seq: number }) => r.seq), [1199, 1198, 1197].map((s) => s - i * 100), `query ${i}: its own page`);
  }
  for (const [i, res] of checks.entries()) t.match(res.json().page, { scope: 'range', ok: true, to: 599 - i * 100 }, `verification ${i}: its own page`);
  t.equal(most(), 1, 'one query or page verification reads the log at a time');
});

t.test('a client that left while its query or page check waited for a turn costs no scan', async (t) => {
  // over real HTTP: the turns are a queue, and every request in it used to get its scan (up to
  // 10,000 lines parsed) even once its client had closed the connection, so abandoned requests
  // held up the ones still waiting
  const { audit, scans, release } = await firstQueryHeld(300);
  const { auth, checked } = permissionCountingAuth();
  const g = await buildTestApp(t, { deps: { audit, auth } });
  await g.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = g.app.server.address() as AddressInfo;
  const get = (path: string) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, headers: { authorization: `Bearer ${g.tokens['auditor']}` } });
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      req.on('response', (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
    });
    req.end();
    return { req, answer };
  };
  const first = get('/v1/audit?limit=2');
  t.ok(await eventually(() => scans.length === 1), 'the first query holds the turn');
  const gone = [get('/v1/audit?limit=2&cursor=200'), get('/v1/audit/verify?limit=2&cursor=100')];
  const stays = get('/v1/audit?limit=2&cursor=50');
  t.ok(await eventually(() => checked() === 4), 'all four requests passed their permission check');
  await new Promise((r) => setTimeout(r, 50)); // and reached the queue (a few ticks after the check)
  for (const { req, answer } of gone) {
    answer.catch(() => undefined);
    req.destroy();
  }
  t.ok(await eventually(async () => (await new Promise<number>((r) => g.app.server.getConnections((_e, n) => r(n)))) === 2), 'the two clients are gone');
  release();
  t.equal((await first.answer).status, 200);
  const last = await stays.answer;
  t.equal(last.status, 200, 'the client that stayed is answered');
  t.same(JSON.parse(last.body).records.map((r: { seq: number }) => r.seq), [49, 48]);
  t.same(scans, ['newest', '50'], 'no scan for the two that left');
});

t.test('audit reads wait in a bounded line: one more than AUDIT_READS_WAITING is answered 503 at once, the rest in turn', async (t) => {
  // the line used to be unbounded: a script looping without waiting for its answers, or a console
  // polling in many tabs, stacked reads each holding its socket and request, and later its scan
  const { audit, scans, release } = await firstQueryHeld(300);
  const { auth, checked } = permissionCountingAuth();
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk, _enc, cb) => void (lines.push(String(chunk)), cb()) });
  const g = await buildTestApp(t, { deps: { audit, auth, logger: createLogger('info', sink) } });
  const headBefore = audit.head().seq;
  const first = g.as('auditor', { url: '/v1/audit?limit=2' });
  t.ok(await eventually(() => scans.length === 1), 'the first query holds the turn');
  // the ones that wait: queries and page checks, in one line
  const waiting = Array.from({ length: AUDIT_READS_WAITING }, (_, i) =>
    g.as('auditor', { url: `/v1/audit${i % 4 === 3 ? '/verify' : ''}?limit=2&cursor=${250 - i}` }),
  );
  t.ok(await eventually(() => checked() === 1 + AUDIT_READS_WAITING), 'every one passed its permission check');
  await new Promise((r) => setImmediate(r)); // and reached the line (a few ticks after the check)
  // (not held for the turn: unanswered in 5 s, it is null and the test goes on to release the line)
  const refused = await within(g.as('auditor', { url: '/v1/audit?limit=2&cursor=10' }), 5000, () => null);
  t.equal(refused?.statusCode, 503, 'one more is answered at once, while the first still holds the turn');
  t.equal(refused?.headers['retry-after'], '1');
  t.match(refused?.json(), { error: 'audit_reads_saturated', retryable: true, message: `${AUDIT_READS_WAITING} audit reads are already waiting for their turn (from all clients); retry shortly` });
  t.equal(scans.length, 1, 'nothing else was scanned meanwhile');
  release();
  t.equal((await first).statusCode, 200);
  const answers = await Promise.all(waiting);
  for (const [i, res] of answers.entries()) t.equal(res.statusCode, 200, `waiting read ${i}: answered in its turn`);
  t.same(
    // a page check reads its stretch again to hash it (the same cursor, in the same turn)
    scans.slice(1).filter((cursor, i, all) => cursor !== all[i - 1]),
    Array.from({ length: AUDIT_READS_WAITING }, (_, i) => String(250 - i)),
    'each scanned in the order it came',
  );
  t.equal(audit.head().seq, headBefore, 'the 503 was not audited');
  // a client turned away is no failure: a warning without a stack, counted
  const logged = lines.map((l) => JSON.parse(l) as { level: number; msg: string; err?: unknown; error?: string });
  t.same(logged.filter((l) => l.level >= 50), [], 'no error-level line');
  t.match(logged.filter((l) => l.msg === 'request shed'), [{ level: 40, error: 'audit_reads_saturated', status: 503 }], 'one warning');
  t.notOk(logged.some((l) => l.msg === 'request shed' && l.err !== undefined), 'without a stack');
  t.match((await g.app.inject({ url: '/metrics' })).body, /gate_requests_shed_total\{error="audit_reads_saturated"\} 1\n/, 'counted in /metrics');
  const after = await g.as('auditor', { url: '/v1/audit?limit=2' });
  t.equal(after.statusCode, 200, 'the line, drained, takes reads again');
});

t.test('full verification: an audit directory that cannot be listed is an error, not an in-memory log to read whole', async (t) => {
  // the file log's directory failing a readdir (EIO on NFS, EMFILE, EACCES) must not send the walk
  // to audit.since(0): that reads every record into memory and hashes them on the request thread
  const log = await openFileAuditLog({ dir: join(await tempDir(t, 'gate-verify-'), 'audit'), fsync: false });
  t.teardown(() => log.close());
  for (let i = 1; i <= 5; i++) await log.append([entry(i)]);
  let readWhole = 0;
  const audit: AuditLog = { ...log, since: async (after) => (readWhole++, log.since(after)) };
  const dataDir = await tempDir(t, 'gate-verify-');
  await writeFile(join(dataDir, 'audit'), 'not a directory'); // readdir: ENOTDIR
  const v = createFullVerifier({ audit, dataDir, clock });
  v.maybeStart();
  await v.settled();
  t.match(v.state(), { status: 'error', message: /could not read the log: .*ENOTDIR/ });
  t.equal(readWhole, 0, 'the log was not read whole on the request thread');

  const absent = createFullVerifier({ audit: await memoryLogWith(3), dataDir: await tempDir(t, 'gate-verify-'), clock });
  absent.maybeStart();
  await absent.settled();
  t.match(absent.state(), { status: 'ok', source: 'memory', count: 3 }, 'no audit directory at all: the in-memory log is checked as held');
});

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { verifyAuditLog } from '../../src/audit/verify.ts';
import { writeSyntheticLog } from '../audit/synthetic-log.ts';
import { eventually } from '../helpers/eventually.ts';
import { freePort, spawnGate, startServer } from '../helpers/spawn-gate.ts';
import { tempDir } from '../helpers/temp-dir.ts';

// The stop signals (SIGTERM, SIGINT, SIGHUP, SIGQUIT) at each stage of the real gate's life: while
// it starts, while it serves, during the drain. Apart from process.test.ts, whose gates already
// take it near tap's file timeout on a loaded machine.

const decision = (promotion: string) => ({ project: 'stonks-pipeline', stage: 'beta', imageTag: 'abc123', promotion });

t.test('a stdout that can no longer be written (the terminal of npm start closed: EIO) ends the log, not the gate: it serves, and a SIGHUP stops it cleanly', async (t) => {
  const dataDir = await tempDir(t, 'gate-proc-');
  // every write to a descriptor opened read-only fails (EBADF), as one to a hung-up terminal does (EIO)
  await writeFile(join(dataDir, 'stdout'), '');
  const readOnly = await open(join(dataDir, 'stdout'), 'r');
  t.teardown(() => readOnly.close());
  // the gate's log (and with it the address it listens on) cannot be read: give it a free port
  const port = await freePort();
  const gate = startServer(t, { GATE_DATA_DIR: dataDir, GATE_PORT: String(port), GATE_NOW: '2026-11-25T22:00:00Z' }, { stdout: readOnly.fd });
  const url = `http://127.0.0.1:${port}`;
  t.ok(await eventually(async () => (await fetch(`${url}/healthz`).catch(() => null))?.ok === true, 20_000, 50), 'it serves', { stderr: gate.err() });
  const kargo = /^\s+kargo\s+roles=\S+\s+(gate_\S+)$/m.exec(gate.err())?.[1] ?? '';
  const res = await fetch(`${url}/v1/decisions`, { method: 'POST', headers: { authorization: `Bearer ${kargo}`, 'content-type': 'application/json' }, body: JSON.stringify(decision('no-log')) });
  t.equal(res.status, 200, 'a decision is answered');
  gate.child.kill('SIGHUP');
  const exit = await Promise.race([gate.exited, new Promise<null>((r) => setTimeout(() => r(null), 15_000))]);
  t.same(exit, { code: 0, signal: null }, 'SIGHUP: exit 0 within the stop\'s 10 s (not exit 1, nor hung at the exit retrying the log)');
  t.equal(existsSync(join(dataDir, 'gate.lock')), false, 'the lock is released');
  t.match(await verifyAuditLog(join(dataDir, 'audit')), { ok: true, count: 1 }, 'the decision is in the audit log');
});

t.test("a stdout nobody reads (a paused terminal, a runtime's full pipe): SIGTERM still ends the gate within the stop's 10 s", async (t) => {
  const dataDir = await tempDir(t, 'gate-proc-');
  // a FIFO opened for reading and writing, never read: once its buffer is full every write waits
  const fifo = join(dataDir, 'stdout.fifo');
  execFileSync('mkfifo', [fifo]);
  const pipe = await open(fifo, 'r+');
  t.teardown(() => pipe.close());
  const port = await freePort();
  const gate = startServer(t, { GATE_DATA_DIR: dataDir, GATE_PORT: String(port), GATE_NOW: '2026-11-25T22:00:00Z' }, { stdout: pipe.fd });
  const url = `http://127.0.0.1:${port}`;
  t.ok(await eventually(async () => (await fetch(`${url}/healthz`).catch(() => null))?.ok === true, 20_000, 50), 'it serves', { stderr: gate.err() });
  // a log line per request, far past the pipe's 64 KiB
  for (let i = 0; i < 60; i++) await Promise.all(Array.from({ length: 50 }, () => fetch(`${url}/healthz`).then((r) => r.arrayBuffer())));
  const signalled = performance.now();
  gate.child.kill('SIGTERM');
  const exit = await Promise.race([gate.exited, new Promise<null>((r) => setTimeout(() => r(null), 15_000))]);
  t.ok(exit !== null, `exited (${exit ? JSON.stringify(exit) : 'still running after 15 s'}) after ${Math.round(performance.now() - signalled)} ms`);
  t.equal(existsSync(join(dataDir, 'gate.lock')), false, 'the lock is released');
});

t.test('a stop signal while a start-up step hangs on the volume (a state file that never answers): the signal ends the gate within 5 s', async (t) => {
  const dataDir = await tempDir(t, 'gate-proc-');
  // a FIFO nobody writes: reading it waits for ever, as a read from a hung NFS server does
  execFileSync('mkfifo', [join(dataDir, 'state.json')]);
  const gate = startServer(t, { GATE_DATA_DIR: dataDir, GATE_NOW: '2026-11-25T22:00:00Z' });
  await new Promise((r) => setTimeout(r, 1500)); // well into the start-up, stuck on the state
  const signalled = performance.now();
  gate.child.kill('SIGTERM');
  const exit = await Promise.race([gate.exited, new Promise<null>((r) => setTimeout(() => r(null), 12_000))]);
  t.same(exit, { code: null, signal: 'SIGTERM' }, `ended by the SIGTERM (${Math.round(performance.now() - signalled)} ms after it)`);
  t.match(gate.err(), /stopped by SIGTERM during start-up: a start-up step did not end within 5 s/, 'and says why');
});

for (const { signal, code } of [
  { signal: 'SIGTERM', code: 143 },
  { signal: 'SIGHUP', code: 129 },
] as const) {
  t.test(`${signal} while waiting for another host's lease: exits ${code} at once, taking nothing`, async (t) => {
    const dataDir = await tempDir(t, 'gate-wait-');
    const at = new Date().toISOString();
    const other = JSON.stringify({ owner: 'other-gate', host: 'elsewhere', pid: 7, acquiredAt: at, renewedAt: at });
    await writeFile(join(dataDir, 'gate.lock'), other);
    const { child, out, err, exited } = startServer(t, { GATE_DATA_DIR: dataDir });
    await eventually(async () => out().includes('waiting for it to run out'), 15_000, 50);
    t.match(out(), /held by host elsewhere, pid 7: its lease was renewed at .* waiting for it to run out/, 'the wait is logged');
    const signalled = performance.now();
    child.kill(signal);
    t.same(await exited, { code, signal: null }, `exit ${code}, not killed by the signal`);
    t.ok(performance.now() - signalled < 3_000, `at once (${Math.round(performance.now() - signalled)} ms), not after the wait`);
    t.match(err(), `gate: cannot start: stopped by ${signal} during start-up`);
    t.equal(await readFile(join(dataDir, 'gate.lock'), 'utf8'), other, 'the other gate\'s lock is untouched');
  });
}

for (const { name, first, more } of [
  { name: 'a second SIGINT during the stop (npm start forwards the Ctrl-C the terminal sent too)', first: 'SIGINT', more: ['SIGINT'] },
  { name: 'a SIGHUP or SIGQUIT during a SIGTERM\'s stop (the terminal of npm start closed, a Ctrl-\\)', first: 'SIGTERM', more: ['SIGHUP', 'SIGQUIT'] },
  { name: 'a SIGHUP (the terminal closed) stops the gate as SIGTERM does, and a repeat of it', first: 'SIGHUP', more: ['SIGHUP'] },
] as const) {
  t.test(`${name} is ignored: the drain goes on, exit 0, the lock released`, async (t) => {
    const { connect } = await import('node:net');
    const gate = await spawnGate({ t, env: { GATE_NOW: '2026-11-25T22:00:00Z' } });
    t.teardown(() => gate.stop('SIGKILL'));
    const { port } = new URL(gate.url);
    const body = JSON.stringify(decision('in-flight-1'));
    // a request still in flight, which holds the drain open
    const socket = await new Promise<import('node:net').Socket>((resolve, reject) => {
      const s = connect(Number(port), '127.0.0.1', () =>
        s.write(`POST /v1/decisions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${gate.tokens['kargo']}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body.slice(0, 20)}`, () => resolve(s)),
      );
      s.on('error', () => {});
      s.once('error', reject);
    });
    t.teardown(() => socket.destroy());
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    await new Promise((r) => setTimeout(r, 200));
    gate.child.kill(first);
    t.ok(await eventually(() => gate.stdout().includes('shutting down: no new requests'), 5_000, 20), 'the stop began');
    for (const signal of more) gate.child.kill(signal);
    const early = await Promise.race([gate.exited, new Promise<null>((r) => setTimeout(() => r(null), 1_000))]);
    t.equal(early, null, `no exit on ${more.join(' and ')} mid-drain`);
    t.equal(gate.stdout().match(/repeated stop signal is ignored/g)?.length, more.length, 'each is logged');
    socket.write(body.slice(20));
    const stopped = await gate.exited;
    t.same(stopped, { code: 0, signal: null }, 'exit 0');
    t.match(answer, /^HTTP\/1.1 200/, 'the request in flight was answered');
    t.match(gate.stdout(), /stopped cleanly/);
    t.equal(existsSync(join(gate.dataDir, 'gate.lock')), false, 'the lock is released');
  });
}

t.test('SIGTERM twice during start-up (after the data directory lock): the start-up ends as after one, the lock released', async (t) => {
  const { hostname } = await import('node:os');
  const dataDir = await tempDir(t, 'gate-twice-');
  // a token writer at work (this process, alive, just now): the first start waits for its lock
  const tokenLock = join(dataDir, 'tokens.json.lock');
  const stamp = () => writeFile(tokenLock, JSON.stringify({ owner: 'test', host: hostname(), pid: process.pid, at: new Date().toISOString() }));
  await stamp();
  // stamped again each second: on a loaded machine the gate may reach the token file more than
  // 5 s after the lock was made, and take it over as a crashed writer's
  let stamping = Promise.resolve();
  const restamp = setInterval(() => (stamping = stamp()), 1000);
  t.teardown(() => clearInterval(restamp));
  const { child, out, exited } = startServer(t, { GATE_DATA_DIR: dataDir });
  t.ok(await eventually(() => existsSync(join(dataDir, 'gate.lock')), 15_000, 20), 'the gate took the data directory lock');
  await new Promise((r) => setTimeout(r, 300));
  child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 100));
  child.kill('SIGTERM');
  const early = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 500))]);
  t.equal(early, null, 'not killed by the second SIGTERM');
  clearInterval(restamp);
  await stamping;
  await rm(tokenLock);
  t.same(await exited, { code: 0, signal: null }, 'it stops as after one SIGTERM');
  t.match(out(), /stopping: a stop signal came during start-up/);
  t.match(out(), /a repeated stop signal during start-up is ignored/, 'the repeat is logged, as the README says');
  t.equal(existsSync(join(dataDir, 'gate.lock')), false, 'the lock is released');
});

t.test('SIGTERM while the state is rebuilt from a big log: the replay ends at once, the lock released, exit 0', async (t) => {
  const dataDir = await tempDir(t, 'gate-replay-');
  // no state.json: the start folds in every record, seconds of work
  const head = writeSyntheticLog(join(dataDir, 'audit'), 100_000);
  const { child, out, exited } = startServer(t, { GATE_DATA_DIR: dataDir });
  t.ok(await eventually(() => existsSync(join(dataDir, 'gate.lock')), 15_000, 10), 'the gate took the data directory lock');
  const signalled = performance.now();
  child.kill('SIGTERM');
  t.same(await exited, { code: 0, signal: null }, 'exit 0');
  t.ok(performance.now() - signalled < 10_000, `within 10 s (${Math.round(performance.now() - signalled)} ms)`);
  t.notMatch(out(), /replayed the newer records/, 'the replay was not finished first');
  t.match(out(), /stopped: a stop signal came during start-up/);
  const state = JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8').catch(() => 'null')) as { auditSeq: number } | null;
  t.ok((state?.auditSeq ?? 0) < head.seq, `the checkpoint stops short of the head (${state?.auditSeq ?? 'none'} < ${head.seq})`);
  t.equal(existsSync(join(dataDir, 'gate.lock')), false, 'the lock is released');
});

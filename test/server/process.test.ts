import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { eventually } from '../helpers/eventually.ts';
import { REPO_ROOT, freePort, spawnGate, startServer } from '../helpers/spawn-gate.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const decision = (stage: string, promotion: string) => ({ project: 'stonks-pipeline', stage, imageTag: 'abc123', promotion });

async function post(url: string, token: string, body: unknown): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

function runCli(args: string[], dataDir: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'src', 'cli.ts'), ...args, '--data-dir', dataDir], { cwd: REPO_ROOT, env: { PATH: process.env['PATH'] ?? '' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

t.test('first start on no configuration: serves, prints an admin and a caller token once, stores only hashes', async (t) => {
  const gate = await spawnGate({ t, env: { GATE_NOW: '2026-11-25T15:00:00Z' } });
  t.teardown(() => gate.stop('SIGKILL'));
  t.ok(gate.tokens['admin'] && gate.tokens['kargo'], 'two tokens printed');
  t.match(gate.stdout(), /GATE_NOW is set/, 'GATE_NOW is logged loudly');
  const file = await readFile(join(gate.dataDir, 'tokens.json'), 'utf8');
  t.notMatch(file, /gate_/, 'the token file holds no token');
  t.notMatch(gate.stdout(), /gate_[A-Za-z0-9_-]{20}/, 'no token in the JSON logs');
  const res = await post(`${gate.url}/v1/decisions`, gate.tokens['kargo'] as string, decision('paper', 'p1'));
  t.equal(res.status, 200);
  const body = (await res.json()) as { decision: string };
  t.equal(body.decision, 'wait', 'GATE_NOW inside a session');
  // logs are written asynchronously: wait for the request's line
  for (let i = 0; i < 100 && !/"path":"\/v1\/decisions"/.test(gate.stdout()); i++) await new Promise((r) => setTimeout(r, 20));
  t.match(gate.stdout(), /"reqId":"req_[0-9a-z]+".*"path":"\/v1\/decisions","status":200/, 'one line per request, with its request id');
  t.notMatch(gate.stdout(), new RegExp(gate.tokens['kargo'] as string), 'the caller token never reaches the logs');
  const stopped = await gate.stop('SIGTERM');
  t.equal(stopped.code, 0, 'SIGTERM exits 0');
  // a restart does not print tokens again
  const again = await spawnGate({ t, dataDir: gate.dataDir });
  t.teardown(() => again.stop('SIGKILL'));
  t.same(again.tokens, {}, 'tokens only on the first start');
  await again.stop();
});

t.test('the first start says how to make more tokens on this data directory: the command names it, and works without GATE_DATA_DIR', async (t) => {
  // a directory whose name the shell must be given quoted
  const dataDir = join(await tempDir(t, 'gate-hint-'), "ops' data");
  const gate = await spawnGate({ t, dataDir });
  t.teardown(() => gate.stop('SIGKILL'));
  const hint = /=== Create more with: (npm run gate -- token create .*) ===/.exec(gate.stderr())?.[1] ?? '';
  t.match(hint, / --data-dir '[^\n]*ops'\\'' data' --name NAME /, 'the hint names the data directory, quoted for the shell');
  // run as printed (bash reads the words), as the CLI from this checkout, and with no GATE_DATA_DIR
  const command = hint.replace('npm run gate --', `${JSON.stringify(process.execPath)} src/cli.ts`).replace('NAME', 'olivia').replace('operator,approver,ci', 'operator');
  const made = spawnSync('bash', ['--norc', '-c', command], { cwd: REPO_ROOT, env: { PATH: process.env['PATH'] ?? '' }, encoding: 'utf8' });
  t.equal(made.status, 0, `the printed command runs: ${made.stderr}`);
  const token = made.stdout.trim().split('\n').at(-1) ?? '';
  await eventually(async () => (await fetch(`${gate.url}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } })).status === 200, 5000, 100);
  const me = (await (await fetch(`${gate.url}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } })).json()) as { name: string };
  t.equal(me.name, 'olivia', 'the running gate knows the token it made');
  await gate.stop();
});

t.test('firstStartTokens file (the chart): the first tokens go to a 0600 file in the data directory, never to stderr or the log', async (t) => {
  const gate = await spawnGate({ t, env: { GATE_FIRST_START_TOKENS: 'file' } });
  t.teardown(() => gate.stop('SIGKILL'));
  t.same(gate.tokens, {}, 'no token on stderr');
  t.notMatch(gate.stderr() + gate.stdout(), /gate_[A-Za-z0-9_-]{20}/, 'no token on stderr or in the log');
  const path = join(gate.dataDir, 'first-start-tokens');
  t.match(gate.stderr(), `They are in ${path} (mode 0600, not in this log): read them once, then delete that file.`, 'stderr says where');
  t.match(gate.stderr(), `=== Create more with: gate token create --data-dir ${gate.dataDir} --name NAME`, "and how to make more, with the image's command");
  t.equal((await stat(path)).mode & 0o777, 0o600, 'only the gate user can read it');
  const text = await readFile(path, 'utf8');
  const tokens = Object.fromEntries([...text.matchAll(/^\s+(\S+)\s+roles=\S+\s+(gate_\S+)$/gm)].map((m) => [m[1], m[2]]));
  t.same(Object.keys(tokens).sort(), ['admin', 'kargo']);
  const res = await post(`${gate.url}/v1/decisions`, tokens['kargo'] as string, decision('beta', 'p1'));
  t.equal(res.status, 200, 'the caller token from the file works');
  await gate.stop();

  // a file left by an earlier first start (the token file removed to start over) is replaced, permissions and all
  await rm(join(gate.dataDir, 'tokens.json'));
  await chmod(path, 0o644);
  const again = await spawnGate({ t, dataDir: gate.dataDir, env: { GATE_FIRST_START_TOKENS: 'file' } });
  t.teardown(() => again.stop('SIGKILL'));
  t.equal((await stat(path)).mode & 0o777, 0o600, 'created afresh with mode 0600');
  t.not(await readFile(path, 'utf8'), text, 'with the new tokens');
  await again.stop();
});

t.test('firstStartTokens file that cannot be written: nothing is stored, and the next start hands over tokens that work', async (t) => {
  const dataDir = await tempDir(t, 'gate-proc-');
  const path = join(dataDir, 'first-start-tokens');
  // something in the way that the gate may not remove (a directory with a file in it)
  await mkdir(path);
  await writeFile(join(path, 'x'), 'x');
  const failed = await spawnGate({ t, dataDir, env: { GATE_FIRST_START_TOKENS: 'file' } }).then(
    (g) => g.stop('SIGKILL').then(() => ({ code: 0, stderr: 'started' })),
    (err: { code: number | null; stderr: string }) => err,
  );
  t.not(failed.code, 0, 'the first start fails');
  t.notOk(existsSync(join(dataDir, 'tokens.json')), 'and stores no hash of tokens no one was given');

  await rm(path, { recursive: true });
  const gate = await spawnGate({ t, dataDir, env: { GATE_FIRST_START_TOKENS: 'file' } });
  t.teardown(() => gate.stop('SIGKILL'));
  const text = await readFile(path, 'utf8').catch(() => '');
  const tokens = Object.fromEntries([...text.matchAll(/^\s+(\S+)\s+roles=\S+\s+(gate_\S+)$/gm)].map((m) => [m[1], m[2]]));
  t.same(Object.keys(tokens).sort(), ['admin', 'kargo'], 'the next start is a first start again');
  if (tokens['kargo']) {
    const res = await post(`${gate.url}/v1/decisions`, tokens['kargo'], decision('beta', 'p1'));
    t.equal(res.status, 200, 'and its caller token works');
  }
  await gate.stop();
});

t.test('firstStartTokens print whose stderr reader is gone (EPIPE): the start fails saying so on stdout, stores nothing, leaves no lock; the next start hands over tokens that work', async (t) => {
  const dataDir = await tempDir(t, 'gate-proc-');
  const gate = startServer(t, { GATE_DATA_DIR: dataDir });
  // the reader goes away before the gate has started: its every write to stderr is an EPIPE
  gate.child.stderr?.destroy();
  const { code } = await gate.exited;
  t.equal(code, 1, 'the first start fails');
  t.match(gate.out(), /"level":50,.*"err":"write EPIPE".*"msg":"first start: the local tokens could not be printed on stderr, so none was stored; the next start is a first start again/, 'said on stdout');
  t.notMatch(gate.out(), /gate_[A-Za-z0-9_-]{20}/, 'no token in the log');
  t.notOk(existsSync(join(dataDir, 'tokens.json')), 'no hash stored of tokens no one saw');
  t.notOk(existsSync(join(dataDir, 'gate.lock')), 'the data directory lock released');

  const again = await spawnGate({ t, dataDir });
  t.teardown(() => again.stop('SIGKILL'));
  t.same(Object.keys(again.tokens).sort(), ['admin', 'kargo'], 'the next start is a first start again');
  if (again.tokens['kargo']) {
    const res = await post(`${again.url}/v1/decisions`, again.tokens['kargo'], decision('beta', 'p1'));
    t.equal(res.status, 200, 'and its caller token works');
  }
  await again.stop();
});

t.test('a second instance on the same data directory refuses to start with a clear message', async (t) => {
  const first = await spawnGate({ t });
  t.teardown(() => first.stop('SIGKILL'));
  const second = spawnGate({ t, dataDir: first.dataDir, timeoutMs: 10000 });
  await t.rejects(second, /in use by another gate .* process \d+ on this host is still running/);
  await first.stop();
  const third = await spawnGate({ t, dataDir: first.dataDir });
  t.pass('after a clean stop the directory is free again');
  await third.stop();
});

t.test('a crashed gate (kill -9) never blocks its restart', async (t) => {
  const first = await spawnGate({ t });
  await first.stop('SIGKILL');
  const started = performance.now();
  const second = await spawnGate({ t, dataDir: first.dataDir });
  t.teardown(() => second.stop('SIGKILL'));
  // same host, boot and pid namespace: its pid is gone, so no lease is waited out
  t.ok(performance.now() - started < 10_000, `restarted over the stale lock at once (${Math.round(performance.now() - started)} ms)`);
  t.notMatch(second.stdout(), 'waiting for it to run out');
  await second.stop();
});

t.test('a gate whose lock another gate took over stops writing and exits 1, leaving the new holder alone', async (t) => {
  const gate = await spawnGate({ t });
  t.teardown(() => gate.stop('SIGKILL'));
  const before = await post(`${gate.url}/v1/decisions`, gate.tokens['kargo']!, decision('beta', 'p-before'));
  t.equal(before.status, 200, 'serving while it holds the lock');
  // the checkpoint of that decision is written within a second, while this gate still holds the lock
  const statePath = join(gate.dataDir, 'state.json');
  await eventually(async () => (await readFile(statePath, 'utf8').catch(() => '')).includes('p-before'), 5_000, 50);
  t.match(await readFile(statePath, 'utf8'), /p-before/, 'its checkpoint is written');
  // another gate (another host, say the pod moved while this one hung) takes the directory over
  const at = new Date().toISOString();
  const other = { owner: 'other-gate', host: 'elsewhere', pid: 7, acquiredAt: at, renewedAt: at };
  await writeFile(join(gate.dataDir, 'gate.lock'), JSON.stringify(other));
  await writeFile(statePath, '{"the new holder\'s checkpoint":true}');
  // the next renewal (a third of the 30 s lease) notices
  const exit = await Promise.race([gate.exited, new Promise<null>((r) => setTimeout(() => r(null), 20_000))]);
  t.same(exit, { code: 1, signal: null }, 'exits 1 so the orchestrator starts a fresh gate');
  t.match(gate.stdout(), /lost the data directory lock[\s\S]*taken over by host elsewhere, pid 7/, 'the log says why');
  t.same(JSON.parse(await readFile(join(gate.dataDir, 'gate.lock'), 'utf8')), other, 'the new holder\'s lock is left alone');
  t.equal(await readFile(statePath, 'utf8'), '{"the new holder\'s checkpoint":true}', 'and so is its state checkpoint');
});

t.test('a port already in use: exit 1 naming the key and the address, before anything is made in the data directory', async (t) => {
  const { createServer } = await import('node:net');
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as AddressInfo).port;
  const dataDir = await tempDir(t, 'gate-port-');
  const failed = await spawnGate({ t, dataDir, env: { GATE_PORT: String(port) } }).then(
    async (gate) => {
      await gate.stop('SIGKILL');
      return null;
    },
    (err: Error & { code: number | null; stderr: string }) => err,
  );
  t.ok(failed, 'it does not start');
  t.not(failed?.code, 0, 'exit non-zero');
  t.equal(failed?.code, 1, 'exit 1: a port in use may free up, the orchestrator tries again');
  t.match(failed?.stderr, new RegExp(`gate: cannot start: port \\(GATE_PORT\\) ${port} on 127\\.0\\.0\\.1 is in use \\(EADDRINUSE\\); nothing was made in the data directory`), 'the message names the key and the address');
  t.equal(existsSync(join(dataDir, 'gate.lock')), false, 'the data directory lock is not left behind');
  // found before the data directory is touched: a first start made and printed its tokens, then
  // failed at listen, and the next start, no longer a first start, printed none
  t.equal(existsSync(join(dataDir, 'tokens.json')), false, 'no token was made');
  t.notMatch(failed?.stderr, /gate_[A-Za-z0-9_-]{20,}/, 'and none printed');
  const again = await spawnGate({ t, dataDir });
  t.pass('the next gate on that directory starts');
  await again.stop();
});

t.test('SIGTERM while the state checkpoint cannot be written: a warning, the lock released, exit 0; the next start replays the log', async (t) => {
  const gate = await spawnGate({ t, env: { GATE_NOW: '2026-11-25T22:00:00Z' } });
  t.teardown(() => gate.stop('SIGKILL'));
  const token = gate.tokens['kargo'] as string;
  const statePath = join(gate.dataDir, 'state.json');
  t.equal((await post(`${gate.url}/v1/decisions`, token, decision('beta', 'ckpt-1'))).status, 200);
  await eventually(async () => (await readFile(statePath, 'utf8').catch(() => '')).includes('ckpt-1'), 5_000, 50);
  // the checkpoint is written to a temp file and renamed over state.json: a directory in its
  // place fails every checkpoint write (for root too); the last good one is kept aside
  await rename(statePath, `${statePath}.good`);
  await mkdir(join(statePath, 'in-the-way'), { recursive: true });
  t.equal((await post(`${gate.url}/v1/decisions`, token, decision('beta', 'ckpt-2'))).status, 200, 'answered: the audit log holds it');
  const stopped = await gate.stop('SIGTERM');
  t.equal(stopped.code, 0, 'SIGTERM exits 0');
  t.match(gate.stdout(), /final state checkpoint could not be written/, 'warned');
  t.match(gate.stdout(), /stopped cleanly/);
  t.equal(existsSync(join(gate.dataDir, 'gate.lock')), false, 'the lock is released');
  t.same((await readdir(gate.dataDir)).filter((n) => n.startsWith('state.json.tmp')), [], 'no temp file of the failed checkpoints is left');
  await rm(statePath, { recursive: true });
  await rename(`${statePath}.good`, statePath);
  const again = await spawnGate({ t, dataDir: gate.dataDir });
  t.teardown(() => again.stop('SIGKILL'));
  t.match(again.stdout(), /"replayed":1\b.*state checkpoint was behind the audit log/, 'the next start replays the record the checkpoint missed');
  await again.stop();
  t.match(await readFile(statePath, 'utf8'), /ckpt-2/, 'and its checkpoint holds it');
});

t.test('SIGTERM under load: in-flight requests finish, exit 0 within 10 s, every 200 is in the log', async (t) => {
  const gate = await spawnGate({ t, env: { GATE_NOW: '2026-11-25T22:00:00Z' } });
  t.teardown(() => gate.stop('SIGKILL'));
  const token = gate.tokens['kargo'] as string;
  const acknowledged: number[] = [];
  const other: number[] = [];
  let running = true;
  const worker = async (w: number) => {
    for (let i = 0; running; i++) {
      try {
        const res = await post(`${gate.url}/v1/decisions`, token, decision('beta', `t-${w}-${i}`));
        if (res.status === 200) acknowledged.push(((await res.json()) as { audit: { seq: number } }).audit.seq);
        else other.push(res.status);
      } catch {
        return; // connection closed: the server stopped accepting
      }
    }
  };
  const workers = Array.from({ length: 16 }, (_, w) => worker(w));
  for (let i = 0; i < 200 && acknowledged.length < 50; i++) await new Promise((r) => setTimeout(r, 50));
  const started = Date.now();
  const stopped = await gate.stop('SIGTERM');
  const took = Date.now() - started;
  running = false;
  await Promise.all(workers);
  t.equal(stopped.code, 0, 'exit 0');
  t.ok(took < 10_000, `stopped in ${took} ms`);
  t.ok(acknowledged.length > 20, `load was running (${acknowledged.length} answered)`);
  t.ok(other.every((s) => s === 503), 'requests arriving while closing get 503, never an unrecorded answer');
  const verify = await runCli(['audit', 'verify'], gate.dataDir);
  t.equal(verify.code, 0, verify.out + verify.err);
  const count = Number(/OK: (\d+) records/.exec(verify.out)?.[1]);
  t.ok(count >= Math.max(...acknowledged), `every answered decision is in the log (highest answered seq ${Math.max(...acknowledged)}, ${count} recorded)`);
});

t.test('SIGTERM with clients that never finish their requests: their connections are closed after the drain, exit 0 within 10 s', async (t) => {
  const { connect } = await import('node:net');
  const gate = await spawnGate({ t, env: { GATE_NOW: '2026-11-25T22:00:00Z' } });
  t.teardown(() => gate.stop('SIGKILL'));
  const { port } = new URL(gate.url);
  const body = JSON.stringify(decision('beta', 'stalled-1'));
  const stalled = [
    // an authenticated decision whose body stops half-way
    `POST /v1/decisions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${gate.tokens['kargo']}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body.slice(0, 20)}`,
    // half the headers of a request with no token
    'GET /v1/status HTTP/1.1\r\nhost: x\r\nx-partial: ',
  ];
  const sockets = await Promise.all(
    stalled.map(
      (text) =>
        new Promise<import('node:net').Socket>((resolve, reject) => {
          const s = connect(Number(port), '127.0.0.1', () => s.write(text, () => resolve(s)));
          s.on('error', () => {});
          s.once('error', reject);
        }),
    ),
  );
  t.teardown(() => sockets.forEach((s) => s.destroy()));
  await new Promise((r) => setTimeout(r, 200));
  const started = Date.now();
  const stopped = await gate.stop('SIGTERM');
  const took = Date.now() - started;
  t.equal(stopped.code, 0, 'exit 0');
  t.ok(took < 9_500, `stopped in ${took} ms`);
  t.ok(took >= 6_500, 'after the drain gave the stalled requests their chance');
  t.match(gate.stdout(), /closing connections still open after the drain/, 'logged');
  t.match(gate.stdout(), /stopped cleanly/);
  const verify = await runCli(['audit', 'verify'], gate.dataDir);
  t.equal(verify.code, 0, verify.out + verify.err);
});

t.test('kill -9 under concurrent load: the restarted log verifies and holds every decision that got a 200', async (t) => {
  const gate = await spawnGate({ t, env: { GATE_NOW: '2026-11-25T22:00:00Z' } });
  t.teardown(() => gate.stop('SIGKILL'));
  const token = gate.tokens['kargo'] as string;
  const acknowledged = new Set<number>();
  let stop = false;
  const worker = async (w: number) => {
    for (let i = 0; !stop; i++) {
      try {
        const res = await post(`${gate.url}/v1/decisions`, token, decision('beta', `k-${w}-${i}`));
        if (res.status === 200) acknowledged.add(((await res.json()) as { audit: { seq: number } }).audit.seq);
      } catch {
        return; // the server died
      }
    }
  };
  const workers = Array.from({ length: 16 }, (_, w) => worker(w));
  // kill it mid-stream, once the load is really running (however slow the machine)
  for (let i = 0; i < 200 && acknowledged.size < 100; i++) await new Promise((r) => setTimeout(r, 50));
  gate.child.kill('SIGKILL');
  stop = true;
  await Promise.all(workers);
  await gate.exited;
  t.ok(acknowledged.size > 50, `load was running (${acknowledged.size} acknowledged)`);

  const restarted = await spawnGate({ t, dataDir: gate.dataDir });
  t.teardown(() => restarted.stop('SIGKILL'));
  const res = await fetch(`${restarted.url}/v1/status`);
  const head = ((await res.json()) as { audit: { seq: number } }).audit.seq;
  t.ok(head >= Math.max(...acknowledged), `every acknowledged seq is in the log (head ${head})`);
  await restarted.stop();
  const verify = await runCli(['audit', 'verify'], gate.dataDir);
  t.equal(verify.code, 0, verify.out + verify.err);
  // and each acknowledged record is really there
  const { readdir } = await import('node:fs/promises');
  const files = (await readdir(join(gate.dataDir, 'audit'))).filter((f) => f.endsWith('.jsonl')).sort();
  const seqs = new Set<number>();
  for (const f of files) for (const line of (await readFile(join(gate.dataDir, 'audit', f), 'utf8')).split('\n')) if (line) seqs.add((JSON.parse(line) as { seq: number }).seq);
  t.equal([...acknowledged].filter((s) => !seqs.has(s)).length, 0, 'no acknowledged record is missing');
});

t.test('a bad configuration stops start-up with a message naming the key', async (t) => {
  const dir = await tempDir(t, 'gate-cfg-');
  const cfg = join(dir, 'gate.yaml');
  await writeFile(cfg, 'stages:\n  paper: { marketHours: maybe }\n');
  await t.rejects(spawnGate({ t, env: { GATE_CONFIG: cfg } }), /stages\.paper\.marketHours/);
  await t.rejects(spawnGate({ t, env: { GATE_PORT: 'eighty' } }), /GATE_PORT/);
  // a listen address with a port in it: refused before the data directory is touched, not at listen
  const hostDir = await tempDir(t, 'gate-host-');
  await t.rejects(spawnGate({ t, dataDir: hostDir, env: { GATE_HOST: '0.0.0.0:8080' } }), { code: 2, message: /cannot start: invalid environment: GATE_HOST: / }, 'GATE_HOST with a port');
  t.equal(existsSync(join(hostDir, 'tokens.json')), false, 'no first-start tokens were made');
  await t.rejects(spawnGate({ t, env: { GATE_NOW: 'tomorrow' } }), /GATE_NOW/);
  await t.rejects(spawnGate({ t, env: { GATE_NOW: '1990-06-01T15:00:00Z' } }), /GATE_NOW: expected an instant in 2000-2099/, 'a fake clock outside the calendar');
  // inside 2000-2099 by UTC year, but not by the New York date the calendar works in
  await t.rejects(spawnGate({ t, env: { GATE_NOW: '2000-01-01T02:00:00Z' } }), /cannot start: GATE_NOW=2000-01-01T02:00:00Z: .*New York date 1999-12-31/, 'New York is still in 1999');
  // after the last session of 2099: the next open is 2100's first session, computed by the rules
  const last = await spawnGate({ t, env: { GATE_NOW: '2099-12-31T22:00:00Z' } });
  t.teardown(() => last.stop('SIGKILL'));
  const market = (await (await fetch(`${last.url}/v1/market`)).json()) as { open: boolean; nextOpen: string };
  t.same({ open: market.open, nextOpen: market.nextOpen }, { open: false, nextOpen: '2100-01-04T14:30:00Z' }, 'a gate at 2099-12-31 22:00Z starts and names 2100-01-04 as the next open');
  // 20:00 in New York on 2099-12-31 is already 2100 in UTC: still a 2099 date for the calendar
  const evening = await spawnGate({ t, env: { GATE_NOW: '2099-12-31T20:00:00-05:00' } });
  t.teardown(() => evening.stop('SIGKILL'));
  const after = (await (await fetch(`${evening.url}/v1/market`)).json()) as { reason: string; nextOpen: string };
  t.same({ reason: after.reason, nextOpen: after.nextOpen }, { reason: 'after_close', nextOpen: '2100-01-04T14:30:00Z' }, 'a gate at 2099-12-31 20:00 ET (2100-01-01 01:00Z) starts too');
});

t.test('bad market extras and an unreadable GATE_CONFIG stop start-up with exit 2, naming the key or GATE_CONFIG and the path', async (t) => {
  const dir = await tempDir(t, 'gate-cfg-');
  const failed = (env: Record<string, string>) =>
    spawnGate({ t, env }).then(
      async (gate) => {
        await gate.stop('SIGKILL');
        return { code: 0, stderr: 'started' };
      },
      (err: { code: number | null; stderr: string }) => err,
    );
  const cases: [string, string, RegExp][] = [
    ['closure 2027-13-45', 'market:\n  extraClosures: ["2027-13-45"]\n', /gate: cannot start: invalid config file .*: market\.extraClosures\[0\]: date must be a real yyyy-MM-dd date/],
    ['early close 25:00', 'market:\n  extraEarlyCloses: [{ date: "2027-11-26", close: "25:00" }]\n', /gate: cannot start: invalid config file .*: market\.extraEarlyCloses\[0\]: close must be HH:mm/],
  ];
  for (const [name, yaml, message] of cases) {
    const cfg = join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
    await writeFile(cfg, yaml);
    const res = await failed({ GATE_CONFIG: cfg });
    t.equal(res.code, 2, `${name}: exit 2`);
    t.match(res.stderr, message, name);
  }
  const isDir = await failed({ GATE_CONFIG: dir });
  t.equal(isDir.code, 2, 'GATE_CONFIG a directory: exit 2');
  t.match(isDir.stderr, new RegExp(`gate: cannot start: GATE_CONFIG=${dir}: .*EISDIR`));
  const missing = await failed({ GATE_CONFIG: join(dir, 'none.yaml') });
  t.equal(missing.code, 2, 'GATE_CONFIG missing: exit 2');
  t.match(missing.stderr, new RegExp(`gate: cannot start: GATE_CONFIG=${join(dir, 'none.yaml')}: .*ENOENT`));
});

t.test('a listen host that does not resolve, or a data directory that is a file, stops start-up with exit 2 naming the key, before any token is made', async (t) => {
  const dir = await tempDir(t, 'gate-early-');
  const failed = (env: Record<string, string>, dataDir: string) =>
    spawnGate({ t, env, dataDir }).then(
      async (gate) => {
        await gate.stop('SIGKILL');
        return { code: 0, stderr: 'started' };
      },
      (err: { code: number | null; stderr: string }) => err,
    );
  const host = await failed({ GATE_HOST: 'no-such-host.invalid' }, join(dir, 'data'));
  t.equal(host.code, 2, 'GATE_HOST unresolvable: exit 2');
  t.match(host.stderr, /gate: cannot start: host \(GATE_HOST\) no-such-host\.invalid does not resolve: ENOTFOUND/);
  t.notOk(existsSync(join(dir, 'data', 'tokens.json')), 'no token was made');
  t.notMatch(host.stderr, /gate_[A-Za-z0-9_-]{20,}/, 'and none printed');
  // an address this host does not have (TEST-NET-1)
  const foreign = await failed({ GATE_HOST: '192.0.2.1' }, join(dir, 'data'));
  t.equal(foreign.code, 2, 'GATE_HOST not an address of this host: exit 2');
  t.match(foreign.stderr, /gate: cannot start: host \(GATE_HOST\) 192\.0\.2\.1 is not an address of this host: EADDRNOTAVAIL/);
  t.notOk(existsSync(join(dir, 'data', 'tokens.json')), 'no token was made');
  await writeFile(join(dir, 'a-file'), 'x');
  const file = await failed({}, join(dir, 'a-file'));
  t.equal(file.code, 2, 'GATE_DATA_DIR a file: exit 2');
  t.match(file.stderr, new RegExp(`gate: cannot start: dataDir \\(GATE_DATA_DIR\\) ${join(dir, 'a-file')} is not a directory: .*(ENOTDIR|EEXIST)`));
});

/**
 * NODE_OPTIONS that load, before the gate, a module at `path` changing node:fs/promises with
 * `lines` (which see `fsp` and `existsSync`): a volume that refuses writes, for a spawned gate.
 */
async function fsPreload(path: string, lines: string[]): Promise<string> {
  const header = ["import fsp from 'node:fs/promises';", "import { existsSync } from 'node:fs';", "import { syncBuiltinESMExports } from 'node:module';"];
  await writeFile(path, [...header, ...lines, 'syncBuiltinESMExports();'].join('\n'));
  return `--import=${pathToFileURL(path).href}`;
}

t.test('a data volume that refuses the lock\'s write at start (full): the gate answers 503 (/healthz 200) and starts once it takes writes, instead of exiting into a crash loop', async (t) => {
  const dir = await tempDir(t, 'gate-full-');
  const full = join(dir, 'volume-full');
  await writeFile(full, '');
  // while the marker file exists, writing the lock's file fails as on a full volume
  const nodeOptions = await fsPreload(join(dir, 'full-volume.mjs'), [
    'const writeFile = fsp.writeFile;',
    `fsp.writeFile = (path, ...rest) => /gate\\.lock\\./.test(String(path)) && existsSync(${JSON.stringify(full)}) ? Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })) : writeFile(path, ...rest);`,
  ]);
  const port = await freePort();
  const starting = spawnGate({ t, dataDir: join(dir, 'data'), env: { GATE_PORT: String(port), NODE_OPTIONS: nodeOptions } });
  const base = `http://127.0.0.1:${port}`;
  const answered = await eventually(async () => (await fetch(`${base}/healthz`).then((r) => r.status, () => 0)) === 200, 10_000, 50);
  t.ok(answered, 'it answers while it cannot take the lock');
  const health = (await (await fetch(`${base}/healthz`)).json()) as { status: string; message: string };
  t.same(health, { status: 'starting', message: 'its data volume refuses writes (ENOSPC)' }, '/healthz 200: alive, not restarted');
  const refused = await fetch(`${base}/v1/decisions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(decision('beta', 'p1')) });
  t.equal(refused.status, 503, 'a decision: 503, which Kargo polls on (not a refused connection)');
  t.equal(refused.headers.get('retry-after'), '2');
  t.match(await refused.json(), { error: 'starting', retryable: true });
  t.equal((await fetch(`${base}/readyz`)).status, 503, '/readyz 503');
  t.notOk(existsSync(join(dir, 'data', 'tokens.json')), 'nothing made in the data directory yet');
  await rm(full); // space freed
  const gate = await starting;
  t.teardown(() => gate.stop('SIGKILL'));
  t.equal(gate.url, base, 'then it starts on the same port');
  t.match(gate.stdout(), /cannot make the data directory or take its lock: the data volume refuses writes; answering 503, trying again every 2 s/, 'logged');
  t.equal((await fetch(`${base}/readyz`)).status, 200, 'ready');
  const res = await post(`${base}/v1/decisions`, gate.tokens['kargo'] as string, decision('beta', 'p1'));
  t.equal(res.status, 200, 'and decides');
  t.equal((await gate.stop('SIGTERM')).code, 0);
});

t.test('a first start on a fresh volume mounted read-only (its data directory cannot be made): the gate answers 503 and starts once the volume takes writes', async (t) => {
  const dir = await tempDir(t, 'gate-ro-');
  const readOnly = join(dir, 'volume-read-only');
  await writeFile(readOnly, '');
  // while the marker file exists, making the data directory fails as Node 24 reports it on a
  // read-only mount: ENOENT from the recursive mkdir, EROFS from one level alone
  const nodeOptions = await fsPreload(join(dir, 'read-only-volume.mjs'), [
    'const mkdir = fsp.mkdir;',
    `const ro = () => existsSync(${JSON.stringify(readOnly)});`,
    `fsp.mkdir = (path, opts) => String(path).startsWith(${JSON.stringify(join(dir, 'data'))}) && ro() ? Promise.reject(Object.assign(new Error('mkdir ' + path), { code: opts?.recursive ? 'ENOENT' : 'EROFS' })) : mkdir(path, opts);`,
  ]);
  const port = await freePort();
  const starting = spawnGate({ t, dataDir: join(dir, 'data'), env: { GATE_PORT: String(port), NODE_OPTIONS: nodeOptions } });
  const base = `http://127.0.0.1:${port}`;
  const answered = await eventually(async () => (await fetch(`${base}/healthz`).then((r) => r.status, () => 0)) === 200, 10_000, 50);
  t.ok(answered, 'it answers while it cannot make its data directory (before: exit 1 on ENOENT, a crash loop)');
  t.same(await (await fetch(`${base}/healthz`)).json(), { status: 'starting', message: 'its data volume refuses writes (EROFS)' });
  t.equal((await fetch(`${base}/v1/decisions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 503);
  t.notOk(existsSync(join(dir, 'data')), 'nothing made');
  await rm(readOnly); // remounted read-write
  const gate = await starting;
  t.teardown(() => gate.stop('SIGKILL'));
  t.equal(gate.url, base, 'then it starts on the same port');
  t.ok(existsSync(join(dir, 'data', 'audit')), 'with its data directory');
  const res = await post(`${base}/v1/decisions`, gate.tokens['kargo'] as string, decision('beta', 'p1'));
  t.equal(res.status, 200, 'and decides');
  t.equal((await gate.stop('SIGTERM')).code, 0);
});

t.test('a host name that resolves to several addresses (localhost: 127.0.0.1 and ::1) is listened on at one of them only', async (t) => {
  // fastify binds every address a name resolves to, each but the first a server without the
  // gate's connection cap, client-error answers or drain. The resolver is made to answer as most
  // systems do for localhost (this one's /etc/hosts may not name ::1)
  const dir = await tempDir(t, 'gate-localhost-');
  const preload = join(dir, 'two-addresses.mjs');
  await writeFile(
    preload,
    [
      "import dns from 'node:dns';",
      "import { syncBuiltinESMExports } from 'node:module';",
      'const both = [{ address: "127.0.0.1", family: 4 }, { address: "::1", family: 6 }];',
      'const cb = dns.lookup;',
      'dns.lookup = (host, opts, done) => { if (typeof opts === "function") { done = opts; opts = {}; } if (host !== "localhost") return cb(host, opts, done); const o = typeof opts === "number" ? { family: opts } : opts ?? {}; return o.all ? process.nextTick(done, null, both) : process.nextTick(done, null, both[0].address, 4); };',
      'const p = dns.promises.lookup;',
      'dns.promises.lookup = async (host, opts) => host === "localhost" ? (opts?.all ? both : both[0]) : p(host, opts);',
      'syncBuiltinESMExports();',
    ].join('\n'),
  );
  const gate = await spawnGate({ t, env: { GATE_HOST: 'localhost', NODE_OPTIONS: `--import=${pathToFileURL(preload).href}` } });
  t.teardown(() => gate.stop('SIGKILL'));
  const port = new URL(gate.url).port;
  t.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200, 'it serves on 127.0.0.1');
  const six = await fetch(`http://[::1]:${port}/healthz`).then((r) => r.status, (e: Error) => (e.cause as { code?: string })?.code ?? e.message);
  t.equal(six, 'ECONNREFUSED', 'and nothing listens on ::1');
});

t.test('GATE_NOW is announced on stderr whatever the log level; a GATE_* variable the gate does not read, and an early close on a holiday, are logged', async (t) => {
  const cfg = join(await tempDir(t, 'gate-extras-'), 'gate.yaml');
  await writeFile(cfg, 'market:\n  extraEarlyCloses: [{ date: "2027-12-24", close: "13:00" }]\n');
  const gate = await spawnGate({ t, env: { GATE_NOW: '2026-11-25T15:00:00Z', GATE_LOGLEVEL: 'debug', GATE_CONFIG: cfg } });
  t.teardown(() => gate.stop('SIGKILL'));
  t.match(gate.stderr(), /gate: \*\*\* GATE_NOW is set: .* GATE_NOW=2026-11-25T15:00:00Z/, 'on stderr');
  t.notMatch(gate.stderr(), 'audit.fsync', 'no word of fsync: it is on by default');
  const warned = gate.stdout().split('\n').filter((l) => l.includes('not read')).map((l) => JSON.parse(l));
  t.match(warned, [{ level: 40, unknown: ['GATE_LOGLEVEL'] }], 'the unknown variable is named in a warning');
  const extras = gate.stdout().split('\n').filter((l) => l.includes('changes nothing')).map((l) => JSON.parse(l));
  t.match(extras, [{ level: 40, key: 'market.extraEarlyCloses[0]', date: '2027-12-24', msg: /Christmas/ }], 'the early close on a holiday is named in a warning');
  await gate.stop('SIGTERM');
  // with the log level at error the log says nothing about it, and stderr still does
  const { child, err } = startServer(t, { GATE_DATA_DIR: await tempDir(t, 'gate-now-'), GATE_LOG_LEVEL: 'error', GATE_NOW: '2026-11-25T15:00:00Z' });
  t.ok(await eventually(() => /GATE_NOW is set/.test(err()), 20_000, 50), 'even with the log level at error');
  child.kill('SIGTERM');
});

t.test('audit.fsync: false is announced on stderr and in the log as a warning', async (t) => {
  const cfg = join(await tempDir(t, 'gate-nofsync-'), 'gate.yaml');
  await writeFile(cfg, 'audit: { fsync: false }\n');
  const gate = await spawnGate({ t, env: { GATE_CONFIG: cfg } });
  t.teardown(() => gate.stop('SIGKILL'));
  t.match(gate.stderr(), /gate: \*\*\* audit\.fsync is false: .*power cut can lose records of answered decisions/, 'on stderr');
  const warned = gate.stdout().split('\n').filter((l) => l.includes('audit.fsync is false')).map((l) => JSON.parse(l));
  t.match(warned, [{ level: 40, fsync: false }], 'and in the log, as a warning');
  await gate.stop('SIGTERM');
});

t.test('proxy sign-in trusted by peer address alone is a start-up warning naming proxyAuth.secretSha256; with the secret, an info line without the hash; with two, a warning of the rotation', async (t) => {
  const dir = await tempDir(t, 'gate-proxyauth-');
  const sha = 'a'.repeat(64);
  const next = 'b'.repeat(64);
  const trusting = { level: 30, trustedCidrs: ['10.42.0.0/16'], msg: /carry its secret/ };
  for (const [i, [yaml, expect]] of ([
    ['proxyAuth: { trustedCidrs: ["10.42.0.0/16"] }\n', [{ level: 40, trustedCidrs: ['10.42.0.0/16'], msg: /by peer address alone.*set proxyAuth\.secretSha256/ }]],
    [`proxyAuth: { trustedCidrs: ["10.42.0.0/16"], secretSha256: "${sha}" }\n`, [trusting]],
    [`proxyAuth: { trustedCidrs: ["10.42.0.0/16"], secretSha256: ["${sha}", "${next}"] }\n`, [trusting, { level: 40, key: 'proxyAuth.secretSha256', msg: /rotation .* in progress.*remove the old hash/ }]],
  ] as const).entries()) {
    const cfg = join(dir, `gate-${i}.yaml`);
    await writeFile(cfg, yaml);
    const gate = await spawnGate({ t, env: { GATE_CONFIG: cfg } });
    t.teardown(() => gate.stop('SIGKILL'));
    const lines = gate.stdout().split('\n').filter((l) => l.includes('authenticating proxy')).map((l) => JSON.parse(l));
    t.equal(lines.length, expect.length, `${yaml}: ${expect.length} line(s)`);
    t.match(lines, expect, yaml);
    t.notOk(gate.stdout().includes(sha) || gate.stdout().includes(next), 'no hash is logged');
    // one count per configured hash, by position: what tells an operator the proxy has switched
    const counts = (await (await fetch(`${gate.url}/metrics`)).text()).split('\n').filter((l) => l.startsWith('gate_proxy_secret_matches_total'));
    t.same(counts, [[], ['gate_proxy_secret_matches_total{secret="1"} 0'], ['gate_proxy_secret_matches_total{secret="1"} 0', 'gate_proxy_secret_matches_total{secret="2"} 0']][i], `${yaml}: the secrets' counts in /metrics`);
    await gate.stop('SIGTERM');
  }
});

t.test('CLI: token create, audit verify naming the first broken record, market', async (t) => {
  const dir = await tempDir(t, 'gate-cli-');
  const made = await runCli(['token', 'create', '--name', 'olivia', '--roles', 'caller,operator,approver'], dir);
  t.equal(made.code, 0, made.err);
  const token = /^(gate_\S+)$/m.exec(made.out)?.[1];
  t.ok(token, 'prints the token');
  t.notMatch(await readFile(join(dir, 'tokens.json'), 'utf8'), new RegExp(token as string));
  const dup = await runCli(['token', 'create', '--name', 'olivia', '--roles', 'operator'], dir);
  t.equal(dup.code, 1);
  t.match(dup.err, /already exists/);
  const badRole = await runCli(['token', 'create', '--name', 'x', '--roles', 'root'], dir);
  t.match(badRole.err, /unknown role "root"/);

  const market = await runCli(['market', '--at', '2026-11-27T18:00:00Z'], dir);
  t.equal(market.code, 0);
  t.match(JSON.parse(market.out), { open: false, reason: 'early_close', nextOpen: '2026-11-30T14:30:00Z' });

  // a log with a tampered record
  const gate = await spawnGate({ t, dataDir: dir, env: { GATE_NOW: '2026-11-25T22:00:00Z' } });
  for (let i = 0; i < 5; i++) await post(`${gate.url}/v1/decisions`, token as string, decision('beta', `c-${i}`));
  await gate.stop();
  t.equal((await runCli(['audit', 'verify'], dir)).code, 0);
  const { readdir } = await import('node:fs/promises');
  const file = join(dir, 'audit', (await readdir(join(dir, 'audit'))).filter((f) => f.endsWith('.jsonl'))[0] as string);
  const lines = (await readFile(file, 'utf8')).split('\n');
  lines[2] = (lines[2] as string).replace('"decision":"', '"decision":"x');
  await writeFile(file, lines.join('\n'));
  const broken = await runCli(['audit', 'verify'], dir);
  t.equal(broken.code, 1);
  t.match(broken.out + broken.err, /seq 3/);
});

t.test('start-up refuses to rebuild the state from a log whose oldest file was moved away, and starts once it is back', async (t) => {
  const { readdir, rename, rm, mkdir } = await import('node:fs/promises');
  const dir = await tempDir(t, 'gate-archived-');
  const cfg = join(dir, 'gate.yaml');
  // paper needs no test results here, so its promotions are allowed after the close
  await writeFile(cfg, 'audit:\n  maxFileBytes: 4096\nstages:\n  paper: { requireIntegrationTests: false }\n');
  const env = { GATE_NOW: '2026-11-25T22:00:00Z', GATE_CONFIG: cfg };
  const data = join(dir, 'data');
  const gate = await spawnGate({ t, dataDir: data, env });
  t.teardown(() => gate.stop('SIGKILL'));
  const admin = gate.tokens['admin']!;
  const kargo = gate.tokens['kargo']!;
  const put = await fetch(`${gate.url}/v1/stages/beta`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ enabled: false, note: 'off for the test' }),
  });
  t.equal(put.status, 200, 'beta turned off (seq 1)');
  const first = (await (await post(`${gate.url}/v1/decisions`, kargo, decision('paper', 'paper.001'))).json()) as { decision: string; audit: { seq: number } };
  t.equal(first.decision, 'allow', 'paper.001 allowed');
  for (let i = 2; i <= 12; i++) t.equal((await post(`${gate.url}/v1/decisions`, kargo, decision('paper', `paper.${String(i).padStart(3, '0')}`))).status, 200);
  t.equal((await gate.stop()).code, 0);
  const auditDir = join(data, 'audit');
  const files = (await readdir(auditDir)).filter((f) => f.endsWith('.jsonl')).sort();
  t.ok(files.length >= 3, `${files.length} audit files`);
  const lastOfFirst = Number(/-(\d+)\.jsonl$/.exec(files[1]!)![1]) - 1;
  t.ok(lastOfFirst >= first.audit.seq, 'paper.001 is in the first file');

  // the oldest file archived elsewhere and the state checkpoint gone: no silent rebuild
  const archive = join(dir, 'archive');
  await mkdir(archive);
  await rename(join(auditDir, files[0]!), join(archive, files[0]!));
  await rm(join(data, 'state.json'));
  const refused = spawnGate({ t, dataDir: data, env, timeoutMs: 15000 });
  // a gate that starts anyway (the defect) is stopped before the next start needs the directory
  void refused.then((g) => g.stop('SIGKILL'), () => {});
  const range = lastOfFirst === 1 ? 'record 1 is' : `records 1\\.\\.${lastOfFirst} are`;
  await t.rejects(refused, { code: 1, message: new RegExp(`gate: cannot start: cannot rebuild the state: .*${range} not in ${auditDir}.*Put the archived audit files holding .* back into ${auditDir}, or restore the state checkpoint`) });
  t.notOk(await readFile(join(data, 'state.json'), 'utf8').then(() => true, () => false), 'no state checkpoint written from part of the log');

  // put back: the whole log replays
  await rename(join(archive, files[0]!), join(auditDir, files[0]!));
  const again = await spawnGate({ t, dataDir: data, env });
  t.teardown(() => again.stop('SIGKILL'));
  const stages = (await (await fetch(`${again.url}/v1/stages`)).json()) as { stages: { stage: string; enabled: boolean }[] };
  t.match(stages.stages.find((s) => s.stage === 'beta'), { enabled: false }, 'the beta toggle from seq 1 is back');
  const replay = (await (await post(`${again.url}/v1/decisions`, kargo, decision('paper', 'paper.001'))).json()) as { decision: string; replayed: boolean };
  t.match(replay, { decision: first.decision, replayed: true }, 'paper.001 answered as its replay');
  t.equal((await again.stop()).code, 0);
});

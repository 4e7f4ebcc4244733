import { spawn, spawnSync } from 'node:child_process';
import { readFile, readdir, rm } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { REPO_ROOT, freePort } from './helpers/spawn-gate.ts';
import { type TapLike, tempDir } from './helpers/temp-dir.ts';

/** The bash blocks of the README's walk-through, in order, exactly as written. */
export async function walkthroughScript(): Promise<string> {
  const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = /<!-- walkthrough:start -->([\s\S]*?)<!-- walkthrough:end -->/.exec(readme)?.[1];
  if (!section) throw new Error('README.md has no walkthrough section');
  return [...section.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]).join('\n');
}

const missing = ['curl', 'jq', 'bash'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);

const skipUnlessTools = { skip: missing.length > 0 && process.env['CI'] !== 'true' ? `needs ${missing.join(', ')} (not installed): skipped` : false };

/** Runs the walk-through with bash in the repository (as a reader would), with `env` added; killed after `limitMs`. */
async function runWalkthrough(t: TapLike, env: Record<string, string>, limitMs = 90_000): Promise<{ code: number | null; out: string; err: string; killed: boolean }> {
  const script = await walkthroughScript();
  const child = spawn('bash', ['-c', `set -euo pipefail\n${script}`], {
    cwd: REPO_ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const kill = () => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      // already gone
    }
  };
  t.teardown(async () => {
    await rm(join(REPO_ROOT, 'gate.log'), { force: true });
    kill();
  });
  let out = '';
  let err = '';
  let killed = false;
  const limit = setTimeout(() => {
    killed = true;
    kill();
  }, limitMs);
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearTimeout(limit);
  kill(); // a gate it left running (a failed run)
  return { code, out, err, killed };
}

t.test('the README walk-through works as written (local mode)', skipUnlessTools, async (t) => {
  t.same(missing, [], 'curl, jq and bash are installed');
  t.ok((await walkthroughScript()).split('\n').length > 30, 'the walk-through has its blocks');
  // its data directory (mktemp -d) under a directory of the test's own
  const port = await freePort();
  const { code, out, err } = await runWalkthrough(t, { GATE_PORT: String(port), TMPDIR: await tempDir(t, 'walkthrough-') });
  t.equal(code, 0, `the script ran to the end\nstderr: ${err.slice(-2000)}`);
  const lines = out.trim().split('\n');
  const expectInOrder: RegExp[] = [
    /^\{"passed":false,"exitCode":1,"counts":\{"passed":118,"failed":2,"skipped":null,"total":null\}\}$/,
    /^deny$/,
    /^Integration tests failed for 3f2a9c1e5b7d4a6f8e0c2b4d6a8f0e1c3b5d7a9f: exit code 1, 2 failed, 118 passed/,
    /^\{"passed":true,"exitCode":0\}$/,
    /^allow$/,
    /^wait$/,
    /^NYSE regular session is open; closes 16:00 ET \(in (6h 0m|5h 59m)\)\. The promotion waits for the close\. Request break-glass to override\./,
    /^\{"id":"bg_[0-9a-z]+","requestedBy":"olivia","expiresAt":"2026-11-25T15:\d\d:\d\d\.\d+Z"\}$/,
    /^\{"decision":"allow","id":"dec_[0-9a-z]+","breakGlass":"bg_[0-9a-z]+","consumed":true\}$/,
    /^\{"decision":"allow","id":"dec_[0-9a-z]+","replayed":true\}$/,
    /^wait$/,
    /^deny$/,
    /^wait$/,
    /^Waiting for an approval of 3f2a9c1e5b7d4a6f8e0c2b4d6a8f0e1c3b5d7a9f for live \(with notes\)\./,
    /^\{"id":"ap_[0-9a-z]+","approvedBy":"alice","expiresAt":"2026-11-26T21:\d\d:\d\d\.\d+Z"\}$/,
    /^\{"decision":"allow","approvedBy":"alice","notes":"paper ran the fix for 6 h, P&L matches backtest"\}$/,
    /^audit log OK: \d+ records in \d+ files?/,
  ];
  let at = 0;
  for (const re of expectInOrder) {
    const found = lines.findIndex((l, i) => i >= at && re.test(l));
    t.ok(found >= 0, `output has ${re} (after line ${at})`);
    if (found >= 0) at = found + 1;
  }
  // the consuming allow and its replay carry the same decision id
  const consumed = lines.find((l) => l.includes('"consumed":true'));
  const replayed = lines.find((l) => l.includes('"replayed":true'));
  t.equal(consumed && JSON.parse(consumed).id, replayed && JSON.parse(replayed).id, 'the replay is the same decision');
  // the audit table shows every step with who and why
  const table = lines.slice(at).map((l) => l.split('\t'));
  const has = (type: string, actor: string, extra = '') => table.some((r) => r[2] === type && r[3] === actor && r.join(' ').includes(extra));
  t.ok(has('testresult.recorded', 'github-ci'), 'test results, by the CI token');
  t.ok(has('decision', 'kargo', 'tests_failed'), 'the denied beta decision, by Kargo, with its reason');
  t.ok(has('decision', 'kargo', 'market_open'), 'the waiting paper decision');
  t.ok(has('breakglass.issued', 'olivia'), 'the grant, by the operator');
  t.ok(has('breakglass.consumed', 'kargo'), 'its consumption');
  t.ok(has('approval.recorded', 'alice'), 'the approval, by the approver');
  t.ok(has('decision', 'kargo', 'approval_applied'), 'the live allow');
});

t.test('the walk-through run again in the same shell (its GATE_DATA_DIR still exported): each run starts a new data directory and works', skipUnlessTools, async (t) => {
  // mktemp -d makes them under TMPDIR: here, a directory of the test's own
  const tmp = await tempDir(t, 'walkthrough-tmp-');
  let first = '';
  for (const run of [1, 2]) {
    // the second run sees the GATE_DATA_DIR the first one exported, as in one terminal
    const { code, out, err } = await runWalkthrough(t, { GATE_PORT: String(await freePort()), TMPDIR: tmp, ...(first ? { GATE_DATA_DIR: first } : {}) });
    first ||= join(tmp, (await readdir(tmp)).find((name) => name.startsWith('tmp.')) ?? 'none');
    t.equal(code, 0, `run ${run} ran to the end\nstderr: ${err.slice(-1000)}`);
    t.match(out, /\{"decision":"allow","approvedBy":"alice","notes":"paper ran the fix for 6 h, P&L matches backtest"\}/, `run ${run}: live allowed with the approval (its tokens are valid)`);
  }
  const made = (await readdir(tmp)).filter((name) => name.startsWith('tmp.'));
  t.equal(made.length, 2, `two data directories (mktemp's tmp.*), one per run: ${(await readdir(tmp)).join(' ')}`);
});

t.test('the walk-through with a quieter log level set in the reader\'s shell (GATE_LOG_LEVEL=warn): it still runs to the end', skipUnlessTools, async (t) => {
  const { code, out, err, killed } = await runWalkthrough(t, { GATE_PORT: String(await freePort()), TMPDIR: await tempDir(t, 'walkthrough-quiet-'), GATE_LOG_LEVEL: 'warn' }, 60_000);
  t.notOk(killed, 'it does not wait for ever');
  t.equal(code, 0, `it ran to the end\nstderr: ${err.slice(-1000)}`);
  t.match(out, /audit log OK: \d+ records/);
});

for (const [what, squatter] of [
  ['something that is not HTTP', () => createServer((socket) => socket.destroy())],
  // an earlier walk-through's gate, still running: /readyz 200 from it
  ["another gate (/readyz 200), which the wait must not take for this run's", () => createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'))],
] as const) {
  t.test(`the walk-through on a port taken by ${what}: it stops, showing why, before any step runs`, skipUnlessTools, async (t) => {
    const taken: Server = squatter();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    t.teardown(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const port = (taken.address() as AddressInfo).port;
    const { code, out, killed } = await runWalkthrough(t, { GATE_PORT: String(port), TMPDIR: await tempDir(t, 'walkthrough-busy-') }, 60_000);
    t.notOk(killed, 'the script ended by itself');
    t.not(code, 0, 'and failed');
    t.match(out, /EADDRINUSE/, "gate.log's reason is shown");
    t.notMatch(out, /"decision"/, 'no step ran');
  });
}

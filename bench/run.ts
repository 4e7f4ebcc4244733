// npm run bench: throughput and latency of POST /v1/decisions (allow path, audit log on local
// disk, fsync on) against a bare fastify route answering JSON of the same size, at 1, 10 and 50
// connections, in one run; then the audit log's own figures (append cost at 1,000 vs 1,000,000
// records, start-up with 1,000,000 records).
//   npm run bench -- [--seconds=5] [--connections=1,10,50] [--no-audit] [--big=1000000]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { REPO_ROOT, spawnGate } from '../test/helpers/spawn-gate.ts';
import { runAuditBench } from './audit.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '1,10,50' },
    'no-audit': { type: 'boolean', default: false },
    big: { type: 'string', default: '1000000' },
  },
});
const seconds = Number(values.seconds);
const levels = values.connections.split(',').map(Number);

interface Figures {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  /** the server process's CPU time (all threads, user + system) per answered request, µs; null without /proc */
  serverCpuUs: number | null;
  /** the load generator's own CPU time per request, µs */
  loadCpuUs: number;
}

/** CPU time (user + system, all threads) a process has used so far, in µs; null where /proc is not there. */
async function cpuOf(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // fields after the command name (which may hold spaces) start at the last ')'
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return null;
  }
}
const CLOCK_TICKS = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  return Number(r.stdout) > 0 ? Number(r.stdout) : 100;
})();

async function load(url: string, connections: number, opts: { pid?: number; headers?: Record<string, string>; body?: string; uniquePromotions?: boolean }): Promise<Figures> {
  let n = 0;
  const base: autocannon.Options = {
    url,
    connections,
    duration: seconds,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(opts.headers ?? {}) },
  };
  const cpu0 = await cpuOf(opts.pid);
  const own0 = process.cpuUsage();
  const result = await autocannon(
    opts.uniquePromotions
      ? {
          ...base,
          // every request is a new Kargo promotion: the allow is recorded and the promotion remembered
          requests: [{ setupRequest: (req) => ({ ...req, body: (opts.body as string).replace('"PROMOTION"', `"bench-${connections}-${++n}"`) }) }],
        }
      : { ...base, body: opts.body },
  );
  const own = process.cpuUsage(own0);
  const cpu1 = await cpuOf(opts.pid);
  const answered = Math.max(1, result.requests.total);
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    serverCpuUs: cpu0 === null || cpu1 === null ? null : (cpu1 - cpu0) / answered,
    loadCpuUs: (own.user + own.system) / answered,
  };
}

function startBare(bodyFile: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bench', 'bare-server.ts'), bodyFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\S+)/.exec(out);
      if (m?.[1]) resolve({ child, url: m[1] });
    });
    child.on('exit', (code) => reject(new Error(`bare server exited ${code}`)));
  });
}

const work = await mkdtemp(join(tmpdir(), 'gate-bench-'));
const cfg = join(work, 'gate.yaml');
// the allow path: beta, tests recorded as passed (integration-test requirement lifted), market closed
await writeFile(cfg, 'stages:\n  beta: { requireIntegrationTests: false }\naudit: { fsync: true }\n');
// its log (a line per request) goes to a file, as a container's stdout goes to its runtime: read
// through a pipe by this process, it took the load generator's CPU (about 10 µs per request)
const gate = await spawnGate({ dataDir: join(work, 'data'), env: { GATE_CONFIG: cfg, GATE_NOW: '2026-11-25T22:00:00Z' }, logFile: join(work, 'gate.log') });
const token = gate.tokens['kargo'] as string;
const decisionBody = JSON.stringify({ project: 'stonks-pipeline', stage: 'beta', imageTag: '3f2a9c1e5b7d4a6f8e0c2b4d6a8f0e1c3b5d7a9f', promotion: 'PROMOTION', freight: '9a8b7c6d5e4f', actor: 'admin' });
const sample = await fetch(`${gate.url}/v1/decisions`, {
  method: 'POST',
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  body: decisionBody.replace('"PROMOTION"', '"bench-sample"'),
});
const sampleText = await sample.text();
if (JSON.parse(sampleText).decision !== 'allow') throw new Error(`bench: the sample decision is not an allow: ${sampleText}`);
const bodyFile = join(work, 'body.json');
await writeFile(bodyFile, sampleText);
const bare = await startBare(bodyFile);

console.log(`# POST /v1/decisions (allow, audit fsync on) vs a bare fastify route answering JSON of the same size, ${seconds}s each`);
console.log('# both get the same requests: the decision body with a new promotion name each time (every allow is a new Kargo promotion)');
console.log(`# answer size ${Buffer.byteLength(sampleText)} bytes; node ${process.version}; ${(await import('node:os')).cpus().length} CPUs shared by the server and the load generator`);
console.log('| connections | bare req/s | bare p50 ms | bare p99 ms | bare CPU µs/req | gate req/s | gate p50 ms | gate p99 ms | gate CPU µs/req | gate/bare | errors |');
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
const us = (v: number | null) => (v === null ? 'n/a' : v.toFixed(0));
const rows = [];
for (const c of levels) {
  const a = await load(`${bare.url}/bare`, c, { pid: bare.child.pid, body: decisionBody, uniquePromotions: true });
  const b = await load(`${gate.url}/v1/decisions`, c, { pid: gate.child.pid, headers: { authorization: `Bearer ${token}` }, body: decisionBody, uniquePromotions: true });
  const ratio = b.rps / a.rps;
  rows.push({ c, a, b, ratio });
  console.log(
    `| ${c} | ${a.rps.toFixed(0)} | ${a.p50} | ${a.p99} | ${us(a.serverCpuUs)} | ${b.rps.toFixed(0)} | ${b.p50} | ${b.p99} | ${us(b.serverCpuUs)} | ${ratio.toFixed(2)} | ${a.errors + a.non2xx + b.errors + b.non2xx} |`,
  );
}
const at50 = rows.find((r) => r.c === 50);
if (at50) {
  console.log(`target at 50 connections: gate/bare >= 0.5 -> ${at50.ratio.toFixed(2)} ${at50.ratio >= 0.5 ? 'PASS' : 'MISS'}; gate p99 <= 20 ms -> ${at50.b.p99} ms ${at50.b.p99 <= 20 ? 'PASS' : 'MISS'}`);
  console.log(`load generator CPU per request at 50 connections: bare ${at50.a.loadCpuUs.toFixed(0)} µs, gate ${at50.b.loadCpuUs.toFixed(0)} µs`);
  const fixed = await load(`${bare.url}/bare`, 50, { pid: bare.child.pid, body: decisionBody });
  console.log(`for reference, the bare route with one fixed body (less work for the load generator): ${fixed.rps.toFixed(0)} req/s, p99 ${fixed.p99} ms`);
  // the same requests through everything but the recording (audit record, fsync, state): splits
  // the gap to the bare route into answering and recording
  const preview = await load(`${gate.url}/v1/decisions/preview`, 50, { pid: gate.child.pid, headers: { authorization: `Bearer ${token}` }, body: decisionBody, uniquePromotions: true });
  console.log(
    `the same evaluation answered without recording it (POST /v1/decisions/preview): ${preview.rps.toFixed(0)} req/s (${(preview.rps / at50.a.rps).toFixed(2)} of bare), p99 ${preview.p99} ms, gate CPU ${us(preview.serverCpuUs)} µs/req, errors ${preview.errors + preview.non2xx}`,
  );
}
bare.child.kill('SIGTERM');
await gate.stop('SIGTERM');
await rm(work, { recursive: true, force: true });

if (!values['no-audit']) {
  console.log('\n# audit log');
  await runAuditBench({ big: Number(values.big), print: (line) => console.log(line) });
  await benchGateStartup(Number(values.big));
}

/**
 * Start-up of the whole gate process (spawn to listening, and to /readyz 200) on a data
 * directory whose audit log already holds `records` records, against an empty one; run from the
 * build (dist/, as in the image) and from source.
 */
async function benchGateStartup(records: number): Promise<void> {
  const { writeSyntheticLog } = await import('../test/audit/synthetic-log.ts');
  const { emptyState } = await import('../src/policy/state.ts');
  const { parseConfig } = await import('../src/config.ts');
  const { createToken, tokenFilePath } = await import('../src/auth/local-tokens.ts');
  const { spawnSync } = await import('node:child_process');
  const base = await mkdtemp(join(tmpdir(), 'gate-startup-'));
  // npm run build: dist/ inside the repository, where node_modules resolves
  const build = join(REPO_ROOT, 'dist');
  const built = spawnSync(join(REPO_ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json'], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`build failed: ${built.stdout}${built.stderr}`);
  const prepare = async (name: string, n: number) => {
    const dir = join(base, name);
    await mkdir(join(dir, 'audit'), { recursive: true });
    const head = n > 0 ? writeSyntheticLog(join(dir, 'audit'), n) : { seq: 0, bytes: 0, files: 0 };
    // a checkpoint at the head, as a gate that stopped cleanly leaves it
    await writeFile(join(dir, 'state.json'), JSON.stringify({ ...emptyState(parseConfig({}).stages), auditSeq: head.seq }));
    await createToken(tokenFilePath(dir), 'kargo', ['caller'], new Date(), 'tok_bench');
    return { dir, head };
  };
  const t0 = performance.now();
  const big = await prepare('big', records);
  console.log(`\n# gate start-up (generated ${records.toLocaleString('en-US')} records, ${(big.head.bytes / 2 ** 20).toFixed(0)} MiB in ${big.head.files} files, in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  const empty = await prepare('empty', 0);
  console.log('| entry | log | to listening, ms (median of 5) | to /readyz 200, ms |');
  console.log('|---|---|---:|---:|');
  for (const [entryName, entry] of [
    ['dist/server.js (image)', join(build, 'server.js')],
    ['src/server.ts (npm start)', join(REPO_ROOT, 'src', 'server.ts')],
  ] as const) {
    for (const [label, data] of [
      ['empty', empty],
      [`${records.toLocaleString('en-US')} records`, big],
    ] as const) {
      const listen: number[] = [];
      const ready: number[] = [];
      for (let i = 0; i < 5; i++) {
        const started = performance.now();
        const g = await spawnGate({ dataDir: data.dir, entry, env: { GATE_LOG_LEVEL: 'info' } });
        listen.push(performance.now() - started);
        while ((await fetch(`${g.url}/readyz`)).status !== 200) await new Promise((r) => setTimeout(r, 5));
        ready.push(performance.now() - started);
        await g.stop('SIGTERM');
      }
      const med = (a: number[]) => [...a].sort((x, y) => x - y)[2]!.toFixed(0);
      console.log(`| ${entryName} | ${label} | ${med(listen)} | ${med(ready)} |`);
    }
  }
  await rm(base, { recursive: true, force: true });
}

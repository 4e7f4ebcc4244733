/**
 * Do heavy GET /v1/audit queries delay decisions? (run: `npx node bench/audit-contention.ts`)
 * A real gate (spawned, beta decisions allowed, audit fsync on) on a data directory whose audit
 * log already holds `--records` records (synthetic, chained; the gate rebuilds its state from
 * them at start-up). One decision client sends POST /v1/decisions at `--rate` per second (open
 * loop: each on its schedule, whether the one before has been answered or not; `--rate=0`: one
 * connection, back to back) for `--seconds`; meanwhile K clients each loop worst-case queries
 * (a stage nothing has, `since` in 2000 so every line is parsed: a full scan budget of lines per
 * request, following nextCursor to the end of the log and starting over). Each K of `--ks` is run
 * `--rounds` times, the order reversed every other round, so noise shows. Prints per run:
 * decisions answered, their latency p50/p99/max, and queries answered per second.
 *   npx node bench/audit-contention.ts [--records=150000] [--seconds=6] [--ks=0,1,4,16] [--rounds=2] [--rate=50]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_SCAN_LIMIT } from '../src/audit/query-page.ts';
import { syntheticEntry, writeSyntheticLog } from '../test/audit/synthetic-log.ts';
import { stats } from './audit.ts';
import { spawnGate } from '../test/helpers/spawn-gate.ts';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '150000' },
    seconds: { type: 'string', default: '6' },
    ks: { type: 'string', default: '0,1,4,16' },
    rounds: { type: 'string', default: '2' },
    rate: { type: 'string', default: '50' },
  },
});
const records = Number(values.records);
const seconds = Number(values.seconds);
const ks = values.ks.split(',').map(Number);
const rounds = Number(values.rounds);
const rate = Number(values.rate);

const work = await mkdtemp(join(tmpdir(), 'audit-contention-'));
const gate = await (async () => {
  const dataDir = join(work, 'data');
  // records a second apart from 2026-10-01, well before the gate's clock (GATE_NOW below)
  const start = Date.parse('2026-10-01T00:00:00Z');
  writeSyntheticLog(join(dataDir, 'audit'), records, { entry: (i) => syntheticEntry(i, start) });
  const cfg = join(work, 'gate.yaml');
  await writeFile(cfg, 'stages:\n  beta: { requireIntegrationTests: false }\naudit: { fsync: true }\n');
  const t0 = performance.now();
  // the allow path as in bench/run.ts: beta, tests not required, after the close
  const g = await spawnGate({ dataDir, env: { GATE_CONFIG: cfg, GATE_NOW: '2026-11-25T22:00:00Z' }, logFile: join(work, 'gate.log'), timeoutMs: 300_000 });
  console.log(`# ${records} records in the log; the gate rebuilt its state and listened in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return g;
})();

try {
  const kargo = { authorization: `Bearer ${gate.tokens['kargo']}`, 'content-type': 'application/json' };
  const auditor = { authorization: `Bearer ${gate.tokens['admin']}` };
  let promotion = 0;
  const body = () =>
    JSON.stringify({ project: 'stonks-pipeline', stage: 'beta', imageTag: '3f2a9c1e5b7d4a6f8e0c2b4d6a8f0e1c3b5d7a9f', promotion: `contention-${++promotion}`, freight: '9a8b7c6d5e4f', actor: 'admin' });

  /** one decision; its latency in ms (throws unless it is an allow) */
  async function decide(): Promise<number> {
    const t0 = performance.now();
    const res = await fetch(`${gate.url}/v1/decisions`, { method: 'POST', headers: kargo, body: body() });
    const answer = (await res.json()) as { decision?: string };
    const ms = performance.now() - t0;
    if (answer.decision !== 'allow') throw new Error(`bench: a decision was not an allow: ${res.status} ${JSON.stringify(answer)}`);
    return ms;
  }
  await decide(); // warm-up

  /**
   * K query clients until `stop`; how many queries they had answered, and how many the gate shed
   * (503 audit_reads_saturated: more than the reads it lets wait, 32 past the one at work), after
   * each of which the client waits the answer's retry-after, as a client should
   */
  function queryClients(k: number, stop: AbortSignal): Promise<{ answered: number; shed: number }> {
    let answered = 0;
    let shed = 0;
    const client = async () => {
      let cursor: number | null = null;
      while (!stop.aborted) {
        const url = `${gate.url}/v1/audit?stage=nope&since=2000-01-01T00:00:00Z&limit=50${cursor === null ? '' : `&cursor=${cursor}`}`;
        const res = await fetch(url, { headers: auditor });
        const page = (await res.json()) as { records?: unknown[]; nextCursor?: number | null; error?: string };
        if (res.status === 503 && page.error === 'audit_reads_saturated') {
          shed += 1;
          await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? 1) * 1000));
          continue;
        }
        if (res.status !== 200 || page.records?.length !== 0) throw new Error(`bench: unexpected query answer ${res.status} ${JSON.stringify(page).slice(0, 200)}`);
        answered += 1;
        cursor = page.nextCursor ?? null;
      }
    };
    return Promise.all(Array.from({ length: k }, client)).then(() => ({ answered, shed }));
  }

  /** decisions for `seconds`: at `rate` per second on a fixed schedule, or back to back */
  async function decisions(): Promise<number[]> {
    const latencies: number[] = [];
    const end = performance.now() + seconds * 1000;
    if (rate <= 0) {
      while (performance.now() < end) latencies.push(await decide());
      return latencies;
    }
    const inFlight: Promise<void>[] = [];
    const start = performance.now();
    for (let i = 0; start + (i * 1000) / rate < end; i++) {
      const due = start + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      inFlight.push(decide().then((ms) => void latencies.push(ms)));
    }
    await Promise.all(inFlight);
    return latencies;
  }

  console.log(`# node ${process.version}; ${cpus().length} CPUs shared by the gate and this client; decisions ${rate > 0 ? `at ${rate}/s, open loop` : 'back to back on one connection'}, ${seconds} s per run`);
  console.log(`# each query: stage=nope, since=2000-01-01 (every line parsed), ${DEFAULT_SCAN_LIMIT} lines examined, following nextCursor`);
  console.log('| round | K query clients | decisions answered | decision p50 ms | p99 ms | max ms | queries/s | queries shed (503) |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (let round = 1; round <= rounds; round++) {
    for (const k of round % 2 === 1 ? ks : [...ks].reverse()) {
      const stop = new AbortController();
      const queries = queryClients(k, stop.signal);
      if (k > 0) await new Promise((r) => setTimeout(r, 300)); // the queries under way first
      const t0 = performance.now();
      const lat = stats(await decisions());
      const elapsed = (performance.now() - t0) / 1000;
      stop.abort();
      const { answered, shed } = await queries;
      console.log(
        `| ${round} | ${k} | ${lat.n} | ${lat.p50Ms.toFixed(1)} | ${lat.p99Ms.toFixed(1)} | ${lat.maxMs.toFixed(1)} | ${(answered / elapsed).toFixed(1)} | ${shed} |`,
      );
    }
  }
} finally {
  await gate.stop();
  await rm(work, { recursive: true, force: true });
}

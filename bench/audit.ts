// Audit log benchmark: append latency at 1,000 vs 1,000,000 records, start-up time on the big
// log, and group-commit throughput with 1, 10 and 50 concurrent appenders. fsync on, files in a
// temp directory on local disk, removed afterwards.
//   npx node bench/audit.ts [--big=1000000] [--small=1000] [--samples=1000] [--ms=2000] [--verify]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AuditEntry } from '../src/audit/event.ts';
import { openFileAuditLog, type FileAuditLog } from '../src/audit/file-log.ts';
import { verifyAuditLog } from '../src/audit/verify.ts';
import { syntheticEntry, writeSyntheticLog } from '../test/audit/synthetic-log.ts';

export interface AuditBenchOptions {
  /** records already in the small log (default 1,000) */
  small?: number;
  /** records already in the big log (default 1,000,000) */
  big?: number;
  /** measured appends per log (default 1,000), the two logs alternating */
  samples?: number;
  /** duration of each concurrency level, ms (default 2,000) */
  throughputMs?: number;
  concurrency?: number[];
  startupRuns?: number;
  /** also time `verifyAuditLog` over the big log */
  verify?: boolean;
  /** parent of the temp directory (default os.tmpdir()) */
  baseDir?: string;
  print?: (line: string) => void;
}

export interface LatencyStats {
  n: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface AuditBenchResult {
  generation: { records: number; bytes: number; files: number; ms: number };
  append: { small: LatencyStats; big: LatencyStats; ratioMean: number; ratioP50: number; ratioP99: number; target: number; pass: boolean };
  startup: { records: number; runsMs: number[]; firstMs: number; medianMs: number; maxMs: number; bytesRead: number; targetMs: number; pass: boolean };
  query: { newestPageMs: number; deepCursorPageMs: number; sinceLast10Ms: number };
  concurrency: { appenders: number; records: number; seconds: number; perSecond: number; batches: number; recordsPerBatch: number; meanLatencyMs: number; p99LatencyMs: number; maxLatencyMs: number }[];
  verify: { records: number; ms: number; ok: boolean } | null;
}

/** Mean, p50, p99 and max of latency samples (ms). */
export function stats(samples: number[]): LatencyStats {
  const s = [...samples].sort((a, b) => a - b);
  const pick = (q: number) => s[Math.min(s.length - 1, Math.floor(q * (s.length - 1)))]!;
  return { n: s.length, meanMs: s.reduce((a, b) => a + b, 0) / s.length, p50Ms: pick(0.5), p99Ms: pick(0.99), maxMs: s[s.length - 1]! };
}

const f = (ms: number) => ms.toFixed(3);

/** entries stamped with the real clock, so they land in today's file like the generated tail */
function liveEntry(i: number): AuditEntry {
  return { ...syntheticEntry(i), at: new Date().toISOString() };
}

async function timeAppend(log: FileAuditLog, i: number): Promise<number> {
  const t0 = performance.now();
  await log.append([liveEntry(i)]);
  return performance.now() - t0;
}

export async function runAuditBench(opts: AuditBenchOptions = {}): Promise<AuditBenchResult> {
  const small = opts.small ?? 1000;
  const big = opts.big ?? 1_000_000;
  const samples = opts.samples ?? 1000;
  const throughputMs = opts.throughputMs ?? 2000;
  const levels = opts.concurrency ?? [1, 10, 50];
  const startupRuns = opts.startupRuns ?? 5;
  const print = opts.print ?? ((l: string) => console.log(l));
  const root = mkdtempSync(join(opts.baseDir ?? tmpdir(), 'audit-bench-'));
  try {
    // Both logs end "now" (one record per second), so measured appends go on in the newest file.
    const endMs = Date.now();
    const smallDir = join(root, 'small');
    const bigDir = join(root, 'big');
    writeSyntheticLog(smallDir, small, { entry: (i) => syntheticEntry(i, endMs - small * 1000) });
    const g0 = performance.now();
    const made = writeSyntheticLog(bigDir, big, { entry: (i) => syntheticEntry(i, endMs - big * 1000) });
    const generation = { records: big, bytes: made.bytes, files: made.files, ms: performance.now() - g0 };
    print(`generated ${big} records (${(made.bytes / 2 ** 20).toFixed(0)} MiB, ${made.files} files) in ${(generation.ms / 1000).toFixed(1)} s, written directly with a correct chain`);

    // Start-up on the big log: open (tail read) + close.
    const runsMs: number[] = [];
    let bytesRead = 0;
    for (let r = 0; r < startupRuns; r++) {
      const t0 = performance.now();
      const log = await openFileAuditLog({ dir: bigDir });
      runsMs.push(performance.now() - t0);
      bytesRead = log.stats().startupBytesRead;
      if (log.head().seq !== big) throw new Error(`big log head ${log.head().seq} != ${big}`);
      await log.close();
    }
    const sortedRuns = [...runsMs].sort((a, b) => a - b);
    const startup = { records: big, runsMs, firstMs: runsMs[0]!, medianMs: sortedRuns[Math.floor(sortedRuns.length / 2)]!, maxMs: sortedRuns.at(-1)!, bytesRead, targetMs: 1000, pass: sortedRuns.at(-1)! < 1000 };
    print(`start-up with ${big} records (open + tail read + close): first ${f(startup.firstMs)} ms (includes JIT/zod warm-up), median ${f(startup.medianMs)} ms, max ${f(startup.maxMs)} ms over ${startupRuns} runs; ${bytesRead} bytes read of ${made.bytes} (target < 1000 ms: ${startup.pass ? 'met' : 'MISSED'})`);

    // Append latency, fsync on, one append at a time, the two logs interleaved in rounds.
    const smallLog = await openFileAuditLog({ dir: smallDir });
    const bigLog = await openFileAuditLog({ dir: bigDir });
    for (let i = 0; i < 20; i++) {
      await timeAppend(smallLog, i);
      await timeAppend(bigLog, i);
    }
    // Alternate the logs append by append (ABBA), so disk noise falls on both alike.
    const smallS: number[] = [];
    const bigS: number[] = [];
    for (let i = 0; i < samples; i++) {
      if (i % 2 === 0) {
        smallS.push(await timeAppend(smallLog, i));
        bigS.push(await timeAppend(bigLog, i));
      } else {
        bigS.push(await timeAppend(bigLog, i));
        smallS.push(await timeAppend(smallLog, i));
      }
    }
    const a = stats(smallS);
    const b = stats(bigS);
    const append = { small: a, big: b, ratioMean: b.meanMs / a.meanMs, ratioP50: b.p50Ms / a.p50Ms, ratioP99: b.p99Ms / a.p99Ms, target: 1.2, pass: b.meanMs / a.meanMs <= 1.2 };
    print(`append latency (fsync on, 1 record, one at a time, the two logs alternating), ${a.n} samples each:`);
    print(`  with ${small} records in the log:     mean ${f(a.meanMs)} ms  p50 ${f(a.p50Ms)} ms  p99 ${f(a.p99Ms)} ms  max ${f(a.maxMs)} ms`);
    print(`  with ${big} records in the log:  mean ${f(b.meanMs)} ms  p50 ${f(b.p50Ms)} ms  p99 ${f(b.p99Ms)} ms  max ${f(b.maxMs)} ms`);
    print(`  ratio big/small: mean ${append.ratioMean.toFixed(3)}  p50 ${append.ratioP50.toFixed(3)}  p99 ${append.ratioP99.toFixed(3)} (target mean <= 1.2: ${append.pass ? 'met' : 'MISSED'})`);

    // A few reads on the big log.
    const tq = async (fn: () => Promise<unknown>) => {
      const t0 = performance.now();
      await fn();
      return performance.now() - t0;
    };
    const query = {
      newestPageMs: await tq(() => bigLog.query({ limit: 100 })),
      deepCursorPageMs: await tq(() => bigLog.query({ limit: 100, cursor: 1000 })),
      sinceLast10Ms: await tq(() => bigLog.since(bigLog.head().seq - 10)),
    };
    print(`reads on the big log: newest page of 100 ${f(query.newestPageMs)} ms, page of 100 below seq 1000 ${f(query.deepCursorPageMs)} ms, since(head-10) ${f(query.sinceLast10Ms)} ms`);
    await smallLog.close();
    await bigLog.close();

    // Group commit: N appenders, each appending one record at a time, for throughputMs.
    const concurrency: AuditBenchResult['concurrency'] = [];
    print(`group commit, fsync on, ${throughputMs} ms per level:`);
    for (const n of levels) {
      const dir = join(root, `conc-${n}`);
      const log = await openFileAuditLog({ dir });
      await log.append([liveEntry(0)]);
      const before = log.stats();
      const lat: number[] = [];
      const until = performance.now() + throughputMs;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: n }, async (_, k) => {
          let i = 0;
          while (performance.now() < until) lat.push(await timeAppend(log, k * 1_000_000 + i++));
        }),
      );
      const seconds = (performance.now() - t0) / 1000;
      const after = log.stats();
      const records = after.records - before.records;
      const batches = after.batches - before.batches;
      await log.close();
      const l = stats(lat);
      const row = { appenders: n, records, seconds, perSecond: records / seconds, batches, recordsPerBatch: records / batches, meanLatencyMs: l.meanMs, p99LatencyMs: l.p99Ms, maxLatencyMs: l.maxMs };
      concurrency.push(row);
      print(
        `  ${String(n).padStart(2)} appenders: ${row.perSecond.toFixed(0).padStart(6)} records/s, ${batches} fsynced batches, ${row.recordsPerBatch.toFixed(1)} records/batch, latency mean ${f(l.meanMs)} p99 ${f(l.p99Ms)} max ${f(l.maxMs)} ms`,
      );
      rmSync(dir, { recursive: true, force: true });
    }

    let verify: AuditBenchResult['verify'] = null;
    if (opts.verify) {
      const t0 = performance.now();
      const v = await verifyAuditLog(bigDir);
      verify = { records: v.count, ms: performance.now() - t0, ok: v.ok };
      print(`verify of the big log: ${v.ok ? 'OK' : 'BROKEN'}, ${v.count} records in ${(verify.ms / 1000).toFixed(1)} s`);
    }
    return { generation, append, startup, query, concurrency, verify };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function argNum(name: string): number | undefined {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a === undefined ? undefined : Number(a.split('=')[1]);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`audit bench: node ${process.version}, temp dir ${tmpdir()}`);
  await runAuditBench({
    big: argNum('big'),
    small: argNum('small'),
    samples: argNum('samples'),
    throughputMs: argNum('ms'),
    verify: process.argv.includes('--verify'),
  });
}

/**
 * The audit log's read paths at scale (run: `npx node --expose-gc bench/audit-reads.ts [records]`).
 * Prints, on a generated log (default 200,000 records):
 *  - GET /v1/audit with a filter nothing matches: CPU, bytes read and whether the page is partial,
 *    with the scan budget (DEFAULT_SCAN_LIMIT) and without it;
 *  - a state rebuilt from scratch: peak heap growth of replayAuditTail (streamed) against
 *    collecting the whole log with since(0).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFileAuditLog } from '../src/audit/file-log.ts';
import { DEFAULT_SCAN_LIMIT } from '../src/audit/query-page.ts';
import { parseConfig } from '../src/config.ts';
import { replayAuditTail } from '../src/gate/recorder.ts';
import { emptyState } from '../src/policy/state.ts';
import { createMemoryStore } from '../src/store/memory-store.ts';
import { writeSyntheticLog } from '../test/audit/synthetic-log.ts';

const n = Number(process.argv[2] ?? 200_000);
const dir = mkdtempSync(join(tmpdir(), 'audit-reads-'));
try {
  writeSyntheticLog(dir, n);
  console.log(`# ${n} records; node ${process.version}`);

  console.log('GET /v1/audit, a filter nothing matches (stage "nope"):');
  for (const [name, scanLimit] of [['unbounded', Number.MAX_SAFE_INTEGER], [`budget ${DEFAULT_SCAN_LIMIT}`, DEFAULT_SCAN_LIMIT]] as const) {
    const log = await openFileAuditLog({ dir, scanLimit });
    for (const q of [{ limit: 50, stage: 'nope' }, { limit: 50, stage: 'nope', since: '2000-01-01T00:00:00Z' }]) {
      const bytes0 = log.stats().bytesRead;
      const cpu0 = process.cpuUsage();
      const page = await log.query(q);
      const cpu = process.cpuUsage(cpu0);
      const label = 'since' in q ? 'with since (every line parsed)' : 'stage only';
      console.log(
        `  ${name.padEnd(14)} ${label.padEnd(31)} CPU ${((cpu.user + cpu.system) / 1000).toFixed(0).padStart(5)} ms, read ${((log.stats().bytesRead - bytes0) / 1e6).toFixed(1).padStart(6)} MB, partial ${page.partial}, nextCursor ${page.nextCursor}`,
      );
    }
    await log.close();
  }

  console.log('a state rebuilt from scratch (peak heap growth while reading every record):');
  for (const mode of ['replayAuditTail (streamed)', 'since(0) (one array)'] as const) {
    const log = await openFileAuditLog({ dir });
    (globalThis as { gc?: () => void }).gc?.();
    const base = process.memoryUsage().heapUsed;
    let peak = 0;
    const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed - base)), 5);
    const t0 = performance.now();
    const count = mode.startsWith('replay') ? await replayAuditTail(log, createMemoryStore(emptyState(parseConfig({}).stages))) : (await log.since(0)).length;
    clearInterval(sample);
    peak = Math.max(peak, process.memoryUsage().heapUsed - base);
    console.log(`  ${mode.padEnd(27)} ${count} records in ${((performance.now() - t0) / 1000).toFixed(1)} s, peak heap growth ${(peak / 1048576).toFixed(0)} MB`);
    await log.close();
  }
  if (!(globalThis as { gc?: () => void }).gc) console.log('  (run with --expose-gc for a clean baseline)');
} finally {
  rmSync(dir, { recursive: true, force: true });
}

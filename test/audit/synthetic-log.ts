import { closeSync, fdatasyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { GENESIS_HASH, type AuditEntry } from '../../src/audit/event.ts';
import { sealRecord } from '../../src/audit/record.ts';
import { segmentName, utcDay } from '../../src/audit/segments.ts';

const TYPES = ['decision', 'refusal', 'breakglass.issued', 'breakglass.consumed', 'stage.toggled'] as const;
const STAGES = ['qa', 'prod', null] as const;

/** Record i of a synthetic log (1-based): type, stage and at cycle predictably; at is startMs + i seconds. */
export function syntheticEntry(i: number, startMs = Date.parse('2026-11-26T00:00:00.000Z')): AuditEntry {
  const type = TYPES[i % TYPES.length]!;
  return {
    at: new Date(startMs + i * 1000).toISOString(),
    type,
    id: `id-${i}`,
    actor: { name: 'kargo', groups: ['promoters'], via: 'local-token' },
    requestedBy: 'admin',
    project: 'stonks',
    stage: STAGES[i % STAGES.length]!,
    imageTag: `v1.2.${i}`,
    promotion: `promo-${i}`,
    decision: type === 'decision' ? 'allow' : null,
    reasons: [{ code: 'MARKET_OPEN', message: 'market is open' }],
    breakGlass: null,
    approval: null,
    data: { i },
  };
}

/**
 * Writes `count` chained records straight to files in `dir`, as the file log would lay them
 * out (day and size rollover, same names), without going through append: fast set-up for big
 * logs. Each file is fdatasynced when done, so no write-back of it lingers. Returns the head.
 */
export function writeSyntheticLog(
  dir: string,
  count: number,
  opts: { maxFileBytes?: number; entry?: (i: number) => AuditEntry } = {},
): { seq: number; hash: string; files: number; bytes: number } {
  const maxFileBytes = opts.maxFileBytes ?? 64 * 1024 * 1024;
  const makeEntry = opts.entry ?? ((i: number) => syntheticEntry(i));
  mkdirSync(dir, { recursive: true });
  let prev = GENESIS_HASH;
  let fd: number | null = null;
  let day = '';
  let size = 0;
  let files = 0;
  let bytes = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = () => {
    if (fd !== null && pendingBytes > 0) writeSync(fd, Buffer.concat(pending, pendingBytes));
    pending = [];
    pendingBytes = 0;
  };
  for (let seq = 1; seq <= count; seq++) {
    const { record: rec, line } = sealRecord(makeEntry(seq), seq, prev);
    prev = rec.hash;
    const buf = Buffer.from(line);
    const recDay = utcDay(rec.at, () => new Date());
    if (fd === null || recDay !== day || (size > 0 && size + buf.length > maxFileBytes)) {
      flush();
      if (fd !== null) {
        fdatasyncSync(fd);
        closeSync(fd);
      }
      fd = openSync(join(dir, segmentName(recDay, seq)), 'w');
      day = recDay;
      size = 0;
      files += 1;
    }
    pending.push(buf);
    pendingBytes += buf.length;
    size += buf.length;
    bytes += buf.length;
    if (pendingBytes > 1 << 20) flush();
  }
  flush();
  if (fd !== null) {
    fdatasyncSync(fd);
    closeSync(fd);
  }
  return { seq: count, hash: prev, files, bytes };
}

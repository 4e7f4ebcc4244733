import { join } from 'node:path';
import type { AuditFileHandle, AuditFs } from './audit-fs.ts';
import { hashRecord } from './canonical-json.ts';
import { AuditEventV1Schema, GENESIS_HASH, type AuditEventV1 } from './event.ts';
import { readLinesBackward, type LineSpan } from './line-reader.ts';
import { listSegments, type Segment } from './segments.ts';

/** The newest complete record on disk does not check out: the log must be looked at (audit verify). */
export class AuditCorruptError extends Error {
  override name = 'AuditCorruptError';
}

export interface AuditLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** Where the log ends after start-up: the head record and the file that holds it. */
export interface TailState {
  seq: number;
  hash: string;
  /** the newest file, holding the head record; null for an empty log */
  file: Segment | null;
  /** its size once repaired: the end of its last complete record */
  size: number;
  /** that file opened for writing (r+); null for an empty log */
  fh: AuditFileHandle | null;
  /** all audit files, oldest first */
  segments: Segment[];
}

function parseLine(line: LineSpan): unknown | undefined {
  if (!line.terminated) return undefined;
  try {
    return JSON.parse(line.text);
  } catch {
    return undefined;
  }
}

function checkRecord(value: unknown, where: string): AuditEventV1 {
  const parsed = AuditEventV1Schema.safeParse(value);
  if (!parsed.success) throw new AuditCorruptError(`${where}: not an AuditEventV1 (${parsed.error.message})`);
  const rec = parsed.data;
  if (hashRecord(rec.prev, rec) !== rec.hash) throw new AuditCorruptError(`${where}: seq ${rec.seq} hash does not recompute`);
  return rec;
}

/**
 * Finds the head of the log by reading only the end of the newest file (one 64 KiB chunk for
 * ordinary lines). A torn end (a last line without newline, or lines that are not JSON: a crash
 * mid-write) is cut off, fsynced and logged. A newest file with no complete record is removed and
 * the previous file's tail is used. The head record's own hash, and its link to the line before
 * it, are checked; a failure throws AuditCorruptError rather than extend a broken chain.
 */
export async function readTail(fs: AuditFs, dir: string, logger: AuditLogger): Promise<TailState> {
  const segments = await listSegments(fs, dir);
  while (segments.length > 0) {
    const seg = segments[segments.length - 1]!;
    const path = join(dir, seg.name);
    const fh = await fs.open(path, 'r+');
    let keep = false;
    try {
      const { size } = await fh.stat();
      let head: { rec: AuditEventV1; end: number } | null = null;
      let predecessor: unknown | undefined;
      let reachedStart = true;
      for await (const line of readLinesBackward(fh, size)) {
        const value = parseLine(line);
        if (head === null) {
          if (value !== undefined) head = { rec: checkRecord(value, `${seg.name} last record`), end: line.end };
          continue;
        }
        predecessor = value;
        reachedStart = false;
        break;
      }
      if (head === null) {
        if (size > 0) logger.warn({ file: seg.name, removedBytes: size }, 'audit: newest file holds no complete record (torn write); removing it');
        await fh.close();
        await fs.unlink(path);
        await fs.syncDir(dir);
        segments.pop();
        continue;
      }
      const { rec, end } = head;
      if (reachedStart) {
        if (rec.seq !== seg.firstSeq) throw new AuditCorruptError(`${seg.name}: first record has seq ${rec.seq}, file name says ${seg.firstSeq}`);
      } else {
        if (predecessor === undefined) throw new AuditCorruptError(`${seg.name}: the line before seq ${rec.seq} is not a record`);
        const pred = checkRecord(predecessor, `${seg.name} record before seq ${rec.seq}`);
        if (pred.seq + 1 !== rec.seq || pred.hash !== rec.prev) {
          throw new AuditCorruptError(`${seg.name}: seq ${rec.seq} does not chain to the line before it (seq ${pred.seq})`);
        }
      }
      if (end < size) {
        const excerpt = (await readExcerpt(fh, end, size)).toString('utf8');
        logger.warn({ file: seg.name, keptBytes: end, removedBytes: size - end, excerpt }, 'audit: torn last line after a crash; truncating to the last complete record');
        await fh.truncate(end);
        await fh.datasync();
      }
      keep = true;
      return { seq: rec.seq, hash: rec.hash, file: seg, size: end, fh, segments };
    } finally {
      if (!keep) await fh.close().catch(() => {});
    }
  }
  return { seq: 0, hash: GENESIS_HASH, file: null, size: 0, fh: null, segments };
}

async function readExcerpt(fh: AuditFileHandle, from: number, to: number): Promise<Buffer> {
  const len = Math.min(to - from, 256);
  const buf = Buffer.alloc(len);
  await fh.read(buf, 0, len, from);
  return buf;
}

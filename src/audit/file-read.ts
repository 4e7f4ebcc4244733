import { join } from 'node:path';
import type { AuditFileHandle, AuditFs } from './audit-fs.ts';
import type { AuditEventV1 } from './event.ts';
import { findLineStartAtOrAfterSeq, readLinesBackward, readLinesForward } from './line-reader.ts';
import type { Segment } from './segments.ts';

/** What a reader may see: durable records only, fixed when the read starts. */
export interface ReadSnapshot {
  fs: AuditFs;
  dir: string;
  /** audit files oldest first, none newer than the one holding the head */
  segments: readonly Segment[];
  headSeq: number;
  /** durable size of the newest file (it may hold bytes of a write in flight beyond it) */
  headFileSize: number;
}

async function withFile<T>(snap: ReadSnapshot, index: number, fn: (fh: AuditFileHandle, end: number) => Promise<T>): Promise<T> {
  const fh = await snap.fs.open(join(snap.dir, snap.segments[index]!.name), 'r');
  try {
    const end = index === snap.segments.length - 1 ? snap.headFileSize : (await fh.stat()).size;
    return await fn(fh, end);
  } finally {
    await fh.close();
  }
}

/**
 * Records with seq < `below`, newest first, read backwards chunk by chunk; a file the cursor
 * falls in is entered by binary search. Lines failing `mayMatch` are not parsed; lines that do
 * not parse are skipped (audit verify reports them).
 */
export async function* recordsNewestFirst(
  snap: ReadSnapshot,
  below: number,
  mayMatch: (line: string) => boolean,
): AsyncGenerator<AuditEventV1> {
  for (let i = snap.segments.length - 1; i >= 0; i--) {
    const seg = snap.segments[i]!;
    if (seg.firstSeq >= below) continue;
    const nextFirst = snap.segments[i + 1]?.firstSeq ?? snap.headSeq + 1;
    const fh = await snap.fs.open(join(snap.dir, seg.name), 'r');
    try {
      let end = i === snap.segments.length - 1 ? snap.headFileSize : (await fh.stat()).size;
      if (below < nextFirst) end = await findLineStartAtOrAfterSeq(fh, end, below);
      for await (const line of readLinesBackward(fh, end)) {
        if (!line.terminated || !mayMatch(line.text)) continue;
        let rec: AuditEventV1;
        try {
          rec = JSON.parse(line.text) as AuditEventV1;
        } catch {
          continue;
        }
        if (rec.seq < below && rec.seq <= snap.headSeq) yield rec;
      }
    } finally {
      await fh.close();
    }
  }
}

/**
 * Records with seq > `afterSeq`, oldest first. Starts in the file holding afterSeq + 1 (by the
 * seqs in the file names) at the line found by binary search. Throws on a line that does not
 * parse: a replay must not skip a record.
 */
export async function recordsAfter(snap: ReadSnapshot, afterSeq: number): Promise<AuditEventV1[]> {
  const out: AuditEventV1[] = [];
  if (afterSeq >= snap.headSeq) return out;
  let startIndex = 0;
  for (let i = 0; i < snap.segments.length; i++) if (snap.segments[i]!.firstSeq <= afterSeq + 1) startIndex = i;
  for (let i = startIndex; i < snap.segments.length; i++) {
    await withFile(snap, i, async (fh, end) => {
      const start = i === startIndex ? await findLineStartAtOrAfterSeq(fh, end, afterSeq + 1) : 0;
      for await (const line of readLinesForward(fh, start, end)) {
        let rec: AuditEventV1;
        try {
          rec = JSON.parse(line.text) as AuditEventV1;
        } catch {
          throw new Error(`audit: unreadable line at byte ${line.start} of ${snap.segments[i]!.name}`);
        }
        if (rec.seq > afterSeq && rec.seq <= snap.headSeq) out.push(rec);
      }
    });
  }
  return out;
}

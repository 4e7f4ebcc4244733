import type { AuditEventV1 } from './event.ts';
import { segmentName, utcDay, type Segment } from './segments.ts';

/** A sealed record and its stored line, encoded once (the byte count and the write both use it). */
export interface EncodedRecord {
  record: Pick<AuditEventV1, 'seq' | 'at'>;
  buf: Buffer;
}

/** Bytes of one batch that go to one file in one write (one fdatasync). */
export interface Run {
  seg: Segment;
  /** the file is created by this run (the batch's later runs into it continue it) */
  isNew: boolean;
  /** offset the run is written at */
  start: number;
  bufs: Buffer[];
  bytes: number;
}

/**
 * Splits a batch's lines into per-file runs, continuing the newest file (`file`, `size`; null
 * for an empty log). A record starts a new file when its UTC day (of `at`, or of `now()` when
 * `at` is not an instant) differs from the file's day, or when it would take a non-empty file
 * past `maxFileBytes`. A record that would take a run past `maxWriteBytes` starts the next run
 * in the same file, so a run is either at most `maxWriteBytes` or one record alone. Usually one
 * run: one write and one fsync.
 */
export function planRuns(
  position: { file: Segment | null; size: number },
  records: readonly EncodedRecord[],
  maxFileBytes: number,
  maxWriteBytes: number,
  now: () => Date,
): Run[] {
  const runs: Run[] = [];
  let run: Run | null = position.file ? { seg: position.file, isNew: false, start: position.size, bufs: [], bytes: 0 } : null;
  let size = position.size;
  for (const { record, buf } of records) {
    const day = utcDay(record.at, now);
    if (run === null || day !== run.seg.day || (size > 0 && size + buf.length > maxFileBytes)) {
      if (run !== null && run.bytes > 0) runs.push(run);
      run = { seg: { name: segmentName(day, record.seq), day, firstSeq: record.seq }, isNew: true, start: 0, bufs: [], bytes: 0 };
      size = 0;
    } else if (run.bytes > 0 && run.bytes + buf.length > maxWriteBytes) {
      runs.push(run);
      run = { seg: run.seg, isNew: false, start: size, bufs: [], bytes: 0 };
    }
    run.bufs.push(buf);
    run.bytes += buf.length;
    size += buf.length;
  }
  if (run !== null && run.bytes > 0) runs.push(run);
  return runs;
}

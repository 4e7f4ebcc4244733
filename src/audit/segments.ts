import type { AuditFs } from './audit-fs.ts';

/** One file of the log: `audit-<UTC day of its first record>-<seq of its first record>.jsonl`. */
export interface Segment {
  name: string;
  /** YYYYMMDD */
  day: string;
  firstSeq: number;
}

const SEGMENT_RE = /^audit-(\d{8})-(\d{12,})\.jsonl$/;

export function segmentName(day: string, firstSeq: number): string {
  return `audit-${day}-${String(firstSeq).padStart(12, '0')}.jsonl`;
}

/** The segment a file name describes, or null for any other file. */
export function parseSegmentName(name: string): Segment | null {
  const m = SEGMENT_RE.exec(name);
  if (!m) return null;
  return { name, day: m[1]!, firstSeq: Number(m[2]) };
}

/**
 * The audit files in `dir`, oldest first. Ordered by the seq in the name, not by the name, so a
 * clock that stepped back over midnight cannot reorder them.
 */
export async function listSegments(fs: AuditFs, dir: string): Promise<Segment[]> {
  const names = await fs.readdir(dir);
  return names
    .map(parseSegmentName)
    .filter((s): s is Segment => s !== null)
    .sort((a, b) => a.firstSeq - b.firstSeq);
}

/** YYYYMMDD of the instant `at` in UTC; of `now()` when `at` is not a valid instant. */
export function utcDay(at: string, now: () => Date): string {
  // the gate's own instants are ISO UTC ("2026-11-25T15:00:00.000Z"): the day is their prefix
  const m = /^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.exec(at);
  if (m) return `${m[1]}${m[2]}${m[3]}`;
  let ms = Date.parse(at);
  if (Number.isNaN(ms)) ms = now().getTime();
  return new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');
}

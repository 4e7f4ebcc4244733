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

/** instants from 0000-01-01 up to 9999-12-31 UTC: the years a file name's eight digits can hold */
const FIRST_DAY_MS = Date.parse('0000-01-01T00:00:00.000Z');
const END_MS = Date.parse('+010000-01-01T00:00:00.000Z');

/** YYYYMMDD of `ms` in UTC, or null when it is not an instant with a four-digit year */
function dayOf(ms: number): string | null {
  if (Number.isNaN(ms) || ms < FIRST_DAY_MS || ms >= END_MS) return null;
  return new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');
}

/**
 * YYYYMMDD of the instant `at` in UTC; of `now()` when `at` is not a valid instant or has no
 * four-digit year (toISOString writes +010000 or -000001: no audit file name, so its records
 * would never be listed again). Always eight digits: an unusable now() is clamped
 * (99991231 / 00000101), or the epoch day when it is not a date at all.
 */
export function utcDay(at: string, now: () => Date): string {
  // the gate's own instants are ISO UTC ("2026-11-25T15:00:00.000Z"): the day is their prefix
  const m = /^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.exec(at);
  if (m) return `${m[1]}${m[2]}${m[3]}`;
  const day = dayOf(Date.parse(at));
  if (day !== null) return day;
  const nowMs = now().getTime();
  if (Number.isNaN(nowMs)) return '19700101';
  return dayOf(nowMs) ?? (nowMs < FIRST_DAY_MS ? '00000101' : '99991231');
}

import { readAt, type AuditFileHandle } from './audit-fs.ts';

/** One line of a file: its text without the newline and its byte range. */
export interface LineSpan {
  text: string;
  /** offset of the first byte */
  start: number;
  /** offset just past the line, past its newline when it has one */
  end: number;
  /** false for a last line without a final newline */
  terminated: boolean;
}

export const CHUNK_BYTES = 64 * 1024;
/** read size of one binary-search probe: enough for the next line start and one line */
const PROBE_BYTES = 4096;
const NL = 0x0a;

function span(pieces: Buffer[], start: number, end: number, terminated: boolean): LineSpan {
  const text = (pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces)).toString('utf8');
  return { text, start, end, terminated };
}

/**
 * Lines of bytes [0, end) of a file, last line first, reading backwards `chunk` bytes at a time.
 * Memory is one chunk plus the longest line. With a `floor`, only bytes [floor, end) are read,
 * and only lines known to begin in them are given: the lowest, which may begin below the floor,
 * is left out.
 */
export async function* readLinesBackward(
  fh: AuditFileHandle,
  end: number,
  chunk = CHUNK_BYTES,
  floor = 0,
): AsyncGenerator<LineSpan> {
  let pos = end;
  let lineEnd = end;
  let pieces: Buffer[] = [];
  let terminated = true;
  let first = true;
  while (pos > floor) {
    const start = Math.max(floor, pos - chunk);
    const buf = await readAt(fh, start, pos - start);
    if (buf.length !== pos - start) throw new Error(`audit file shorter than expected (${start + buf.length} < ${pos})`);
    let scanTo = buf.length;
    if (first) {
      first = false;
      terminated = buf[buf.length - 1] === NL;
      if (terminated) scanTo -= 1;
    }
    let i = scanTo > 0 ? buf.lastIndexOf(NL, scanTo - 1) : -1;
    while (i !== -1) {
      const lineStart = start + i + 1;
      yield span([buf.subarray(i + 1, scanTo), ...pieces], lineStart, lineEnd, terminated);
      pieces = [];
      lineEnd = lineStart;
      terminated = true;
      scanTo = i;
      i = scanTo > 0 ? buf.lastIndexOf(NL, scanTo - 1) : -1;
    }
    pieces.unshift(buf.subarray(0, scanTo));
    pos = start;
  }
  if (lineEnd > 0 && floor === 0) yield span(pieces, 0, lineEnd, terminated);
}

/** Lines of bytes [start, end) of a file, in order; `start` must be the start of a line. */
export async function* readLinesForward(
  fh: AuditFileHandle,
  start: number,
  end: number,
  chunk = CHUNK_BYTES,
): AsyncGenerator<LineSpan> {
  let pos = start;
  let lineStart = start;
  let pieces: Buffer[] = [];
  while (pos < end) {
    const buf = await readAt(fh, pos, Math.min(chunk, end - pos));
    if (buf.length === 0) throw new Error(`audit file shorter than expected (${pos} < ${end})`);
    let from = 0;
    let i = buf.indexOf(NL, from);
    while (i !== -1) {
      pieces.push(buf.subarray(from, i));
      yield span(pieces, lineStart, pos + i + 1, true);
      pieces = [];
      lineStart = pos + i + 1;
      from = i + 1;
      i = buf.indexOf(NL, from);
    }
    if (from < buf.length) pieces.push(buf.subarray(from));
    pos += buf.length;
  }
  if (lineStart < end) yield span(pieces, lineStart, end, false);
}

/** The seq of a stored line, or null when it does not parse as a record. */
export function seqOf(text: string): number | null {
  try {
    const seq = (JSON.parse(text) as { seq?: unknown } | null)?.seq;
    return typeof seq === 'number' ? seq : null;
  } catch {
    return null;
  }
}

/**
 * Offset of the first line in [0, end) whose seq is >= `seq`, or `end` when there is none.
 * Lines are in seq order, so this is a binary search over byte offsets: a handful of chunk reads
 * whatever the file size. A line that does not parse tells it nothing: it reads on to the next
 * line that does and goes on bisecting. Only a run of more than `maxDamaged` such lines ends the
 * search: the rest is a scan of what is left of the range, every line parsed. (Before, the first
 * damaged line ended it: one bad line made each query entering the file read most of it.) The
 * answer is exact either way: a search that gave up still finds its place, so a page below it
 * always goes on (a page budget spent on the search left the next page at the same cursor).
 */
export async function findLineStartAtOrAfterSeq(
  fh: AuditFileHandle,
  end: number,
  seq: number,
  chunk = CHUNK_BYTES,
  maxDamaged = Number.POSITIVE_INFINITY,
): Promise<number> {
  let damaged = 0;
  let lo = 0; // always the start of a line whose predecessors all have seq < `seq` or do not parse
  let hi = end; // every line starting at or after hi has seq >= `seq` or does not parse
  let found = end; // the answer when no line before hi has seq >= `seq`: no line starting in [hi, found) parses
  search: while (hi - lo > chunk) {
    const mid = lo + Math.floor((hi - lo) / 2);
    // first line starting at or after mid: skip the rest of the line mid falls in
    let probe: LineSpan | null = null;
    let skipped = false;
    for await (const line of readLinesForward(fh, mid, end, PROBE_BYTES)) {
      if (!skipped && mid > 0) {
        skipped = true;
        const before = await readAt(fh, mid - 1, 1);
        if (before[0] !== NL) continue; // mid is inside this line
      }
      probe = line;
      break;
    }
    if (probe === null || probe.start >= hi) {
      hi = mid;
      continue;
    }
    const probeSeq = seqOf(probe.text);
    if (probeSeq !== null) {
      if (probeSeq < seq) lo = probe.end;
      else hi = found = probe.start;
      continue;
    }
    // damaged: the next line before hi that parses says which side the damage is on
    if (++damaged > maxDamaged) break;
    let next: { line: LineSpan; seq: number } | null = null;
    for await (const line of readLinesForward(fh, probe.end, end, PROBE_BYTES)) {
      if (line.start >= hi) break;
      const s = seqOf(line.text);
      if (s !== null) {
        next = { line, seq: s };
        break;
      }
      if (++damaged > maxDamaged) break search;
    }
    if (next !== null && next.seq < seq) {
      lo = next.line.end;
    } else {
      // the damaged lines from the probe on end before a line with seq >= `seq`, or at hi
      if (next !== null) found = next.line.start;
      hi = probe.start;
    }
  }
  for await (const line of readLinesForward(fh, lo, end, chunk)) {
    if (line.start >= hi) return found;
    const s = seqOf(line.text);
    if (s !== null && s >= seq) return line.start;
  }
  return found;
}

import { join } from 'node:path';
import { readAt, writeAllAt, type AuditFileHandle, type AuditFs } from './audit-fs.ts';
import { GENESIS_HASH, type AuditEventV1 } from './event.ts';
import { CHUNK_BYTES, readLinesBackward, seqOf, type LineSpan } from './line-reader.ts';
import { listSegments, type Segment } from './segments.ts';
import { chainBreak, checkRecordLine } from './verify.ts';

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

/**
 * A raw NUL byte. The writer never stores one (JSON escapes control characters); after a power
 * cut, file pages that were never written read back as NUL bytes.
 */
function holdsNul(line: LineSpan): boolean {
  return line.text.includes('\u0000');
}

/** What a crash can leave after the last complete record: a last line without newline, or NUL fill. */
function isCrashDebris(line: LineSpan): boolean {
  return !line.terminated || holdsNul(line);
}

/** 1-based number of the line starting at byte `offset` (reads the file up to it: error paths only). */
async function lineNumberAt(fh: AuditFileHandle, offset: number): Promise<number> {
  let n = 1;
  for (let pos = 0; pos < offset; pos += CHUNK_BYTES) {
    const buf = await readAt(fh, pos, Math.min(CHUNK_BYTES, offset - pos));
    for (let i = buf.indexOf(0x0a); i !== -1; i = buf.indexOf(0x0a, i + 1)) n += 1;
    if (buf.length === 0) break;
  }
  return n;
}

/** What the operator can do about a damaged line at `offset` of `path`, which start-up will not cut. */
function recovery(path: string, offset: number): string {
  return (
    'Start-up cuts by itself only what a crash leaves at the end of the newest file (a last line without newline, NUL fill), not this. ' +
    `Run \`gate audit verify\` to find the first broken record, then restore ${path} from a backup, ` +
    `or keep a copy of it and cut it at byte ${offset} (truncate -s ${offset} ${path}: this gives up that line and every line after it) before starting the gate again`
  );
}

/**
 * Finds the head of the log by reading only the end of the newest file (one 64 KiB chunk for
 * ordinary lines). What a crash can leave after the last complete record is cut off, fsynced and
 * logged: a last line without newline (a write cut short) and lines holding NUL bytes (pages
 * never written before a power cut), in any order. Any other complete line there (damage, not a
 * crash) throws AuditCorruptError naming the file, line and byte offset; so does a line holding
 * NUL bytes with complete lines after it in the last 64 KiB, which a power cut during one batch
 * can leave as well as damage can (the file cannot tell which, so nothing is cut). A newest file holding
 * nothing but such debris is removed and the previous file's tail is used. The head record and
 * the line before it are checked as `audit verify` checks them (checkRecordLine), and the head's
 * link to that line; a failure throws AuditCorruptError rather than extend a broken chain.
 */
export async function readTail(fs: AuditFs, dir: string, logger: AuditLogger): Promise<TailState> {
  const segments = await listSegments(fs, dir);
  for (let i = 1; i < segments.length; i++) {
    const [a, b] = [segments[i - 1]!, segments[i]!];
    // a copy put back under another day's name: which of the two holds the log is not for the
    // gate to guess, and going on in the wrong one would fork the chain
    if (a.firstSeq === b.firstSeq) {
      throw new AuditCorruptError(
        `${a.name} and ${b.name} both say their first record is seq ${a.firstSeq} (a file copied in); ` +
          'the gate cannot tell which holds the log. Run `gate audit verify`, and move the one that does not out of the audit directory',
      );
    }
  }
  while (segments.length > 0) {
    const seg = segments[segments.length - 1]!;
    const path = join(dir, seg.name);
    const fh = await fs.open(path, 'r+');
    let keep = false;
    try {
      const { size } = await fh.stat();
      const corrupt = async (offset: number, what: string): Promise<AuditCorruptError> =>
        new AuditCorruptError(`${seg.name} line ${await lineNumberAt(fh, offset)} (byte ${offset}): ${what}. ${recovery(path, offset)}`);
      // the last chunk's lines, in one read (the lines below it are read only when needed)
      const tail: LineSpan[] = [];
      for await (const line of readLinesBackward(fh, size, CHUNK_BYTES, Math.max(0, size - CHUNK_BYTES))) tail.push(line);
      // NUL bytes with complete lines after them are not a torn end to cut: a power cut can leave
      // them (a batch whose first page never reached the disk, a later one did; the records after
      // it were then never acknowledged), and so can damage to records that were acknowledged.
      // The file alone cannot tell which: refused, never cut
      const trailingDebris = tail.findIndex((line) => !isCrashDebris(line));
      const lostPage = tail.findLastIndex(holdsNul);
      if (trailingDebris !== -1 && lostPage > trailingDebris) {
        const at = tail[lostPage]!.start;
        const after = tail.slice(trailingDebris, lostPage).filter((line) => !isCrashDebris(line)).length;
        throw await corrupt(
          at,
          `it holds NUL bytes, and ${after} complete line${after === 1 ? '' : 's'} follow${after === 1 ? 's' : ''} it. A power cut during the write of one batch can leave this ` +
            '(the records after it were then never acknowledged); so can damage to records that were',
        );
      }
      let head: { rec: AuditEventV1; start: number; end: number } | null = null;
      let predecessor: LineSpan | null = null;
      for await (const line of linesBelow(fh, tail, size)) {
        if (head === null) {
          if (isCrashDebris(line)) continue;
          const checked = checkRecordLine(line);
          if (!checked.ok) {
            throw await corrupt(line.start, `the last complete line is not a valid record (${checked.seq === null ? '' : `seq ${checked.seq}: `}${checked.reason})`);
          }
          head = { rec: checked.rec, start: line.start, end: line.end };
          continue;
        }
        predecessor = line;
        break;
      }
      if (head === null) {
        if (size > 0) {
          const keptIn = await keepCutBytes(fs, fh, dir, seg.name, 0, size);
          logger.warn({ file: seg.name, removedBytes: size, keptIn }, 'audit: newest file holds no complete record, only a torn write; removing it');
        }
        await fh.close();
        await fs.unlink(path);
        await fs.syncDir(dir);
        segments.pop();
        continue;
      }
      const { rec, end } = head;
      if (rec.seq < seg.firstSeq) {
        // a file renamed (or an older one put back under a newer name): the log would continue
        // in it, fork the chain, and start its next file under this very name, truncating it
        throw new AuditCorruptError(
          `${seg.name}: its last record is seq ${rec.seq}, but its name says its first record is seq ${seg.firstSeq} (a file renamed or copied in); ` +
            'the gate would continue the chain in the wrong file and could overwrite it. Run `gate audit verify` and give each file the name of its first record',
        );
      }
      if (predecessor === null) {
        if (rec.seq !== seg.firstSeq) throw new AuditCorruptError(`${seg.name}: first record has seq ${rec.seq}, file name says ${seg.firstSeq}`);
        await checkLinkAcrossFiles(fs, dir, segments.at(-2) ?? null, rec, seg.name);
      } else {
        const checked = checkRecordLine(predecessor);
        if (!checked.ok) {
          const why = holdsNul(predecessor) ? 'it holds NUL bytes' : checked.reason;
          throw await corrupt(predecessor.start, `the line before seq ${rec.seq} is not a record (${why})`);
        }
        const pred = checked.rec;
        const why = chainBreak(rec, pred);
        if (why !== null) throw await corrupt(head.start, `seq ${rec.seq} does not chain to the line before it (seq ${pred.seq}): ${why}`);
      }
      if (end < size) {
        const excerpt = (await readExcerpt(fh, end, size)).toString('utf8');
        const keptIn = await keepCutBytes(fs, fh, dir, seg.name, end, size);
        logger.warn(
          { file: seg.name, keptBytes: end, removedBytes: size - end, excerpt, keptIn },
          'audit: torn end after a crash (a last line without newline, or NUL fill); truncating to the last complete record',
        );
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

/**
 * Lines of a file of `size` bytes, newest first: `tail` (its last chunk's, newest first), then on
 * from the oldest of them by reading.
 */
async function* linesBelow(fh: AuditFileHandle, tail: LineSpan[], size: number): AsyncGenerator<LineSpan> {
  let bottom = size;
  for (const line of tail) {
    yield line;
    bottom = line.start;
  }
  if (bottom > 0) yield* readLinesBackward(fh, bottom);
}

/**
 * The head is the first record of the newest file (just after a roll-over): it must chain to
 * the last record of the file before it, as verify checks, or to the genesis hash when it is
 * seq 1. One more chunk read, only in this case.
 */
async function checkLinkAcrossFiles(fs: AuditFs, dir: string, previous: Segment | null, rec: AuditEventV1, name: string): Promise<void> {
  if (rec.seq === 1) {
    if (chainBreak(rec, { seq: 0, hash: GENESIS_HASH }) !== null) throw new AuditCorruptError(`${name}: seq 1 does not start from the genesis hash`);
    return;
  }
  if (previous === null) return; // older files moved elsewhere: nothing here to link to
  const fh = await fs.open(join(dir, previous.name), 'r');
  try {
    const { size } = await fh.stat();
    let last: LineSpan | null = null;
    for await (const line of readLinesBackward(fh, size)) {
      // a line holding one of this file's seqs or later ones: a stale gate's late write, which
      // the readers pass over too (file-read.ts); the record before the head is below it
      const seq = seqOf(line.text);
      if (seq !== null && seq >= rec.seq) continue;
      last = line;
      break;
    }
    const checked = last ? checkRecordLine(last) : null;
    if (!checked?.ok) {
      throw new AuditCorruptError(`${previous.name}: its last line is not a record (${checked ? checked.reason : 'the file is empty'}), so seq ${rec.seq} in ${name} links to nothing; run \`gate audit verify\``);
    }
    const why = chainBreak(rec, checked.rec);
    if (why !== null) {
      throw new AuditCorruptError(`${name}: seq ${rec.seq} does not chain to the last record of ${previous.name} (seq ${checked.rec.seq}): ${why}; run \`gate audit verify\``);
    }
  } finally {
    await fh.close();
  }
}

/**
 * Copies the bytes start-up is about to cut off into `<file>.cut-<offset>` beside the log (not
 * an audit file: nothing reads it), fsynced, so a cut never destroys evidence: NUL bytes are
 * usually pages a power cut lost, but could be damage to a record that was acknowledged.
 * A file of that name is never replaced (a crash loop tears the same offset again, and a
 * newest file of debris only is cut from byte 0 each time): the next free
 * `<file>.cut-<offset>.<n>` (n = 2, 3, ...) is used instead.
 */
async function keepCutBytes(fs: AuditFs, fh: AuditFileHandle, dir: string, name: string, from: number, to: number): Promise<string> {
  let side = `${name}.cut-${from}`;
  let out: AuditFileHandle;
  for (let n = 2; ; n++) {
    try {
      out = await fs.open(join(dir, side), 'wx');
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
      side = `${name}.cut-${from}.${n}`;
    }
  }
  try {
    for (let pos = from; pos < to; pos += CHUNK_BYTES) {
      await writeAllAt(out, await readAt(fh, pos, Math.min(CHUNK_BYTES, to - pos)), pos - from);
    }
    await out.datasync();
  } finally {
    await out.close();
  }
  await fs.syncDir(dir);
  return side;
}

async function readExcerpt(fh: AuditFileHandle, from: number, to: number): Promise<Buffer> {
  const len = Math.min(to - from, 256);
  const buf = Buffer.alloc(len);
  await fh.read(buf, 0, len, from);
  return buf;
}

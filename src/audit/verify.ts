import { join } from 'node:path';
import { nodeAuditFs, type AuditFs } from './audit-fs.ts';
import { canonicalMembers, chainHash, joinMembers } from './canonical-json.ts';
import { AuditEventV1Schema, GENESIS_HASH, type AuditEventV1 } from './event.ts';
import { readLinesForward, seqOf } from './line-reader.ts';
import { listSegments, type Segment } from './segments.ts';

export type VerifyResult =
  | {
      ok: true;
      count: number;
      head: { seq: number; hash: string };
      files: number;
      /** records before the first file that were archived (options.archivedThrough), not checked: 0 when the walk began at seq 1 */
      archived: number;
    }
  | {
      ok: false;
      /** records checked good before the broken one */
      count: number;
      /** as for ok: records before the first file that were archived, not checked (the last good seq is archived + count) */
      archived: number;
      /** seq is null when the line has no readable seq; line is 1-based within file */
      firstBroken: { seq: number | null; file: string; line: number; reason: string };
    };

const StrictRecordSchema = AuditEventV1Schema.strict();

/**
 * Why `rec` does not follow `after` in the chain, or null when it does: its seq is the next one,
 * it is the first seq its file name says (when `firstSeq` is given), and its prev is the hash
 * of `after` (seq 0 and GENESIS_HASH: the start of the log).
 */
export function chainBreak(rec: { seq: number; prev: string }, after: { seq: number; hash: string | null; firstSeq?: number | null }): string | null {
  const { seq, hash } = after;
  if (rec.seq !== seq + 1) {
    // from this line alone it cannot be told whether the skipped records are gone or further on
    const what = rec.seq > seq + 1 ? `${skipped(seq, rec.seq)} missing or out of order` : `seq ${rec.seq} is out of order or repeated`;
    return seqBreak(rec.seq, seq, what);
  }
  if (after.firstSeq != null && rec.seq !== after.firstSeq) return `file name says the first seq is ${after.firstSeq}`;
  // hash null: the record before is archived, its hash not at hand (the walk's first record)
  if (hash !== null && rec.prev !== hash) return seq === 0 ? 'prev is not the genesis hash' : `prev does not match the hash of seq ${seq}`;
  return null;
}

/** `seq 8 follows seq 6 (expected seq 7 here: <what>)` */
function seqBreak(got: number, after: number, what: string): string {
  return `seq ${got} follows seq ${after} (expected seq ${after + 1} here: ${what})`;
}

/** `record 7 is` / `records 5..8 are`: the seqs between `after` and `got` */
function skipped(after: number, got: number): string {
  return got - after > 2 ? `records ${after + 1}..${got - 1} are` : `record ${after + 1} is`;
}

/** One stored line checked as a record: the record, or why it is not one (seq null when unreadable). */
export type LineCheck = { ok: true; rec: AuditEventV1 } | { ok: false; seq: number | null; reason: string };

/**
 * Checks one stored line as `audit verify` does: it is terminated, parses, matches AuditEventV1
 * with no extra keys, its hash recomputes over the line as stored (every member it holds), and it
 * is stored as canonical JSON. With `after` (the record before it: seq 0 and GENESIS_HASH for
 * none; firstSeq when the line is the first of its file) it must also follow that record.
 */
export function checkRecordLine(
  line: { text: string; terminated: boolean },
  after?: { seq: number; hash: string | null; firstSeq: number | null },
): LineCheck {
  const broken = (reason: string, seq: number | null): LineCheck => ({ ok: false, seq, reason });
  let value: unknown;
  try {
    value = JSON.parse(line.text);
  } catch {
    return broken(line.terminated ? 'not valid JSON' : 'torn last line: not valid JSON and no final newline', null);
  }
  const rawSeq = (value as { seq?: unknown } | null)?.seq;
  const seenSeq = typeof rawSeq === 'number' ? rawSeq : null;
  if (!line.terminated) return broken('torn last line: no final newline', seenSeq);
  const parsed = StrictRecordSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return broken(`not an AuditEventV1: ${issue?.path.join('.') || '(record)'}: ${issue?.message}`, seenSeq);
  }
  const rec = parsed.data;
  if (after !== undefined) {
    const why = chainBreak(rec, after);
    if (why !== null) return broken(why, rec.seq);
  }
  const members = canonicalMembers(value as object);
  if (chainHash(rec.prev, joinMembers(members, 'hash')) !== rec.hash) return broken('hash does not match the record content', rec.seq);
  if (joinMembers(members) !== line.text) return broken('line is not canonical JSON (rewritten by something else)', rec.seq);
  return { ok: true, rec };
}

/**
 * Walks every audit file in `dir` in order, one chunk at a time, and checks each line: it is
 * terminated, parses, matches AuditEventV1 (no extra keys), is stored as canonical JSON, has
 * seq one above the previous record (across files, starting at 1, and equal to the file name's
 * first seq on a file's first line), prev equal to the previous hash (GENESIS_HASH first), and
 * a hash that recomputes. Returns the first record failing any check, or the head when all pass.
 * When seqs are skipped, the rest of the log is read for them, to say whether the record expected
 * there is out of order (and where it is) or missing.
 * An empty last file is passed over (an append that created it and has not written yet); an
 * empty file before another is reported: the gate never leaves one there, and the readers, which
 * take each file to end where the next one's name begins, would pass over the records it seems
 * to hold. With `archivedThrough` (the records before the oldest file when the gate started, which
 * start-up found covered by the state checkpoint: archived as the README allows), a log whose
 * first file begins after them is walked from there, the prev of the record just after them
 * taken as given; records missing beyond them are still reported. Rejects only when the directory
 * or a file cannot be read.
 */
export async function verifyAuditLog(dir: string, fs: AuditFs = nodeAuditFs, opts: { archivedThrough?: number } = {}): Promise<VerifyResult> {
  const segments = await listSegments(fs, dir);
  let count = 0;
  // archived records: the walk starts after them (unless they are back in place), and reports any
  // record missing between them and the first file
  const archived = opts.archivedThrough !== undefined && opts.archivedThrough > 0 && (segments[0]?.firstSeq ?? 0) > opts.archivedThrough ? opts.archivedThrough : 0;
  let seq = archived;
  let hash: string | null = archived > 0 ? null : GENESIS_HASH;
  for (const [index, seg] of segments.entries()) {
    const fh = await fs.open(join(dir, seg.name), 'r');
    try {
      const { size } = await fh.stat();
      if (size === 0 && index < segments.length - 1) {
        return { ok: false, count, archived, firstBroken: { seq: null, file: seg.name, line: 0, reason: `empty file before the newest one (its name says seq ${seg.firstSeq}): the gate never leaves one there; a copy or restore that failed?` } };
      }
      const next = segments[index + 1];
      /** whether the next file begins with the seq its name says (read once, when a line here seems to hold one of its seqs) */
      let nextAgrees: boolean | null = null;
      let lineNo = 0;
      for await (const line of readLinesForward(fh, 0, size)) {
        lineNo += 1;
        const broken = (reason: string, brokenSeq: number | null): VerifyResult => ({
          ok: false,
          count,
          archived,
          firstBroken: { seq: brokenSeq, file: seg.name, line: lineNo, reason },
        });
        // a line holding one of the next file's seqs, where that file does begin as its name
        // says: a stale gate's late write, flushed after another gate had gone on in a file of
        // its own (the readers pass over it). It is the break, here: checked as a record it would
        // chain on and put the blame on the next file's first record, which is acknowledged
        const lineSeq = next === undefined ? null : seqOf(line.text);
        if (next !== undefined && lineSeq !== null && lineSeq >= next.firstSeq) {
          nextAgrees ??= (await firstSeqOf(fs, dir, next.name)) === next.firstSeq;
          if (nextAgrees) {
            return broken(
              `seq ${lineSeq} belongs to the next file, ${next.name}, which starts at seq ${next.firstSeq}: a late write of a gate that had lost the data directory? ` +
                `The readers pass over it; the log's own records from seq ${next.firstSeq} on are in ${next.name}`,
              lineSeq,
            );
          }
        }
        const checked = checkRecordLine(line, { seq, hash, firstSeq: lineNo === 1 ? seg.firstSeq : null });
        if (!checked.ok) {
          const got = checked.seq;
          if (got !== null && got > seq + 1 && checked.reason === chainBreak({ seq: got, prev: '' }, { seq, hash })) {
            // seqs skipped here: tell missing from out of order by looking for them further on
            const later = await findLater(fs, dir, segments, segments.indexOf(seg), line.end, lineNo, seq + 1, got - 1);
            return broken(seqBreak(got, seq, skippedReason(seq, got, later)), got);
          }
          return broken(checked.reason, checked.seq);
        }
        const rec = checked.rec;
        seq = rec.seq;
        hash = rec.hash;
        count += 1;
      }
    } finally {
      await fh.close();
    }
  }
  return { ok: true, count, head: { seq, hash: hash ?? GENESIS_HASH }, files: segments.length, archived };
}

/** The seq of a file's first line, null when it has none readable. */
async function firstSeqOf(fs: AuditFs, dir: string, name: string): Promise<number | null> {
  const fh = await fs.open(join(dir, name), 'r');
  try {
    const { size } = await fh.stat();
    for await (const line of readLinesForward(fh, 0, size)) return seqOf(line.text);
    return null;
  } finally {
    await fh.close();
  }
}

type Later = { next: { file: string; line: number } | null; others: boolean };

/** What the verify report says of the records skipped between `after` and `got`, given where they are further on. */
function skippedReason(after: number, got: number, later: Later): string {
  if (later.next !== null) return `record ${after + 1} is out of order, at file ${later.next.file} line ${later.next.line}`;
  if (!later.others) return `${skipped(after, got)} missing`;
  const rest = got - after > 3 ? `some of records ${after + 2}..${got - 1} come` : `record ${after + 2} comes`;
  return `record ${after + 1} is missing, and ${rest} later, out of order`;
}

/**
 * Looks through the log after byte `from` of segment `index` (whose line `lineNo` ends there) for
 * records with seq in [lo, hi]: where the first line holding seq `lo` is, and whether any other
 * is there. Only run once verify has found a break.
 */
async function findLater(fs: AuditFs, dir: string, segments: readonly Segment[], index: number, from: number, lineNo: number, lo: number, hi: number): Promise<Later> {
  let others = false;
  for (let i = index; i < segments.length; i++) {
    const name = segments[i]!.name;
    const fh = await fs.open(join(dir, name), 'r');
    try {
      const { size } = await fh.stat();
      let n = i === index ? lineNo : 0;
      for await (const line of readLinesForward(fh, i === index ? from : 0, size)) {
        n += 1;
        const seq = seqOf(line.text);
        if (seq === lo) return { next: { file: name, line: n }, others };
        if (seq !== null && seq > lo && seq <= hi) others = true;
      }
    } finally {
      await fh.close();
    }
  }
  return { next: null, others };
}

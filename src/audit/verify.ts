import { join } from 'node:path';
import { nodeAuditFs, type AuditFs } from './audit-fs.ts';
import { canonicalMembers, chainHash, joinMembers } from './canonical-json.ts';
import { AuditEventV1Schema, GENESIS_HASH, type AuditEventV1 } from './event.ts';
import { readLinesForward } from './line-reader.ts';
import { listSegments } from './segments.ts';

export type VerifyResult =
  | { ok: true; count: number; head: { seq: number; hash: string }; files: number }
  | {
      ok: false;
      /** records checked good before the broken one */
      count: number;
      /** seq is null when the line has no readable seq; line is 1-based within file */
      firstBroken: { seq: number | null; file: string; line: number; reason: string };
    };

const StrictRecordSchema = AuditEventV1Schema.strict();

/**
 * Why `rec` does not follow `after` in the chain, or null when it does: its seq is the next one,
 * it is the first seq its file name says (when `firstSeq` is given), and its prev is the hash
 * of `after` (seq 0 and GENESIS_HASH: the start of the log).
 */
export function chainBreak(rec: { seq: number; prev: string }, after: { seq: number; hash: string; firstSeq?: number | null }): string | null {
  const { seq, hash } = after;
  if (rec.seq !== seq + 1) {
    const what = rec.seq > seq + 1 ? `record${rec.seq - seq > 2 ? 's' : ''} ${seq + 1}${rec.seq - seq > 2 ? `..${rec.seq - 1}` : ''} missing` : 'out of order or repeated';
    return `seq ${rec.seq} follows seq ${seq} (expected ${seq + 1}: ${what})`;
  }
  if (after.firstSeq != null && rec.seq !== after.firstSeq) return `file name says the first seq is ${after.firstSeq}`;
  if (rec.prev !== hash) return seq === 0 ? 'prev is not the genesis hash' : `prev does not match the hash of seq ${seq}`;
  return null;
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
  after?: { seq: number; hash: string; firstSeq: number | null },
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
 * An empty file is passed over. Rejects only when the directory or a file cannot be read.
 */
export async function verifyAuditLog(dir: string, fs: AuditFs = nodeAuditFs): Promise<VerifyResult> {
  const segments = await listSegments(fs, dir);
  let count = 0;
  let seq = 0;
  let hash = GENESIS_HASH;
  for (const seg of segments) {
    const fh = await fs.open(join(dir, seg.name), 'r');
    try {
      const { size } = await fh.stat();
      let lineNo = 0;
      for await (const line of readLinesForward(fh, 0, size)) {
        lineNo += 1;
        const broken = (reason: string, brokenSeq: number | null): VerifyResult => ({
          ok: false,
          count,
          firstBroken: { seq: brokenSeq, file: seg.name, line: lineNo, reason },
        });
        const checked = checkRecordLine(line, { seq, hash, firstSeq: lineNo === 1 ? seg.firstSeq : null });
        if (!checked.ok) return broken(checked.reason, checked.seq);
        const rec = checked.rec;
        seq = rec.seq;
        hash = rec.hash;
        count += 1;
      }
    } finally {
      await fh.close();
    }
  }
  return { ok: true, count, head: { seq, hash }, files: segments.length };
}

import { canonicalCopy, canonicalJson, chainHash, SlowPathNeeded } from './canonical-json.ts';
import { AuditEventV1Schema, type AuditEntry, type AuditEventV1 } from './event.ts';

/** The shape a caller hands to append(): an AuditEventV1 without v, seq, prev and hash. */
export const AuditEntrySchema = AuditEventV1Schema.omit({ v: true, seq: true, prev: true, hash: true });

/** The members of an entry, in canonical (sorted) order; nothing else of a caller's object is kept. */
const ENTRY_KEYS = Object.keys(AuditEntrySchema.shape).sort();

/** entries made by parseEntries: plain JSON in canonical order, which sealRecord serialises natively */
const canonicalEntries = new WeakSet<object>();

/** A plain-JSON copy of the entry's known members in canonical order (JSON.parse(JSON.stringify()) where that cannot be). */
function plainEntry(entry: object): { plain: Record<string, unknown>; canonical: boolean } {
  try {
    const plain: Record<string, unknown> = {};
    for (const key of ENTRY_KEYS) {
      const value = canonicalCopy((entry as Record<string, unknown>)[key]);
      if (value !== undefined) plain[key] = value;
    }
    return { plain, canonical: true };
  } catch (err) {
    if (!(err instanceof SlowPathNeeded)) throw err;
    // the known members only, here too: an unknown key (seq, v...) must never reach the record
    const known: Record<string, unknown> = {};
    for (const key of ENTRY_KEYS) known[key] = (entry as Record<string, unknown>)[key];
    return { plain: JSON.parse(JSON.stringify(known)) as Record<string, unknown>, canonical: false };
  }
}

/**
 * Checks the shape of each entry and returns plain-JSON copies (Dates become strings,
 * undefined members vanish, unknown top-level keys are dropped), so what append() returns
 * is exactly what a later read gives back and the caller keeps no reference into it.
 * Throws TypeError naming the first bad entry.
 */
export function parseEntries(entries: readonly AuditEntry[]): AuditEntry[] {
  if (!Array.isArray(entries)) throw new TypeError('audit append: entries must be an array');
  return entries.map((entry, i) => {
    let copy: { plain: Record<string, unknown>; canonical: boolean };
    try {
      if (entry === null || typeof entry !== 'object') throw new TypeError('not an object');
      copy = plainEntry(entry);
    } catch (err) {
      throw new TypeError(`audit append: entry ${i} has no JSON form: ${(err as Error).message}`);
    }
    const checked = AuditEntrySchema.safeParse(copy.plain);
    if (!checked.success) {
      throw new TypeError(`audit append: entry ${i} does not match AuditEventV1: ${checked.error.message}`);
    }
    // the schema's closed parts as it gives them back (an unknown member of the actor or of a
    // reason dropped, as a later read would), put back in canonical order
    copy.plain['actor'] = canonicalCopy(checked.data.actor);
    copy.plain['reasons'] = canonicalCopy(checked.data.reasons);
    if (copy.canonical) canonicalEntries.add(copy.plain);
    return copy.plain as AuditEntry;
  });
}

/** A record with its place in the chain, and its stored line (canonical JSON + newline). */
export interface SealedRecord {
  record: AuditEventV1;
  line: string;
}

/**
 * Gives an already checked entry its place in the chain: v, seq, prev, and the hash over them
 * (hashRecord), plus the line to store. The members sorted before "hash" and those after it
 * are serialised once each; the text without the hash (hashed) and the line with it are
 * joined from those two parts. An entry from parseEntries is already canonical: its two parts
 * are put together in order and written by the native serialiser.
 */
export function sealRecord(entry: AuditEntry, seq: number, prev: string): SealedRecord {
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  let a: string;
  let b: string;
  if (canonicalEntries.has(entry)) {
    // sorted keys, none of them v, seq, prev or hash (all four sort after "decision")
    let prevDone = false;
    let seqDone = false;
    for (const key of Object.keys(entry)) {
      const value = (entry as Record<string, unknown>)[key];
      if (key < 'hash') {
        before[key] = value;
        continue;
      }
      if (!prevDone && key > 'prev') {
        after['prev'] = prev;
        prevDone = true;
      }
      if (!seqDone && key > 'seq') {
        after['seq'] = seq;
        seqDone = true;
      }
      after[key] = value;
    }
    if (!prevDone) after['prev'] = prev;
    if (!seqDone) after['seq'] = seq;
    after['v'] = 1;
    a = JSON.stringify(before).slice(1, -1);
    b = JSON.stringify(after).slice(1, -1);
  } else {
    // v, seq and prev last: they win over anything an unchecked entry carries under those names
    const unsealed: Record<string, unknown> = { ...entry, v: 1, seq, prev };
    for (const key of Object.keys(unsealed)) {
      if (key !== 'hash') (key < 'hash' ? before : after)[key] = unsealed[key];
    }
    a = canonicalJson(before).slice(1, -1);
    b = canonicalJson(after).slice(1, -1);
  }
  const hash = chainHash(prev, `{${a}${a && b ? ',' : ''}${b}}`);
  const line = `{${a}${a ? ',' : ''}"hash":"${hash}"${b ? ',' : ''}${b}}\n`;
  return { record: { ...entry, v: 1, seq, prev, hash } as AuditEventV1, line };
}

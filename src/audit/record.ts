import { canonicalJson, chainHash } from './canonical-json.ts';
import { AuditEventV1Schema, type AuditEntry, type AuditEventV1 } from './event.ts';

/** The shape a caller hands to append(): an AuditEventV1 without v, seq, prev and hash. */
export const AuditEntrySchema = AuditEventV1Schema.omit({ v: true, seq: true, prev: true, hash: true });

/**
 * Checks the shape of each entry and returns plain-JSON copies (Dates become strings,
 * undefined members vanish, unknown top-level keys are dropped), so what append() returns
 * is exactly what a later read gives back. Throws TypeError naming the first bad entry.
 */
export function parseEntries(entries: readonly AuditEntry[]): AuditEntry[] {
  if (!Array.isArray(entries)) throw new TypeError('audit append: entries must be an array');
  return entries.map((entry, i) => {
    let plain: unknown;
    try {
      // a plain-JSON copy (the caller keeps no reference into what is stored); key order does
      // not matter here, so the native serialiser does it
      plain = JSON.parse(JSON.stringify(entry));
    } catch (err) {
      throw new TypeError(`audit append: entry ${i} has no JSON form: ${(err as Error).message}`);
    }
    const parsed = AuditEntrySchema.safeParse(plain);
    if (!parsed.success) {
      throw new TypeError(`audit append: entry ${i} does not match AuditEventV1: ${parsed.error.message}`);
    }
    return parsed.data;
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
 * joined from those two parts.
 */
export function sealRecord(entry: AuditEntry, seq: number, prev: string): SealedRecord {
  const unsealed: Record<string, unknown> = { v: 1, seq, ...entry, prev };
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  for (const key of Object.keys(unsealed)) {
    if (key !== 'hash') (key < 'hash' ? before : after)[key] = unsealed[key];
  }
  const a = canonicalJson(before).slice(1, -1);
  const b = canonicalJson(after).slice(1, -1);
  const hash = chainHash(prev, `{${a}${a && b ? ',' : ''}${b}}`);
  const line = `{${a}${a ? ',' : ''}"hash":"${hash}"${b ? ',' : ''}${b}}\n`;
  return { record: { ...(unsealed as Omit<AuditEventV1, 'hash'>), hash }, line };
}

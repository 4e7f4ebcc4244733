import { canonicalJson, hashRecord } from './canonical-json.ts';
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
      plain = JSON.parse(canonicalJson(entry));
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

/** Gives an already checked entry its place in the chain: v, seq, prev, and the hash over them. */
export function sealRecord(entry: AuditEntry, seq: number, prev: string): AuditEventV1 {
  const unsealed = { v: 1 as const, seq, ...entry, prev };
  return { ...unsealed, hash: hashRecord(prev, unsealed) };
}

/** The record as stored: canonical JSON and a newline. */
export function formatRecordLine(record: AuditEventV1): string {
  return `${canonicalJson(record)}\n`;
}

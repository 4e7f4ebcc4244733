import { createHash } from 'node:crypto';

/**
 * Canonical JSON: the same value always gives the same text. Object keys are sorted
 * (by UTF-16 code unit, as Array.prototype.sort does), nested objects too; arrays keep
 * their order; there is no whitespace. Everything else follows JSON.stringify: `toJSON`
 * is honoured, object members whose value is undefined, a function or a symbol are
 * left out, such array items become null, and non-finite numbers become null.
 *
 * Throws TypeError for a BigInt or a circular structure (neither has a JSON form).
 */
export function canonicalJson(value: unknown): string {
  return write(value, new Set());
}

function write(value: unknown, seen: Set<object>): string {
  const v = toJsonValue(value);
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? JSON.stringify(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      throw new TypeError('canonicalJson: BigInt has no JSON form');
    case 'object':
      break;
    default:
      return 'null'; // undefined, function, symbol at the top level or in an array
  }
  const obj = v as object;
  if (seen.has(obj)) throw new TypeError('canonicalJson: circular structure');
  seen.add(obj);
  try {
    if (Array.isArray(obj)) {
      return `[${obj.map((item) => write(item, seen)).join(',')}]`;
    }
    const rec = obj as Record<string, unknown>;
    const parts: string[] = [];
    for (const key of Object.keys(rec).sort()) {
      const member = toJsonValue(rec[key]);
      if (member === undefined || typeof member === 'function' || typeof member === 'symbol') continue;
      parts.push(`${JSON.stringify(key)}:${write(member, seen)}`);
    }
    return `{${parts.join(',')}}`;
  } finally {
    seen.delete(obj);
  }
}

function toJsonValue(value: unknown): unknown {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return (value as { toJSON(): unknown }).toJSON();
  }
  return value;
}

/**
 * The chain hash of one audit record: sha256 hex of `prev` followed by the canonical JSON of
 * the record without its `hash` member. Pass the record with or without `hash`; it is ignored.
 */
export function hashRecord(prev: string, recordWithoutHash: object): string {
  const { hash: _ignored, ...rest } = recordWithoutHash as Record<string, unknown>;
  return createHash('sha256').update(prev).update(canonicalJson(rest)).digest('hex');
}

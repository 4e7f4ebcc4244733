import { hash } from 'node:crypto';

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
  return fast(value) ?? 'null';
}

/** A key JavaScript orders before all others in an object (an array index), whatever the insertion order. */
const INDEX_KEY = /^(?:0|[1-9]\d{0,9})$/;

/** deeper than this, hand over to write(), which reports a circular structure properly */
const MAX_FAST_DEPTH = 64;

/** thrown by canonicalCopy for input it cannot put in canonical order (callers fall back to write()) */
export class SlowPathNeeded extends Error {}

/** the first character of an index-like key is a digit: test the regular expression only then */
function isIndexKey(k: string): boolean {
  const c = k.charCodeAt(0);
  return c >= 48 && c <= 57 && INDEX_KEY.test(k);
}

/**
 * A deep plain-JSON copy of v in which every object has its keys in canonical (sorted) order,
 * so the native JSON.stringify(copy) writes canonicalJson(v). It is what JSON.parse would give
 * back for that text: toJSON is honoured, members without a JSON form (undefined, a function, a
 * symbol) are left out and such array items become null, non-finite numbers become null.
 * Returns undefined when v itself has no JSON form. Throws TypeError for a BigInt, and
 * SlowPathNeeded for what it cannot order (an index-like key: JavaScript puts those first, in
 * numeric order) or cannot bound (nesting deeper than 64, e.g. a circular structure).
 */
export function canonicalCopy(value: unknown, depth = 0, key = ''): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      // JSON has no -0: the text says 0, and so must the copy
      return Number.isFinite(value) ? value + 0 : null;
    case 'undefined':
    case 'symbol':
      return undefined;
    default:
      // an object, a function or a BigInt: its toJSON(key) first, asked once
      return value === null ? null : copyJSONValue(withToJSON(value, key), depth);
  }
}

/** canonicalCopy of what toJSON gave (or of the value itself): not asked for toJSON again */
function copyJSONValue(v: unknown, depth: number): unknown {
  switch (typeof v) {
    case 'object':
      break;
    case 'bigint':
      throw new TypeError('canonicalJson: BigInt has no JSON form');
    case 'function':
      return undefined;
    default:
      return canonicalCopy(v, depth);
  }
  if (v === null) return null;
  if (depth > MAX_FAST_DEPTH) throw new SlowPathNeeded();
  if (Array.isArray(v)) {
    const out = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = canonicalCopy(v[i], depth + 1, String(i)) ?? null;
    return out;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) {
    const boxed = unboxed(v);
    if (boxed !== v) return boxed;
  }
  const keys = Object.keys(v);
  if (keys.length > 1) keys.sort();
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    if (isIndexKey(k)) throw new SlowPathNeeded();
    const x = canonicalCopy((v as Record<string, unknown>)[k], depth + 1, k);
    if (x === undefined) continue;
    // a plain assignment of "__proto__" would set the prototype: make it an own member, as JSON.parse does
    if (k === '__proto__') Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
    else out[k] = x;
  }
  return out;
}

/** a Number, String or Boolean object as its primitive (JSON.stringify writes those as the value); anything else as it is */
function unboxed(v: object): unknown {
  if (v instanceof Number) {
    const n = Number(v);
    return Number.isFinite(n) ? n + 0 : null;
  }
  if (v instanceof String) return String(v);
  if (v instanceof Boolean) return v.valueOf();
  return v;
}

/** what JSON.stringify serialises for `value` under `key`: the result of its toJSON(key) when it has one */
function withToJSON(value: unknown, key: string): unknown {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'bigint')) return value;
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  return typeof toJSON === 'function' ? (toJSON as (k: string) => unknown).call(value, key) : value;
}

/** canonical text of v (undefined when v has no JSON form), by the native serialiser when it can */
function fast(v: unknown): string | undefined {
  try {
    return JSON.stringify(canonicalCopy(v)) as string | undefined;
  } catch (err) {
    if (err instanceof SlowPathNeeded) return write(v, []);
    throw err;
  }
}

/**
 * The members of an object as canonical JSON would write them: sorted by key, members without a
 * JSON form left out, each as `"key":value`. Lets a caller build the text with and without one
 * member (the record with and without `hash`) from a single pass.
 */
export function canonicalMembers(obj: object): { key: string; text: string }[] {
  const out: { key: string; text: string }[] = [];
  const stack: object[] = [obj];
  const rec = obj as Record<string, unknown>;
  for (const key of Object.keys(rec).sort()) {
    const value = rec[key];
    const text = value !== null && typeof value === 'object' && stack.includes(value) ? write(value, stack) : fast(value);
    if (text !== undefined) out.push({ key, text: `${JSON.stringify(key)}:${text}` });
  }
  return out;
}

/** The canonical JSON object text of members from canonicalMembers, leaving out `skipKey`. */
export function joinMembers(members: readonly { key: string; text: string }[], skipKey?: string): string {
  let out = '{';
  let first = true;
  for (const m of members) {
    if (m.key === skipKey) continue;
    out += first ? m.text : `,${m.text}`;
    first = false;
  }
  return `${out}}`;
}

/** canonical text of v, or undefined when v has no JSON form (undefined, function, symbol) */
function write(value: unknown, stack: object[], key = ''): string | undefined {
  const v = withToJSON(value, key);
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      throw new TypeError('canonicalJson: BigInt has no JSON form');
    case 'object':
      break;
    default:
      return undefined;
  }
  if (v === null) return 'null';
  const boxed = unboxed(v);
  if (boxed !== v) return JSON.stringify(boxed);
  if (stack.includes(v)) throw new TypeError('canonicalJson: circular structure');
  stack.push(v);
  let out: string;
  if (Array.isArray(v)) {
    out = '[';
    for (let i = 0; i < v.length; i++) out += (i === 0 ? '' : ',') + (write(v[i], stack, String(i)) ?? 'null');
    out += ']';
  } else {
    const rec = v as Record<string, unknown>;
    const keys = Object.keys(rec);
    if (keys.length > 1) keys.sort();
    out = '{';
    let first = true;
    for (const k of keys) {
      const text = write(rec[k], stack, k);
      if (text === undefined) continue;
      out += `${first ? '' : ','}${JSON.stringify(k)}:${text}`;
      first = false;
    }
    out += '}';
  }
  stack.pop();
  return out;
}

/** sha256 hex of prev followed by a canonical text */
export function chainHash(prev: string, canonicalWithoutHash: string): string {
  // the one-shot hash of the concatenation: the same bytes as two updates, half the cost
  return hash('sha256', prev + canonicalWithoutHash);
}

/**
 * The chain hash of one audit record: sha256 hex of `prev` followed by the canonical JSON of
 * the record without its `hash` member. Pass the record with or without `hash`; it is ignored.
 */
export function hashRecord(prev: string, recordWithoutHash: object): string {
  return chainHash(prev, joinMembers(canonicalMembers(recordWithoutHash), 'hash'));
}

import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

function encodeTime(ms: number, length: number): string {
  let out = '';
  let t = ms;
  for (let i = 0; i < length; i++) {
    out = CROCKFORD[t % 32] + out;
    t = Math.floor(t / 32);
  }
  return out;
}

/** randomBytes drawn from a 4 KiB pool refilled as it runs out (one syscall per 409 ids, not one each). */
function pooledRandom(): (n: number) => Buffer {
  let pool = randomBytes(4096);
  let at = 0;
  return (n) => {
    if (at + n > pool.length) {
      pool = randomBytes(4096);
      at = 0;
    }
    const out = pool.subarray(at, at + n);
    at += n;
    return out;
  };
}

/**
 * Sortable unique ids ("dec_01kbx…"): kind, then 10 characters of millisecond time and 16 of
 * randomness (a lower-case ULID). `now` is wall-clock time, so ids sort by creation.
 */
export function createIdFactory(now: () => number = Date.now, random: (n: number) => Buffer = pooledRandom()): (kind: string) => string {
  return (kind) => {
    const bytes = random(10);
    let rand = '';
    for (let i = 0; i < 16; i++) {
      const bit = i * 5;
      const byte = bit >> 3;
      const v = (((bytes[byte] ?? 0) << 8) | (bytes[byte + 1] ?? 0)) >> (11 - (bit & 7));
      rand += CROCKFORD[v & 31];
    }
    return `${kind}_${encodeTime(now(), 10)}${rand}`;
  };
}

/** Predictable ids for tests: dec_0001, dec_0002, … */
export function counterIds(): (kind: string) => string {
  let n = 0;
  return (kind) => `${kind}_${String(++n).padStart(4, '0')}`;
}

/**
 * A sliding-window limit per key (e.g. break-glass requests per identity per minute).
 * `now` is milliseconds from the gate clock, so tests move it. Memory is bounded: keys whose
 * window is empty are dropped, by each take() of that key and by a sweep of all keys at most
 * once a window.
 */
export function createRateLimiter(limit: number, windowMs: number) {
  const hits = new Map<string, number[]>();
  let lastSweep = Number.NEGATIVE_INFINITY;
  const recent = (key: string, now: number): number[] => {
    const kept = (hits.get(key) ?? []).filter((t) => now - t < windowMs);
    if (kept.length) hits.set(key, kept);
    else hits.delete(key);
    return kept;
  };
  return {
    /**
     * Counts one request; returns ok with a release that takes the hit back (for a request that
     * then changed nothing), or the seconds until the oldest hit leaves the window.
     */
    take(key: string, now: number): { ok: true; release: () => void } | { ok: false; retryAfterSeconds: number } {
      // forget identities whose window emptied, once a window at most
      if (now - lastSweep >= windowMs) {
        lastSweep = now;
        for (const k of [...hits.keys()]) recent(k, now);
      }
      const kept = recent(key, now);
      if (kept.length >= limit) return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((windowMs - (now - (kept[0] as number))) / 1000)) };
      kept.push(now);
      hits.set(key, kept);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        // the list held now (a later take() or sweep may have replaced or dropped it)
        const list = hits.get(key);
        const i = list?.lastIndexOf(now) ?? -1;
        if (list === undefined || i < 0) return;
        list.splice(i, 1);
        if (list.length === 0) hits.delete(key);
      };
      return { ok: true, release };
    },
    /** how many identities are remembered (tests) */
    size: () => hits.size,
  };
}

/**
 * A sliding-window limit per key (e.g. break-glass requests per identity per minute).
 * `now` is milliseconds from the gate clock, so tests move it. Memory is bounded: keys whose
 * window is empty are dropped as they are touched, and by sweep().
 */
export function createRateLimiter(limit: number, windowMs: number) {
  const hits = new Map<string, number[]>();
  const recent = (key: string, now: number): number[] => {
    const kept = (hits.get(key) ?? []).filter((t) => now - t < windowMs);
    if (kept.length) hits.set(key, kept);
    else hits.delete(key);
    return kept;
  };
  return {
    /** Counts one request; returns ok, or the seconds until the oldest hit leaves the window. */
    take(key: string, now: number): { ok: true } | { ok: false; retryAfterSeconds: number } {
      const kept = recent(key, now);
      if (kept.length >= limit) return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((windowMs - (now - (kept[0] as number))) / 1000)) };
      kept.push(now);
      hits.set(key, kept);
      return { ok: true };
    },
    sweep(now: number): void {
      for (const key of [...hits.keys()]) recent(key, now);
    },
  };
}

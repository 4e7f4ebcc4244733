/**
 * Polls until `cond()` holds (it may be async), for `ms` at most on the clock, whatever the
 * machine's load. Resolves true when it held, false when the time ran out: the caller's own
 * assertion then says what was expected.
 */
export async function eventually(cond: () => boolean | Promise<boolean>, ms = 5000, everyMs = 10): Promise<boolean> {
  const end = performance.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (performance.now() >= end) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Tries `probe` until it resolves, one attempt at a time (an attempt stuck on a hung volume is
 * waited for, never piled on), `intervalMs` apart. True once an attempt got through; false when
 * `signal` ended the wait first. `onFailure` hears each failed attempt.
 */
export async function waitUntilWritable(
  probe: () => Promise<void>,
  opts: { intervalMs: number; signal: AbortSignal; onFailure?: (err: unknown) => void },
): Promise<boolean> {
  while (!opts.signal.aborted) {
    try {
      await probe();
      return !opts.signal.aborted;
    } catch (err) {
      opts.onFailure?.(err);
    }
    await sleep(opts.intervalMs, undefined, { signal: opts.signal }).catch(() => undefined);
  }
  return false;
}

import { setTimeout as sleep } from 'node:timers/promises';

/** The error codes of a volume that is full: out of space, or the user's quota used up. */
export const VOLUME_FULL: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT']);

/** The error codes of a data volume that refuses writes but may take them again (full, over quota, remounted read-only). */
const REFUSING: ReadonlySet<string> = new Set([...VOLUME_FULL, 'EROFS']);

/** The code of `err` when it is one of `codes` (by default: a volume refusing writes), else null. */
export function volumeRefusal(err: unknown, codes: ReadonlySet<string> = REFUSING): string | null {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && codes.has(code) ? code : null;
}

/**
 * Runs `attempt` (taking the data directory's lock writes a file) until it does not fail for a
 * volume that refuses writes, `intervalMs` apart; `onRefused` hears each such failure (the first
 * one starts the 503 answers). Any other failure is thrown, and so is `signal`'s reason once it
 * ends the wait (a stop signal during start-up).
 */
export async function whenVolumeTakesWrites<T>(
  attempt: () => Promise<T>,
  opts: { intervalMs: number; signal: AbortSignal; onRefused: (code: string, err: unknown) => Promise<void> | void },
): Promise<T> {
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (opts.signal.aborted) throw opts.signal.reason;
      const code = volumeRefusal(err);
      if (code === null) throw err;
      await opts.onRefused(code, err);
    }
    await sleep(opts.intervalMs, undefined, { signal: opts.signal }).catch(() => undefined);
    if (opts.signal.aborted) throw opts.signal.reason;
  }
}

import { takeTurns } from './take-turns.ts';

/** What a bounded queue's call rejects with when its line is full: the job was not taken. */
export class TurnsFullError extends Error {
  override name = 'TurnsFullError';
  readonly maxWaiting: number;
  constructor(maxWaiting: number) {
    super(`the line is full: ${maxWaiting} waiting behind the running job`);
    this.maxWaiting = maxWaiting;
  }
}

/**
 * takeTurns with a bounded line: jobs run one at a time in the order handed in, and at most
 * `maxWaiting` wait behind the one whose turn it is. A job handed in while that many wait is
 * not queued: its call rejects at once with TurnsFullError. A job leaves the line when it
 * settles, whether it resolved, threw or was skipped by its own first check, so its place is
 * free again for the next.
 */
export function boundedTurns(maxWaiting: number): <T>(fn: () => Promise<T>) => Promise<T> {
  const inTurn = takeTurns();
  // taken and not yet settled: the one whose turn it is (if any) and those waiting behind it
  let inLine = 0;
  return <T>(fn: () => Promise<T>): Promise<T> => {
    if (inLine > maxWaiting) return Promise.reject(new TurnsFullError(maxWaiting));
    inLine += 1;
    return inTurn(fn).finally(() => {
      inLine -= 1;
    });
  };
}

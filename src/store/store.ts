import type { GateState } from '../policy/state.ts';

/**
 * The gate's mutable state behind one serialised transaction. The state is a checkpoint of the
 * audit log: losing the latest writes is recoverable (start-up replays the newer audit records),
 * so persisting is coalesced and never on the answer's critical path.
 */
export interface StateStore {
  /** The current state. Treat it as read-only: change it only inside update() or apply(). */
  read(): GateState;
  /**
   * Runs fn on the state (synchronously, so no other update interleaves), then persists.
   * Resolves with fn's result once a write that includes this change has finished.
   * Concurrent updates share writes.
   */
  update<T>(fn: (state: GateState) => T): Promise<T>;
  /**
   * Runs fn on the state now and schedules a checkpoint without waiting for it: for changes the
   * audit log already holds (every recorded decision). Nothing per call outlives the call (no
   * promise, no reference to fn), so a busy gate keeps no backlog of changes on the heap while
   * the throttled checkpoint is due; a failed checkpoint is reported once per failed write
   * (the store's onWriteError) and by lastWriteError().
   */
  apply(fn: (state: GateState) => void): void;
  /** Resolves when everything changed so far is written, and the file is durable (renamed in a directory that is fsynced). */
  flush(): Promise<void>;
  /** Whether the last write failed (reported on /readyz as a warning, not fatal: the audit log is the source of truth). */
  lastWriteError(): Error | null;
}

/**
 * Coalesces writes: at most one in flight and one pending; every update resolves after a write
 * that started after it. `write` receives nothing: it persists the current state.
 */
export function createWriteCoalescer(write: () => Promise<void>): { schedule(): Promise<void>; lastError(): Error | null } {
  let inFlight: Promise<void> | null = null;
  let pending: Promise<void> | null = null;
  let lastError: Error | null = null;

  const run = async (): Promise<void> => {
    try {
      await write();
      lastError = null;
    } catch (err) {
      lastError = err as Error;
      throw err;
    }
  };

  const schedule = (): Promise<void> => {
    if (pending) return pending;
    if (!inFlight) {
      inFlight = run().finally(() => {
        inFlight = null;
      });
      return inFlight;
    }
    const after = inFlight;
    pending = after
      .catch(() => undefined)
      .then(() => {
        pending = null;
        inFlight = run().finally(() => {
          inFlight = null;
        });
        return inFlight;
      });
    return pending;
  };
  return { schedule, lastError: () => lastError };
}

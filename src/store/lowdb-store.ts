import { Low } from 'lowdb';
import { type GateState, isAuditSeq } from '../policy/state.ts';
import { STAGES } from '../stages.ts';
import { DurableJsonFile } from './durable-json-file.ts';
import { type StateStore, createWriteCoalescer } from './store.ts';

/**
 * StateStore on a lowdb JSON file (DurableJsonFile: temp file, fdatasync, rename). `fresh` gives the
 * state when the file does not exist yet; a file of another version is an error, never
 * silently replaced.
 *
 * Checkpoints are throttled to one per `minIntervalMs` (default 1 s): the audit log is the
 * write-ahead log, so a crash loses nothing (start-up replays the records after the
 * checkpoint), and serialising the whole state on every change would cost the hot path.
 */
export async function openLowdbStore(
  file: string,
  fresh: () => GateState,
  opts: {
    minIntervalMs?: number;
    /** whether this gate still holds the data directory (a checkpoint due after it lost it is not written) */
    isWriter?: () => boolean;
    /** told once per failed checkpoint that apply() scheduled (update() and flush() reject instead) */
    onWriteError?: (err: Error) => void;
    /** fsyncs the state file's directory after flush() wrote it (tests watch it; default DurableJsonFile.syncDir) */
    syncDir?: () => Promise<void>;
  } = {},
): Promise<StateStore> {
  const minIntervalMs = opts.minIntervalMs ?? 1000;
  // compact JSON: the checkpoint is for the gate, not for people, and is a fraction of the size
  const adapter = new DurableJsonFile<GateState>(file);
  const syncDir = opts.syncDir ?? (() => adapter.syncDir());
  const db = new Low<GateState>(adapter, fresh());
  try {
    await db.read();
  } catch (err) {
    throw new Error(
      `state file ${file} cannot be read (${(err as Error).message}). It is only a checkpoint of the audit log: move it aside and the gate rebuilds it from the log at start-up.`,
    );
  }
  if (db.data.version !== 1) throw new Error(`state file ${file} has version ${String(db.data.version)}, expected 1`);
  const seq: unknown = (db.data as { auditSeq?: unknown }).auditSeq;
  if (seq !== undefined && !isAuditSeq(seq)) {
    throw new Error(
      `state file ${file} has auditSeq ${JSON.stringify(seq)}, expected a whole number >= 0. It is only a checkpoint of the audit log: move it aside and the gate rebuilds it from the log at start-up.`,
    );
  }
  // tolerate state files written before a field existed. A toggle no admin has switched
  // (changedAt null) takes the configuration's value, as a state rebuilt from the audit log
  // does: the checkpoint must not keep the configuration of an earlier start
  const initial = fresh();
  const kept = db.data.stages ?? {};
  const stages = Object.fromEntries(STAGES.map((s) => [s, kept[s] && kept[s].changedAt !== null ? kept[s] : initial.stages[s]])) as GateState['stages'];
  db.data = { ...initial, ...db.data, stages };
  // monotonic (performance.now): a wall clock stepped back must not hold the next checkpoint back by the step
  let lastWrite = -Infinity;
  /** ends the throttle wait of a write that is waiting (flush) */
  let wake: (() => void) | null = null;
  /** flushes in progress: their writes do not wait out the throttle */
  let flushing = 0;
  /** the last scheduled write apply() attached its failure report to */
  let watched: Promise<void> | null = null;
  const writer = createWriteCoalescer(async () => {
    const wait = flushing > 0 ? 0 : lastWrite + minIntervalMs - performance.now();
    if (wait > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
    lastWrite = performance.now();
    // another gate may hold the directory by now: its checkpoint is not this gate's to replace
    if (opts.isWriter && !opts.isWriter()) throw new Error('state checkpoint not written: this gate no longer holds the data-directory lock');
    await db.write();
  });
  return {
    read: () => db.data,
    // not an async function: its suspended frame would keep fn (and all fn refers to) until the
    // throttled write is done
    update: (fn) => {
      let result: ReturnType<typeof fn>;
      try {
        result = fn(db.data);
      } catch (err) {
        return Promise.reject(err as Error); // as the async function it was, and the memory store
      }
      return writer.schedule().then(() => result);
    },
    apply: (fn) => {
      fn(db.data);
      const write = writer.schedule();
      // concurrent calls share a write: one handler per write, not one per call
      if (write !== watched) {
        watched = write;
        write.catch((err: Error) => {
          try {
            opts.onWriteError?.(err);
          } catch {
            // a reporter that throws must not turn a failed checkpoint into a crash
          }
        });
      }
    },
    flush: async () => {
      flushing += 1;
      try {
        wake?.();
        await writer.schedule();
        // the rename durable too: a flush is what the gate's stop (and the end of a replay) waits for
        await syncDir();
      } finally {
        flushing -= 1;
      }
    },
    lastWriteError: writer.lastError,
  };
}

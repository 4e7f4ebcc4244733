import type { AuditEntry, AuditEventV1 } from '../audit/event.ts';
import type { AuditLog } from '../audit/log.ts';
import { applyRecord } from '../policy/apply-record.ts';
import type { StateStore } from '../store/store.ts';
import type { Metrics } from '../metrics.ts';

/**
 * The single path by which anything changes: entries are made durable in the audit log first
 * (the commit point), then folded into the state. If the append fails nothing changes and the
 * error (AuditUnavailableError) reaches the caller; the app's error handler answers it with 503.
 */
export interface Recorder {
  record(entries: readonly AuditEntry[]): Promise<AuditEventV1[]>;
}

export function createRecorder(audit: AuditLog, store: StateStore, metrics: Metrics): Recorder {
  return {
    async record(entries) {
      const started = performance.now();
      let records: AuditEventV1[];
      try {
        records = await audit.append(entries);
      } catch (err) {
        metrics.auditFailures.inc(entries.length);
        throw err;
      } finally {
        metrics.auditAppendSeconds.observe((performance.now() - started) / 1000);
      }
      // the checkpoint write is coalesced and off the answer's path: the audit log already holds the change
      store.apply((state) => {
        for (const r of records) applyRecord(state, r);
      });
      return records;
    },
  };
}

/** Records folded into the state at a time by replayAuditTail. */
const REPLAY_CHUNK = 1000;

/**
 * Brings the state checkpoint up to the audit log's head: folds in every record newer than
 * state.auditSeq (the writes a crash lost). Returns how many were replayed. Refuses when the
 * state is ahead of the log (the log was replaced or truncated behind the gate's back).
 */
export async function replayAuditTail(audit: AuditLog, store: StateStore): Promise<number> {
  const head = audit.head();
  const state = store.read();
  if (state.auditSeq > head.seq) {
    throw new Error(
      `state file is at audit seq ${state.auditSeq} but the audit log ends at seq ${head.seq}: the audit log is missing records. ` +
        `Restore the audit directory, or move the state file aside to rebuild it from the log.`,
    );
  }
  if (state.auditSeq === head.seq) return 0;
  // folded in chunks as they are read: a state rebuilt from scratch replays the whole log,
  // which must not have to fit in memory at once
  let replayed = 0;
  let chunk: AuditEventV1[] = [];
  const fold = () => {
    const records = chunk;
    store.apply((s) => {
      for (const r of records) applyRecord(s, r);
    });
    replayed += records.length;
    chunk = [];
  };
  for await (const r of audit.stream(state.auditSeq)) {
    chunk.push(r);
    if (chunk.length === REPLAY_CHUNK) fold();
  }
  fold();
  await store.flush();
  return replayed;
}

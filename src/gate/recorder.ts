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
  /**
   * While a change that decisions read and nothing else holds back (a stage toggle, a test
   * result) is on its way to the audit log: a promise that settles once none is, each applied to
   * the state or failed. null when none is in flight (the usual case).
   */
  changesInFlight(): Promise<void> | null;
  /**
   * A decision says it waits for changesInFlight(); the function it gets back says it has stopped
   * waiting (its append queued, or given up). While any decision waits, a new change that
   * decisions read waits for them to go first: changes that kept overlapping (test results of
   * many CI jobs) would otherwise hold every decision back for as long as they came.
   */
  decisionWaiting(): () => void;
  /**
   * record() for a change that decisions read (a toggle, a test result), its entries built by
   * `build` once it is this change's turn (after the decisions waiting), so their `at` is taken
   * then: built before the wait, a change recorded after a decision could carry an earlier time.
   */
  recordChange(build: () => readonly AuditEntry[]): Promise<AuditEventV1[]>;
}

/**
 * Changes a decision must not be evaluated across. A decision evaluated while one's append waits
 * for its fsync would read the state before it and be recorded after it: a stage re-enabled with
 * 200 and a decision after it still skipping the stage, a failed test result acknowledged and a
 * decision after it still allowing the tag. Grants and approvals are held per id instead
 * (`reserved`).
 */
const DECISIONS_WAIT_FOR: ReadonlySet<string> = new Set(['stage.toggled', 'testresult.recorded']);

export function createRecorder(audit: AuditLog, store: StateStore, metrics: Metrics): Recorder {
  let inFlight = 0;
  let settled: Promise<void> | null = null;
  let release: () => void = () => {};
  /** decisions waiting for the changes in flight, and a promise that settles once none does */
  let waiting = 0;
  let drained: Promise<void> | null = null;
  let releaseDrained: () => void = () => {};
  const recorder: Recorder = {
    async recordChange(build) {
      while (drained !== null) await drained;
      // no wait from here to the append: record() finds no decision waiting either
      return recorder.record(build());
    },
    async record(entries) {
      const holds = entries.some((e) => DECISIONS_WAIT_FOR.has(e.type));
      // after the decisions already waiting: they were asked before this change
      if (holds) while (drained !== null) await drained;
      if (holds && inFlight++ === 0) settled = new Promise((resolve) => (release = resolve));
      const started = performance.now();
      try {
        let records: AuditEventV1[];
        try {
          records = await audit.append(entries);
        } catch (err) {
          // counted as failures only: while the log cannot be written appends fail at once, and
          // their near-zero times would read as fast durable writes in the latency histogram
          metrics.auditFailures.inc(entries.length);
          throw err;
        }
        metrics.auditAppendSeconds.observe((performance.now() - started) / 1000);
        // the checkpoint write is coalesced and off the answer's path: the audit log already holds the change
        store.apply((state) => {
          for (const r of records) applyRecord(state, r);
        });
        return records;
      } finally {
        if (holds && --inFlight === 0) {
          settled = null;
          release();
        }
      }
    },
    changesInFlight: () => settled,
    decisionWaiting() {
      if (waiting++ === 0) drained = new Promise((resolve) => (releaseDrained = resolve));
      let done = false;
      return () => {
        if (done) return;
        done = true;
        if (--waiting === 0) {
          drained = null;
          releaseDrained();
        }
      };
    },
  };
  return recorder;
}

/** Records folded into the state at a time by replayAuditTail. */
const REPLAY_CHUNK = 1000;

/**
 * Brings the state checkpoint up to the audit log's head: folds in every record newer than
 * state.auditSeq (the writes a crash lost). Returns how many were replayed. Refuses when the
 * state is ahead of the log (the log was replaced or truncated behind the gate's back), and when
 * the log does not hold an unbroken run of seqs from state.auditSeq + 1 to the head (older files
 * moved elsewhere that the checkpoint does not cover, or a file missing in the middle): a state
 * folded from part of the log would silently lose toggles, grants and allowed promotions.
 * `auditDir` only names the directory in the error. `signal` ends the replay at the next record
 * once aborted (rejecting with its reason): a state rebuilt from a whole log takes seconds per
 * hundred thousand records, and a stop asked for meanwhile must not wait for them all. The chunks
 * folded by then are a consistent prefix, checkpointed as any fold is.
 */
export async function replayAuditTail(audit: AuditLog, store: StateStore, auditDir = 'the audit directory', signal?: AbortSignal): Promise<number> {
  const head = audit.head();
  const state = store.read();
  if (state.auditSeq > head.seq) throw stateAheadError(state.auditSeq, head.seq, auditDir);
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
  // checked before a record is folded: nothing after a gap reaches the state (the chunks before
  // it may, a consistent prefix whose checkpoint a later start goes on from). `state` is the live
  // state, whose auditSeq each fold moves on: the error names where this replay began.
  const from = state.auditSeq;
  let expected = from + 1;
  for await (const r of audit.stream(from)) {
    signal?.throwIfAborted();
    if (r.seq !== expected) throw replayGapError(from, head.seq, expected, r.seq, auditDir);
    expected += 1;
    chunk.push(r);
    if (chunk.length === REPLAY_CHUNK) fold();
  }
  fold();
  if (expected !== head.seq + 1) throw replayGapError(from, head.seq, expected, null, auditDir);
  await store.flush();
  return replayed;
}

/**
 * The checkpoint has seen records the log no longer holds: acknowledged decisions, toggles,
 * revocations, spent grants and approvals are gone from the log (its newest file removed or cut short by another hand, or
 * the directory restored from an older copy). The only remedy that loses nothing is the missing
 * records back. A state rebuilt from what is left would undo every change they held (a spent or
 * revoked grant open again, a stage switched off on again), give their seqs to new records, and
 * leave a log that verifies: the loss would show nowhere.
 */
function stateAheadError(stateSeq: number, headSeq: number, auditDir: string): Error {
  const missing = stateSeq === headSeq + 1 ? `seq ${stateSeq} is` : `seqs ${headSeq + 1}..${stateSeq} are`;
  return new Error(
    `state file is at audit seq ${stateSeq} but the audit log ends at seq ${headSeq}: ${missing} missing from ${auditDir} ` +
      `(its newest file removed or cut short, or the directory restored from an older copy). Those are acknowledged records: ` +
      `put the audit file holding them back (from a backup or a snapshot of the volume), then start the gate again. ` +
      `Only if they are lost for good: moving the state file aside rebuilds the state from the log without them, which undoes ` +
      `every change they held (break-glass grants and approvals spent or revoked in them are open again, stages switched off in ` +
      `them are on again, test results recorded in them are gone) and gives their seqs to new records. Before promotions go on, ` +
      `check the stages, the open grants and approvals and the test results (GET /v1/status) against the moved state file, and ` +
      `keep it and this message as the record of the loss (README, "Records lost from the log").`,
  );
}

/** Why a replay stopped: `found` is the seq met where `expected` should have been (null: the log ended first). */
function replayGapError(fromSeq: number, headSeq: number, expected: number, found: number | null, auditDir: string): Error {
  const rebuild = `the state checkpoint is at audit seq ${fromSeq} and the log's head is seq ${headSeq}, so the state needs every record from seq ${fromSeq + 1} to ${headSeq}`;
  if (found !== null && found < expected) {
    return new Error(`cannot rebuild the state: ${rebuild}, but seq ${found} comes after seq ${expected - 1} in ${auditDir} (out of order or repeated). Run \`gate audit verify\`.`);
  }
  const last = found === null ? headSeq : found - 1;
  const range = last === expected ? `record ${expected} is` : `records ${expected}..${last} are`;
  const next = found === null ? `the log there ends at seq ${expected - 1}` : `the next record there is seq ${found}`;
  return new Error(
    `cannot rebuild the state: ${rebuild}, but ${range} not in ${auditDir} (${next}). ` +
      `Put the archived audit files holding ${last === expected ? `seq ${expected}` : `seqs ${expected}..${last}`} back into ${auditDir}, ` +
      `or restore the state checkpoint (state.json) that covers them, then start the gate again.`,
  );
}

// The durable audit log: JSON Lines files `audit-<UTC day>-<first seq>.jsonl` in one directory,
// one canonical-JSON record per line, hash-chained across files (see event.ts).
//  - append: group commit. Appends queue while a write is in flight; the next batch is one
//    positioned write and one fdatasync (plus a directory fsync when it starts a file; several
//    writes for one append over MAX_BATCH_BYTES). A promise resolves only after the last fsync
//    returned. The first batch after opening starts a new file.
//  - fail closed: a failed write or fsync rejects its batch and everything queued behind it,
//    cuts the bytes off again, and refuses appends until a probe (timer, or a later append)
//    has rebuilt the durable state and proved that a write + fsync works. A write or fsync that
//    neither returns nor fails (a hard-mounted NFS server gone away) is a stall: after
//    stallMs everything queued behind it is refused, and so is every append until it returns.
//  - start-up reads one chunk at the end of the newest file (file-tail.ts); queries read files
//    backwards in chunks and enter a file by binary search on seq (file-read.ts, line-reader.ts).
import { dirname, join } from 'node:path';
import { countingFs, nodeAuditFs, writeAllAt, type AuditFileHandle, type AuditFs, type FsCounters } from './audit-fs.ts';
import { type EncodedRecord, type Run, planRuns } from './batch-plan.ts';
import { repairLog, rollbackBatch } from './file-repair.ts';
import type { AuditEntry, AuditEventV1 } from './event.ts';
import { recordsAfter, recordsNewestFirst, type ReadSnapshot } from './file-read.ts';
import { readTail, type AuditLogger } from './file-tail.ts';
import { CHUNK_BYTES } from './line-reader.ts';
import { AuditUnavailableError, type AuditLog } from './log.ts';
import { collectPage, DEFAULT_SCAN_LIMIT, DEFAULT_SINCE_SLACK_MS, prepareQuery } from './query-page.ts';
import { parseEntries, sealRecord } from './record.ts';
import type { Segment } from './segments.ts';
import { takeTurns } from '../take-turns.ts';
import { within } from '../within.ts';

export { AuditCorruptError, type AuditLogger } from './file-tail.ts';

/**
 * The most bytes one write (one fdatasync) takes, unless it is one record alone: the appends
 * queued beyond it go in the next write, and a single append larger than it (an expiry sweep or
 * a refusal summary flush can hold thousands of records: megabytes) is written in several, each
 * fsynced before the next, and answered after the last. It keeps the one write a power cut can
 * leave torn within the 64 KiB start-up reads (readTail): a lost first page with whole records
 * after it is then always seen, and refused, rather than opened past. (A record larger than this
 * is written alone, and a torn one is a single line holding NUL bytes: cut as debris.)
 */
const MAX_BATCH_BYTES = CHUNK_BYTES - 1;

export interface FileAuditLogOptions {
  /** the audit directory (created if missing); its lock is the caller's business */
  dir: string;
  /** fdatasync each batch, fsync the directory on new files (default true) */
  fsync?: boolean;
  /** start a new file before one would grow past this (default 64 MiB) */
  maxFileBytes?: number;
  /** clock for a record whose `at` is not a valid instant, to pick its file's day */
  now?: () => Date;
  /** how often a background probe retries while unwritable (default 5000 ms) */
  recoveryProbeMs?: number;
  /**
   * A batch whose disk work has not returned after this long is stalled: the appends queued
   * behind it are refused, and new ones too, until it returns (default 5000 ms; 0: never).
   * The stalled batch itself is neither answered nor given up: once its fsync returns, its
   * records are durable and its callers get them (unless isWriter() is false by then: refused).
   */
  stallMs?: number;
  logger?: AuditLogger;
  /** file-system layer (tests inject failures and count bytes through it) */
  fs?: AuditFs;
  /** query(): how far before `since` the scan continues (default 1 h) */
  sinceSlackMs?: number;
  /** query(): records one query examines at most before it answers a partial page (default DEFAULT_SCAN_LIMIT) */
  scanLimit?: number;
  /**
   * Whether this process is still the log's only writer (server.ts: the data-directory lock is
   * held). While false, appends are refused, writable() is false and nothing on disk is
   * repaired: another gate may be writing the files. Default: always.
   */
  isWriter?: () => boolean;
}

export interface FileAuditLogStats {
  /** successful write batches: one write and one fsync each (more when a batch spans files, or one append exceeds a write) */
  batches: number;
  /** records made durable by this instance */
  records: number;
  largestBatch: number;
  failedBatches: number;
  recoveries: number;
  bytesWritten: number;
  datasyncs: number;
  /** bytes read since open, start-up included */
  bytesRead: number;
  /** bytes read by open() to find the head: constant, whatever the log size */
  startupBytesRead: number;
  files: number;
  headFile: string | null;
  queued: number;
}

export type FileAuditLog = AuditLog & { stats(): FileAuditLogStats };

interface Pending {
  entries: AuditEntry[];
  resolve(records: AuditEventV1[]): void;
  reject(err: Error): void;
}

/** the last durable record and where it ends */
interface Durable {
  seq: number;
  hash: string;
  file: Segment | null;
  size: number;
}

const silentLogger: AuditLogger = { warn() {}, info() {} };

/**
 * Opens (or creates) the JSON Lines audit log in `opts.dir`. Reads only the tail of the newest
 * file, repairing a torn last line. Rejects with AuditCorruptError when the newest complete
 * record does not check out, and with the file-system error when the directory cannot be read.
 */
export async function openFileAuditLog(opts: FileAuditLogOptions): Promise<FileAuditLog> {
  const dir = opts.dir;
  const fsync = opts.fsync ?? true;
  const maxFileBytes = opts.maxFileBytes ?? 64 * 1024 * 1024;
  const now = opts.now ?? (() => new Date());
  const probeMs = opts.recoveryProbeMs ?? 5000;
  const stallMs = opts.stallMs ?? 5000;
  const logger = opts.logger ?? silentLogger;
  const sinceSlackMs = opts.sinceSlackMs ?? DEFAULT_SINCE_SLACK_MS;
  const scanLimit = opts.scanLimit ?? DEFAULT_SCAN_LIMIT;
  const isWriter = opts.isWriter ?? (() => true);
  const notWriter = 'audit log: this gate no longer holds the data-directory lock';
  const counters: FsCounters = { bytesRead: 0, bytesWritten: 0, datasyncs: 0 };
  const fs = countingFs(opts.fs ?? nodeAuditFs, counters);
  const ctx = {
    fs,
    dir,
    fsync,
    isWriter: () => isWriter(),
    onStaleFileRemoved: (file: string) =>
      logger.warn({ file, head: durable.seq }, "audit: removing an empty newer file this gate did not create (a stale gate's late create); it held nothing"),
  };

  await fs.mkdir(dir);
  if (fsync) {
    // make the audit directory's own entry durable (it may have just been created)
    await fs.syncDir(dirname(dir)).catch((err: unknown) => logger.warn({ err }, 'audit: could not fsync the parent directory'));
  }
  const tail = await readTail(fs, dir, logger);
  const startupBytesRead = counters.bytesRead;

  let durable: Durable = { seq: tail.seq, hash: tail.hash, file: tail.file, size: tail.size };
  // The first batch starts a file of its own rather than continue the newest one: on NFS a gate
  // that lost the directory (a partitioned node) can still hold unwritten pages of that file,
  // which its client flushes once the partition heals, over whatever this gate wrote there at the
  // same offsets: records it had acknowledged. In a file of this gate's own they land past the end
  // of the old one, where verify finds them, and overwrite nothing acknowledged.
  let ownFileYet = false;
  /** files this gate created (or tried to: a create can land although it reports a failure) whose batch is not committed, and that it has not removed since: the only files newer than the durable head it may remove (repairLog) */
  const uncommittedFiles = new Set<string>();
  let fh: AuditFileHandle | null = tail.fh;
  const segments: Segment[] = tail.segments;
  let failed = false;
  /** set when the newest file was changed by another hand (refuseForGood): no recovery then */
  let changedBy: string | null = null;
  /** when the disk work under way started, if it has been running longer than stallMs */
  let stalledSince: number | null = null;
  let closing = false;
  let closed: Promise<void> | null = null;
  let queue: Pending[] = [];
  let flushScheduled = false;
  let probeTimer: NodeJS.Timeout | null = null;
  let recovering: Promise<boolean> | null = null;
  let lastAttemptMs = 0;
  const stats = { batches: 0, records: 0, largestBatch: 0, failedBatches: 0, recoveries: 0 };

  /** runs disk mutations one after another: a flush, a rollback and a recovery never overlap */
  const serial = takeTurns();

  function scheduleFlush(): void {
    if (flushScheduled) return;
    flushScheduled = true;
    void serial(async () => {
      flushScheduled = false;
      await flushOnce();
    });
  }

  function unavailable(msg: string, cause?: unknown): AuditUnavailableError {
    return new AuditUnavailableError(msg, cause === undefined ? undefined : { cause });
  }

  /** The refusal of every append once the newest file was changed by another hand (refuseForGood). */
  function changedUnderGate(what: string): AuditUnavailableError {
    return unavailable(`audit log changed under the gate: ${what}; restart the gate`);
  }

  function stalledError(): AuditUnavailableError {
    return unavailable(`audit log write has not completed for ${((Date.now() - (stalledSince ?? Date.now())) / 1000).toFixed(1)} s`);
  }

  /** Restarts the stall watchdog: a write and its fsync of the batch returned (set by flushOnce). */
  let progressed = (): void => {};

  /**
   * Runs one batch's disk work under a watchdog that declares a stall once a write or fsync has not
   * returned for stallMs (an append over MAX_BATCH_BYTES takes several, each given stallMs).
   */
  async function flushOnce(): Promise<void> {
    if (queue.length === 0) return;
    let started = Date.now();
    const watchdog =
      stallMs > 0
        ? setTimeout(() => {
            stalledSince = started;
            logger.warn({ head: durable.seq, stallMs }, 'audit: a write or fsync has not returned; appends are refused until it does');
            const err = stalledError();
            for (const p of queue.splice(0)) p.reject(err);
          }, stallMs)
        : null;
    watchdog?.unref();
    progressed = () => {
      // once a stall is declared it lasts until the batch ends
      if (stalledSince !== null) return;
      started = Date.now();
      watchdog?.refresh();
    };
    try {
      await flushBatch();
    } finally {
      progressed = () => {};
      if (watchdog) clearTimeout(watchdog);
      if (stalledSince !== null) {
        logger.info({ head: durable.seq, stalledMs: Date.now() - stalledSince, failed }, 'audit: the stalled write returned');
        stalledSince = null;
      }
    }
  }

  async function flushBatch(): Promise<void> {
    let batch = queue;
    queue = [];
    if (failed || !isWriter()) {
      const err = unavailable(failed ? 'audit log is not writable' : notWriter);
      for (const p of batch) p.reject(err);
      return;
    }
    const created: { seg: Segment; fh: AuditFileHandle }[] = [];
    let results: AuditEventV1[][];
    if (fh !== null && durable.file !== null) {
      let changed: string | null;
      try {
        // the file start-up found holds records too: checked before the first batch, which goes
        // into a new file, as well (bytes past its last record, which the gate does not write
        // into, do not count then)
        changed = await changedUnderUs(fh, durable.file.name, durable.size, ownFileYet);
      } catch (err) {
        await failBatch(batch, created, err);
        return;
      }
      if (changed !== null) {
        refuseForGood(batch, changed);
        return;
      }
    }
    try {
      let seq = durable.seq;
      let prev = durable.hash;
      const sealed: EncodedRecord[] = [];
      results = [];
      let bytes = 0;
      for (let i = 0; i < batch.length; i++) {
        const own = batch[i]!.entries.map((e) => {
          const { record, line } = sealRecord(e, ++seq, prev);
          prev = record.hash;
          return { record, buf: Buffer.from(line) };
        });
        const ownBytes = own.reduce((n, s) => n + s.buf.length, 0);
        if (i > 0 && bytes + ownBytes > MAX_BATCH_BYTES) {
          // the rest goes in the next write, ahead of the appends that came in meanwhile
          queue = [...batch.slice(i), ...queue];
          batch = batch.slice(0, i);
          break;
        }
        bytes += ownBytes;
        sealed.push(...own);
        results.push(own.map((s) => s.record));
      }
      const runs = planRuns(ownFileYet ? durable : { file: null, size: 0 }, sealed, maxFileBytes, MAX_BATCH_BYTES, now);
      for (const [i, run] of runs.entries()) {
        // the disk work of the runs before may have outlasted this gate's hold on the directory:
        // no more of the batch goes into files that may be another gate's now
        if (i > 0 && !isWriter()) throw unavailable(notWriter);
        // a run that does not create its file continues the durable one or the last one created
        let target = created.at(-1)?.fh ?? fh;
        if (run.isNew) {
          // created exclusively, never opened over a file of that name: two gates that read the
          // same head name their next file alike, and a stale gate's create that lands late (an
          // NFS CREATE retried through a partition) would otherwise empty the file in which the
          // gate that took the directory over has acknowledged records. A clash fails the batch
          // (503); this gate's own failed files are removed before it writes again. The name is
          // counted as this gate's before the create: one that reached the disk although its open
          // reported a failure (an NFS reply lost) is this gate's to remove; one that was there
          // already (EEXIST) is not
          uncommittedFiles.add(run.seg.name);
          try {
            target = await fs.open(join(dir, run.seg.name), 'wx+');
          } catch (err) {
            if ((err as { code?: string }).code === 'EEXIST') uncommittedFiles.delete(run.seg.name);
            throw err;
          }
          created.push({ seg: run.seg, fh: target });
        }
        await writeAllAt(target!, Buffer.concat(run.bufs, run.bytes), run.start);
        if (fsync) await target!.datasync();
        progressed();
      }
      if (created.length > 0 && fsync) await fs.syncDir(dir);
      // The files this batch rolled over from (the newest before it, and any it created and then
      // filled) are never checked again: the next batch's check is of the last one. A change to
      // one of them while this batch was under way, after the check above (cut short, replaced),
      // would go unnoticed for good, the gate answering on; so each is checked once more, through
      // its handle still open, before anything is acknowledged.
      const changed = await rolledOverFromChanged(runs, created);
      if (changed !== null) {
        // the batch's new files go, unacknowledged: left, a restart would read their records as
        // the log's newest and fold them into the state, past the records the change took
        try {
          await rollbackBatch(ctx, durable, null, created, (name) => uncommittedFiles.delete(name));
        } catch (err) {
          logger.warn({ err }, 'audit: could not remove the files of the batch refused after a change under the gate');
        }
        refuseForGood(batch, changed);
        return;
      }
      // the disk work may have outlasted this gate's hold on the directory (a stall past the
      // lease): another gate may have read the log without these records and written over them
      if (!isWriter()) throw unavailable(notWriter);
      const last = runs[runs.length - 1]!;
      if (created.length > 0) {
        const old = fh;
        fh = created[created.length - 1]!.fh;
        for (const c of [...created.slice(0, -1).map((c) => c.fh), old]) await c?.close().catch(() => {});
        segments.push(...created.map((c) => c.seg));
        for (const c of created) uncommittedFiles.delete(c.seg.name);
      }
      const lastRec = results[results.length - 1]!.at(-1)!;
      durable = { seq: lastRec.seq, hash: lastRec.hash, file: last.seg, size: last.start + last.bytes };
      ownFileYet = true;
    } catch (err) {
      await failBatch(batch, created, err);
      return;
    }
    stats.batches += 1;
    stats.records += durable.seq - (results[0]![0]!.seq - 1);
    stats.largestBatch = Math.max(stats.largestBatch, batch.length);
    batch.forEach((p, i) => p.resolve(results[i]!));
    if (queue.length > 0) scheduleFlush();
  }

  /**
   * What has happened to the newest file, which this gate writes by position through its open
   * handle, since its last batch (or since start-up read it): removed (the gate would write on into a file no longer in the
   * log), replaced by another file at its name (a restore, `sed -i`, a rotation), or cut short or
   * written by another (its size is not what this gate left: its next records would land past a
   * hole of zeros). Null when it is as this gate left it.
   */
  async function changedUnderUs(handle: AuditFileHandle, name: string, size: number, exactSize: boolean): Promise<string | null> {
    const [own, named] = await Promise.all([
      handle.stat(),
      fs.stat(join(dir, name)).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null;
        throw err;
      }),
    ]);
    if (named === null) return `${name} has been removed`;
    if (named.ino !== own.ino || named.dev !== own.dev) return `${name} has been replaced by another file`;
    if (own.nlink === 0) return `${name} has been removed`;
    if (exactSize ? own.size !== size : own.size < size) return `${name} is ${own.size} bytes long, not the ${size} this gate ${exactSize ? 'wrote' : 'found'}: cut short or written by another`;
    return null;
  }

  /**
   * What has happened to the files a batch rolled over from (see flushBatch), each against the end
   * the batch left it at; null when none changed, or the batch created no file.
   */
  async function rolledOverFromChanged(runs: readonly Run[], created: readonly { seg: Segment; fh: AuditFileHandle }[]): Promise<string | null> {
    if (created.length === 0) return null;
    const endOf = (name: string, from: number) => Math.max(from, ...runs.filter((r) => r.seg.name === name).map((r) => r.start + r.bytes));
    const left: { handle: AuditFileHandle; name: string; size: number; exact: boolean }[] = [];
    // the file start-up found, before this gate's first batch, only counts up to its last record
    if (fh !== null && durable.file !== null) left.push({ handle: fh, name: durable.file.name, size: endOf(durable.file.name, durable.size), exact: ownFileYet });
    for (const c of created.slice(0, -1)) left.push({ handle: c.fh, name: c.seg.name, size: endOf(c.seg.name, 0), exact: true });
    for (const f of left) {
      const changed = await changedUnderUs(f.handle, f.name, f.size, f.exact);
      if (changed !== null) return changed;
    }
    return null;
  }

  /**
   * The newest file was changed by someone else: nothing more is written (the records would not
   * be in the log, or would be after a hole) and there is no recovery while the gate runs. Its
   * records up to the change may be gone; only a restart, which reads the log again and checks
   * it against the checkpoint, can say. Every append is refused until then.
   */
  function refuseForGood(batch: Pending[], what: string): void {
    failed = true;
    changedBy = what;
    stats.failedBatches += 1;
    logger.warn({ head: durable.seq, change: what }, `audit: ${what} while the gate was running; appends are refused until the gate is restarted (its start-up checks the log)`);
    const error = changedUnderGate(what);
    for (const p of batch) p.reject(error);
    for (const p of queue.splice(0)) p.reject(error);
  }

  async function failBatch(batch: Pending[], created: { seg: Segment; fh: AuditFileHandle }[], err: unknown): Promise<void> {
    failed = true;
    stats.failedBatches += 1;
    const code = (err as { code?: string }).code ?? (err as Error).message;
    logger.warn({ err, code, head: durable.seq }, 'audit: write failed; appends are refused until the log is writable again');
    if (!isWriter()) {
      // the lock was lost while the write was under way: the files may be another gate's now,
      // holding its records past this gate's durable end. Cut nothing off (the probe repairs
      // once this gate holds the directory again)
      for (const c of created) await c.fh.close().catch(() => {});
      logger.warn({ head: durable.seq }, 'audit: the failed write is not cut off: this gate no longer holds the data-directory lock');
    } else {
      try {
        // a file it removed is no longer this gate's: one of that name from now on is another's
        // (a gate that read the same head names its next file alike)
        // before this gate's first batch has landed, the newest file is the one start-up found:
        // no batch writes into it, so nothing is cut from it (bytes past its last record, a stale
        // gate's late write, stay for audit verify)
        await rollbackBatch(ctx, durable, ownFileYet ? fh : null, created, (name) => uncommittedFiles.delete(name));
      } catch (rollbackErr) {
        logger.warn({ err: rollbackErr }, 'audit: could not cut the failed write off yet; the recovery probe will');
      }
    }
    const error = unavailable(`audit log write failed (${code})`, err);
    for (const p of batch) p.reject(error);
    for (const p of queue.splice(0)) p.reject(error);
    startProbe();
  }

  function recover(trigger: 'probe' | 'append'): Promise<boolean> {
    if (!failed) return Promise.resolve(true);
    if (changedBy !== null) return Promise.resolve(false);
    if (recovering) return recovering;
    // appends may retry too, but not more often than this, so a dead disk is not hammered
    if (trigger === 'append' && Date.now() - lastAttemptMs < Math.min(250, probeMs)) return Promise.resolve(false);
    recovering = serial(async () => {
      lastAttemptMs = Date.now();
      if (!failed) return true;
      if (!isWriter()) return false; // the files may be another gate's now: cut nothing off
      try {
        await fh?.close().catch(() => {}); // it may be stale (NFS) or poisoned by the failure
        fh = null;
        fh = await repairLog(ctx, durable, uncommittedFiles, ownFileYet);
        uncommittedFiles.clear();
      } catch (err) {
        if (trigger === 'probe') logger.warn({ err, head: durable.seq }, 'audit: still not writable');
        return false;
      }
      failed = false;
      stats.recoveries += 1;
      stopProbe();
      logger.info({ head: durable.seq, trigger }, 'audit: writable again');
      return true;
    }).finally(() => {
      recovering = null;
    });
    return recovering;
  }

  /** recover('append'), but an append does not wait longer than `ms` for it (a repair can stall too) */
  async function recoverWithin(ms: number): Promise<boolean> {
    if (ms <= 0) return recover('append');
    return within(recover('append'), ms, () => false);
  }

  function startProbe(): void {
    if (probeTimer !== null || closing) return;
    probeTimer = setInterval(() => void recover('probe'), probeMs);
    probeTimer.unref();
  }

  function stopProbe(): void {
    if (probeTimer !== null) clearInterval(probeTimer);
    probeTimer = null;
  }

  function stream(afterSeq: number): AsyncGenerator<AuditEventV1> {
    if (!Number.isInteger(afterSeq) || afterSeq < 0) throw new RangeError(`audit since: not a seq: ${afterSeq}`);
    return recordsAfter(snapshot(), afterSeq);
  }

  function snapshot(): ReadSnapshot {
    const upTo = segments.findLastIndex((s) => s.firstSeq <= durable.seq);
    return { fs, dir, segments: segments.slice(0, upTo + 1), headSeq: durable.seq, headFileSize: durable.size };
  }

  return {
    async append(entries) {
      if (closing) throw unavailable('audit log is closed');
      if (!isWriter()) throw unavailable(notWriter);
      const parsed = parseEntries(entries);
      if (parsed.length === 0) return [];
      if (stalledSince !== null) throw stalledError();
      if (changedBy !== null) throw changedUnderGate(changedBy);
      if (failed && !(await recoverWithin(stallMs))) throw unavailable('audit log is not writable');
      if (closing) throw unavailable('audit log is closed');
      return new Promise<AuditEventV1[]>((resolve, reject) => {
        queue.push({ entries: parsed, resolve, reject });
        scheduleFlush();
      });
    },
    async query(q) {
      const pq = prepareQuery(q, sinceSlackMs, scanLimit);
      return collectPage(recordsNewestFirst(snapshot(), pq.below, pq.mayMatchLine, pq.budget), pq);
    },
    async since(afterSeq) {
      const out: AuditEventV1[] = [];
      for await (const r of stream(afterSeq)) out.push(r);
      return out;
    },
    stream,
    head: () => ({ seq: durable.seq, hash: durable.hash }),
    writable: () => !failed && stalledSince === null && !closing && isWriter(),
    refusedUntilRestart: () => (changedBy === null ? null : changedUnderGate(changedBy).message),
    close() {
      closed ??= (async () => {
        closing = true;
        stopProbe();
        // a batch takes at most MAX_BATCH_BYTES of queued appends: flushed until nothing is
        // queued (each round writes a batch or, once the log has failed, refuses everything queued)
        await serial(async () => {
          do await flushOnce();
          while (queue.length > 0);
        });
        await fh?.close().catch(() => {});
        fh = null;
      })();
      return closed;
    },
    stats: () => ({
      ...stats,
      bytesWritten: counters.bytesWritten,
      datasyncs: counters.datasyncs,
      bytesRead: counters.bytesRead,
      startupBytesRead,
      files: segments.length,
      headFile: durable.file?.name ?? null,
      queued: queue.length,
    }),
  };
}

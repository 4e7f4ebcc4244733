import { GENESIS_HASH, type AuditEntry, type AuditEventV1 } from './event.ts';
import { AuditUnavailableError, type AuditLog } from './log.ts';
import { collectPage, DEFAULT_SCAN_LIMIT, DEFAULT_SINCE_SLACK_MS, prepareQuery } from './query-page.ts';
import { parseEntries, sealRecord } from './record.ts';

export interface MemoryAuditLogOptions {
  /** query(): how far before `since` the scan continues (default 1 h), as in the file log */
  sinceSlackMs?: number;
  /** query(): records one query examines at most, as in the file log */
  scanLimit?: number;
}

export interface MemoryAuditLogStats {
  /** groups of appends committed together (appends made in the same tick share one) */
  batches: number;
  records: number;
  failedAppends: number;
}

/** The in-memory audit log for tests, with hooks to look inside and to make appends fail. */
export interface MemoryAuditLog extends AuditLog {
  /**
   * The next `n` append() calls reject with AuditUnavailableError and add nothing; writable()
   * is false from the first of them until an append succeeds again (as the file log, which
   * retries on the next append).
   */
  failNextAppends(n: number): void;
  /** every record, oldest first */
  records(): readonly AuditEventV1[];
  stats(): MemoryAuditLogStats;
}

interface Pending {
  entries: AuditEntry[];
  resolve(records: AuditEventV1[]): void;
}

/**
 * An AuditLog held in memory with the file log's semantics: the same chain and hashes (its
 * records verify like the file's), group commit per tick, the same query and since().
 */
export function createMemoryAuditLog(opts: MemoryAuditLogOptions = {}): MemoryAuditLog {
  const sinceSlackMs = opts.sinceSlackMs ?? DEFAULT_SINCE_SLACK_MS;
  const scanLimit = opts.scanLimit ?? DEFAULT_SCAN_LIMIT;
  const log: AuditEventV1[] = [];
  let queue: Pending[] = [];
  let failuresArmed = 0;
  let failedLast = false;
  let closed = false;
  const stats: MemoryAuditLogStats = { batches: 0, records: 0, failedAppends: 0 };

  function flush(): void {
    const batch = queue;
    queue = [];
    if (batch.length === 0) return;
    let prev = log.at(-1)?.hash ?? GENESIS_HASH;
    for (const p of batch) {
      const recs = p.entries.map((e) => {
        const rec = sealRecord(e, log.length + 1, prev).record;
        prev = rec.hash;
        log.push(rec);
        return rec;
      });
      stats.records += recs.length;
      p.resolve(recs);
    }
    stats.batches += 1;
  }

  /** records with seq > afterSeq, a copy of the array (later appends do not show in it) */
  function recordsAfter(afterSeq: number): AuditEventV1[] {
    if (!Number.isInteger(afterSeq) || afterSeq < 0) throw new RangeError(`audit since: not a seq: ${afterSeq}`);
    return log.slice(afterSeq);
  }

  return {
    async append(entries) {
      if (closed) throw new AuditUnavailableError('audit log is closed');
      const parsed = parseEntries(entries);
      if (failuresArmed > 0) {
        failuresArmed -= 1;
        failedLast = true;
        stats.failedAppends += 1;
        throw new AuditUnavailableError('audit log is not writable (injected failure)');
      }
      failedLast = false;
      if (parsed.length === 0) return [];
      return new Promise<AuditEventV1[]>((resolve) => {
        if (queue.length === 0) queueMicrotask(flush);
        queue.push({ entries: parsed, resolve });
      });
    },
    async query(q) {
      const pq = prepareQuery(q, sinceSlackMs, scanLimit);
      const from = Math.min(log.length, Number.isFinite(pq.below) ? pq.below - 1 : log.length);
      function* newestFirst(): Generator<AuditEventV1> {
        for (let i = from - 1; i >= 0; i--) {
          if (pq.budget.left <= 0) {
            pq.budget.resumeBelow = log[i]!.seq + 1;
            return;
          }
          pq.budget.left -= 1;
          yield log[i]!;
        }
      }
      return collectPage(newestFirst(), pq);
    },
    async since(afterSeq) {
      return recordsAfter(afterSeq);
    },
    async *stream(afterSeq) {
      yield* recordsAfter(afterSeq);
    },
    head: () => ({ seq: log.length, hash: log.at(-1)?.hash ?? GENESIS_HASH }),
    writable: () => !failedLast && !closed,
    async close() {
      flush();
      closed = true;
    },
    failNextAppends(n) {
      if (!Number.isInteger(n) || n < 0) throw new RangeError(`failNextAppends: not a count: ${n}`);
      failuresArmed = n;
    },
    records: () => log.slice(),
    stats: () => ({ ...stats }),
  };
}

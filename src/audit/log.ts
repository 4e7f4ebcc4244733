import type { AuditEntry, AuditEventV1, AuditType } from './event.ts';

/** Filters for a newest-first page of the audit log (GET /v1/audit). */
export interface AuditQuery {
  stage?: string;
  /** exact type ("decision") or a family prefix ending in "." ("breakglass.") */
  type?: AuditType | `${string}.`;
  /** only records with at >= since (ISO instant) */
  since?: string;
  /** page size, 1..500 */
  limit: number;
  /** continue below this seq (the previous page's nextCursor) */
  cursor?: number;
}

export interface AuditPage {
  /** newest first */
  records: AuditEventV1[];
  /** pass as `cursor` for the next (older) page; null when there is none */
  nextCursor: number | null;
  /**
   * true when the scan stopped at its budget (see DEFAULT_SCAN_LIMIT) before the page was full:
   * older records may still match, and nextCursor goes on from where it stopped
   */
  partial: boolean;
}

/**
 * Thrown (rejected) when the log cannot make a record durable. The log then holds nothing of
 * that append, with one exception: when the disk fails so that the failed write cannot even be
 * cut off again, and the process dies before the recovery probe cuts it, the next start-up may
 * find those records whole and keep them. A caller must read this error as "not known to be
 * recorded" (the gate answers 503 and Kargo retries; a retried allow comes back as a replay).
 */
export class AuditUnavailableError extends Error {
  override name = 'AuditUnavailableError';
}

/**
 * The append-only audit log. There is no update and no delete.
 */
export interface AuditLog {
  /**
   * Appends the entries, in order, as one group. Resolves once every one of them is written and
   * fsynced (group commit: concurrent appends share one write and one fsync; the file log writes
   * one append over 64 KiB in several, so a crash between them can keep its first records,
   * unacknowledged, as a power cut can keep the first pages of any write). Rejects with
   * AuditUnavailableError when they could not be made durable (see AuditUnavailableError for the
   * one case where they may still turn up after a restart); the log then reports
   * writable() === false until it recovers.
   */
  append(entries: readonly AuditEntry[]): Promise<AuditEventV1[]>;
  /** Newest-first page of records matching the query. */
  query(q: AuditQuery): Promise<AuditPage>;
  /** Records with seq > afterSeq, oldest first, all in one array (small reads and tests). */
  since(afterSeq: number): Promise<AuditEventV1[]>;
  /**
   * The same records, read as they are iterated, so memory stays flat however many there are
   * (start-up replays these into the state; a state rebuilt from scratch replays the whole log).
   */
  stream(afterSeq: number): AsyncIterable<AuditEventV1>;
  /** The last durable record's seq (0 when empty) and hash (GENESIS_HASH when empty). */
  head(): { seq: number; hash: string };
  /** false while appends fail (disk full, NFS gone...); /readyz reports it. */
  writable(): boolean;
  /**
   * Why appends are refused until the gate is restarted, when they are (the newest file changed
   * by another hand: no recovery while it runs), else null: unlike a full or lost volume, this
   * does not end by itself, and /readyz says so.
   */
  refusedUntilRestart?(): string | null;
  /** Flushes what is queued and releases the files. */
  close(): Promise<void>;
}

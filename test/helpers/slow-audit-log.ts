import type { AuditEntry } from '../../src/audit/event.ts';
import type { AuditLog } from '../../src/audit/log.ts';
import { createMemoryAuditLog } from '../../src/audit/memory-log.ts';

/**
 * The in-memory audit log with appends that take their place at once and are acknowledged `ms`
 * later, as the file log's fsync does: other requests are decided while one's record is on its
 * way (the plain in-memory log commits at once, and a race there never shows). `inner` holds
 * what was appended.
 */
export function slowAuditLog(ms: number) {
  const inner = createMemoryAuditLog();
  const audit: AuditLog = {
    ...inner,
    async append(entries: readonly AuditEntry[]) {
      const records = await inner.append(entries);
      await new Promise((r) => setTimeout(r, ms));
      return records;
    },
  };
  return { audit, inner };
}

/**
 * The in-memory audit log with appends acknowledged only when the test says, one by one, oldest
 * first (`ack()`), each as its own fsync. `recorded(n)` waits until `n` records took their place.
 */
export function heldAuditLog() {
  const inner = createMemoryAuditLog();
  const pending: (() => void)[] = [];
  const audit: AuditLog = {
    ...inner,
    async append(entries: readonly AuditEntry[]) {
      const records = await inner.append(entries);
      await new Promise<void>((resolve) => pending.push(resolve));
      return records;
    },
  };
  return {
    audit,
    inner,
    ack(): void {
      const next = pending.shift();
      if (!next) throw new Error('no append is waiting for its acknowledgement');
      next();
    },
    async recorded(n: number): Promise<void> {
      for (let i = 0; inner.records().length < n; i++) {
        if (i > 500) throw new Error(`the log never held ${n} records`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
  };
}

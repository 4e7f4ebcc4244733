import { open } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * fsyncs a directory, making the entries created or renamed in it durable. Best effort, as not
 * every platform or file system can fsync a directory (the audit log's own, which must, is
 * AuditFs.syncDir).
 */
export async function syncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, 'r').catch(() => null);
  if (fh) await fh.sync().catch(() => undefined).finally(() => fh.close());
}

/** Makes a rename into `file`'s directory durable: fsyncs that directory (best effort). */
export async function syncParentDir(file: string): Promise<void> {
  return syncDirectory(dirname(file));
}

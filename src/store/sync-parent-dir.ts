import { open } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Makes a rename into `file`'s directory durable: fsyncs that directory. Best effort, as not every
 * platform or file system can fsync a directory (the audit log's own, which must, is AuditFs.syncDir).
 */
export async function syncParentDir(file: string): Promise<void> {
  const dir = await open(dirname(file), 'r').catch(() => null);
  if (dir) await dir.sync().catch(() => undefined).finally(() => dir.close());
}

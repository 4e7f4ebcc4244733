import { mkdir, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** fsyncs a directory, best effort (not every platform or file system can). */
async function syncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, 'r').catch(() => null);
  if (fh) await fh.sync().catch(() => undefined).finally(() => fh.close());
}

/**
 * Creates the data directory and its `audit` directory where they are missing, and makes every
 * directory entry it created durable: fsyncs the parent of each. On a first start the tokens and
 * the first audit records go into a directory a power cut could otherwise take back whole (its
 * entry in its parent never written), although each of their files was fsynced. Returns the
 * directories it fsynced (none when everything was there). Throws what mkdir throws.
 */
export async function makeDataDir(dataDir: string, syncDir: (dir: string) => Promise<void> = syncDirectory): Promise<string[]> {
  const leaf = join(dataDir, 'audit');
  const first = await mkdir(leaf, { recursive: true });
  if (first === undefined) return [];
  const parents: string[] = [];
  for (let d = leaf; ; d = dirname(d)) {
    parents.unshift(dirname(d));
    if (d === first || dirname(d) === d) break;
  }
  for (const p of parents) await syncDir(p);
  return parents;
}

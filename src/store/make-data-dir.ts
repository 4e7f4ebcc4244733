import { mkdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { dirsUpTo } from './dirs-up-to.ts';
import { syncDirectory } from './sync-parent-dir.ts';

/**
 * mkdir -p that makes what it creates durable: fsyncs the parent of each directory it created,
 * outermost first. Returns the directories it fsynced (none when `dir` was there). Throws what
 * mkdir throws.
 */
export async function makeDirDurably(dir: string, syncDir: (dir: string) => Promise<void> = syncDirectory): Promise<string[]> {
  const leaf = resolve(dir);
  let first: string | undefined;
  try {
    first = await mkdir(leaf, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    throw await whyNotMade(leaf, err);
  }
  if (first === undefined) return [];
  const parents = dirsUpTo(leaf, first).map((d) => dirname(d)).reverse();
  for (const p of parents) await syncDir(p);
  return parents;
}

/**
 * Node's recursive mkdir reports ENOENT for a directory it could not create on a read-only file
 * system (EROFS), where a start must wait for the volume rather than fail on a missing path: the
 * first missing directory under the deepest one that exists, made on its own, says why. Its error,
 * or `err` when it can be made after all (the caller's next attempt goes on from there).
 */
async function whyNotMade(leaf: string, err: unknown): Promise<unknown> {
  let missing = leaf;
  for (let d = dirname(leaf); d !== missing; missing = d, d = dirname(d)) {
    const found = await stat(d).then(
      () => true,
      () => false,
    );
    if (found) break;
  }
  return mkdir(missing).then(
    () => err,
    (real: unknown) => real,
  );
}

/**
 * Creates the data directory and its `audit` directory where they are missing, makes every
 * directory entry it created durable, and fsyncs the data directory's parent and the data
 * directory themselves at every start: on a first start the tokens and the first audit records
 * go into a directory a power cut could otherwise take back whole (its entry in its parent never
 * written), although each of their files was fsynced; the directory may also come from a
 * `token create` or a start killed before its fsyncs. Returns the directories it fsynced.
 */
export async function makeDataDir(dataDir: string, syncDir: (dir: string) => Promise<void> = syncDirectory): Promise<string[]> {
  const data = resolve(dataDir);
  const synced = await makeDirDurably(join(data, 'audit'), syncDir);
  for (const d of [dirname(data), data]) {
    if (synced.includes(d)) continue;
    await syncDir(d);
    synced.push(d);
  }
  return synced.sort((a, b) => a.length - b.length);
}

import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import type { Adapter } from 'lowdb';
import { syncParentDir } from './sync-parent-dir.ts';

/**
 * lowdb adapter for the state checkpoint: compact JSON written to a temp file, fdatasync'd, then
 * renamed over the file. Like lowdb's own DataFile the replacement is atomic; unlike it, the new
 * file's data is on disk before the rename, so a power cut after the rename cannot leave an empty
 * or partial checkpoint on file systems that do not order the two (XFS, some NFS servers), which
 * would stop the next start-up. It also takes the checkpoint's data out of the audit log's
 * fdatasync on ext4 (a rename over a file there makes the next journal commit write the new
 * file's data first); at the benchmark's noise level (±20%) that made no measurable difference
 * to the decisions' p99. One write at a time: the store's write coalescer sees to that.
 */
/** The temp file a write of `file` goes through. */
function tempOf(file: string): string {
  return `${file}.tmp`;
}

/**
 * Removes the temp file a write of `file` left behind when the process died between writing it
 * and renaming it over the file; returns its path, or null when there was none. Only for the one
 * writer of `file` (the gate holding the data directory's lock), before its first write.
 */
export async function removeLeftoverTemp(file: string): Promise<string | null> {
  const tmp = tempOf(file);
  try {
    if (!(await stat(tmp)).isFile()) return null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  await rm(tmp, { force: true });
  return tmp;
}

export class DurableJsonFile<T> implements Adapter<T> {
  readonly #file: string;
  readonly #tmp: string;

  constructor(file: string) {
    this.#file = file;
    this.#tmp = tempOf(file);
  }

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(this.#file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    return JSON.parse(text) as T;
  }

  async write(data: T): Promise<void> {
    const fh = await open(this.#tmp, 'w');
    try {
      await fh.writeFile(JSON.stringify(data));
      await fh.datasync();
    } catch (err) {
      await fh.close().catch(() => {});
      await rm(this.#tmp, { force: true }).catch(() => {});
      throw err;
    }
    await fh.close();
    await rename(this.#tmp, this.#file);
  }

  /**
   * Makes the last rename durable: fsyncs the file's directory. Until then a power cut can bring
   * back the checkpoint before it (whole, never torn). Not done on every write: a checkpoint the
   * crash takes back only costs a longer replay. It is done when the gate stops, after which an
   * operator may archive the audit files the checkpoint covers (README, archiving): a checkpoint
   * taken back then would need them again, and start-up would refuse without them. Best effort,
   * as not every platform or file system can fsync a directory.
   */
  syncDir(): Promise<void> {
    return syncParentDir(this.#file);
  }
}

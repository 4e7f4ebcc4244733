import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Adapter } from 'lowdb';
import { syncParentDir } from './sync-parent-dir.ts';
import { writerTempOf, writerTempsBeside } from './writer-temp.ts';

/**
 * Removes the temp files writes of `file` left behind when their process died between writing one
 * and renaming it over the file; returns their paths. Only for the one writer of `file` (the gate
 * holding the data directory's lock), before its first write: a gate that lost the directory
 * without knowing it yet and is still writing one loses it, and its rename then fails, as it should.
 * `${file}.tmp` is the one name releases before this one gave every write.
 */
export async function removeLeftoverTemps(file: string): Promise<string[]> {
  const removed: string[] = [];
  for (const path of await writerTempsBeside(file, [`${basename(file)}.tmp`])) {
    const found = await stat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (!found?.isFile()) continue;
    await rm(path, { force: true });
    removed.push(path);
  }
  return removed;
}

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
export class DurableJsonFile<T> implements Adapter<T> {
  readonly #file: string;

  constructor(file: string) {
    this.#file = file;
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
    // a name of this write's own: a gate that lost the directory and does not know it yet may be
    // writing a checkpoint too, and a shared name let either truncate or rename the other's half
    const tmp = writerTempOf(this.#file);
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(JSON.stringify(data));
      await fh.datasync();
    } catch (err) {
      await fh.close().catch(() => {});
      await rm(tmp, { force: true }).catch(() => {});
      throw err;
    }
    await fh.close();
    try {
      await rename(tmp, this.#file);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => {});
      throw err;
    }
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

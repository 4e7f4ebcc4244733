import { mkdir, open, readdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { HttpError } from '../http/errors.ts';
import { dirsUpTo } from '../store/dirs-up-to.ts';
import { syncParentDir } from '../store/sync-parent-dir.ts';

/** The most uploads of one tag kept under its names: imageTag.json, then imageTag~2.json ... ~9999. */
const MAX_UPLOADS = 9999;

/**
 * Writes a test-result artifact under a name above every one the tag has in `dir`: imageTag.json
 * for its first, then imageTag~2.json, imageTag~3.json, ... ("~" is not allowed in a tag, so
 * names never collide). Above, not the first free one: with earlier files archived or deleted
 * (the README allows it at any time), a reused lower name would make an older result look like
 * the newest, which is the one to send again. It makes the file durable before the result is
 * recorded: the file's data, then its directory entry and the entries of the directories it sits
 * in, so a power cut cannot keep the audit record of a result and lose the file it names. The
 * directory fsyncs are best effort, as for the token file (not every file system can fsync a
 * directory). A write the volume refuses (read-only, full, an I/O error) is a 503 that leaves no
 * file behind.
 */
export async function writeArtifact(dir: string, imageTag: string, raw: Buffer): Promise<string> {
  const made = await mkdir(dir, { recursive: true }).catch(storageError);
  for (let n = await nextUpload(dir, imageTag); n <= MAX_UPLOADS; n++) {
    const name = n === 1 ? `${imageTag}.json` : `${imageTag}~${n}.json`;
    const file = join(dir, name);
    let fh;
    try {
      fh = await open(file, 'wx', 0o640);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      return storageError(err);
    }
    try {
      await fh.writeFile(raw);
      await fh.sync();
      await fh.close();
    } catch (err) {
      await fh.close().catch(() => undefined);
      await rm(file, { force: true }).catch(() => undefined);
      return storageError(err);
    }
    // the entries of `dir` and of its parent (artifacts/ in the data directory), and of any
    // directory mkdir made above them, every time: a write at the same moment as the one that
    // made them (which then sees them made) must not be recorded before they are durable either.
    // Results are rare; three small fsyncs each cost nothing
    const top = made !== undefined && resolve(made).length < dirname(resolve(dir)).length ? resolve(made) : dirname(resolve(dir));
    for (const d of dirsUpTo(resolve(dir), top)) await syncParentDir(d);
    await syncParentDir(file);
    return name;
  }
  throw new HttpError(409, 'conflict', `too many results stored for ${imageTag}`);
}

/** The number of the tag's next upload: one above the highest of its files in `dir` (1: none there). */
async function nextUpload(dir: string, imageTag: string): Promise<number> {
  let highest = 0;
  for (const name of await readdir(dir).catch(storageError)) {
    if (name === `${imageTag}.json`) highest = Math.max(highest, 1);
    else if (name.startsWith(`${imageTag}~`) && name.endsWith('.json')) {
      const n = name.slice(imageTag.length + 1, -'.json'.length);
      if (/^[1-9][0-9]*$/.test(n)) highest = Math.max(highest, Number(n));
    }
  }
  return highest + 1;
}

/** A file-system error storing an artifact: 503, retryable (the volume may take writes again); the error itself is logged, not answered. */
function storageError(err: unknown): never {
  const e = new HttpError(503, 'storage_unavailable', 'The test results could not be stored on the data volume, so nothing was recorded. Retry later.', { retryable: true });
  e.cause = err;
  throw e;
}

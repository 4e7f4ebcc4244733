import { mkdir, open } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { HttpError } from '../http/errors.ts';
import { syncParentDir } from '../store/sync-parent-dir.ts';

/**
 * Writes a test-result artifact under a name nobody has used, imageTag.json, then
 * imageTag~2.json, imageTag~3.json, ... ("~" is not allowed in a tag, so names never collide),
 * and makes it durable before the result is recorded: the file's data, then its directory entry
 * (and, the first time, the entries of the directories made for it), so a power cut cannot keep
 * the audit record of a result and lose the file it names. The directory fsyncs are best effort,
 * as for the token file (not every file system can fsync a directory).
 */
export async function writeArtifact(dir: string, imageTag: string, raw: Buffer): Promise<string> {
  const made = await mkdir(dir, { recursive: true });
  for (let n = 1; n < 10_000; n++) {
    const name = n === 1 ? `${imageTag}.json` : `${imageTag}~${n}.json`;
    let fh;
    try {
      fh = await open(join(dir, name), 'wx', 0o640);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw err;
    }
    try {
      await fh.writeFile(raw);
      await fh.sync();
    } finally {
      await fh.close();
    }
    // mkdir made `made` and every directory below it down to `dir`: each one's entry is in its parent
    if (made !== undefined) {
      for (let d = resolve(dir); ; d = dirname(d)) {
        await syncParentDir(d);
        if (d === resolve(made) || d === dirname(d)) break;
      }
    }
    await syncParentDir(join(dir, name));
    return name;
  }
  throw new HttpError(409, 'conflict', `too many results stored for ${imageTag}`);
}

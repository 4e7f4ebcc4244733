import { mkdir, open } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { HttpError } from '../http/errors.ts';
import { dirsUpTo } from '../store/dirs-up-to.ts';
import { syncParentDir } from '../store/sync-parent-dir.ts';

/**
 * Writes a test-result artifact under a name nobody has used, imageTag.json, then
 * imageTag~2.json, imageTag~3.json, ... ("~" is not allowed in a tag, so names never collide),
 * and makes it durable before the result is recorded: the file's data, then its directory entry
 * and the entries of the directories it sits in, so a power cut cannot keep the audit record of
 * a result and lose the file it names. The directory fsyncs are best effort,
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
    // the entries of `dir` and of its parent (artifacts/ in the data directory), and of any
    // directory mkdir made above them, every time: a write at the same moment as the one that
    // made them (which then sees them made) must not be recorded before they are durable either.
    // Results are rare; three small fsyncs each cost nothing
    const top = made !== undefined && resolve(made).length < dirname(resolve(dir)).length ? resolve(made) : dirname(resolve(dir));
    for (const d of dirsUpTo(resolve(dir), top)) await syncParentDir(d);
    await syncParentDir(join(dir, name));
    return name;
  }
  throw new HttpError(409, 'conflict', `too many results stored for ${imageTag}`);
}

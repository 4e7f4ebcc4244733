import * as nodeFs from 'node:fs/promises';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { type LockFs, acquireDataDirLock } from '../../src/store/data-dir-lock.ts';
import { tempDir } from '../helpers/temp-dir.ts';

/** a promise and its resolver */
function signal() {
  let resolve = () => {};
  const done = new Promise<void>((r) => (resolve = r));
  return { done, resolve };
}

// README: "of two gates that find the same stale lock at once exactly one takes it over and the
// other refuses to start". The takeover claim is judged by the stamp in it, on the reader's wall
// clock: a gate whose clock is a lease ahead finds the other gate's fresh claim stale.
t.test('two hosts whose clocks disagree by more than a lease, taking the same stale lock over at once: at most one holds it', async (t) => {
  const dir = await tempDir(t, 'lock-');
  const lockFile = join(dir, 'gate.lock');
  const NOW = Date.now();
  const stale = { owner: 'crashed', host: 'gone', pid: 9, acquiredAt: new Date(NOW - 3_600_000).toISOString(), renewedAt: new Date(NOW - 3_600_000).toISOString() };
  await writeFile(lockFile, JSON.stringify(stale));
  const bChecked = signal(); // b read the lock file again after its claim: still the stale one
  const aChecked = signal(); // a read its own stamp back after its rename
  let aRenamed = false;
  let bClaimed = false;
  const fsA: LockFs = {
    ...nodeFs,
    rename: (async (from: string, to: string) => {
      if (to === lockFile) await bChecked.done;
      await nodeFs.rename(from, to);
      if (to === lockFile) aRenamed = true;
    }) as LockFs['rename'],
    readFile: (async (p: string, o: never) => {
      const text = await nodeFs.readFile(p, o);
      if (p === lockFile && aRenamed) aChecked.resolve();
      return text;
    }) as LockFs['readFile'],
  };
  const fsB: LockFs = {
    ...nodeFs,
    link: (async (from: string, to: string) => {
      await nodeFs.link(from, to);
      if (String(to).includes('.takeover-')) bClaimed = true;
    }) as LockFs['link'],
    readFile: (async (p: string, o: never) => {
      const text = await nodeFs.readFile(p, o);
      if (p === lockFile && bClaimed) bChecked.resolve();
      return text;
    }) as LockFs['readFile'],
    rename: (async (from: string, to: string) => {
      if (to === lockFile) await aChecked.done;
      await nodeFs.rename(from, to);
    }) as LockFs['rename'],
  };
  const common = { dir, pid: 1, isAlive: () => true, leaseMs: 200, renewMs: 60_000, retryMs: 10, waitForLeaseMs: 2000 };
  const a = acquireDataDirLock({ ...common, host: 'a', now: () => Date.now(), fs: fsA });
  // b starts a moment later, its clock 60 s ahead of a's
  await new Promise((r) => setTimeout(r, 20));
  const b = acquireDataDirLock({ ...common, host: 'b', now: () => Date.now() + 60_000, fs: fsB });
  // a refused b lets a go on (the choreography waits for b's read otherwise)
  b.catch(() => bChecked.resolve());
  const [ra, rb] = await Promise.allSettled([a, b]);
  const holders = [ra, rb].filter((r) => r.status === 'fulfilled' && r.value.held());
  t.comment(`a: ${ra.status}${ra.status === 'rejected' ? ` (${(ra.reason as Error).message})` : ''}; b: ${rb.status}${rb.status === 'rejected' ? ` (${(rb.reason as Error).message})` : ''}`);
  t.ok(holders.length <= 1, `at most one gate holds the data directory (${holders.length} do)`);
  for (const r of [ra, rb]) if (r.status === 'fulfilled') await r.value.release();
});

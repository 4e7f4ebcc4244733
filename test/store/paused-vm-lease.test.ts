import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { acquireDataDirLock } from '../../src/store/data-dir-lock.ts';
import { tempDir } from '../helpers/temp-dir.ts';

// A KVM guest's CLOCK_MONOTONIC (performance.now) does not count while the VM is paused (QEMU
// saves kvmclock on stop and restores it on cont: "Users rely on CLOCK_MONOTONIC to count run
// time"). README: "a whole lease went unconfirmed (an NFS hang, a paused VM: ...)" loses the lock.
t.test('a gate in a VM paused past its lease must not still hold the lock after another host took it over', async (t) => {
  const dir = await tempDir(t, 'lock-');
  let wall = Date.now();
  let pausedMs = 0;
  let paused = false;
  let pausedAt = 0;
  // gate a's guest clock: stands still while the VM is paused
  const guestMono = () => (paused ? pausedAt : performance.now()) - pausedMs;
  const a = await acquireDataDirLock({ dir, host: 'a', pid: 1, isAlive: () => true, now: () => wall, monotonic: guestMono, leaseMs: 300, renewMs: 60_000 });
  // (its next renewal is not due within this test: while paused, nothing of gate a runs)
  // the VM is paused just after a renewal: nothing of gate a runs
  paused = true;
  pausedAt = performance.now();
  // gate b on another host waits the lease out on its own clock and takes the directory over
  const b = await acquireDataDirLock({ dir, host: 'b', pid: 1, isAlive: () => true, now: () => wall, leaseMs: 300, renewMs: 200, waitForLeaseMs: 2000 });
  const holder = JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')) as { host: string };
  t.equal(holder.host, 'b', 'gate b holds the lock file');
  // the VM resumes after wall-clock time well past a lease
  wall += 5_000;
  pausedMs += performance.now() - pausedAt;
  paused = false;
  t.equal(a.held(), false, 'gate a no longer says it may write (it would append, answer and checkpoint from its stale view)');
  await a.release();
  await b.release();
});

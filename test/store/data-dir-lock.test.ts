import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import * as nodeFs from 'node:fs/promises';
import {
  DataDirLockedError,
  type LockFs,
  type LockOptions,
  acquireDataDirLock,
  createExclusive,
  isProcessAlive,
  parseStatStartTime,
  processStartTime,
  readBootId,
} from '../../src/store/data-dir-lock.ts';
import { eventually } from '../helpers/eventually.ts';
import { type TapLike, tempDir } from '../helpers/temp-dir.ts';

const base = { pid: 100, isAlive: () => true, leaseMs: 30_000, renewMs: 60_000 };
const NOW = 1_800_000_000_000;

/** Takes the lock of a fresh temp directory as gate a (pid 5, lease 300 ms), collecting what onLost is told. */
async function holdLock(t: TapLike, opts: Partial<LockOptions> = {}) {
  const dir = await tempDir(t, 'lock-');
  const lost: string[] = [];
  const causes: string[] = [];
  const lock = await acquireDataDirLock({
    dir, host: 'a', pid: 5, isAlive: () => true, now: () => NOW, leaseMs: 300, renewMs: 20,
    onLost: (why, cause) => {
      lost.push(why);
      causes.push(cause);
    },
    ...opts,
  });
  return { dir, lost, causes, lock };
}

t.test('the lock: one holder, stale holders taken over, live ones refused', async (t) => {
  const cases: { name: string; held: { host: string; pid: number; renewedAgoMs: number } | 'torn'; me: { host: string; pid: number; alive: boolean }; takes: boolean; why?: RegExp }[] = [
    { name: 'same host, holder running', held: { host: 'a', pid: 7, renewedAgoMs: 0 }, me: { host: 'a', pid: 8, alive: true }, takes: false, why: /process 7 on this host is still running/ },
    { name: 'same host, holder gone (crashed)', held: { host: 'a', pid: 7, renewedAgoMs: 0 }, me: { host: 'a', pid: 8, alive: false }, takes: true },
    { name: 'same host, same pid (container restart: the old pid 1 is gone)', held: { host: 'a', pid: 1, renewedAgoMs: 0 }, me: { host: 'a', pid: 1, alive: true }, takes: true },
    { name: 'same host, holder running with an old lease (hung? still refused)', held: { host: 'a', pid: 7, renewedAgoMs: 120_000 }, me: { host: 'a', pid: 8, alive: true }, takes: false },
    { name: 'other host, lease fresh (the pod may still run)', held: { host: 'b', pid: 7, renewedAgoMs: 10_000 }, me: { host: 'a', pid: 8, alive: true }, takes: false, why: /lease was renewed .* expires 30 s from now unless renewed/ },
    // its stamp is by its clock, which may be behind this one: only a lease seen here without a
    // renewal tells (waitForLeaseMs; the next test, and the one on clocks that disagree)
    { name: 'other host, stamp older than a lease (not taken at once)', held: { host: 'b', pid: 7, renewedAgoMs: 31_000 }, me: { host: 'a', pid: 8, alive: true }, takes: false, why: /expires 30 s from now unless renewed/ },
    { name: 'a torn lock file holds nothing', held: 'torn', me: { host: 'a', pid: 8, alive: true }, takes: true },
  ];
  for (const c of cases) {
    const dir = await tempDir(t, 'lock-');
    const now = 1_800_000_000_000;
    if (c.held === 'torn') await writeFile(join(dir, 'gate.lock'), '{"owner":"x","ho');
    else {
      await writeFile(
        join(dir, 'gate.lock'),
        JSON.stringify({ owner: 'old', host: c.held.host, pid: c.held.pid, acquiredAt: new Date(now - 3_600_000).toISOString(), renewedAt: new Date(now - c.held.renewedAgoMs).toISOString() }),
      );
    }
    const attempt = acquireDataDirLock({ ...base, dir, host: c.me.host, pid: c.me.pid, isAlive: () => c.me.alive, now: () => now });
    if (c.takes) {
      const lock = await attempt;
      const held = JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8'));
      t.equal(held.host, c.me.host, `${c.name}: taken over`);
      t.equal(held.pid, c.me.pid);
      await lock.release();
    } else {
      await t.rejects(attempt, DataDirLockedError, `${c.name}: refused`);
      if (c.why) await t.rejects(acquireDataDirLock({ ...base, dir, host: c.me.host, pid: c.me.pid, isAlive: () => c.me.alive, now: () => now }), c.why);
    }
  }
});

t.test('same host name under another boot id: the lease decides (a quick reboot, or another machine of that name on the same volume)', async (t) => {
  const dir = await tempDir(t, 'lock-');
  const held = (ageMs: number) => {
    const at = new Date(NOW - ageMs).toISOString();
    return JSON.stringify({ owner: 'old', host: 'a', pid: 7, acquiredAt: at, renewedAt: at, bootId: 'boot-1', processStart: '500' });
  };
  // pid 7 is not alive here, and would be stale by pid: the other boot's lease still holds it
  const opts = { ...base, dir, host: 'a', pid: 8, now: () => NOW, isAlive: () => false, bootId: 'boot-2', processStart: () => '777' };
  await writeFile(join(dir, 'gate.lock'), held(5_000));
  await t.rejects(acquireDataDirLock(opts), /this host name under another boot id \(rebooted since, or another machine\): its lease was renewed at .* and expires 30 s from now unless renewed/);
  await writeFile(join(dir, 'gate.lock'), held(31_000));
  const lock = await acquireDataDirLock({ ...opts, leaseMs: 300, retryMs: 20, waitForLeaseMs: 2_000 });
  t.match(JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')), { pid: 8, bootId: 'boot-2' }, 'taken once the lease has expired');
  await lock.release();
});

t.test('pid 1 in two containers: a holder under another boot id or in another pid namespace is judged by its lease, even with this pid', async (t) => {
  const dir = await tempDir(t, 'lock-');
  const held = (ageMs: number, who: { bootId: string; pidNs: string }) => {
    const at = new Date(NOW - ageMs).toISOString();
    return JSON.stringify({ owner: 'old', host: 'gate-0', pid: 1, acquiredAt: at, renewedAt: at, processStart: '500', ...who });
  };
  const me = { ...base, dir, host: 'gate-0', pid: 1, now: () => NOW, isAlive: () => true, bootId: 'boot-1', pidNamespace: 'pid:[1]', processStart: () => '777' };
  for (const [name, who, by] of [
    ['another machine of that name (another boot id)', { bootId: 'boot-2', pidNs: 'pid:[1]' }, /another boot id/],
    ['another container on this host (another pid namespace)', { bootId: 'boot-1', pidNs: 'pid:[2]' }, /another pid namespace/],
  ] as const) {
    await writeFile(join(dir, 'gate.lock'), held(5_000, who));
    await t.rejects(acquireDataDirLock(me), by, `${name}, renewed 5 s ago: refused although its pid is this one`);
    await writeFile(join(dir, 'gate.lock'), held(31_000, who));
    const lock = await acquireDataDirLock({ ...me, leaseMs: 300, retryMs: 20, waitForLeaseMs: 2_000 });
    t.match(JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')), { pid: 1, bootId: 'boot-1', pidNs: 'pid:[1]' }, `${name}: taken once its lease has expired`);
    await lock.release();
  }
  // the same namespace: an earlier process of this very pid (a restart), stale at once
  await writeFile(join(dir, 'gate.lock'), held(1_000, { bootId: 'boot-1', pidNs: 'pid:[1]' }));
  const lock = await acquireDataDirLock(me);
  await lock.release();
});

t.test('a holder only its lease can judge is waited for up to waitForLeaseMs: taken when the lease runs out, refused when it is renewed', async (t) => {
  const dir = await tempDir(t, 'lock-');
  const write = (ageMs: number) => {
    const at = new Date(Date.now() - ageMs).toISOString();
    return writeFile(join(dir, 'gate.lock'), JSON.stringify({ owner: 'old', host: 'other', pid: 9, acquiredAt: at, renewedAt: at }));
  };
  const waits: string[] = [];
  const opts = { dir, host: 'me', pid: 5, now: Date.now, isAlive: () => true, leaseMs: 500, renewMs: 5_000, retryMs: 50, waitForLeaseMs: 2_000, onWait: (why: string) => waits.push(why) };
  await write(300);
  const started = performance.now();
  const lock = await acquireDataDirLock(opts);
  const waited = performance.now() - started;
  t.ok(waited >= 150 && waited < 1_500, `taken when the lease ran out (${Math.round(waited)} ms)`);
  t.equal(waits.length, 1, 'the wait is told once');
  t.match(waits[0], /held by host other, pid 9: its lease was renewed at .*; waiting for it to run out/);
  await lock.release();
  // a holder that keeps renewing is alive: refused once the wait is over (renewed as a gate does,
  // by a rename, so a poll never reads the file half written)
  await write(0);
  const renew = async () => {
    const at = new Date().toISOString();
    await writeFile(join(dir, 'gate.lock.renew'), JSON.stringify({ owner: 'old', host: 'other', pid: 9, acquiredAt: at, renewedAt: at }));
    await rename(join(dir, 'gate.lock.renew'), join(dir, 'gate.lock'));
  };
  const renewing = setInterval(() => void renew(), 100);
  t.teardown(() => clearInterval(renewing));
  const at = performance.now();
  await t.rejects(acquireDataDirLock({ ...opts, waitForLeaseMs: 800 }), /in use by another gate \(host other, pid 9/);
  t.ok(performance.now() - at >= 750, 'after the whole wait');
  clearInterval(renewing);
});

t.test('a lock taken after waiting counts its lease from when it was taken: held at once, and stamped then', async (t) => {
  const dir = await tempDir(t, 'lock-');
  // renewed as a gate renews, through a temp file renamed into place: a plain writeFile truncates
  // the file first, and a read that met it empty took it for no holder and raced the next write
  let n = 0;
  const write = async () => {
    const at = new Date().toISOString();
    const tmp = join(dir, `gate.lock.renew-${(n += 1)}`); // one each: two renewals may overlap on a busy machine
    await writeFile(tmp, JSON.stringify({ owner: 'old', host: 'other', pid: 9, acquiredAt: at, renewedAt: at }));
    await rename(tmp, join(dir, 'gate.lock'));
  };
  await write();
  // the other gate renews for 700 ms (longer than this gate's 400 ms fence), then stops and removes its lock
  const renewing = setInterval(() => void write(), 100);
  let freedAt = 0;
  setTimeout(() => {
    clearInterval(renewing);
    freedAt = Date.now();
    void rm(join(dir, 'gate.lock'), { force: true });
  }, 700);
  t.teardown(() => clearInterval(renewing));
  const lost: string[] = [];
  const lock = await acquireDataDirLock({ dir, host: 'me', pid: 5, now: Date.now, isAlive: () => true, leaseMs: 600, renewMs: 200, retryMs: 50, waitForLeaseMs: 3_000, onLost: (why) => lost.push(why) });
  t.ok(freedAt > 0, 'it waited for the other gate to stop');
  t.ok(lock.held(), 'held at once');
  const stamp = JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')) as { acquiredAt: string; pid: number };
  t.equal(stamp.pid, 5);
  t.ok(Date.parse(stamp.acquiredAt) >= freedAt - 5, 'since when it was taken, not when the wait began');
  await new Promise((r) => setTimeout(r, 700));
  t.same(lost, [], 'and kept past a lease (renewed), not lost as lapsed');
  t.ok(lock.held());
  await lock.release();
});

t.test('a stop signal ends the wait for a lease at once', async (t) => {
  const dir = await tempDir(t, 'lock-');
  const at = new Date().toISOString();
  await writeFile(join(dir, 'gate.lock'), JSON.stringify({ owner: 'old', host: 'other', pid: 9, acquiredAt: at, renewedAt: at }));
  const stop = new AbortController();
  setTimeout(() => stop.abort(new Error('stopped by SIGTERM during start-up')), 100);
  const started = performance.now();
  await t.rejects(acquireDataDirLock({ dir, host: 'me', pid: 5, now: Date.now, isAlive: () => true, leaseMs: 30_000, waitForLeaseMs: 35_000, signal: stop.signal }), { message: 'stopped by SIGTERM during start-up' });
  t.ok(performance.now() - started < 1_500, 'without waiting out the lease');
  t.match(JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')), { owner: 'old' }, 'the lock untouched');
});

t.test('hosts whose clocks disagree: a live holder is never taken over, a crashed one always is (the lease is timed on the taker\'s own clock)', async (t) => {
  const dir = await tempDir(t, 'lock-');
  const timing = { leaseMs: 600, renewMs: 100, retryMs: 50 };
  // a live holder on host a, renewing; the taker's clock is 2 s ahead of a's, so every stamp a
  // writes looks 2 s old to it, more than a lease
  const lost: string[] = [];
  const holder = await acquireDataDirLock({ dir, host: 'a', pid: 5, now: Date.now, isAlive: () => true, ...timing, onLost: (why) => lost.push(why) });
  const ahead = { dir, host: 'b', pid: 6, now: () => Date.now() + 2_000, isAlive: () => true, ...timing };
  await t.rejects(acquireDataDirLock(ahead), DataDirLockedError, 'a clock ahead does not make a live holder look stale');
  await t.rejects(acquireDataDirLock({ ...ahead, waitForLeaseMs: 1_500 }), /in use by another gate \(host a, pid 5/, 'nor does waiting: the holder keeps renewing');
  t.same(lost, [], 'the holder keeps its lock');
  t.ok(holder.held());
  t.equal(JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')).host, 'a');
  await holder.release();
  // a holder whose clock was an hour ahead, crashed: its stamp is in this gate's future, and
  // never changes again
  const at = new Date(Date.now() + 3_600_000).toISOString();
  await writeFile(join(dir, 'gate.lock'), JSON.stringify({ owner: 'old', host: 'a', pid: 5, acquiredAt: at, renewedAt: at }));
  const started = performance.now();
  const lock = await acquireDataDirLock({ dir, host: 'b', pid: 6, now: Date.now, isAlive: () => true, ...timing, waitForLeaseMs: 3_000 });
  const waited = performance.now() - started;
  t.ok(waited >= 550 && waited < 2_500, `taken once its lock file went a lease unchanged (${Math.round(waited)} ms), not refused for an hour`);
  t.equal(JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')).host, 'b');
  await lock.release();
});

t.test('same host: the holder\'s boot id and process start time tell a reboot or a reused pid from the gate still running', async (t) => {
  type Held = { bootId?: string | null; processStart?: string | null };
  const cases: { name: string; held: Held; me: { bootId: string | null; startOf7: string | null; alive: boolean }; takes: boolean }[] = [
    { name: 'the host rebooted (another boot id) and the lease runs out, pid 7 now belongs to another process', held: { bootId: 'boot-1', processStart: '500' }, me: { bootId: 'boot-2', startOf7: '480', alive: true }, takes: true },
    { name: 'same boot, pid 7 reused by a process that started at another time', held: { bootId: 'boot-1', processStart: '500' }, me: { bootId: 'boot-1', startOf7: '9000', alive: true }, takes: true },
    { name: 'same boot, same start time: the holder still runs', held: { bootId: 'boot-1', processStart: '500' }, me: { bootId: 'boot-1', startOf7: '500', alive: true }, takes: false },
    { name: 'same boot, pid 7 gone', held: { bootId: 'boot-1', processStart: '500' }, me: { bootId: 'boot-1', startOf7: null, alive: false }, takes: true },
    { name: 'lock of an older gate (no identity), pid 7 running: the old rule refuses', held: {}, me: { bootId: 'boot-2', startOf7: '9000', alive: true }, takes: false },
    { name: 'lock of an older gate (no identity), pid 7 gone', held: {}, me: { bootId: 'boot-2', startOf7: null, alive: false }, takes: true },
    { name: 'holder wrote no identity (no /proc there), pid 7 running: refused', held: { bootId: null, processStart: null }, me: { bootId: 'boot-2', startOf7: '9000', alive: true }, takes: false },
    { name: 'this gate cannot read the identity (no /proc), pid 7 running: refused', held: { bootId: 'boot-1', processStart: '500' }, me: { bootId: null, startOf7: null, alive: true }, takes: false },
  ];
  for (const c of cases) {
    const dir = await tempDir(t, 'lock-');
    const at = new Date(NOW - 60_000).toISOString();
    await writeFile(join(dir, 'gate.lock'), JSON.stringify({ owner: 'old', host: 'a', pid: 7, acquiredAt: at, renewedAt: at, ...c.held }));
    const opts = {
      ...base,
      dir,
      host: 'a',
      pid: 8,
      now: () => NOW,
      isAlive: (pid: number) => (pid === 7 ? c.me.alive : true),
      bootId: c.me.bootId,
      processStart: (pid: number) => (pid === 7 ? c.me.startOf7 : pid === 8 ? '777' : null),
      // a lease (another boot's holder) is timed here: waited out, a short one
      leaseMs: 300,
      renewMs: 100,
      retryMs: 20,
      waitForLeaseMs: 2_000,
    };
    if (c.takes) {
      const lock = await acquireDataDirLock(opts);
      const held = JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8'));
      t.match(held, { host: 'a', pid: 8, bootId: c.me.bootId, processStart: '777' }, `${c.name}: taken over, and the new lock records this gate's identity`);
      await lock.release();
    } else {
      await t.rejects(acquireDataDirLock(opts), /in use by another gate .*process 7 on this host is still running/, `${c.name}: refused`);
      await t.rejects(
        acquireDataDirLock(opts),
        new RegExp(`If no gate uses this directory \\(for instance it was copied from a running gate's directory, which copies its lock\\), remove ${join(dir, 'gate.lock')}`),
        `${c.name}: the message says what to do with a copied lock`,
      );
    }
  }
});

t.test('the real process identity readers, on a real process', { skip: readBootId() === null && 'no /proc here' }, async (t) => {
  const bootId = readBootId() as string;
  t.match(bootId, /^[0-9a-f-]{36}$/, 'the boot id');
  t.equal(parseStatStartTime('4242 (we (i) rd) x) S 1 4242 4242 0 -1 4194560 90 0 0 0 1 2 0 0 20 0 1 0 123456 8400896 200 18446744073709551615'), '123456', 'start time after the last ")" of the command name');
  t.equal(parseStatStartTime('garbage'), null);
  t.equal(processStartTime(2 ** 22 + 12345), null, 'no such process');
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  await new Promise((resolve, reject) => child.once('spawn', resolve).once('error', reject));
  const pid = child.pid as number;
  const start = processStartTime(pid);
  t.match(start, /^\d+$/, 'the start time of the child');
  const real = { ...base, host: hostname(), pid: process.pid, now: Date.now, isAlive: isProcessAlive, bootId, processStart: processStartTime };
  const at = new Date().toISOString();
  const lockOf = async (processStart: string) => {
    const dir = await tempDir(t, 'lock-');
    await writeFile(join(dir, 'gate.lock'), JSON.stringify({ owner: 'old', host: hostname(), pid, acquiredAt: at, renewedAt: at, bootId, processStart }));
    return dir;
  };
  const reused = await acquireDataDirLock({ ...real, dir: await lockOf(String(Number(start) - 1)) });
  t.pass('a lock naming a running pid with another start time is stale (the pid was reused)');
  await reused.release();
  await t.rejects(acquireDataDirLock({ ...real, dir: await lockOf(start as string) }), new RegExp(`process ${pid} on this host is still running`), 'the same pid and start time: still held');
});

/**
 * A stale lock file that every taker judges stale at once: one without a renewal stamp (torn or
 * foreign), which holds nothing. (A lock of another host is stale only once this gate has seen it
 * unchanged for a lease.)
 */
async function staleLockDir(t: TapLike) {
  const dir = await tempDir(t, 'lock-');
  const stale = JSON.stringify({ owner: 'old', host: 'b', pid: 7, acquiredAt: new Date(NOW - 3_600_000).toISOString() });
  await writeFile(join(dir, 'gate.lock'), stale);
  return { dir, stale };
}

t.test('two gates that find the same stale lock at once: exactly one takes it over', async (t) => {
  // the third: c was so slow that a's claim has aged past a lease by then, so c's own claim
  // goes through, and only its second look at the lock file shows it was replaced meanwhile
  for (const interleaving of ['c goes on only once a holds the lock', 'c goes on a lease after a took the lock', 'both go on together']) {
    const { dir } = await staleLockDir(t);
    // both gates read the stale lock file before either goes on; then either c waits until a
    // has finished taking the lock, or both go on at once
    let reads = 0;
    let bothRead: () => void = () => {};
    const barrier = new Promise<void>((r) => (bothRead = r));
    let aDone: () => void = () => {};
    const aFinished = new Promise<void>((r) => (aDone = r));
    const fsOf = (host: string): LockFs => {
      let first = true;
      return {
        ...nodeFs,
        readFile: (async (...args: Parameters<typeof nodeFs.readFile>) => {
          const text = await nodeFs.readFile(...args);
          if (first && String(args[0]).endsWith('gate.lock')) {
            first = false;
            reads += 1;
            if (reads === 2) bothRead();
            await barrier;
            if (host === 'c' && interleaving.startsWith('c goes on')) await aFinished;
            // a's claim made a lease ago, on the data volume's clock (its modification time)
            if (host === 'c' && interleaving.includes('a lease after')) await ageClaims(dir, 31_000);
          }
          return text;
        }) as LockFs['readFile'],
      };
    };
    const take = (host: string) => acquireDataDirLock({ ...base, dir, host, now: () => NOW, fs: fsOf(host) });
    const a = take('a').finally(() => aDone());
    const c = take('c');
    const results = await Promise.allSettled([a, c]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    t.equal(won.length, 1, `${interleaving}: one gate holds the lock`);
    t.equal(refused.length, 1, `${interleaving}: the other is refused`);
    t.type(refused[0]?.reason, DataDirLockedError);
    t.match(String(refused[0]?.reason), interleaving.includes('a lease after') ? /took the lock over at the same moment/ : /is taking the stale lock over at this moment|took the lock over at the same moment/);
    const winner = results[0]?.status === 'fulfilled' ? 'a' : 'c';
    t.equal(JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')).host, winner, `${interleaving}: the lock file names the gate that holds it`);
    for (const r of won) await r.value.release();
  }
});

t.test('a claim is never seen empty: a gate paused while making its claim cannot lose it to one that read it half-made', async (t) => {
  const { dir } = await staleLockDir(t);
  const signal = () => {
    let fire: () => void = () => {};
    const fired = new Promise<void>((r) => (fire = r));
    return { fire, fired };
  };
  const aMaking = signal();
  const aGo = signal();
  const aDone = signal();
  const cAtRename = signal();
  // a: pauses in the middle of making its claim, with the content written but not yet in place
  // (an exclusive open would already show the claim's name, empty)
  const fsA: LockFs = {
    ...nodeFs,
    writeFile: (async (path: string, data: string, opts?: { flag?: string }) => {
      if (!String(path).includes('.takeover-')) return nodeFs.writeFile(path, data, opts as never);
      const fh = await nodeFs.open(path, opts?.flag ?? 'w');
      aMaking.fire();
      await aGo.fired;
      await fh.writeFile(data);
      await fh.close();
    }) as LockFs['writeFile'],
  };
  // c: its rename over the lock is slow (NFS) and lands only after a has finished
  const fsC: LockFs = {
    ...nodeFs,
    rename: (async (from: string, to: string) => {
      if (String(to).endsWith('gate.lock')) {
        cAtRename.fire();
        await aDone.fired;
      }
      await nodeFs.rename(from, to);
    }) as LockFs['rename'],
  };
  const a = acquireDataDirLock({ ...base, dir, host: 'a', now: () => NOW, fs: fsA }).finally(() => aDone.fire());
  await aMaking.fired;
  const c = acquireDataDirLock({ ...base, dir, host: 'c', now: () => NOW, fs: fsC });
  await Promise.race([cAtRename.fired, c.catch(() => undefined)]);
  aGo.fire();
  const results = await Promise.allSettled([a, c]);
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'one gate holds the lock');
  const held = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  t.equal(held.filter((l) => l.held()).length, 1, 'and only one believes it does');
  for (const l of held) await l.release();
});

t.test('NFS: a link whose reply was lost counts by the link count, not by the error the retried call got', async (t) => {
  // the link is made, then the call fails (the retransmitted request found the name taken)
  const fs: LockFs = {
    ...nodeFs,
    link: (async (from: string, to: string) => {
      await nodeFs.link(from, to);
      throw Object.assign(new Error('EEXIST: file already exists (retransmitted)'), { code: 'EEXIST' });
    }) as LockFs['link'],
  };
  const fresh = await tempDir(t, 'lock-');
  const lock = await acquireDataDirLock({ ...base, dir: fresh, host: 'a', now: () => NOW, fs });
  t.equal(JSON.parse(await readFile(join(fresh, 'gate.lock'), 'utf8')).host, 'a', 'the lock is ours');
  t.same((await nodeFs.readdir(fresh)).sort(), ['gate.lock'], 'and no temp file is left');
  await lock.release();
  const { dir } = await staleLockDir(t);
  const taken = await acquireDataDirLock({ ...base, dir, host: 'a', now: () => NOW, fs });
  t.equal(JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')).host, 'a', 'a takeover claim made that way counts too');
  await taken.release();
});

t.test('a takeover claim left by a gate that died half-way does not block the next one; a live one does', async (t) => {
  const cases = [
    { name: 'claim by a dead process on this host', claim: { host: 'a', pid: 9, madeAgoMs: 0 }, alive: false, takes: true },
    { name: 'claim from another host, older than a lease', claim: { host: 'b', pid: 9, madeAgoMs: 31_000 }, alive: true, takes: true },
    { name: 'claim by a live process on this host', claim: { host: 'a', pid: 9, madeAgoMs: 0 }, alive: true, takes: false, why: /another gate \(host a, pid 9\) is taking the stale lock over at this moment: process 9 on this host is still running/ },
    { name: 'claim from another host within a lease', claim: { host: 'b', pid: 9, madeAgoMs: 5_000 }, alive: true, takes: false, why: /is taking the stale lock over at this moment: its claim was made 5 s ago/ },
    // the stamp in a claim is its maker's clock: only the data volume's tells its age
    { name: 'claim from another host, made just now, its stamp an hour old', claim: { host: 'b', pid: 9, madeAgoMs: 0, stampAgoMs: 3_600_000 }, alive: true, takes: false, why: /its claim was made 0 s ago/ },
    { name: 'claim from another host, made a lease ago, its stamp in the future', claim: { host: 'b', pid: 9, madeAgoMs: 31_000, stampAgoMs: -3_600_000 }, alive: true, takes: true },
  ];
  for (const c of cases) {
    const { dir } = await staleLockDir(t);
    // the claim name a taker of this stale file uses first
    const probe = await acquireDataDirLock({ ...base, dir: await copyDir(t, dir), host: 'a', pid: 8, now: () => NOW, isAlive: () => false });
    const claimName = (await nodeFs.readdir(join(probe.file, '..'))).find((n) => n.startsWith('gate.lock.takeover-')) as string;
    await probe.release();
    t.match(claimName, /^gate\.lock\.takeover-[0-9a-f]{16}-1$/, 'claims are named after the stale file and numbered');
    const stampAgoMs = (c.claim as { stampAgoMs?: number }).stampAgoMs ?? c.claim.madeAgoMs;
    await writeFile(
      join(dir, claimName),
      JSON.stringify({ owner: 'dead', host: c.claim.host, pid: c.claim.pid, acquiredAt: new Date(NOW).toISOString(), renewedAt: new Date(NOW - stampAgoMs).toISOString() }),
    );
    await ageClaims(dir, c.claim.madeAgoMs);
    const attempt = acquireDataDirLock({ ...base, dir, host: 'a', pid: 8, now: () => NOW, isAlive: (pid) => (pid === 9 ? c.alive : false) });
    if (c.takes) {
      const lock = await attempt;
      t.equal(JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')).pid, 8, `${c.name}: taken over`);
      t.ok((await nodeFs.readdir(dir)).includes(claimName.replace(/-1$/, '-2')), `${c.name}: under the next claim name`);
      await lock.release();
    } else {
      await t.rejects(attempt, c.why as RegExp, `${c.name}: refused`);
      t.equal(JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')).owner, 'old', `${c.name}: the lock file is left alone`);
    }
  }
});

t.test('a gate that died half-way through a takeover, on another host: its claim holds the next one off for a lease, then no longer', async (t) => {
  const { dir } = await staleLockDir(t);
  const lockFile = join(dir, 'gate.lock');
  // b made its claim, then its rename over the lock never returned (it died there)
  const hung: LockFs = { ...nodeFs, rename: (async (from: string, to: string) => (to === lockFile ? new Promise(() => {}) : nodeFs.rename(from, to))) as LockFs['rename'] };
  void acquireDataDirLock({ ...base, dir, host: 'b', leaseMs: 300, now: () => NOW, fs: hung });
  await eventually(async () => (await nodeFs.readdir(dir)).some((n) => n.startsWith('gate.lock.takeover-') && !n.endsWith('.new')));
  const next = { ...base, dir, host: 'a', pid: 8, leaseMs: 300, now: () => NOW };
  await t.rejects(acquireDataDirLock(next), /is taking the stale lock over at this moment: its claim was made 0 s ago/, 'refused while the claim may still be a takeover under way');
  await new Promise((r) => setTimeout(r, 350));
  const lock = await acquireDataDirLock(next);
  t.equal(JSON.parse(await readFile(lockFile, 'utf8')).host, 'a', 'taken over a lease after the claim was made');
  await lock.release();
});

t.test('a takeover removes the claims of earlier takeovers and keeps its own', async (t) => {
  for (const spelling of ['as given', 'with a trailing slash']) {
    const { dir } = await staleLockDir(t);
    await writeFile(join(dir, 'gate.lock.takeover-0123456789abcdef-1'), '{}');
    await writeFile(join(dir, 'gate.lock.takeover-0123456789abcdef-2'), '{}');
    const lock = await acquireDataDirLock({ ...base, dir: spelling === 'as given' ? dir : `${dir}/`, host: 'a', pid: 8, now: () => NOW });
    const claims = (await nodeFs.readdir(dir)).filter((n) => n.startsWith('gate.lock.takeover-'));
    t.equal(claims.length, 1, `${spelling}: only the claim of this takeover is left`);
    t.notMatch(claims[0], /0123456789abcdef/);
    await lock.release();
  }
});

/** Sets the modification time of the takeover claims in `dir` `ms` back: made that long ago on the data volume's clock. */
async function ageClaims(dir: string, ms: number): Promise<void> {
  const at = new Date(Date.now() - ms);
  for (const name of await nodeFs.readdir(dir)) if (name.startsWith('gate.lock.takeover-')) await nodeFs.utimes(join(dir, name), at, at);
}

/** A copy of a lock directory's files in a new temp directory. */
async function copyDir(t: TapLike, dir: string): Promise<string> {
  const copy = await tempDir(t, 'lock-');
  for (const name of await nodeFs.readdir(dir)) await nodeFs.copyFile(join(dir, name), join(copy, name));
  return copy;
}

t.test('the holder renews its lease; release removes only its own lock', async (t) => {
  const dir = await tempDir(t, 'lock-');
  let now = 1_800_000_000_000;
  const lock = await acquireDataDirLock({ dir, host: 'a', pid: 5, isAlive: () => true, now: () => now, leaseMs: 300, renewMs: 20 });
  const first = JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8'));
  now += 250;
  let renewed = first;
  for (let i = 0; i < 200 && renewed.renewedAt === first.renewedAt; i++) {
    await new Promise((r) => setTimeout(r, 10));
    renewed = JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8'));
  }
  t.equal(Date.parse(renewed.renewedAt) - Date.parse(first.renewedAt), 250, 'renewed with the current time');
  // another host cannot take it while it is renewed
  await t.rejects(acquireDataDirLock({ dir, host: 'b', pid: 6, isAlive: () => true, now: () => now + 100, leaseMs: 300 }), DataDirLockedError);
  await lock.release();
  const second = await acquireDataDirLock({ dir, host: 'b', pid: 6, isAlive: () => true, now: () => now, leaseMs: 300 });
  t.pass('free after release');
  await second.release();
});

t.test('held(): false once the lease may lapse unrenewed, and for good once another gate took the lock over', async (t) => {
  let now = 1_800_000_000_000;
  // no renewal lands (renewMs beyond the test): held() follows the clock, not the timer
  const quiet = await acquireDataDirLock({ dir: await tempDir(t, 'lock-'), host: 'a', pid: 5, isAlive: () => true, now: () => now, monotonic: () => now, leaseMs: 300, renewMs: 60_000 });
  t.equal(quiet.held(), true, 'held after acquiring');
  now += 150;
  t.equal(quiet.held(), true, 'held within the lease');
  now += 100;
  t.equal(quiet.held(), false, 'not renewed for lease - margin: another host may take it over soon, so it is not held');
  await quiet.release();

  const dir = await tempDir(t, 'lock-');
  const lock = await acquireDataDirLock({ dir, host: 'a', pid: 5, isAlive: () => true, now: () => now, leaseMs: 300, renewMs: 20 });
  t.equal(lock.held(), true);
  // another host took it over (say a's lease looked expired from there): a's next renewal sees it
  await writeFile(join(dir, 'gate.lock'), JSON.stringify({ owner: 'b-owner', host: 'b', pid: 7, acquiredAt: new Date(now).toISOString(), renewedAt: new Date(now).toISOString() }));
  for (let i = 0; i < 200 && lock.held(); i++) await new Promise((r) => setTimeout(r, 5));
  t.equal(lock.held(), false, 'taken over: not held');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(lock.held(), false, 'never held again');
  t.equal(JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')).owner, 'b-owner', 'the new holder is left alone');
  await lock.release();
  t.equal(JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')).owner, 'b-owner', 'release leaves the new holder alone');
});

t.test('a lease that lapsed is lost for good: no late renewal overwrites the lock or lets the gate write again', async (t) => {
  let now = NOW;
  const { dir, lost, lock } = await holdLock(t, { now: () => now, monotonic: () => now });
  const stamped = JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8'));
  // renewals land while the clock stands still: held, nothing lost
  await new Promise((r) => setTimeout(r, 80));
  t.equal(lock.held(), true, 'renewed and held');
  t.same(lost, []);
  // the gate stalled (an NFS hang, a paused VM) for longer than a whole lease: another host may
  // have found the lease expired, taken the lock over and written records in the gap
  now += 400;
  const renewedBefore = JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')).renewedAt;
  await eventually(() => lost.length > 0);
  t.equal(lost.length, 1, 'onLost called');
  t.match(lost[0], /went unrenewed for \d+ s \(lease 0\.3 s\): another gate may have taken/, 'it says why');
  t.equal(lock.held(), false, 'not held');
  // the next renewals would succeed (the file still names this gate), but must not
  now += 10;
  await new Promise((r) => setTimeout(r, 100));
  t.equal(lock.held(), false, 'never held again, though the lock file still names this gate');
  t.equal(JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')).renewedAt, renewedBefore, 'and it is not renewed any more');
  t.equal(lost.length, 1, 'onLost called once');
  t.equal(stamped.owner, JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')).owner);
  await lock.release();
});

t.test('onLost names the gate that took the lock over', async (t) => {
  const { dir, lost, causes, lock } = await holdLock(t);
  await writeFile(join(dir, 'gate.lock'), JSON.stringify({ owner: 'b-owner', host: 'b', pid: 7, acquiredAt: new Date(NOW).toISOString(), renewedAt: new Date(NOW).toISOString() }));
  await eventually(() => lost.length > 0);
  t.same(lost, ['taken over by host b, pid 7']);
  t.same(causes, ['taken-over']);
  await lock.release();
});

t.test('the lease is timed on both clocks: a wall clock stepped back does not extend it, one stepped forward by a lease ends it', async (t) => {
  let wall = NOW;
  let mono = 0;
  const { dir, lost, lock } = await holdLock(t, { now: () => wall, monotonic: () => mono });
  wall -= 3_600_000; // NTP steps the wall clock an hour back
  await new Promise((r) => setTimeout(r, 80));
  t.equal(lock.held(), true, 'a backward step: still held');
  t.same(lost, [], 'and not lost');
  t.equal(JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')).renewedAt, new Date(wall).toISOString(), 'renewals stamp the wall clock other gates read');
  wall += 100; // a step forward shorter than the lease's slack (fence 280 ms)
  t.equal(lock.held(), true, 'a short forward step: still held');
  await new Promise((r) => setTimeout(r, 80));
  t.same(lost, [], 'and, renewed since, not lost');
  mono += 400; // while the wall clock says little time passed, a whole lease went without a renewal
  await eventually(() => lost.length > 0);
  t.equal(lost.length, 1, 'a lapse on the monotonic clock is a lapse, whatever the wall clock says');
  t.equal(lock.held(), false);
  await lock.release();
  t.ok(JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')).owner, 'release after a loss leaves the lock file alone');
  // the monotonic clock stands still (a paused KVM guest), the wall clock moves a lease on: a
  // lapse too, held() false at once; also what a wall clock stepped forward by a lease costs
  const second = await holdLock(t, { now: () => wall, monotonic: () => mono });
  wall += 400;
  t.equal(second.lock.held(), false, 'the wall clock a lease on: not held');
  await eventually(() => second.lost.length > 0);
  t.same(second.causes, ['lapsed'], 'and lost by a lapse');
  await second.lock.release();
});

/**
 * The real file operations, with one step of a renewal held until `release()`: the write of its
 * temp file (stalled after writing) or its rename (stalled before renaming). Counts the
 * renewals' temp-file writes and how many are under way at once.
 */
function stallingFs(step: 'tmp-write' | 'rename' = 'tmp-write', failWrites = false) {
  let armed = false;
  let stalled: (() => void) | null = null;
  const reached = { resolve: () => {} };
  const counts = { writes: 0, inFlight: 0, maxInFlight: 0, writeTimes: [] as number[] };
  const hold = async () => {
    armed = false;
    reached.resolve();
    await new Promise<void>((r) => (stalled = r));
  };
  const fs: LockFs = {
    readFile: nodeFs.readFile,
    readdir: nodeFs.readdir,
    link: nodeFs.link,
    stat: nodeFs.stat,
    rm: nodeFs.rm,
    open: nodeFs.open,
    rename: (async (from: string, to: string) => {
      if (armed && step === 'rename') await hold();
      await nodeFs.rename(from, to);
    }) as LockFs['rename'],
    writeFile: (async (path: string, data: string, opts?: unknown) => {
      const isTmp = String(path).endsWith('.tmp');
      if (isTmp) {
        counts.writes += 1;
        counts.writeTimes.push(performance.now());
        counts.inFlight += 1;
        counts.maxInFlight = Math.max(counts.maxInFlight, counts.inFlight);
      }
      try {
        if (isTmp && failWrites) throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
        await nodeFs.writeFile(path, data, opts as never);
        if (armed && isTmp && step === 'tmp-write') await hold();
      } finally {
        if (isTmp) counts.inFlight -= 1;
      }
    }) as LockFs['writeFile'],
  };
  return {
    fs,
    counts,
    /** the next renewal stalls at the step; resolves once one has */
    arm(): Promise<void> {
      armed = true;
      // the renewal timer is unref'd: keep the test process alive until a renewal gets there
      const alive = setInterval(() => {}, 10);
      return new Promise<void>((r) => (reached.resolve = r)).finally(() => clearInterval(alive));
    },
    release: () => stalled?.(),
    heal: () => void (failWrites = false),
  };
}

t.test('a renewal that stalls past the lease never lands over a new holder\'s lock', async (t) => {
  let mono = 0;
  const io = stallingFs();
  const { dir, lost, lock } = await holdLock(t, { monotonic: () => mono, fs: io.fs });
  await io.arm(); // a renewal read the lock (still ours) and is stuck before its rename (an NFS hang)
  mono += 400;
  const other = { owner: 'b-owner', host: 'b', pid: 7, acquiredAt: new Date(NOW).toISOString(), renewedAt: new Date(NOW).toISOString() };
  await writeFile(join(dir, 'gate.lock'), JSON.stringify(other)); // b found the lease expired and took over
  io.release();
  await eventually(() => lost.length > 0);
  t.same(JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')), other, 'the stalled renewal did not overwrite the new holder');
  t.equal(lost.length, 1, 'and this gate knows it lost the lock');
  t.equal(lock.held(), false);
  await lock.release();
  t.same(JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')), other, 'release leaves it alone');
});

t.test('release waits for a renewal under way: it never recreates the lock afterwards', async (t) => {
  for (const step of ['tmp-write', 'rename'] as const) {
    const io = stallingFs(step);
    const { dir, lock } = await holdLock(t, { leaseMs: 60_000, fs: io.fs });
    await io.arm(); // the gate stops while a renewal is stuck (a slow NFS write or rename)
    const released = lock.release();
    t.equal(lock.held(), false, `${step}: not held once release() began`);
    setTimeout(() => io.release(), 30);
    await released;
    await new Promise((r) => setTimeout(r, 50));
    await t.rejects(readFile(join(dir, 'gate.lock'), 'utf8'), { code: 'ENOENT' }, `${step}: released, and the renewal did not recreate it: a gate on another host can take it at once`);
  }
});

t.test('renewals never overlap, however long one takes', async (t) => {
  const io = stallingFs('rename');
  const { lock } = await holdLock(t, { leaseMs: 60_000, renewMs: 5, fs: io.fs });
  await io.arm();
  const before = io.counts.writes;
  const alive = setInterval(() => {}, 10);
  await new Promise((r) => setTimeout(r, 100)); // twenty renewal periods with one renewal stuck
  t.equal(io.counts.writes, before, 'no other renewal started (they would share the temp file)');
  io.release();
  await eventually(() => io.counts.writes >= before + 3);
  clearInterval(alive);
  t.ok(io.counts.writes >= before + 3, 'renewals go on once it is done');
  t.equal(io.counts.maxInFlight, 1, 'one at a time throughout');
  await lock.release();
});

t.test('a failed renewal is tried again soon, not a whole renewal period later', async (t) => {
  let mono = 0;
  const io = stallingFs('tmp-write', true);
  const { lost, lock } = await holdLock(t, { monotonic: () => mono, leaseMs: 30_000, renewMs: 1_000, retryMs: 10, fs: io.fs });
  const alive = setInterval(() => {}, 10);
  await eventually(() => io.counts.writes >= 4);
  const [first, , , fourth] = io.counts.writeTimes;
  // without retries the fourth attempt would come three renewal periods (3,000 ms) after the first
  t.ok(fourth! - first! < 2_000, `three retries ${Math.round(fourth! - first!)} ms after the first failure (renewal period 1,000 ms)`);
  mono += 29_500; // 29.5 s of failed renewals: past the fence (29 s), within the lease
  t.equal(lock.held(), false, 'not held while the renewals fail past the fence');
  io.heal(); // the volume is back
  await eventually(() => lock.held());
  clearInterval(alive);
  t.equal(lock.held(), true, 'held again after the first renewal that works');
  t.same(lost, [], 'a volume back within the lease costs nothing');
  await lock.release();
});

t.test('a renewal stuck for good still notices the lapse', async (t) => {
  let mono = 0;
  let hang = false;
  const fs: LockFs = { ...nodeFs, readFile: (async (...args: Parameters<typeof nodeFs.readFile>) => (hang ? new Promise(() => {}) : nodeFs.readFile(...args))) as LockFs['readFile'] };
  const { lost, lock } = await holdLock(t, { monotonic: () => mono, retryMs: 10, fs });
  hang = true; // a hard NFS mount: the next renewal's read never returns
  const alive = setInterval(() => {}, 10);
  await new Promise((r) => setTimeout(r, 60));
  mono += 400;
  await eventually(() => lost.length > 0);
  clearInterval(alive);
  t.match(lost, [/went unrenewed/], 'onLost, though no renewal ever came back');
  t.equal(lock.held(), false);
  const released = await Promise.race([lock.release().then(() => 'released'), new Promise((r) => setTimeout(() => r('hung'), 3_000))]);
  t.equal(released, 'released', 'and release() does not hang on the stuck renewal');
});


/** Lock file operations whose temp-file writes fail with ENOSPC while `full` is set (a full volume). */
function fullVolumeFs() {
  const io = { full: false, tmpWrites: 0, beforeOpen: async () => {} };
  const fs: LockFs = {
    ...nodeFs,
    writeFile: (async (path: string, data: string, opts?: unknown) => {
      if (String(path).endsWith('.tmp')) {
        io.tmpWrites += 1;
        if (io.full) {
          await nodeFs.writeFile(path, ''); // created, then no block for the data
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        }
      }
      return nodeFs.writeFile(path, data, opts as never);
    }) as LockFs['writeFile'],
    open: (async (...args: Parameters<typeof nodeFs.open>) => {
      await io.beforeOpen();
      return nodeFs.open(...args);
    }) as LockFs['open'],
  };
  return { io, fs };
}

t.test('a full volume does not cost the lock: renewals write the new stamp over the old one, for as long as it lasts', async (t) => {
  let mono = 0;
  const { io, fs } = fullVolumeFs();
  const { dir, lost, lock } = await holdLock(t, { monotonic: () => mono, now: () => NOW + mono, leaseMs: 30_000, renewMs: 20, retryMs: 10, fs });
  const file = join(dir, 'gate.lock');
  const before = await readFile(file, 'utf8');
  io.full = true;
  const alive = setInterval(() => {}, 10);
  // two whole leases on a full volume: a second of the gate's clock per renewal period
  for (let i = 0; i < 60; i++) {
    mono += 1_000;
    await new Promise((r) => setTimeout(r, 25));
  }
  t.ok(io.tmpWrites > 10, `the temp file was tried (${io.tmpWrites} times)`);
  t.same(lost, [], 'not lost: the lease was renewed throughout');
  t.equal(lock.held(), true);
  const during = await readFile(file, 'utf8');
  t.equal(during.length, before.length, 'the file keeps its size: no block to allocate');
  t.same({ ...JSON.parse(during), renewedAt: null }, { ...JSON.parse(before), renewedAt: null }, 'the same stamp but for renewedAt');
  t.ok(Date.parse(JSON.parse(during).renewedAt) >= NOW + 50_000, `renewed on the full volume (${JSON.parse(during).renewedAt})`);
  // (a renewal may be between creating its temp file and removing it: looked at until it is not)
  t.ok(await eventually(async () => (await nodeFs.readdir(dir)).join() === 'gate.lock'), 'nothing else written, and no empty temp file left');
  io.full = false; // room again: renewals go back to a new file renamed into place
  const inode = (await nodeFs.stat(file)).ino;
  await eventually(async () => (await nodeFs.stat(file)).ino !== inode);
  clearInterval(alive);
  t.not((await nodeFs.stat(file)).ino, inode, 'renewed through a temp file again');
  await lock.release();
  t.same(lost, []);
});

t.test('a renewal on a full volume never writes over a lock another gate put in place', async (t) => {
  let mono = 0;
  const { io, fs } = fullVolumeFs();
  const { dir, lost, lock } = await holdLock(t, { monotonic: () => mono, now: () => NOW + mono, leaseMs: 30_000, renewMs: 20, retryMs: 10, fs });
  const file = join(dir, 'gate.lock');
  // the same size as this gate's own stamp, so only its owner tells them apart
  const other = JSON.stringify({ ...JSON.parse(await readFile(file, 'utf8')), owner: '00000000-0000-4000-8000-000000000000', host: 'b', pid: 7 });
  // another gate's lock lands between the renewal's read of the file and its write in place
  io.beforeOpen = async () => {
    io.beforeOpen = async () => {};
    await writeFile(`${file}.b`, other);
    await rename(`${file}.b`, file);
  };
  io.full = true;
  const alive = setInterval(() => {}, 10);
  await eventually(() => lost.length > 0);
  clearInterval(alive);
  t.equal(await readFile(file, 'utf8'), other, 'the other gate\'s lock is as it wrote it');
  t.match(lost, [/taken over by host b, pid 7/], 'and this gate knows it lost the lock at its next renewal');
  t.equal(lock.held(), false);
  await lock.release();
  t.equal(await readFile(file, 'utf8'), other, 'release leaves it alone');
});

t.test('taking a stale lock over on a full volume fails with the volume\'s error, not a race', async (t) => {
  const dir = await tempDir(t, 'lock-');
  const at = new Date(NOW).toISOString();
  await writeFile(join(dir, 'gate.lock'), JSON.stringify({ owner: 'old', host: 'a', pid: 7, acquiredAt: at, renewedAt: at }));
  const { io, fs } = fullVolumeFs();
  io.full = true;
  await t.rejects(acquireDataDirLock({ ...base, dir, host: 'a', pid: 8, isAlive: () => false, now: () => NOW, fs }), { code: 'ENOSPC' });
  t.match(JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')), { owner: 'old' }, 'the stale lock is left as it was');
});

t.test('probe(): whether the volume takes a write, for a gate whose lease lapsed; never while the lock is held, never leaving a file', async (t) => {
  let now = NOW;
  const { dir, lost, causes, lock } = await holdLock(t, { now: () => now, monotonic: () => now });
  await t.rejects(lock.probe(), /the lock is held/, 'not while held: the renewals write');
  const { owner } = JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')) as { owner: string };
  // the volume refuses the renewals' temp file and the probe's (a directory in each one's place:
  // EISDIR) for a whole lease
  const blockers = [join(dir, `gate.lock.${owner}.tmp`), join(dir, `gate.lock.${owner}.probe`)];
  for (const b of blockers) await mkdir(b);
  now += 400;
  await eventually(() => lost.length > 0);
  t.same(causes, ['lapsed'], 'lost by a lapse, not a takeover');
  await t.rejects(lock.probe(), { code: 'EISDIR' }, 'the volume still refuses: the probe says so');
  t.same((await readdir(dir)).sort(), ['gate.lock', ...blockers.map((b) => b.slice(dir.length + 1))].sort(), 'a failed probe leaves nothing of its own');
  for (const b of blockers) await rmdir(b);
  await lock.probe();
  t.same((await readdir(dir)).sort(), ['gate.lock'], 'a probe that got through leaves nothing behind');
  t.equal(lock.held(), false, 'and takes nothing back');
  await lock.release();
});

t.test('a lock file whose write fails part way (a full volume) leaves no temp file behind', async (t) => {
  const dir = await tempDir(t, 'gate-lock-full-');
  const fs = {
    ...nodeFs,
    // the first half lands, then the volume is full
    writeFile: (async (path: string, text: string) => {
      await nodeFs.writeFile(path, text.slice(0, text.length >> 1));
      throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    }) as unknown as LockFs['writeFile'],
  } as LockFs;
  await t.rejects(createExclusive(fs, join(dir, 'gate.lock'), '{"owner":"me"}', join(dir, 'gate.lock.x.new')), { code: 'ENOSPC' });
  t.same(await readdir(dir), [], 'nothing left in the directory');
});

t.test('release leaves a lock another gate wrote in place of this one\'s before this one noticed (no renewal between)', async (t) => {
  const dir = await tempDir(t, 'lock-');
  const now = 1_800_000_000_000;
  const lock = await acquireDataDirLock({ dir, host: 'a', pid: 5, isAlive: () => true, now: () => now, leaseMs: 60_000, renewMs: 30_000 });
  const mine = JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8'));
  const theirs = { ...mine, owner: 'another-gates-owner-id', host: 'b', pid: 6 };
  await writeFile(join(dir, 'gate.lock'), JSON.stringify(theirs));
  await lock.release();
  t.same(JSON.parse(await readFile(join(dir, 'gate.lock'), 'utf8')), theirs, 'the other gate\'s lock stays');
});

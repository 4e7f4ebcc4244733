import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { nodeAuditFs, type AuditFs } from '../../src/audit/audit-fs.ts';
import { openFileAuditLog } from '../../src/audit/file-log.ts';
import { segmentName } from '../../src/audit/segments.ts';
import { AuditUnavailableError } from '../../src/audit/log.ts';
import { verifyAuditLog } from '../../src/audit/verify.ts';
import { entry, faultyFs, memoryLogger, waitFor, type FsOp } from './helpers.ts';

const DAY1 = '2026-11-26T10:00:00.000Z';
const DAY2 = '2026-11-27T10:00:00.000Z';

function snapshotDir(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f), 'latin1')]));
}

// cleanAtOnce: the failed write is cut off when it fails; otherwise only by the recovery probe
const cases: { name: string; faults: Partial<Record<FsOp, string>>; partialWrite?: boolean; at: string; cleanAtOnce: boolean }[] = [
  { name: 'disk full mid-write (half the bytes land)', faults: { write: 'ENOSPC' }, partialWrite: true, at: DAY1, cleanAtOnce: true },
  { name: 'fsync fails after a full write', faults: { datasync: 'EIO' }, at: DAY1, cleanAtOnce: true },
  { name: 'write and the rollback truncate both fail', faults: { write: 'EIO', truncate: 'EIO' }, partialWrite: true, at: DAY1, cleanAtOnce: false },
  { name: 'new day: the new file cannot be created', faults: { open: 'EACCES' }, at: DAY2, cleanAtOnce: true },
  { name: 'new day: writing the new file fails', faults: { write: 'ENOSPC' }, partialWrite: true, at: DAY2, cleanAtOnce: true },
  { name: 'new day: the directory fsync fails', faults: { syncDir: 'EIO' }, at: DAY2, cleanAtOnce: true },
];

for (const c of cases) {
  t.test(`fail closed, then recover by the probe: ${c.name}`, async (t) => {
    const dir = t.testdir();
    const ffs = faultyFs();
    const logger = memoryLogger();
    const log = await openFileAuditLog({ dir, fs: ffs.fs, recoveryProbeMs: 20, logger });
    for (let i = 1; i <= 3; i++) await log.append([entry(i, { at: DAY1 })]);
    const head = log.head();
    const before = snapshotDir(dir);

    Object.assign(ffs.faults, c.faults);
    ffs.state.partialWrite = c.partialWrite ?? false;
    const attempts = Array.from({ length: 5 }, (_, i) => log.append([entry(10 + i, { at: c.at })]));
    const late = (async () => {
      await new Promise((r) => setImmediate(r));
      return log.append([entry(20, { at: c.at })]);
    })();
    const settled = await Promise.allSettled([...attempts, late]);
    for (const s of settled) t.ok(s.status === 'rejected' && s.reason instanceof AuditUnavailableError, 'append rejected with AuditUnavailableError');
    t.equal(log.writable(), false, 'writable() false');
    t.same(log.head(), head, 'head stays at the last durable record');
    t.equal(log.stats().failedBatches, 1, 'one failed batch; later appends were refused without writing');
    t.ok(logger.lines.some((l) => l.level === 'warn' && /write failed/.test(l.msg)), 'failure logged');
    if (c.cleanAtOnce) t.same(snapshotDir(dir), before, 'the failed write is cut off at once');
    else t.not(JSON.stringify(snapshotDir(dir)), JSON.stringify(before), 'partial bytes remain until the probe can truncate');

    const page = await log.query({ limit: 50 });
    t.same(page.records.map((r) => r.seq), [3, 2, 1], 'queries see durable records only');
    t.same((await log.since(0)).map((r) => r.seq), [1, 2, 3]);

    await new Promise((r) => setTimeout(r, 60));
    t.equal(log.writable(), false, 'still unwritable while the fault lasts (probes fail)');

    for (const k of Object.keys(c.faults) as FsOp[]) delete ffs.faults[k];
    await waitFor(() => log.writable());
    t.same(snapshotDir(dir), before, 'no partial record, no stray file: the directory is as before the failure');
    t.equal(log.stats().recoveries, 1);
    t.ok(logger.lines.some((l) => l.level === 'info' && /writable again/.test(l.msg)), 'recovery logged');

    const [next] = await log.append([entry(30, { at: c.at })]);
    t.equal(next!.seq, 4, 'next append takes seq 4');
    t.equal(next!.prev, head.hash, 'chained to the last durable head');
    await log.close();
    t.match(await verifyAuditLog(dir), { ok: true, count: 4 });
  });
}

t.test('an append attempt retries recovery itself (probe far away), at most every 250 ms', async (t) => {
  const dir = t.testdir();
  const ffs = faultyFs();
  const log = await openFileAuditLog({ dir, fs: ffs.fs, recoveryProbeMs: 3_600_000 });
  await log.append([entry(1)]);
  ffs.faults.datasync = 'EIO';
  await t.rejects(log.append([entry(2)]), AuditUnavailableError);
  await t.rejects(log.append([entry(3)]), AuditUnavailableError, 'append retries recovery, which fails');
  const opensAfterFirstRetry = ffs.calls.open;
  await t.rejects(log.append([entry(4)]), AuditUnavailableError, 'refused at once right after a failed retry');
  t.equal(ffs.calls.open, opensAfterFirstRetry, 'no second retry within 250 ms');
  delete ffs.faults.datasync;
  await new Promise((r) => setTimeout(r, 260));
  const [rec] = await log.append([entry(5)]);
  t.equal(rec!.seq, 2, 'append recovered the log and was written');
  t.equal(log.writable(), true);
  await log.close();
  t.match(await verifyAuditLog(dir), { ok: true, count: 2 });
});

t.test('recovery removes only the newer files this gate wrote: one another gate wrote (it took the lock over) is left alone, and the log stays closed', async (t) => {
  const dir = t.testdir();
  const ffs = faultyFs();
  const log = await openFileAuditLog({ dir, fs: ffs.fs, recoveryProbeMs: 3_600_000 });
  await log.append([entry(1, { at: DAY1 })]);
  await log.append([entry(2, { at: DAY2 })]); // a file of the new day: this gate's own, committed
  ffs.faults.datasync = 'EIO';
  await t.rejects(log.append([entry(3, { at: DAY2 })]), AuditUnavailableError, 'a failed batch');
  delete ffs.faults.datasync;
  // meanwhile another gate, which took the directory over while this one still counted itself
  // the holder, wrote its next records into a file of its own under the next name
  const foreign = join(dir, segmentName('20261127', 3));
  writeFileSync(foreign, '{"another gate\'s acknowledged records":true}\n');
  await new Promise((r) => setTimeout(r, 260));
  await t.rejects(log.append([entry(4, { at: DAY2 })]), AuditUnavailableError, 'the append retries recovery, which refuses to touch it');
  t.equal(readFileSync(foreign, 'utf8'), '{"another gate\'s acknowledged records":true}\n', 'the other gate\'s file is still there, whole');
  t.equal(log.writable(), false, 'the log stays closed');
  await log.close();
});

t.test('recovery removes a newer file of this gate\'s own failed batch that its rollback could not remove', async (t) => {
  const dir = t.testdir();
  const ffs = faultyFs();
  const log = await openFileAuditLog({ dir, fs: ffs.fs, recoveryProbeMs: 3_600_000 });
  await log.append([entry(1, { at: DAY1 })]);
  ffs.faults.write = 'EIO';
  ffs.faults.unlink = 'EIO';
  await t.rejects(log.append([entry(2, { at: DAY2 })]), AuditUnavailableError, 'a failed batch in a new file, whose removal fails too');
  t.ok(readdirSync(dir).includes(segmentName('20261127', 2)), 'its file is still there');
  delete ffs.faults.write;
  delete ffs.faults.unlink;
  await new Promise((r) => setTimeout(r, 260));
  const [rec] = await log.append([entry(3, { at: DAY2 })]);
  t.equal(rec!.seq, 2, 'the recovery removed it and the append was written');
  await log.close();
  t.match(await verifyAuditLog(dir), { ok: true, count: 2 });
});

t.test('a file this gate rolled back is no longer its own: another gate\'s file under that name is left alone by recovery', async (t) => {
  const dir = t.testdir();
  const ffs = faultyFs();
  const log = await openFileAuditLog({ dir, fs: ffs.fs, recoveryProbeMs: 3_600_000 });
  await log.append([entry(1, { at: DAY1 })]);
  ffs.faults.datasync = 'EIO';
  await t.rejects(log.append([entry(2, { at: DAY2 })]), AuditUnavailableError, 'a failed batch in a new file');
  delete ffs.faults.datasync;
  const name = segmentName('20261127', 2);
  t.notOk(readdirSync(dir).includes(name), 'its rollback removed its file');
  // another gate (it took the directory over while this one still counted itself the holder)
  // read the same head and wrote its acknowledged record 2 under the same name
  writeFileSync(join(dir, name), '{"another gate\'s acknowledged record":true}\n');
  await new Promise((r) => setTimeout(r, 260));
  await t.rejects(log.append([entry(3, { at: DAY2 })]), AuditUnavailableError, 'the recovery refuses to touch it');
  t.equal(readFileSync(join(dir, name), 'utf8'), '{"another gate\'s acknowledged record":true}\n', 'the other gate\'s file is still there, whole');
  await log.close();
});

t.test('a create that reached the disk although its open reported a failure (an NFS reply lost) is this gate\'s: the log recovers by itself', async (t) => {
  const dir = t.testdir();
  let lose = false;
  const fs: AuditFs = {
    ...nodeAuditFs,
    open: async (path, flags) => {
      const fh = await nodeAuditFs.open(path, flags);
      if (lose && flags === 'wx+') {
        lose = false;
        await fh.close();
        throw Object.assign(new Error(`ETIMEDOUT: open ${path}`), { code: 'ETIMEDOUT' });
      }
      return fh;
    },
  };
  const log = await openFileAuditLog({ dir, fs, recoveryProbeMs: 3_600_000 });
  await log.append([entry(1, { at: DAY1 })]);
  lose = true;
  await t.rejects(log.append([entry(2, { at: DAY2 })]), AuditUnavailableError, 'the batch fails');
  t.ok(readdirSync(dir).includes(segmentName('20261127', 2)), 'its file is on the disk all the same');
  await new Promise((r) => setTimeout(r, 260));
  const [rec] = await log.append([entry(3, { at: DAY2 })]);
  t.equal(rec!.seq, 2, 'the recovery removed it and the append was written');
  await log.close();
  t.match(await verifyAuditLog(dir), { ok: true, count: 2 });
});

t.test('a log whose durable bytes vanished stays closed', async (t) => {
  const dir = t.testdir();
  const ffs = faultyFs();
  const log = await openFileAuditLog({ dir, fs: ffs.fs, recoveryProbeMs: 3_600_000 });
  await log.append([entry(1)]);
  await log.append([entry(2)]);
  ffs.faults.write = 'EIO';
  await t.rejects(log.append([entry(3)]), AuditUnavailableError);
  delete ffs.faults.write;
  const [file] = readdirSync(dir);
  const { truncateSync } = await import('node:fs');
  truncateSync(join(dir, file!), 10); // someone cut the file
  await t.rejects(log.append([entry(4)]), AuditUnavailableError, 'recovery refuses to extend a shortened file');
  t.equal(log.writable(), false);
  await log.close();
});

t.test('close while unwritable: resolves, stops the probe, refuses what is queued', async (t) => {
  const dir = t.testdir();
  const ffs = faultyFs();
  const log = await openFileAuditLog({ dir, fs: ffs.fs, recoveryProbeMs: 10 });
  await log.append([entry(1)]);
  ffs.faults.write = 'ENOSPC';
  await t.rejects(log.append([entry(2)]), AuditUnavailableError);
  await log.close();
  const opens = ffs.calls.open;
  await new Promise((r) => setTimeout(r, 50));
  t.equal(ffs.calls.open, opens, 'no probe after close');
  await t.rejects(log.append([entry(3)]), AuditUnavailableError);
  delete ffs.faults.write;
  t.match(await verifyAuditLog(dir), { ok: true, count: 1 });
});

t.test('without fsync nothing is synced, everything else holds', async (t) => {
  const dir = t.testdir();
  const ffs = faultyFs();
  const log = await openFileAuditLog({ dir, fs: ffs.fs, fsync: false });
  await Promise.all([log.append([entry(1)]), log.append([entry(2, { at: DAY2 })])]);
  t.equal(ffs.calls.datasync + ffs.calls.syncDir, 0);
  await log.close();
  t.match(await verifyAuditLog(dir), { ok: true, count: 2, files: 2 });
});

t.test('a gate that no longer holds the data-directory lock neither appends nor repairs the log', async (t) => {
  const dir = t.testdir();
  const ffs = faultyFs();
  let writer = true;
  const log = await openFileAuditLog({ dir, fs: ffs.fs, recoveryProbeMs: 20, isWriter: () => writer });
  for (let i = 1; i <= 3; i++) await log.append([entry(i, { at: DAY1 })]);
  t.equal(log.writable(), true);

  writer = false;
  await t.rejects(log.append([entry(4, { at: DAY1 })]), AuditUnavailableError, 'append refused without the lock');
  t.equal(log.writable(), false, 'writable() false without the lock (readyz 503)');
  t.same(log.head().seq, 3);

  // the NFS mount failed under this gate, another gate took the directory over and appended
  writer = true;
  ffs.faults.write = 'EIO';
  await t.rejects(log.append([entry(4, { at: DAY1 })]), AuditUnavailableError);
  delete ffs.faults.write;
  writer = false;
  const files = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
  const file = join(dir, files.at(-1)!);
  const theirs = `${readFileSync(file, 'latin1')}{"the other gate's record":4}\n`;
  writeFileSync(file, theirs, 'latin1');
  await new Promise((r) => setTimeout(r, 150));
  t.equal(readFileSync(file, 'latin1'), theirs, 'the recovery probe does not cut off what the new holder wrote');
  t.equal(log.writable(), false);
  await t.rejects(log.append([entry(5, { at: DAY1 })]), AuditUnavailableError);
  await log.close();
});

t.test('a failed batch that created several files closes every one of them, also when their removal fails', async (t) => {
  const dir = t.testdir();
  const ffs = faultyFs();
  // the handles the log opened for writing and has not closed
  const open = new Set<string>();
  const fs = {
    ...ffs.fs,
    open: async (path: string, flags: string) => {
      const fh = await ffs.fs.open(path, flags);
      if (flags === 'r') return fh;
      const id = `${flags} ${path} #${open.size}-${Math.random()}`;
      open.add(id);
      return {
        ...fh,
        read: fh.read,
        write: fh.write,
        datasync: fh.datasync,
        truncate: fh.truncate,
        stat: fh.stat,
        close: async () => {
          open.delete(id);
          await fh.close();
        },
      };
    },
  };
  const log = await openFileAuditLog({ dir, fs, recoveryProbeMs: 10, maxFileBytes: 4096 });
  await log.append([entry(1, { at: DAY1 })]);
  const before = snapshotDir(dir);
  // one batch of three records, each too big to share a file: three new files, then the directory fsync fails
  const big = (i: number) => entry(i, { at: DAY2, data: { pad: 'x'.repeat(3000) } });
  ffs.faults.syncDir = 'EIO';
  ffs.faults.unlink = 'EIO';
  await t.rejects(log.append([big(2), big(3), big(4)]), AuditUnavailableError);
  delete ffs.faults.syncDir;
  delete ffs.faults.unlink;
  await waitFor(() => log.writable());
  t.same(snapshotDir(dir), before, 'the probe removed the three files');
  await log.close();
  t.same([...open], [], 'no file handle left open');
});

/** faultyFs, whose files' datasync is `datasync(real)`: real is the datasync of faultyFs */
function datasyncOver(ffs: ReturnType<typeof faultyFs>, datasync: (real: () => Promise<void>) => Promise<void>) {
  return {
    ...ffs.fs,
    open: async (path: string, flags: string) => {
      const fh = await ffs.fs.open(path, flags);
      return { ...fh, read: fh.read, write: fh.write, truncate: fh.truncate, stat: fh.stat, close: fh.close, datasync: () => datasync(() => fh.datasync()) };
    },
  };
}

/** faultyFs, whose datasync can be held and then let go to succeed or fail with EIO */
function holdingFs() {
  const hold = { armed: false, waiting: [] as ((fail: boolean) => void)[] };
  const fs = datasyncOver(faultyFs(), async (real) => {
    if (hold.armed) {
      const fail = await new Promise<boolean>((r) => hold.waiting.push(r));
      if (fail) throw Object.assign(new Error('EIO: injected datasync failure'), { code: 'EIO' });
    }
    await real();
  });
  return { fs, hold, release: (fail: boolean) => hold.waiting.splice(0).forEach((r) => r(fail)) };
}

t.test('a write that fails after this gate lost the data-directory lock is not cut off: the file may be the new holder\'s', async (t) => {
  const dir = t.testdir();
  const h = holdingFs();
  let writer = true;
  const log = await openFileAuditLog({ dir, fs: h.fs, recoveryProbeMs: 10, stallMs: 0, isWriter: () => writer });
  for (let i = 1; i <= 3; i++) await log.append([entry(i, { at: DAY1 })]);
  h.hold.armed = true;
  const pending = log.append([entry(4, { at: DAY1 })]);
  await waitFor(() => h.hold.waiting.length > 0);
  // the fsync hangs past the lease (an NFS server gone away); another gate takes the directory
  // over, reads the log, this write included, and appends its own acknowledged record
  writer = false;
  const [name] = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
  const file = join(dir, name!);
  const theirs = `${readFileSync(file, 'latin1')}{"the other gate's record":5}\n`;
  writeFileSync(file, theirs, 'latin1');
  h.hold.armed = false;
  h.release(true);
  await t.rejects(pending, AuditUnavailableError);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(readFileSync(file, 'latin1'), theirs, 'the new holder\'s bytes are still there');
  t.equal(log.writable(), false);
  await log.close();
});

t.test('a write whose fsync returns after this gate lost the data-directory lock is not answered as recorded', async (t) => {
  const dir = t.testdir();
  const h = holdingFs();
  let writer = true;
  const log = await openFileAuditLog({ dir, fs: h.fs, recoveryProbeMs: 10, stallMs: 0, isWriter: () => writer });
  for (let i = 1; i <= 3; i++) await log.append([entry(i, { at: DAY1 })]);
  const head = log.head();
  h.hold.armed = true;
  const pending = log.append([entry(4, { at: DAY1 })]);
  await waitFor(() => h.hold.waiting.length > 0);
  // the fsync hangs past the lease: another gate may have read the log before this write
  // landed and written its own records over it, so this one is not known to be in the log
  writer = false;
  h.hold.armed = false;
  h.release(false);
  await t.rejects(pending, AuditUnavailableError, 'refused, not answered');
  t.same(log.head(), head, 'the head does not move');
  t.equal(log.writable(), false);
  t.same((await log.since(0)).map((r) => r.seq), [1, 2, 3]);
  // the lease was only late (no other gate came): once it is held again the probe cuts the write off
  writer = true;
  await waitFor(() => log.writable());
  const [next] = await log.append([entry(5, { at: DAY1 })]);
  t.equal(next!.seq, 4);
  t.equal(next!.prev, head.hash);
  await log.close();
  t.match(await verifyAuditLog(dir), { ok: true, count: 4 });
});

t.test('an append over one write stops at the lock: once the lease is lost between its writes, no more of it is written', async (t) => {
  const dir = t.testdir();
  const ffs = faultyFs();
  let writer = true;
  let armed = false;
  // once armed, the lease is lost while the append's first write is being fsynced
  const fs = datasyncOver(ffs, async (real) => {
    await real();
    if (armed) writer = false;
  });
  const log = await openFileAuditLog({ dir, fs, recoveryProbeMs: 3_600_000, isWriter: () => writer });
  await log.append([entry(1, { at: DAY1 })]);
  ffs.state.writes.length = 0;
  armed = true;
  const pad = 'x'.repeat(900);
  await t.rejects(log.append(Array.from({ length: 100 }, (_, i) => entry(10 + i, { at: DAY1, data: { pad } }))), AuditUnavailableError);
  t.equal(ffs.state.writes.length, 1, 'the write after the lost lease is not made');
  t.equal(log.head().seq, 1, 'nothing of the append is acknowledged');
  await log.close();
});

for (const first of [false, true]) {
  t.test(`one append larger than a write, whose second write's fsync fails, leaves nothing of it (${first ? 'its own new file' : 'continuing a file'})`, async (t) => {
    const dir = t.testdir();
    const ffs = faultyFs();
    // the fsync after the append's first write works; the next one fails
    let syncsLeft = Number.POSITIVE_INFINITY;
    const fs = datasyncOver(ffs, async (real) => {
      if (--syncsLeft < 0) throw Object.assign(new Error('EIO: injected datasync failure'), { code: 'EIO' });
      await real();
    });
    if (!first) {
      const before = await openFileAuditLog({ dir });
      await before.append([entry(1, { at: DAY1 })]);
      await before.close();
    }
    const log = await openFileAuditLog({ dir, fs, recoveryProbeMs: 10 });
    if (!first) await log.append([entry(2, { at: DAY1 })]);
    const head = log.head();
    const before = snapshotDir(dir);
    syncsLeft = 1;
    ffs.state.writes.length = 0;
    const pad = 'x'.repeat(900);
    await t.rejects(log.append(Array.from({ length: 100 }, (_, i) => entry(10 + i, { at: DAY1, data: { pad } }))), AuditUnavailableError);
    t.ok(ffs.state.writes.length >= 2, 'the append took more than one write');
    syncsLeft = Number.POSITIVE_INFINITY;
    await waitFor(() => log.writable());
    t.same(snapshotDir(dir), before, 'the writes that did reach the disk are cut off too');
    t.same(log.head(), head, 'the head did not move');
    const [next] = await log.append([entry(3, { at: DAY1 })]);
    t.equal(next!.seq, head.seq + 1);
    t.equal(next!.prev, head.hash);
    await log.close();
    t.match(await verifyAuditLog(dir), { ok: true, count: head.seq + 1 });
  });
}

t.test('an append queued behind a batch, whose lock is lost as that batch is answered, is refused and writes nothing', async (t) => {
  const dir = t.testdir();
  let writer = true;
  let hold: Promise<void> | null = null;
  let held = false;
  // the audit fs, with an fdatasync that waits for `hold` while it is set
  const fs: AuditFs = {
    ...nodeAuditFs,
    open: async (path, flags) => {
      const fh = await nodeAuditFs.open(path, flags);
      return new Proxy(fh, {
        get(target, prop) {
          if (prop === 'datasync') {
            return async () => {
              if (hold) {
                held = true;
                await hold;
              }
              return target.datasync();
            };
          }
          const value = Reflect.get(target, prop) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    },
  };
  const log = await openFileAuditLog({ dir, fs, recoveryProbeMs: 3_600_000, isWriter: () => writer });
  t.teardown(() => log.close());
  await log.append([entry(1, { at: DAY1 })]);
  let release!: () => void;
  hold = new Promise<void>((r) => (release = r));
  // the lock is lost the moment seq 2 is answered (its batch passed every check)
  const second = log.append([entry(2, { at: DAY1 })]).then((r) => {
    writer = false;
    return r;
  });
  await waitFor(() => held);
  const third = log.append([entry(3, { at: DAY1 })]);
  hold = null;
  release();
  t.equal((await second)[0]!.seq, 2, 'seq 2 answered while the lock was held');
  await t.rejects(third, { name: 'AuditUnavailableError', message: /no longer holds the data-directory lock/ }, 'the append queued behind it is refused');
  const text = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).map((f) => readFileSync(join(dir, f), 'utf8')).join('');
  t.equal(text.trim().split('\n').length, 2, 'and nothing of it was written');
});

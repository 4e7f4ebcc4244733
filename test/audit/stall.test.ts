import t from 'tap';
import { nodeAuditFs, type AuditFs } from '../../src/audit/audit-fs.ts';
import { openFileAuditLog } from '../../src/audit/file-log.ts';
import { AuditUnavailableError } from '../../src/audit/log.ts';
import { verifyAuditLog } from '../../src/audit/verify.ts';
import { entry, faultyFs, memoryLogger, waitFor } from './helpers.ts';

/** The real file system, except that while `hold` is armed a datasync (or a truncate) waits until released. */
function stallingFs() {
  const held: (() => void)[] = [];
  const ops = { datasync: false, truncate: false };
  const wait = () => new Promise<void>((r) => held.push(r));
  const fs: AuditFs = {
    ...nodeAuditFs,
    async open(path, flags) {
      const fh = await nodeAuditFs.open(path, flags);
      return {
        ...fh,
        read: (...a) => fh.read(...a),
        write: (...a) => fh.write(...a),
        stat: () => fh.stat(),
        close: () => fh.close(),
        datasync: async () => {
          if (ops.datasync) await wait();
          await fh.datasync();
        },
        truncate: async (len) => {
          if (ops.truncate) await wait();
          await fh.truncate(len);
        },
      };
    },
  };
  return {
    fs,
    ops,
    held: () => held.length,
    release: () => {
      for (const r of held.splice(0)) r();
    },
  };
}

t.test('a write whose fsync never returns: after stallMs the queue and new appends are refused; the stalled batch still lands', async (t) => {
  const dir = t.testdir();
  const sfs = stallingFs();
  const logger = memoryLogger();
  const log = await openFileAuditLog({ dir, fs: sfs.fs, stallMs: 50, logger });
  await log.append([entry(1)]);
  const head = log.head();

  sfs.ops.datasync = true;
  const stuck = log.append([entry(2)]);
  await waitFor(() => sfs.held() === 1);
  // queued behind the stuck batch before the stall is declared
  const queued = log.append([entry(3)]).then(
    () => null,
    (err: unknown) => err,
  );
  t.equal(log.writable(), true, 'not a stall yet');
  await waitFor(() => !log.writable());
  t.type(await queued, AuditUnavailableError, 'the append queued behind it is refused');
  const started = performance.now();
  await t.rejects(log.append([entry(4)]), { name: 'AuditUnavailableError', message: /has not completed for [\d.]+ s/ }, 'a new append is refused at once');
  t.ok(performance.now() - started < 40, 'without waiting for the disk');
  t.ok(logger.lines.some((l) => l.level === 'warn' && /has not returned/.test(l.msg)), 'the stall is logged');
  t.equal(log.stats().queued, 0, 'nothing piles up in memory');
  t.same(log.head(), head, 'the head is still the last durable record');

  sfs.ops.datasync = false;
  sfs.release();
  const [rec] = await stuck;
  t.equal(rec!.seq, 2, 'the stalled batch is answered once its fsync returns');
  t.equal(log.writable(), true, 'writable again');
  t.ok(logger.lines.some((l) => l.level === 'info' && /stalled write returned/.test(l.msg)));
  const [next] = await log.append([entry(5)]);
  t.equal(next!.seq, 3, 'the refused appends took no seq');
  t.equal(next!.prev, rec!.hash);
  await log.close();
  t.match(await verifyAuditLog(dir), { ok: true, count: 3 });
});

t.test('stallMs 0 turns the watchdog off: appends wait for the disk however long it takes', async (t) => {
  const dir = t.testdir();
  const sfs = stallingFs();
  const log = await openFileAuditLog({ dir, fs: sfs.fs, stallMs: 0 });
  sfs.ops.datasync = true;
  const stuck = log.append([entry(1)]);
  await waitFor(() => sfs.held() === 1);
  const queued = log.append([entry(2)]);
  await new Promise((r) => setTimeout(r, 60));
  t.equal(log.writable(), true);
  sfs.ops.datasync = false;
  sfs.release();
  t.equal((await stuck)[0]!.seq, 1);
  t.equal((await queued)[0]!.seq, 2);
  await log.close();
});

t.test('an append does not wait longer than stallMs for a recovery that stalls', async (t) => {
  const dir = t.testdir();
  const sfs = stallingFs();
  // faults over the stalling fs
  const ffs = faultyFs(sfs.fs);
  const fs = ffs.fs;
  const log = await openFileAuditLog({ dir, fs, stallMs: 50, recoveryProbeMs: 3_600_000 });
  await log.append([entry(1)]);
  ffs.faults.datasync = 'EIO';
  await t.rejects(log.append([entry(2)]), AuditUnavailableError, 'the fsync fails: unwritable');
  delete ffs.faults.datasync;
  t.equal(log.writable(), false);

  // the recovery this append starts cuts the file back (truncate), which stalls
  sfs.ops.truncate = true;
  const started = performance.now();
  await t.rejects(log.append([entry(3)]), AuditUnavailableError, 'refused: the recovery it started has stalled');
  const waited = performance.now() - started;
  t.ok(waited >= 45 && waited < 1000, `waited about stallMs (${Math.round(waited)} ms), not for the disk`);
  // on a busy machine the append's stallMs can pass before the recovery reaches its truncate
  await waitFor(() => sfs.held() === 1);
  t.equal(sfs.held(), 1, 'the recovery is waiting on the disk (the append did not wait for it)');

  sfs.ops.truncate = false;
  sfs.release();
  await waitFor(() => log.writable());
  t.equal((await log.append([entry(4)]))[0]!.seq, 2, 'recovered: the next record follows the durable head');
  await log.close();
  t.match(await verifyAuditLog(dir), { ok: true, count: 2 });
});

t.test('an append over one write is not a stall while each of its writes returns within stallMs, however long all of them take', async (t) => {
  const dir = t.testdir();
  const sfs = stallingFs();
  const log = await openFileAuditLog({ dir, fs: sfs.fs, stallMs: 400 });
  await log.append([entry(1)]);
  // each fsync returns within 150 ms; the append's four or more take 600 ms or more in all
  sfs.ops.datasync = true;
  const ticker = setInterval(() => sfs.release(), 150);
  t.teardown(() => clearInterval(ticker));
  const pad = 'x'.repeat(900);
  const started = performance.now();
  const big = log.append(Array.from({ length: 250 }, (_, i) => entry(2 + i, { data: { pad } })));
  const queued = log.append([entry(252)]);
  const records = await big;
  const took = performance.now() - started;
  t.equal(records.length, 250);
  t.equal((await queued)[0]!.seq, 252, 'the append queued behind it is not refused as stalled');
  t.ok(took > 400, `the writes took ${Math.round(took)} ms in all, past stallMs`);
  t.equal(log.writable(), true);
  clearInterval(ticker);
  sfs.ops.datasync = false;
  sfs.release();
  await log.close();
  t.match(await verifyAuditLog(dir), { ok: true, count: 252 });
});

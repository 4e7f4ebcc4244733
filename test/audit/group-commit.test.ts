import t from 'tap';
import { nodeAuditFs, type AuditFs } from '../../src/audit/audit-fs.ts';
import { openFileAuditLog } from '../../src/audit/file-log.ts';
import { verifyAuditLog } from '../../src/audit/verify.ts';
import { entry } from './helpers.ts';

/** An fs whose datasync waits while `gate.closed` is set: holds a batch "in flight". */
function gatedFs() {
  let release: () => void = () => {};
  const gate = { held: false, waiting: 0, promise: Promise.resolve() };
  const fs: AuditFs = {
    ...nodeAuditFs,
    open: async (path, flags) => {
      const fh = await nodeAuditFs.open(path, flags);
      return {
        read: (b, o, l, p) => fh.read(b, o, l, p),
        write: (b, o, l, p) => fh.write(b, o, l, p),
        truncate: (len) => fh.truncate(len),
        stat: () => fh.stat(),
        close: () => fh.close(),
        datasync: async () => {
          if (gate.held) {
            gate.waiting += 1;
            await gate.promise;
          }
          await fh.datasync();
        },
      };
    },
  };
  return {
    fs,
    gate,
    hold() {
      gate.held = true;
      gate.promise = new Promise<void>((r) => (release = r));
    },
    release() {
      gate.held = false;
      release();
    },
  };
}

t.test('200 concurrent appends: all resolve in order and share few writes', async (t) => {
  const dir = t.testdir();
  const log = await openFileAuditLog({ dir });
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => log.append([entry(i)])));
  t.same(results.map((r) => r[0]!.seq), Array.from({ length: 200 }, (_, i) => i + 1), 'seqs 1..200 in call order');
  t.same(results.map((r) => r[0]!.id), Array.from({ length: 200 }, (_, i) => `dec-${i}`));
  const s = log.stats();
  t.equal(s.records, 200);
  t.ok(s.batches <= 5, `${s.batches} write batches for 200 appends`);
  t.equal(s.datasyncs, s.batches + 0, 'one fsync per batch (one file)');
  await log.close();
  t.match(await verifyAuditLog(dir), { ok: true, count: 200 });
});

t.test('appends arriving while a write is in flight go into the next single write', async (t) => {
  const dir = t.testdir();
  const g = gatedFs();
  const log = await openFileAuditLog({ dir, fs: g.fs });
  await log.append([entry(0)]); // creates the file outside the measured part
  const before = log.stats();
  g.hold();
  let firstResolved = false;
  const first = log.append([entry(1)]).then((r) => ((firstResolved = true), r));
  while (g.gate.waiting === 0) await new Promise((r) => setImmediate(r));
  const queued = Array.from({ length: 99 }, (_, i) => log.append([entry(i + 2)]));
  await new Promise((r) => setTimeout(r, 20));
  t.equal(log.stats().queued, 99, 'queued behind the write in flight');
  t.equal(log.head().seq, 1, 'head does not move while the fsync is pending');
  t.equal(firstResolved, false, 'the append does not resolve before its fsync returns');
  g.release();
  const all = await Promise.all([first, ...queued]);
  t.same(all.map((r) => r[0]!.seq), Array.from({ length: 100 }, (_, i) => i + 2));
  const after = log.stats();
  t.equal(after.batches - before.batches, 2, 'two batches: the one in flight and one for the 99');
  t.equal(after.datasyncs - before.datasyncs, 2, 'two fsyncs');
  t.equal(after.largestBatch, 99);
  await log.close();
  t.match(await verifyAuditLog(dir), { ok: true, count: 101 });
});

t.test('appends spread over many ticks still batch, and a group keeps consecutive seqs', async (t) => {
  const dir = t.testdir();
  const log = await openFileAuditLog({ dir });
  const tasks: Promise<{ n: number; seqs: number[] }>[] = [];
  for (let i = 0; i < 200; i++) {
    const n = i % 7 === 0 ? 3 : 1;
    tasks.push(
      (async () => {
        for (let k = 0; k < i % 5; k++) await new Promise((r) => setImmediate(r));
        const recs = await log.append(Array.from({ length: n }, (_, j) => entry(i * 10 + j)));
        return { n, seqs: recs.map((r) => r.seq) };
      })(),
    );
  }
  const done = await Promise.all(tasks);
  const total = done.reduce((a, d) => a + d.n, 0);
  for (const d of done) t.same(d.seqs, d.seqs.map((_, j) => d.seqs[0]! + j), 'group is consecutive');
  t.same(done.flatMap((d) => d.seqs).sort((a, b) => a - b), Array.from({ length: total }, (_, i) => i + 1), 'every seq once');
  const s = log.stats();
  t.ok(s.batches < 50, `${s.batches} batches for 200 appends`);
  await log.close();
  t.match(await verifyAuditLog(dir), { ok: true, count: total });
});

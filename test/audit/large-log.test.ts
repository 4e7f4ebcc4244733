import { statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { openFileAuditLog } from '../../src/audit/file-log.ts';
import { CHUNK_BYTES } from '../../src/audit/line-reader.ts';
import { listSegments } from '../../src/audit/segments.ts';
import { nodeAuditFs } from '../../src/audit/audit-fs.ts';
import { faultyFs } from './helpers.ts';
import { syntheticEntry, writeSyntheticLog } from './synthetic-log.ts';

// 60,000 records of ~540 bytes: one 32 MB file, or 8 files of 4 MiB.
const BIG = 60_000;

async function logBytes(dir: string): Promise<number> {
  return (await listSegments(nodeAuditFs, dir)).reduce((a, s) => a + statSync(join(dir, s.name)).size, 0);
}

t.test('start-up reads only the tail, whatever the log size', async (t) => {
  const layouts = [
    { name: '100 records', count: 100, maxFileBytes: undefined },
    { name: `${BIG} records in one file`, count: BIG, maxFileBytes: undefined },
    { name: `${BIG} records in 4 MiB files`, count: BIG, maxFileBytes: 4 * 1024 * 1024 },
  ];
  const readByLayout: number[] = [];
  const sizes: number[] = [];
  for (const l of layouts) {
    const dir = t.testdir();
    const made = writeSyntheticLog(dir, l.count, { maxFileBytes: l.maxFileBytes });
    const ffs = faultyFs();
    const log = await openFileAuditLog({ dir, fs: ffs.fs });
    t.same(log.head(), { seq: made.seq, hash: made.hash }, `${l.name}: head`);
    const s = log.stats();
    t.equal(s.startupBytesRead, ffs.state.bytesRead, `${l.name}: the log's count matches the fs layer's`);
    t.ok(s.startupBytesRead <= CHUNK_BYTES, `${l.name}: ${s.startupBytesRead} bytes read at start-up (<= one ${CHUNK_BYTES}-byte chunk) of ${await logBytes(dir)}`);
    readByLayout.push(s.startupBytesRead);
    sizes.push(await logBytes(dir));
    await log.close();
  }
  t.equal(readByLayout[1], readByLayout[2], 'same bytes read for one big file and many files');
  t.ok(sizes[1]! / readByLayout[1]! > 400, `start-up read 1/${Math.round(sizes[1]! / readByLayout[1]!)} of the big log`);
});

t.test('queries and since() on a big file read a few chunks, not the file', async (t) => {
  const dir = t.testdir();
  writeSyntheticLog(dir, BIG);
  const size = await logBytes(dir);
  const ffs = faultyFs();
  const log = await openFileAuditLog({ dir, fs: ffs.fs });
  t.teardown(() => log.close());
  const range = (from: number, to: number) => Array.from({ length: Math.abs(to - from) + 1 }, (_, i) => (from > to ? from - i : from + i));
  const cases = [
    { name: 'newest page', run: () => log.query({ limit: 50 }), seqs: range(BIG, BIG - 49), maxBytes: 2 * CHUNK_BYTES },
    { name: 'deep cursor (binary search)', run: () => log.query({ limit: 50, cursor: 1000 }), seqs: range(999, 950), maxBytes: 24 * 4096 + 3 * CHUNK_BYTES },
    { name: 'cursor mid-file', run: () => log.query({ limit: 5, cursor: 30_001 }), seqs: range(30_000, 29_996), maxBytes: 24 * 4096 + 3 * CHUNK_BYTES },
    {
      name: 'since 10 minutes before the end, with type: stops one hour (slack) before since',
      run: () => log.query({ limit: 500, type: 'decision', since: syntheticEntry(BIG - 600).at }),
      seqs: range(BIG, BIG - 600).filter((s) => s % 5 === 0),
      maxBytes: (600 + 3600 + 200) * 560,
    },
    { name: 'since(seq) near the end', run: async () => ({ records: await log.since(BIG - 10) }), seqs: range(BIG - 9, BIG), maxBytes: 24 * 4096 + 3 * CHUNK_BYTES },
    { name: 'since(seq) from the middle', run: async () => ({ records: await log.since(BIG / 2) }), seqs: range(BIG / 2 + 1, BIG), maxBytes: size / 2 + 24 * 4096 + 3 * CHUNK_BYTES },
  ];
  for (const c of cases) {
    const before = ffs.state.bytesRead;
    const res = await c.run();
    const read = ffs.state.bytesRead - before;
    t.same(res.records.map((r) => r.seq), c.seqs, `${c.name}: records`);
    t.ok(read <= c.maxBytes, `${c.name}: read ${read} bytes of ${size} (<= ${c.maxBytes})`);
  }
  // stream(): a replay from the start reads as it goes, so it never holds the log in memory
  const before = ffs.state.bytesRead;
  const firstTen: number[] = [];
  for await (const r of log.stream(0)) {
    firstTen.push(r.seq);
    if (firstTen.length === 10) break;
  }
  const read = ffs.state.bytesRead - before;
  t.same(firstTen, range(1, 10), 'stream(0): oldest first');
  t.ok(read <= 24 * 4096 + 3 * CHUNK_BYTES, `stream(0): ten records cost ${read} bytes read of ${size}`);
  const page = await log.query({ limit: 3, cursor: 1000 });
  t.match(page.records[0], { ...syntheticEntry(999), v: 1, seq: 999 }, 'content of a record found by binary search');
  t.equal(page.records[0]!.prev, page.records[1]!.hash, 'and its chain link');
});

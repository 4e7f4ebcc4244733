import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { nodeAuditFs } from '../../src/audit/audit-fs.ts';
import { openFileAuditLog } from '../../src/audit/file-log.ts';
import { CHUNK_BYTES } from '../../src/audit/line-reader.ts';
import { listSegments } from '../../src/audit/segments.ts';
import { verifyAuditLog } from '../../src/audit/verify.ts';
import { verifyPage } from '../../src/routes/audit-verify.ts';
import { faultyFs } from './helpers.ts';
import { writeSyntheticLog } from './synthetic-log.ts';

// two files of ~2 MiB: the first sealed (its end is its size), the second the newest
const COUNT = 6000;
const MAX_FILE = 2 * 1024 * 1024;
/** what a query that finds its place by binary search reads at most (as in large-log.test.ts) */
const SEARCH_BYTES = 24 * 4096 + 3 * CHUNK_BYTES;

/**
 * Overwrites `n` whole lines of the first file with bytes that do not parse, from the line the
 * cursor search's first probe meets (the first one starting at or after the middle of the file),
 * keeping every offset. Returns the file, the seqs lost (of lines not damaged before) and the
 * 1-based line number of the first.
 */
async function damageMiddle(dir: string, n: number): Promise<{ file: string; seqs: number[]; line: number }> {
  const [first] = await listSegments(nodeAuditFs, dir);
  const path = join(dir, first!.name);
  const bytes = readFileSync(path);
  let at = bytes.indexOf(0x0a, Math.floor(bytes.length / 2) - 1) + 1;
  const line = bytes.subarray(0, at).filter((b) => b === 0x0a).length + 1;
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) {
    const end = bytes.indexOf(0x0a, at);
    if (bytes[at] === 0x7b) seqs.push((JSON.parse(bytes.subarray(at, end).toString('utf8')) as { seq: number }).seq);
    bytes.fill('#'.charCodeAt(0), at, end);
    at = end + 1;
  }
  writeFileSync(path, bytes);
  return { file: first!.name, seqs, line };
}

/** The file log over `dir`, and `read`: what a call returns and the bytes it read. */
async function openLog(t: { teardown(fn: () => unknown): void }, dir: string, scanLimit?: number) {
  const ffs = faultyFs();
  const log = await openFileAuditLog({ dir, fs: ffs.fs, fsync: false, ...(scanLimit ? { scanLimit } : {}) });
  t.teardown(() => log.close());
  const read = async <T>(run: () => Promise<T>): Promise<{ out: T; bytes: number }> => {
    const before = ffs.state.bytesRead;
    const out = await run();
    return { out, bytes: ffs.state.bytesRead - before };
  };
  return { log, read };
}

t.test('a damaged line met by the cursor search costs a few lines, not the rest of its file, and is never a record', async (t) => {
  const dir = t.testdir();
  writeSyntheticLog(dir, COUNT, { maxFileBytes: MAX_FILE });
  const segments = await listSegments(nodeAuditFs, dir);
  t.equal(segments.length, 2, 'two files');
  const damaged = await damageMiddle(dir, 3);
  const { log, read } = await openLog(t, dir);
  const firstOfSecond = segments[1]!.firstSeq;
  const lost = new Set(damaged.seqs);
  const wrong: string[] = [];
  let most = 0;
  // cursors over the whole first file, and each one around the damage
  const cursors = new Set<number>([firstOfSecond - 1, firstOfSecond - 200, 5, 400, 1500]);
  for (let s = damaged.seqs[0]! - 3; s <= damaged.seqs.at(-1)! + 4; s++) cursors.add(s);
  for (const cursor of cursors) {
    const { out, bytes } = await read(() => log.query({ limit: 5, cursor }));
    const want: number[] = [];
    for (let s = cursor - 1; s >= 1 && want.length < 5; s--) if (!lost.has(s)) want.push(s);
    const got = out.records.map((r) => r.seq);
    if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`cursor ${cursor}: ${got} != ${want}`);
    if (out.records.some((r) => typeof r.hash !== 'string')) wrong.push(`cursor ${cursor}: a record without a hash`);
    most = Math.max(most, bytes);
  }
  t.same(wrong, [], `${cursors.size} cursors: the records below each, the damaged ones (${damaged.seqs.join(', ')}) left out`);
  t.ok(most <= SEARCH_BYTES, `at most ${most} bytes read per query (<= ${SEARCH_BYTES}) of a ${MAX_FILE}-byte file`);

  // what the chain checks say of it
  const full = await verifyAuditLog(dir);
  t.match(full, { ok: false, count: damaged.seqs[0]! - 1, firstBroken: { seq: null, reason: 'not valid JSON', file: damaged.file, line: damaged.line } }, 'the full walk names the first damaged line');
  const around = (await log.query({ limit: 10, cursor: damaged.seqs.at(-1)! + 4 })).records;
  t.match(await verifyPage(log, around), { scope: 'range', ok: false, firstBroken: { seq: damaged.seqs.at(-1)! + 1, reason: `seq ${damaged.seqs.at(-1)! + 1} follows seq ${damaged.seqs[0]! - 1}` } }, 'a page check across it names the gap');
});

t.test('damaged lines the cursor search meets: stepped over cheaply up to the scan budget, past it the search scans its range, and the page is whole either way (never the same cursor again)', async (t) => {
  const SCAN = 50;
  const dir = t.testdir();
  writeSyntheticLog(dir, COUNT, { maxFileBytes: MAX_FILE });
  const firstOfSecond = (await listSegments(nodeAuditFs, dir))[1]!.firstSeq;
  const cursor = firstOfSecond - 10;
  const below = (n: number) => Array.from({ length: n }, (_, i) => cursor - 1 - i);

  // fewer damaged lines than the budget: stepped over, a bounded read
  await damageMiddle(dir, SCAN / 2);
  const a = await openLog(t, dir, SCAN);
  const page = await a.read(() => a.log.query({ limit: 5, cursor }));
  t.same(page.out.records.map((r) => r.seq), below(5), 'the page below the cursor');
  t.equal(page.out.partial, false, 'not partial');
  t.ok(page.bytes <= SEARCH_BYTES, `${page.bytes} bytes read`);
  await a.log.close();

  // more than the budget, in one run where the search's first probe lands: it scans the rest of
  // its range (at most the file), and the page is whole, going on below it
  await damageMiddle(dir, SCAN * 4);
  const b = await openLog(t, dir, SCAN);
  const whole = await b.read(() => b.log.query({ limit: 5, cursor }));
  t.same(whole.out.records.map((r) => r.seq), below(5), 'the page below the cursor');
  t.equal(whole.out.partial, false, 'not partial');
  t.equal(whole.out.nextCursor, cursor - 5, 'and the next page goes on below it');
  t.ok(whole.bytes <= MAX_FILE + SEARCH_BYTES, `${whole.bytes} bytes read: at most the file`);
});

import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { nodeAuditFs, type AuditFs } from '../../src/audit/audit-fs.ts';
import { openFileAuditLog } from '../../src/audit/file-log.ts';
import { AuditUnavailableError } from '../../src/audit/log.ts';
import { segmentName } from '../../src/audit/segments.ts';
import { verifyAuditLog } from '../../src/audit/verify.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { entry, waitFor } from './helpers.ts';

const DAY1 = '2026-11-26T10:00:00.000Z';
const DAY2 = '2026-11-27T00:00:01.000Z';

/** the real fs, whose opens for writing can be held (an NFS CREATE stuck in a partition) */
function holdingOpens() {
  const hold = { armed: false, waiting: [] as (() => void)[] };
  const fs: AuditFs = {
    ...nodeAuditFs,
    open: async (path, flags) => {
      if (hold.armed && flags !== 'r' && flags !== 'r+') await new Promise<void>((r) => hold.waiting.push(r));
      return nodeAuditFs.open(path, flags);
    },
  };
  return { fs, hold };
}

t.test('a stale gate whose file create lands after another gate took the directory over must not destroy that gate\'s acknowledged records', async (t) => {
  const dir = await tempDir(t, 'gate-stale-writer-');
  const a = holdingOpens();
  let aWriter = true;
  const gateA = await openFileAuditLog({ dir, fs: a.fs, recoveryProbeMs: 3_600_000, stallMs: 0, isWriter: () => aWriter });
  for (let i = 1; i <= 3; i++) await gateA.append([entry(i, { at: DAY1 })]);
  // just after midnight UTC gate A's next batch starts a new day's file; its create is stuck (a
  // partitioned NFS client retrying the CREATE) past its lease
  a.hold.armed = true;
  const stale = gateA.append([entry(4, { at: DAY2 })]);
  await waitFor(() => a.hold.waiting.length > 0);
  aWriter = false;
  // gate B takes the directory over, reads the log (head 3) and acknowledges two decisions
  const gateB = await openFileAuditLog({ dir, recoveryProbeMs: 3_600_000, stallMs: 0 });
  t.equal(gateB.head().seq, 3);
  const acked = [...(await gateB.append([entry(100, { at: DAY2 })])), ...(await gateB.append([entry(101, { at: DAY2 })]))];
  t.same(acked.map((r) => r.seq), [4, 5], 'gate B acknowledged seqs 4 and 5');
  t.comment(`files: ${readdirSync(dir).join(', ')}`);
  // the partition heals: gate A's create lands, its write and fsync follow, then it sees it lost the lock
  a.hold.armed = false;
  a.hold.waiting.splice(0).forEach((r) => r());
  await t.rejects(stale, AuditUnavailableError, 'gate A does not answer its stale write as recorded');
  await gateA.close();
  await gateB.close();
  t.comment(`files: ${readdirSync(dir).join(', ')}`);
  const fresh = await openFileAuditLog({ dir, recoveryProbeMs: 3_600_000 }).catch((err: Error) => err);
  if (fresh instanceof Error) {
    t.fail(`the log no longer opens: ${fresh.message}`);
  } else {
    const ids = (await fresh.since(0)).map((r) => r.id);
    await fresh.close();
    t.ok(ids.includes('dec-100') && ids.includes('dec-101'), `gate B's acknowledged records are still in the log (found ${ids.join(',')})`);
  }
  t.match(await verifyAuditLog(dir), { ok: true }, 'the log verifies');
});

// The other order: the stale gate's create lands after the new holder read the head and before
// its first append, under the very name that append creates. Empty, it holds nothing: the holder's
// recovery removes it and goes on writing. With bytes in it, it may hold another gate's records:
// left alone, and the log stays closed.
for (const leftover of [
  { what: 'empty', bytes: '', recovers: true },
  { what: 'holding bytes', bytes: '{"seq":4}\n', recovers: false },
]) {
  t.test(`a stale gate's create that lands before the holder's first write (${leftover.what})`, async (t) => {
    const dir = await tempDir(t, 'gate-stale-writer-');
    const first = await openFileAuditLog({ dir, recoveryProbeMs: 3_600_000, stallMs: 0 });
    for (let i = 1; i <= 3; i++) await first.append([entry(i, { at: DAY1 })]);
    await first.close();
    const gateB = await openFileAuditLog({ dir, recoveryProbeMs: 50, stallMs: 0 });
    t.equal(gateB.head().seq, 3);
    // gate A read the same head: its next file, for the next day, bears the name B's next one does
    writeFileSync(join(dir, segmentName('20261127', 4)), leftover.bytes);
    await t.rejects(gateB.append([entry(100, { at: DAY2 })]), AuditUnavailableError, "B's first write finds the name taken: 503");
    t.equal(gateB.writable(), false);
    if (leftover.recovers) {
      await waitFor(() => gateB.writable());
      const [rec] = await gateB.append([entry(101, { at: DAY2 })]);
      t.equal(rec!.seq, 4, 'B writes on, at the head it read');
      await gateB.close();
      t.match(await verifyAuditLog(dir), { ok: true }, 'the log verifies');
    } else {
      await new Promise((r) => setTimeout(r, 300));
      t.equal(gateB.writable(), false, 'a file with bytes in it is left alone: the log stays closed');
      t.equal(readFileSync(join(dir, segmentName('20261127', 4)), 'utf8'), leftover.bytes, 'and the file as it was');
      await gateB.close();
    }
  });
}

t.test('an empty newer file is left alone when this gate loses the directory while its repair looks at it', async (t) => {
  const dir = await tempDir(t, 'gate-stale-writer-');
  const first = await openFileAuditLog({ dir, recoveryProbeMs: 3_600_000, stallMs: 0 });
  for (let i = 1; i <= 3; i++) await first.append([entry(i, { at: DAY1 })]);
  await first.close();
  const name = segmentName('20261127', 4);
  // the repair's look at the empty file stalls (NFS), and the lease lapses meanwhile: the file
  // may now be the next file of the gate that took the directory over
  let writer = true;
  let stalled: (() => void) | null = null;
  const fs: AuditFs = {
    ...nodeAuditFs,
    open: async (path, flags) => {
      if (flags === 'r' && path.endsWith(name) && stalled === null) await new Promise<void>((r) => (stalled = r));
      return nodeAuditFs.open(path, flags);
    },
  };
  const gateB = await openFileAuditLog({ dir, fs, recoveryProbeMs: 3_600_000, stallMs: 0, isWriter: () => writer });
  writeFileSync(join(dir, name), '');
  await t.rejects(gateB.append([entry(100, { at: DAY2 })]), AuditUnavailableError);
  // the next append asks for a repair, which stalls on the look
  const retry = gateB.append([entry(101, { at: DAY2 })]).catch((e: Error) => e);
  await waitFor(() => stalled !== null);
  writer = false;
  (stalled as unknown as () => void)();
  t.type(await retry, AuditUnavailableError, 'not written');
  t.ok(readdirSync(dir).includes(name), 'the file is still there');
  await gateB.close();
});

t.test("a repair that stalls past the lease cuts nothing off the newest file, which the gate that took over appends to", async (t) => {
  const dir = await tempDir(t, 'gate-stale-writer-');
  const first = await openFileAuditLog({ dir, recoveryProbeMs: 3_600_000, stallMs: 0 });
  for (let i = 1; i <= 3; i++) await first.append([entry(i, { at: DAY1 })]);
  await first.close();
  const durableFile = readdirSync(dir).find((n) => n.endsWith('.jsonl'))!;
  let writer = true;
  let armed = false;
  let stalled: (() => void) | null = null;
  const fs: AuditFs = {
    ...nodeAuditFs,
    open: async (path, flags) => {
      // the repair reopens the newest durable file to cut it back: that open stalls (NFS)
      if (armed && flags === 'r+' && path.endsWith(durableFile) && stalled === null) await new Promise<void>((r) => (stalled = r));
      return nodeAuditFs.open(path, flags);
    },
  };
  const gateB = await openFileAuditLog({ dir, fs, recoveryProbeMs: 3_600_000, stallMs: 0, isWriter: () => writer });
  // a batch of B's fails (another gate's create in the way of its next day's file)
  writeFileSync(join(dir, segmentName('20261127', 4)), '');
  await t.rejects(gateB.append([entry(100, { at: DAY2 })]), AuditUnavailableError);
  armed = true;
  const retry = gateB.append([entry(101, { at: DAY2 })]).catch((e: Error) => e);
  await waitFor(() => stalled !== null);
  // meanwhile B's lease lapses and gate C, which took the directory over, appends a record
  writer = false;
  const before = readFileSync(join(dir, durableFile), 'utf8');
  appendFileSync(join(dir, durableFile), '{"seq":4,"by":"gate C"}\n');
  (stalled as unknown as () => void)();
  t.type(await retry, AuditUnavailableError, 'B does not write');
  t.equal(readFileSync(join(dir, durableFile), 'utf8'), `${before}{"seq":4,"by":"gate C"}\n`, "C's record is still there");
  await gateB.close();
});

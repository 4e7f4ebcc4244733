import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { nodeAuditFs, type AuditFs } from '../../src/audit/audit-fs.ts';
import { hashRecord } from '../../src/audit/canonical-json.ts';
import { GENESIS_HASH, type AuditEventV1 } from '../../src/audit/event.ts';
import { openFileAuditLog } from '../../src/audit/file-log.ts';
import { parseEntries, sealRecord } from '../../src/audit/record.ts';
import { verifyAuditLog } from '../../src/audit/verify.ts';
import { entry, faultyFs } from './helpers.ts';

function readAll(dir: string): { file: string; records: AuditEventV1[] }[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .map((file) => ({
      file,
      records: readFileSync(join(dir, file), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEventV1),
    }));
}

function assertChain(t: Test, records: AuditEventV1[]): void {
  let prev = GENESIS_HASH;
  records.forEach((r, i) => {
    t.equal(r.seq, i + 1, `seq ${i + 1}`);
    t.equal(r.prev, prev, `prev of seq ${r.seq}`);
    t.equal(r.hash, hashRecord(r.prev, r), `hash of seq ${r.seq} recomputes`);
    prev = r.hash;
  });
}

t.test('appends chain records, in one file, and the returned records are what is stored', async (t) => {
  const dir = t.testdir();
  const log = await openFileAuditLog({ dir });
  t.same(log.head(), { seq: 0, hash: GENESIS_HASH }, 'empty log head is genesis');
  const a = await log.append([entry(1)]);
  const b = await log.append([entry(2), entry(3)]);
  const c = await log.append([entry(4)]);
  t.same([...a, ...b, ...c].map((r) => r.seq), [1, 2, 3, 4]);
  t.same(log.head(), { seq: 4, hash: c[0]!.hash });
  await log.close();
  const files = readAll(dir);
  t.equal(files.length, 1);
  t.equal(files[0]!.file, 'audit-20261126-000000000001.jsonl');
  t.same(files[0]!.records, [...a, ...b, ...c], 'file holds exactly the returned records');
  assertChain(t, files[0]!.records);
  t.match(await verifyAuditLog(dir), { ok: true, count: 4, files: 1, head: { seq: 4, hash: c[0]!.hash } });
});

t.test('entries become plain JSON; a bad entry is refused alone', async (t) => {
  const dir = t.testdir();
  const log = await openFileAuditLog({ dir });
  const [rec] = await log.append([entry(1, { data: { when: new Date('2026-01-02T03:04:05Z'), gone: undefined } as Record<string, unknown> })]);
  t.same(rec!.data, { when: '2026-01-02T03:04:05.000Z' });
  const bad = { ...entry(2), type: 'nope' } as unknown as ReturnType<typeof entry>;
  await t.rejects(log.append([entry(2), bad]), TypeError);
  t.same(await log.append([]), [], 'empty append is a no-op');
  const [next] = await log.append([entry(3)]);
  t.equal(next!.seq, 2, 'the refused append used no seq');
  await log.close();
  t.match(await verifyAuditLog(dir), { ok: true, count: 2 });
});

t.test('day rollover: by the record at (UTC), and by now() when at is not an instant', async (t) => {
  const cases = [
    {
      name: 'record at crosses midnight UTC',
      ats: ['2026-11-26T23:59:59.999Z', '2026-11-27T00:00:00.000Z', '2026-11-27T09:00:00-05:00', '2026-11-28T00:00:00.000Z'],
      nows: [] as string[],
      files: ['audit-20261126-000000000001.jsonl', 'audit-20261127-000000000002.jsonl', 'audit-20261128-000000000004.jsonl'],
    },
    {
      name: 'injected now decides for an at that is not an instant',
      ats: ['not-an-instant', 'not-an-instant', 'not-an-instant'],
      nows: ['2026-11-26T12:00:00Z', '2026-11-26T23:00:00Z', '2026-11-27T01:00:00Z'],
      files: ['audit-20261126-000000000001.jsonl', 'audit-20261127-000000000003.jsonl'],
    },
    {
      // toISOString writes these years as +010000 / -000001: a name from them would not be an
      // audit file name, and start-up, queries and verify would never see the records in it
      name: 'an instant with no four-digit year is filed by now(), under a name the log lists',
      ats: ['2026-11-26T12:00:00.000Z', '+010000-01-01T00:00:00.000Z', '-000001-06-01T00:00:00.000Z', '2026-11-26T13:00:00.000Z'],
      nows: ['2026-11-26T12:00:00Z'],
      files: ['audit-20261126-000000000001.jsonl'],
    },
  ];
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const dir = t.testdir();
      let i = 0;
      const log = await openFileAuditLog({ dir, now: () => new Date(c.nows[Math.min(i, c.nows.length - 1)] ?? 0) });
      for (const at of c.ats) {
        await log.append([entry(i, { at })]);
        i += 1;
      }
      t.equal(log.stats().files, c.files.length);
      await log.close();
      const files = readAll(dir);
      t.same(files.map((f) => f.file), c.files);
      const all = files.flatMap((f) => f.records);
      assertChain(t, all);
      for (let f = 1; f < files.length; f++) {
        t.equal(files[f]!.records[0]!.prev, files[f - 1]!.records.at(-1)!.hash, `${files[f]!.file} starts from the previous file's last hash`);
      }
      t.match(await verifyAuditLog(dir), { ok: true, count: c.ats.length, files: c.files.length });
      const again = await openFileAuditLog({ dir });
      t.equal(again.head().seq, c.ats.length, 'reopened, the log holds every acknowledged record');
      await again.close();
    });
  }
});

t.test('size rollover: no file grows past maxFileBytes; an oversized record sits alone', async (t) => {
  const dir = t.testdir();
  const maxFileBytes = 2000;
  const log = await openFileAuditLog({ dir, maxFileBytes });
  for (let i = 0; i < 20; i++) await log.append([entry(i)]);
  await log.append([entry(99, { data: { blob: 'x'.repeat(5000) } })]);
  await Promise.all([log.append([entry(100)]), log.append([entry(101), entry(102)])]);
  await log.close();
  const files = readAll(dir);
  t.ok(files.length >= 5, `${files.length} files`);
  for (const f of files) {
    const size = statSync(join(dir, f.file)).size;
    if (f.records.some((r) => r.id === 'dec-99')) t.equal(f.records.length, 1, 'oversized record alone');
    else t.ok(size <= maxFileBytes, `${f.file} ${size} <= ${maxFileBytes}`);
    t.equal(f.file, `audit-20261126-${String(f.records[0]!.seq).padStart(12, '0')}.jsonl`, 'named after its first seq');
  }
  assertChain(t, files.flatMap((f) => f.records));
  t.match(await verifyAuditLog(dir), { ok: true, count: 24 });
});

t.test('one append spanning a day change lands in two files and stays one group', async (t) => {
  const dir = t.testdir();
  const log = await openFileAuditLog({ dir });
  await log.append([entry(0, { at: '2026-11-26T12:00:00.000Z' })]);
  const group = await log.append([entry(1, { at: '2026-11-26T23:59:59.000Z' }), entry(2, { at: '2026-11-27T00:00:01.000Z' })]);
  t.same(group.map((r) => r.seq), [2, 3]);
  t.equal(log.stats().batches, 2);
  await log.close();
  t.same(readAll(dir).map((f) => f.records.map((r) => r.seq)), [[1, 2], [3]]);
  t.match(await verifyAuditLog(dir), { ok: true, count: 3, files: 2 });
});

t.test('reopening continues the chain from the stored head', async (t) => {
  const dir = t.testdir();
  const first = await openFileAuditLog({ dir });
  await first.append([entry(1), entry(2)]);
  const head = first.head();
  await first.close();
  const second = await openFileAuditLog({ dir });
  t.same(second.head(), head);
  const [r] = await second.append([entry(3)]);
  t.equal(r!.seq, 3);
  t.equal(r!.prev, head.hash);
  await second.close();
  await t.rejects(second.append([entry(4)]), { name: 'AuditUnavailableError' }, 'closed log refuses');
  t.equal(second.writable(), false);
  t.match(await verifyAuditLog(dir), { ok: true, count: 3 });
});

/** A log of two records (seq 1, 2) that an earlier gate wrote and closed: its one file's name and bytes. */
async function writtenByAnEarlierGate(dir: string): Promise<{ old: string; oldBytes: Buffer }> {
  const first = await openFileAuditLog({ dir });
  await first.append([entry(1), entry(2)]);
  await first.close();
  const [old] = readdirSync(dir);
  return { old: old!, oldBytes: readFileSync(join(dir, old!)) };
}

t.test('a first append after a start larger than one write goes whole into the file of its own, the earlier file untouched', async (t) => {
  const dir = t.testdir();
  const { old, oldBytes } = await writtenByAnEarlierGate(dir);
  const ffs = faultyFs();
  const second = await openFileAuditLog({ dir, fs: ffs.fs });
  const pad = 'x'.repeat(900);
  await second.append(Array.from({ length: 100 }, (_, i) => entry(3 + i, { data: { pad } })));
  await second.close();
  t.ok(ffs.state.writes.length >= 2, `${ffs.state.writes.length} writes`);
  t.same(readFileSync(join(dir, old)), oldBytes, "the earlier gate's file is untouched");
  t.same(readAll(dir).map((f) => [f.file, f.records.length]), [[old, 2], ['audit-20261126-000000000003.jsonl', 100]], 'every record of the append in the new file');
  t.match(await verifyAuditLog(dir), { ok: true, count: 102 });
});

t.test('after a start the first append begins a file of its own: the file an earlier gate wrote is never written again', async (t) => {
  const dir = t.testdir();
  const { old, oldBytes } = await writtenByAnEarlierGate(dir);
  const second = await openFileAuditLog({ dir });
  await second.append([entry(3)]);
  await second.append([entry(4)]);
  t.same(readFileSync(join(dir, old)), oldBytes, "the earlier gate's file is untouched");
  t.same(readdirSync(dir).sort(), [old, 'audit-20261126-000000000003.jsonl'], 'the new records are in a file named after the first of them');
  t.same(readAll(dir)[1]!.records.map((r) => r.seq), [3, 4], 'and later appends of the same gate continue it');
  // what a partitioned node's NFS client may flush once it is back: the earlier gate's last,
  // never acknowledged write, at the end of the earlier file. It overwrites nothing acknowledged
  const staleLine = readFileSync(join(dir, old), 'utf8').split('\n')[1]!.replace('"seq":2', '"seq":3').replace('dec-2', 'dec-STALE');
  writeFileSync(join(dir, old), Buffer.concat([oldBytes, Buffer.from(`${staleLine}\n`)]));
  const ids = (rs: AuditEventV1[]) => rs.map((r) => `${r.seq}:${r.id}`);
  t.same(ids(await second.since(1)), ['2:dec-2', '3:dec-3', '4:dec-4'], 'a replay reads the acknowledged records only, not the stray line');
  t.same(ids((await second.query({ limit: 10 })).records), ['4:dec-4', '3:dec-3', '2:dec-2', '1:dec-1'], 'and so does /v1/audit');
  await second.close();
  t.match(await verifyAuditLog(dir), { ok: false }, 'and audit verify reports the stray line for the operator to remove');
});

t.test("a stale gate's late write that chains on (sealed as a gate seals it): verify names that line, not the next file's acknowledged first record, and the gate starts", async (t) => {
  const dir = t.testdir();
  const { old, oldBytes } = await writtenByAnEarlierGate(dir);
  const second = await openFileAuditLog({ dir });
  const [acknowledged] = await second.append([entry(3)]);
  await second.close();
  // the earlier gate's own next record, sealed on its last one as it would have written it
  const last = readAll(dir)[0]!.records[1]!;
  const [stale] = parseEntries([entry(3, { id: 'dec-STALE' })]);
  const { line } = sealRecord(stale!, 3, last.hash);
  writeFileSync(join(dir, old), Buffer.concat([oldBytes, Buffer.from(line)]));
  const verified = await verifyAuditLog(dir);
  t.match(verified, { ok: false, count: 2, firstBroken: { seq: 3, file: old, line: 3 } }, 'the break is the stray line, in the earlier file');
  t.match(verified.ok ? '' : verified.firstBroken.reason, /seq 3 belongs to the next file, audit-20261126-000000000003\.jsonl, which starts at seq 3/);
  // the newest file holds one record: start-up links it across files, past the stray line
  const third = await openFileAuditLog({ dir });
  t.same(third.head(), { seq: 3, hash: acknowledged!.hash }, 'the head is the acknowledged record');
  await third.close();
});

t.test('a file renamed to a lower first seq is still reported at that file, not as a late write in the file before', async (t) => {
  const dir = t.testdir();
  const first = await openFileAuditLog({ dir });
  await first.append([entry(1), entry(2)]);
  await first.close();
  const second = await openFileAuditLog({ dir });
  await second.append([entry(3), entry(4)]);
  await second.close();
  const third = await openFileAuditLog({ dir });
  await third.append([entry(5)]);
  await third.close();
  // the file holding 3..4 renamed as if it began at 2: the file before holds seq 2 legitimately
  const { renameSync } = await import('node:fs');
  renameSync(join(dir, 'audit-20261126-000000000003.jsonl'), join(dir, 'audit-20261126-000000000002.jsonl'));
  const verified = await verifyAuditLog(dir);
  t.match(verified, { ok: false, firstBroken: { file: 'audit-20261126-000000000002.jsonl', line: 1 } });
  t.match(verified.ok ? '' : verified.firstBroken.reason, /file name says the first seq is 2/);
});

t.test('close() flushes appends still queued', async (t) => {
  const dir = t.testdir();
  const log = await openFileAuditLog({ dir });
  const pending = Array.from({ length: 10 }, (_, i) => log.append([entry(i)]));
  await log.close();
  const done = await Promise.all(pending);
  t.same(done.map((r) => r[0]!.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  t.match(await verifyAuditLog(dir), { ok: true, count: 10 });
});

t.test('one write takes under 64 KiB of queued appends (the start-up tail read), the rest the next, in order; so does a single larger append, but for a record over 64 KiB alone', async (t) => {
  const dir = t.testdir();
  const ffs = faultyFs();
  const writes = ffs.state.writes;
  const log = await openFileAuditLog({ dir, fs: ffs.fs });
  const pad = 'x'.repeat(900);
  // 200 appends of ~1.2 KB queued at once: some 240 KB, so at least four writes
  const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => log.append([entry(i + 1, { data: { pad } })])));
  t.same(answers.map((rs) => rs[0]!.seq), Array.from({ length: 200 }, (_, i) => i + 1), 'every append answered, in order');
  t.ok(writes.length >= 4, `${writes.length} writes`);
  t.ok(writes.every((w) => w.bytes < 64 * 1024), `each under 64 KiB (largest ${Math.max(...writes.map((w) => w.bytes))})`);
  writes.length = 0;
  const [big] = await log.append([entry(201, { data: { pad: 'y'.repeat(100_000) } })]);
  t.equal(big!.seq, 201);
  t.same(writes.length, 1, 'a single record over 64 KiB is one write');
  // one append of 100 records, some 120 KB (an expiry sweep of many grants): several writes,
  // each under 64 KiB and fsynced before the next, answered after the last
  writes.length = 0;
  const syncsBefore = ffs.calls.datasync;
  const head = log.head();
  const group = await log.append(Array.from({ length: 100 }, (_, i) => entry(202 + i, { data: { pad } })));
  t.same(group.map((r) => r.seq), Array.from({ length: 100 }, (_, i) => 202 + i), 'the whole append answered, consecutive seqs');
  t.equal(group[0]!.prev, head.hash, 'chained to the head before it');
  t.ok(writes.length >= 2, `${writes.length} writes`);
  t.ok(writes.every((w) => w.bytes < 64 * 1024), `each under 64 KiB (largest ${Math.max(...writes.map((w) => w.bytes))})`);
  t.ok(writes.every((w, i) => i === 0 || (w.path === writes[i - 1]!.path && w.at === writes[i - 1]!.at + writes[i - 1]!.bytes)), 'one after the other in one file');
  t.equal(ffs.calls.datasync - syncsBefore, writes.length, 'one fdatasync a write');
  // close() writes out what is still queued beyond one write's worth
  const queued = Array.from({ length: 100 }, (_, i) => log.append([entry(302 + i, { data: { pad } })]));
  await log.close();
  t.same((await Promise.all(queued)).map((rs) => rs[0]!.seq).at(-1), 401, 'close() flushed all of them');
  t.match(await verifyAuditLog(dir), { ok: true, count: 401 });
});

t.test('appends made while a batch over 64 KiB is being checked get their seqs after the rest of that batch: call order', async (t) => {
  const dir = t.testdir();
  let during: (() => void) | null = null;
  // the audit fs, with a hook run at its next stat of a path: the check of the newest file that
  // starts a batch, after the batch is taken from the queue and before it is sealed and split
  const hooked: AuditFs = {
    ...nodeAuditFs,
    stat: (path) => {
      const hook = during;
      during = null;
      hook?.();
      return nodeAuditFs.stat(path);
    },
  };
  const log = await openFileAuditLog({ dir, fs: hooked });
  t.teardown(() => log.close());
  const pad = 'x'.repeat(900);
  await log.append([entry(1, { data: { pad } })]);
  const late: Promise<{ seq: number }[]>[] = [];
  during = () => {
    for (let i = 0; i < 5; i++) late.push(log.append([entry(1000 + i, { data: { pad } })]));
  };
  // 100 appends of ~1.2 KB queued at once: one batch, written in parts under 64 KiB
  const first = await Promise.all(Array.from({ length: 100 }, (_, i) => log.append([entry(i + 2, { data: { pad } })])));
  const after = await Promise.all(late);
  t.equal(late.length, 5, 'five appends came while the batch was checked');
  t.same(first.map((rs) => rs[0]!.seq), Array.from({ length: 100 }, (_, i) => i + 2), 'the batch: seqs 2..101, in call order');
  t.same(after.map((rs) => rs[0]!.seq), [102, 103, 104, 105, 106], 'those made meanwhile: after all of it');
  t.match(await verifyAuditLog(dir), { ok: true, count: 106 });
});

import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { createMemoryAuditLog } from '../../src/audit/memory-log.ts';
import { parseConfig } from '../../src/config.ts';
import { replayAuditTail } from '../../src/gate/recorder.ts';
import { applyRecord } from '../../src/policy/apply-record.ts';
import { type GateState, emptyState } from '../../src/policy/state.ts';
import { openLowdbStore } from '../../src/store/lowdb-store.ts';
import { createMemoryStore } from '../../src/store/memory-store.ts';
import { createWriteCoalescer } from '../../src/store/store.ts';
import { DurableJsonFile } from '../../src/store/durable-json-file.ts';
import { eventually } from '../helpers/eventually.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const config = parseConfig({});
const fresh = () => emptyState(config.stages);
const actor = { name: 'admin', groups: ['admin'], via: 'local-token' as const };
const toggle = (stage: string, enabled: boolean, at: string) => ({
  at, type: 'stage.toggled' as const, id: `req_${at}`, actor, requestedBy: null, project: 'stonks-pipeline', stage, imageTag: null, promotion: null,
  decision: null, reasons: [], breakGlass: null, approval: null, data: { enabled, note: 'test' },
});

t.test('write coalescer: each update is covered by a write that started after it; writes do not overlap', async (t) => {
  let running = 0;
  let overlapped = false;
  let writes = 0;
  const c = createWriteCoalescer(async () => {
    running++;
    if (running > 1) overlapped = true;
    writes++;
    await new Promise((r) => setTimeout(r, 10));
    running--;
  });
  await Promise.all(Array.from({ length: 50 }, () => c.schedule()));
  t.notOk(overlapped, 'never two writes at once');
  t.ok(writes <= 2, `50 updates, ${writes} writes`);
  let fail = true;
  const f = createWriteCoalescer(async () => {
    if (fail) throw new Error('disk full');
  });
  await t.rejects(f.schedule(), /disk full/);
  t.match(f.lastError()?.message, /disk full/);
  fail = false;
  await f.schedule();
  t.equal(f.lastError(), null, 'recovers');
});

t.test('lowdb store: atomic file, survives reopen, refuses another version', async (t) => {
  const dir = await tempDir(t, 'state-');
  const file = join(dir, 'state.json');
  const s = await openLowdbStore(file, fresh, { minIntervalMs: 0 });
  const result = await s.update((st) => {
    applyRecord(st, { ...toggle('paper', false, '2026-11-25T10:00:00.000Z'), v: 1, seq: 1, prev: '', hash: '' });
    return 'done';
  });
  t.equal(result, 'done');
  const again = await openLowdbStore(file, fresh);
  t.equal(again.read().stages.paper.enabled, false, 'persisted');
  await writeFile(file, JSON.stringify({ version: 2 }));
  await t.rejects(openLowdbStore(file, fresh), /version 2, expected 1/);
});

t.test('a toggle no admin has changed follows the configuration at start-up, as a state rebuilt from the audit log does', async (t) => {
  const dir = await tempDir(t, 'state-');
  const file = join(dir, 'state.json');
  const audit = createMemoryAuditLog();
  await audit.append([toggle('beta', false, '2026-11-25T10:00:00.000Z')]);
  await replayAuditTail(audit, await openLowdbStore(file, fresh, { minIntervalMs: 0 }));
  // the next start's configuration switches paper off, and beta on (the admin's switch wins there)
  const changed = parseConfig({}, 'stages:\n  paper: { enabled: false }\n  beta: { enabled: true }\n');
  const reopened = await openLowdbStore(file, () => emptyState(changed.stages));
  await replayAuditTail(audit, reopened);
  const rebuilt = createMemoryStore(emptyState(changed.stages));
  await replayAuditTail(audit, rebuilt);
  t.same(reopened.read().stages, rebuilt.read().stages, 'the checkpoint and a state rebuilt from the log agree');
  t.equal(reopened.read().stages.paper.enabled, false, 'never switched by an admin: the configuration');
  t.equal(reopened.read().stages.beta.enabled, false, "switched by an admin: the admin's value");
});

t.test('the checkpoint file: written whole through a temp file, or not at all', async (t) => {
  const dir = await tempDir(t, 'state-');
  const f = new DurableJsonFile<{ n: number }>(join(dir, 'state.json'));
  t.equal(await f.read(), null, 'no file yet: null');
  await f.write({ n: 1 });
  t.same(await f.read(), { n: 1 });
  t.same(await readdir(dir), ['state.json'], 'no temp file left behind');
  // a write that fails once its temp file exists (a BigInt cannot be serialised)
  await t.rejects(f.write({ n: 2n as unknown as number }), TypeError, 'a failed write rejects');
  t.same(JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')), { n: 1 }, 'and leaves the last checkpoint as it was');
  t.same(await readdir(dir), ['state.json'], 'and removes its temp file');
  await mkdir(join(dir, 'blocked'));
  await mkdir(join(dir, 'blocked', 'state.json', 'in-the-way'), { recursive: true });
  const blocked = new DurableJsonFile<{ n: number }>(join(dir, 'blocked', 'state.json'));
  await t.rejects(blocked.write({ n: 3 }), { code: 'EISDIR' }, 'a failed rename rejects');
  t.same(await readdir(join(dir, 'blocked')), ['state.json'], 'and removes its temp file too');
  await writeFile(join(dir, 'state.json'), '{"n":');
  await t.rejects(f.read(), SyntaxError, 'a torn file is an error, not an empty state');
});

t.test('the checkpoint\'s data is on disk (fdatasync of the temp file, whole) before the rename puts it at the name', async (t) => {
  const real = await import('node:fs/promises');
  const events: string[] = [];
  const { DurableJsonFile: Durable } = await t.mockImport<typeof import('../../src/store/durable-json-file.ts')>('../../src/store/durable-json-file.ts', {
    'node:fs/promises': {
      ...real,
      open: async (...args: Parameters<typeof real.open>) => {
        const fh = await real.open(...args);
        const { writeFile: write, datasync } = fh;
        fh.writeFile = (async (...a: Parameters<typeof fh.writeFile>) => {
          await write.apply(fh, a);
          events.push('write');
        }) as typeof fh.writeFile;
        fh.datasync = async () => {
          await datasync.apply(fh);
          events.push(`datasync ${(await fh.stat()).size} bytes`);
        };
        return fh;
      },
      rename: async (...args: Parameters<typeof real.rename>) => {
        events.push('rename');
        return real.rename(...args);
      },
    },
  });
  const dir = await tempDir(t, 'state-');
  const data = { n: 1, pad: 'x'.repeat(1000) };
  await new Durable<typeof data>(join(dir, 'state.json')).write(data);
  t.same(events, ['write', `datasync ${JSON.stringify(data).length} bytes`, 'rename'], 'written, then made durable whole, then renamed');
});

t.test('lowdb store throttles checkpoints but flush() writes at once', async (t) => {
  const dir = await tempDir(t, 'state-');
  const file = join(dir, 'state.json');
  const s = await openLowdbStore(file, fresh, { minIntervalMs: 60_000 });
  await s.update((st) => void (st.stages.beta.enabled = false));
  void s.update((st) => void (st.stages.live.enabled = false)); // waits for the throttle
  const started = Date.now();
  await s.flush();
  t.ok(Date.now() - started < 5000, `flush returned after ${Date.now() - started} ms, not after the throttle`);
  const onDisk = JSON.parse(await readFile(file, 'utf8'));
  t.equal(onDisk.stages.live.enabled, false, 'flush writes the latest state without waiting a minute');
});

t.test('flush() makes the checkpoint durable: the directory is fsynced after the rename, so a power cut cannot bring the one before back', async (t) => {
  const dir = await tempDir(t, 'state-');
  const file = join(dir, 'state.json');
  const synced: (boolean | null)[] = [];
  const s = await openLowdbStore(file, fresh, {
    minIntervalMs: 60_000,
    // what the renamed file holds when the directory is fsynced
    syncDir: async () => void synced.push((JSON.parse(await readFile(file, 'utf8')) as GateState).stages.live.enabled),
  });
  s.apply((st) => void (st.stages.live.enabled = false));
  await s.flush();
  t.same(synced, [false], 'one directory fsync, after the file holding the change was renamed into place');
  // the real one, on a real directory
  const real = await openLowdbStore(join(dir, 'real.json'), fresh, { minIntervalMs: 0 });
  real.apply((st) => void (st.stages.beta.enabled = false));
  await real.flush();
  t.equal(JSON.parse(await readFile(join(dir, 'real.json'), 'utf8')).stages.beta.enabled, false);
});

t.test('replay: a checkpoint behind the log catches up; one ahead of it is refused', async (t) => {
  const audit = createMemoryAuditLog();
  await audit.append([toggle('beta', false, '2026-11-25T10:00:00.000Z'), toggle('paper', false, '2026-11-25T10:01:00.000Z')]);
  const store = createMemoryStore(fresh());
  await store.update((st) => {
    for (const r of audit.records().slice(0, 1)) applyRecord(st, r);
  });
  t.equal(await replayAuditTail(audit, store), 1, 'one record replayed');
  t.equal(store.read().stages.paper.enabled, false);
  t.equal(store.read().auditSeq, 2);
  t.equal(await replayAuditTail(audit, store), 0, 'idempotent');
  const ahead = createMemoryStore({ ...fresh(), auditSeq: 5 });
  await t.rejects(replayAuditTail(audit, ahead), /state file is at audit seq 5 but the audit log ends at seq 2/);
  // the advice: the missing records back; a rebuild only as the last resort, with what it costs
  const refusal = await replayAuditTail(audit, ahead, '/data/audit').catch((err: Error) => err.message);
  t.match(refusal, /seqs 3\.\.5 are missing from \/data\/audit/, 'names the missing seqs and the directory');
  t.match(refusal, /put the audit file holding them back .*then start the gate again/);
  t.match(refusal, /Only if they are lost for good: moving the state file aside .* undoes every change they held \(break-glass grants and approvals spent or revoked in them are open again, stages switched off in them are on again, test results recorded in them are gone\) and gives their seqs to new records/);
  t.match(refusal, /Before promotions go on, check the stages, the open grants and approvals and the test results/);
  t.notMatch(refusal, /Restore the audit directory, or move the state file aside/, 'never offered as an equal choice');
  const one = createMemoryStore({ ...fresh(), auditSeq: 3 });
  t.match(await replayAuditTail(audit, one).catch((err: Error) => err.message), /seq 3 is missing from the audit directory/);
});

t.test('a state rebuilt from scratch replays a file log of several chunks, in order, and checkpoints it', async (t) => {
  const { openFileAuditLog } = await import('../../src/audit/file-log.ts');
  const dir = await tempDir(t, 'replay-');
  const audit = await openFileAuditLog({ dir: join(dir, 'audit'), fsync: false, maxFileBytes: 256 * 1024 });
  t.teardown(() => audit.close());
  // 2,501 toggles of paper, alternating: only an in-order fold of every one ends with it off
  const entries = Array.from({ length: 2501 }, (_, i) => toggle('paper', i % 2 === 1, new Date(Date.UTC(2026, 10, 25, 10, 0, i)).toISOString()));
  await audit.append(entries);
  t.ok(audit.stats().files > 1, 'the log spans several files');
  const file = join(dir, 'state.json');
  const store = await openLowdbStore(file, fresh);
  t.equal(await replayAuditTail(audit, store), 2501, 'every record replayed');
  t.equal(store.read().auditSeq, 2501);
  t.equal(store.read().stages.paper.enabled, false, 'the last toggle wins');
  const onDisk = JSON.parse(await readFile(file, 'utf8'));
  t.equal(onDisk.auditSeq, 2501, 'the checkpoint on disk is up to the head when the replay returns');
});

t.test('replay: records missing between the checkpoint and the head (older files moved away) refuse the rebuild, naming them', async (t) => {
  const { openFileAuditLog } = await import('../../src/audit/file-log.ts');
  const { rename } = await import('node:fs/promises');
  const dir = await tempDir(t, 'replay-gap-');
  const auditDir = join(dir, 'audit');
  const archive = join(dir, 'archive');
  await mkdir(archive);
  // seq 1 turns beta off; then paper is toggled 23 times, ending off: a fold that misses seq 1
  // leaves beta on, one that misses a toggle of paper gets paper wrong
  const write = await openFileAuditLog({ dir: auditDir, fsync: false, maxFileBytes: 2048 });
  await write.append([toggle('beta', false, '2026-11-25T10:00:00.000Z')]);
  for (let i = 1; i <= 23; i++) await write.append([toggle('paper', i % 2 === 0, new Date(Date.UTC(2026, 10, 25, 10, 1, i)).toISOString())]);
  const all: import('../../src/audit/event.ts').AuditEventV1[] = [];
  for await (const r of write.stream(0)) all.push(r);
  await write.close();
  const files = (await readdir(auditDir)).filter((f) => f.endsWith('.jsonl')).sort();
  t.ok(files.length >= 3, `${files.length} files`);
  const firstSeqOf = (f: string) => Number(/-(\d+)\.jsonl$/.exec(f)![1]);
  const endOfFirst = firstSeqOf(files[1]!) - 1;
  const endOfSecond = firstSeqOf(files[2]!) - 1;
  const replayFrom = async (upTo: number) => {
    const audit = await openFileAuditLog({ dir: auditDir, fsync: false, maxFileBytes: 2048 });
    t.teardown(() => audit.close());
    const store = createMemoryStore(fresh());
    await store.update((st) => {
      for (const r of all) if (r.seq <= upTo) applyRecord(st, r);
    });
    return { store, run: () => replayAuditTail(audit, store, auditDir) };
  };

  // the oldest file moved away and no checkpoint: refused, nothing folded
  await rename(join(auditDir, files[0]!), join(archive, files[0]!));
  const scratch = await replayFrom(0);
  const range = endOfFirst === 1 ? 'record 1 is' : `records 1\\.\\.${endOfFirst} are`;
  await t.rejects(scratch.run(), new RegExp(`cannot rebuild the state: the state checkpoint is at audit seq 0 and the log's head is seq 24, .*but ${range} not in ${auditDir} \\(the next record there is seq ${endOfFirst + 1}\\)\\. Put the archived audit files holding .* back into ${auditDir}, or restore the state checkpoint \\(state\\.json\\) that covers them`));
  t.equal(scratch.store.read().auditSeq, 0, 'nothing replayed');
  t.equal(scratch.store.read().stages.beta.enabled, true, 'no partial state');

  // a checkpoint that covers the moved file: the rest replays (archiving covered files is allowed)
  const covered = await replayFrom(endOfFirst);
  t.equal(await covered.run(), 24 - endOfFirst, 'the records after the checkpoint replayed');
  t.equal(covered.store.read().stages.beta.enabled, false);
  t.equal(covered.store.read().stages.paper.enabled, false);

  // the file put back: the whole log replays into the right state
  await rename(join(archive, files[0]!), join(auditDir, files[0]!));
  const whole = await replayFrom(0);
  t.equal(await whole.run(), 24, 'every record replayed');
  t.equal(whole.store.read().auditSeq, 24);
  t.equal(whole.store.read().stages.beta.enabled, false, 'beta off, from seq 1');
  t.equal(whole.store.read().stages.paper.enabled, false, 'paper off, from the last toggle');

  // a file missing in the middle, after the checkpoint: refused too
  await rename(join(auditDir, files[1]!), join(archive, files[1]!));
  const middle = await replayFrom(endOfFirst);
  const midRange = endOfSecond === endOfFirst + 1 ? `record ${endOfSecond} is` : `records ${endOfFirst + 1}\\.\\.${endOfSecond} are`;
  await t.rejects(middle.run(), new RegExp(`but ${midRange} not in .*the next record there is seq ${endOfSecond + 1}`));
  t.equal(middle.store.read().auditSeq, endOfFirst, 'nothing after the gap folded');
});

t.test('replay: a gap after the first chunk names the seq the replay began at; only the unbroken prefix was folded', async (t) => {
  const { openFileAuditLog } = await import('../../src/audit/file-log.ts');
  const { rename } = await import('node:fs/promises');
  const dir = await tempDir(t, 'replay-gap2-');
  const auditDir = join(dir, 'audit');
  const write = await openFileAuditLog({ dir: auditDir, fsync: false, maxFileBytes: 32 * 1024 });
  await write.append(Array.from({ length: 1500 }, (_, i) => toggle('paper', i % 2 === 1, new Date(Date.UTC(2026, 10, 25, 10, 0, i)).toISOString())));
  await write.close();
  const files = (await readdir(auditDir)).filter((f) => f.endsWith('.jsonl')).sort();
  const firstSeqOf = (f: string) => Number(/-(\d+)\.jsonl$/.exec(f)![1]);
  // the first file that starts after seq 1000 and is not the newest
  const k = files.findIndex((f, j) => firstSeqOf(f) > 1001 && j < files.length - 1);
  t.ok(k > 0, `a file after the first chunk (${files.length} files)`);
  await mkdir(join(dir, 'archive'));
  await rename(join(auditDir, files[k]!), join(dir, 'archive', files[k]!));
  const audit = await openFileAuditLog({ dir: auditDir, fsync: false, maxFileBytes: 32 * 1024 });
  t.teardown(() => audit.close());
  const store = createMemoryStore(fresh());
  await t.rejects(replayAuditTail(audit, store, auditDir), new RegExp(`the state checkpoint is at audit seq 0 and the log's head is seq 1500, so the state needs every record from seq 1 to 1500, but records ${firstSeqOf(files[k]!)}\\.\\.`));
  t.equal(store.read().auditSeq, 1000, 'the first chunk, before the gap, was folded: a consistent prefix');
});

t.test('applyRecord is idempotent by seq', async (t) => {
  const audit = createMemoryAuditLog();
  const [r] = await audit.append([toggle('live', false, '2026-11-25T10:00:00.000Z')]);
  const st = fresh();
  applyRecord(st, r!);
  st.stages.live.enabled = true;
  applyRecord(st, r!);
  t.equal(st.stages.live.enabled, true, 'an already-applied record changes nothing');
});

t.test('a corrupt state file stops start-up with its name and the way out', async (t) => {
  const dir = await tempDir(t, 'state-');
  const file = join(dir, 'state.json');
  await writeFile(file, '{"version": 1, "stages": {');
  await t.rejects(openLowdbStore(file, fresh), new RegExp(`state file ${file} cannot be read .*move it aside`));
  // a seq that is not one: named, not "audit since: not a seq" from deep in the replay
  for (const seq of ['"x"', '-1', '2.5', 'null']) {
    await writeFile(file, `{"version": 1, "auditSeq": ${seq}}`);
    await t.rejects(openLowdbStore(file, fresh), new RegExp(`state file ${file} has auditSeq ${seq.replace('.', '\\.')}, expected a whole number >= 0\\. .*move it aside`), `auditSeq ${seq}`);
  }
});

t.test('waiting promotions are bounded (the oldest-polled go first)', async (t) => {
  const { WAITING_KEPT } = await import('../../src/policy/state.ts');
  const audit = createMemoryAuditLog();
  const st = fresh();
  const base = Date.parse('2026-11-25T15:00:00Z');
  const entries = Array.from({ length: WAITING_KEPT + 300 }, (_, i) => ({
    at: new Date(base + i * 1000).toISOString(), type: 'decision' as const, id: `dec_${i}`, actor, requestedBy: null, project: 'stonks-pipeline', stage: 'paper',
    imageTag: 'abc', promotion: `paper.${i}`, decision: 'wait' as const, reasons: [{ code: 'market_open', message: 'open', effect: 'wait' as const }], breakGlass: null, approval: null, data: { skip: false, message: 'open' },
  }));
  for (const r of await audit.append(entries)) applyRecord(st, r);
  const n = Object.keys(st.waiting).length;
  t.ok(n <= WAITING_KEPT + 1024, `${n} kept (trimmed every 1024 records)`);
  t.notOk('stonks-pipeline/paper/paper.0' in st.waiting, 'the oldest is gone');
  t.ok(`stonks-pipeline/paper/paper.${WAITING_KEPT + 299}` in st.waiting, 'the newest stays');
});

t.test('lowdb store: no checkpoint once the gate no longer holds the data directory', async (t) => {
  const dir = await tempDir(t, 'state-');
  const file = join(dir, 'state.json');
  let holder = true;
  const s = await openLowdbStore(file, fresh, { minIntervalMs: 0, isWriter: () => holder });
  await s.update((st) => void (st.stages.paper.enabled = false));
  t.equal(JSON.parse(await readFile(file, 'utf8')).stages.paper.enabled, false, 'written while it holds the directory');
  holder = false;
  await writeFile(file, '{"another gate\'s checkpoint":1}');
  await t.rejects(s.update((st) => void (st.stages.live.enabled = false)), /no longer holds the data-directory lock/);
  await t.rejects(s.flush(), /no longer holds/);
  t.equal(await readFile(file, 'utf8'), '{"another gate\'s checkpoint":1}', 'the other gate\'s file is left alone');
  t.match(s.lastWriteError()?.message, /no longer holds/, 'and /readyz can say why');
});

t.test('lowdb store apply(): changes the state at once, checkpoints it later, reports a failed write once per write', async (t) => {
  const dir = await tempDir(t, 'state-');
  const file = join(dir, 'state.json');
  let holder = true;
  const errors: Error[] = [];
  const s = await openLowdbStore(file, fresh, { minIntervalMs: 0, isWriter: () => holder, onWriteError: (err) => errors.push(err) });
  t.equal(s.apply((st) => void (st.stages.beta.enabled = false)), undefined, 'nothing to wait for');
  t.equal(s.read().stages.beta.enabled, false, 'the change is in the state before apply returns');
  const onDisk = async () => JSON.parse(await readFile(file, 'utf8').catch(() => 'null'));
  await eventually(async () => (await onDisk())?.stages.beta.enabled === false, 2000);
  t.equal((await onDisk())?.stages.beta.enabled, false, 'and reaches the checkpoint without a flush');

  holder = false;
  for (let i = 0; i < 100; i++) s.apply((st) => void (st.auditSeq = i));
  t.equal(s.read().auditSeq, 99, 'every change applied');
  await t.rejects(s.flush(), /no longer holds/, 'the checkpoint fails');
  // the first change starts a write; the other 99 share the one queued behind it: two writes, two reports
  t.equal(errors.length, 2, '100 changes sharing two failed writes: one report per write, not one per change');
  t.match(errors[0]?.message, /no longer holds the data-directory lock/);
  t.match(s.lastWriteError()?.message, /no longer holds/);
});

t.test('memory store apply() changes the state at once', async (t) => {
  const s = createMemoryStore(fresh());
  s.apply((st) => void (st.stages.live.enabled = false));
  t.equal(s.read().stages.live.enabled, false);
});

t.test('update(): a change that throws is a rejected promise, as from the memory store', async (t) => {
  const dir = await tempDir(t, 'state-');
  for (const s of [await openLowdbStore(join(dir, 'state.json'), fresh, { minIntervalMs: 0 }), createMemoryStore(fresh())]) {
    let p: Promise<unknown> | undefined;
    t.doesNotThrow(() => {
      p = s.update(() => {
        throw new Error('boom');
      });
    }, 'no synchronous throw');
    await t.rejects(p!, /boom/);
  }
});

t.test('lowdb store: a wall clock stepped back does not hold the next checkpoint back by the step', async (t) => {
  const dir = await tempDir(t, 'state-');
  const file = join(dir, 'state.json');
  const s = await openLowdbStore(file, fresh, { minIntervalMs: 200 });
  await s.update((st) => void (st.stages.beta.enabled = false));
  // NTP (or a VM resumed) sets the clock an hour back just after that checkpoint
  const realNow = Date.now;
  const stepped = realNow() - 3_600_000;
  const since = realNow();
  Date.now = () => stepped + (realNow() - since);
  t.teardown(() => void (Date.now = realNow));
  s.apply((st) => void (st.stages.live.enabled = false));
  const onDisk = async () => JSON.parse(await readFile(file, 'utf8'));
  t.ok(await eventually(async () => (await onDisk()).stages.live.enabled === false, 3000), 'the change is checkpointed within the interval, not an hour later');
  Date.now = realNow;
  await s.flush();
});

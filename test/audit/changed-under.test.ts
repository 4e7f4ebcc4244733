// The newest audit file changed by another hand while the gate runs (removed, replaced at its
// name, cut short): the gate writes it by position through its open handle, so without a check
// it went on answering 200 for records that were in no file of the log, or after a hole of zeros.
// Real files in a temp directory.
import { appendFileSync, copyFileSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { nodeAuditFs, type AuditFs } from '../../src/audit/audit-fs.ts';
import { openFileAuditLog } from '../../src/audit/file-log.ts';
import { AuditUnavailableError } from '../../src/audit/log.ts';
import { entry, faultyFs, memoryLogger, waitFor } from './helpers.ts';

const DAY1 = '2026-11-26T10:00:00.000Z';

const newest = (dir: string) => join(dir, readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort().at(-1)!);

const changes: { name: string; change: (dir: string) => void; says: RegExp }[] = [
  { name: 'removed', change: (dir) => unlinkSync(newest(dir)), says: /has been removed/ },
  {
    name: 'replaced by a copy at its name (a restore, sed -i, a rotation)',
    change: (dir) => {
      const file = newest(dir);
      copyFileSync(file, `${file}.copy`);
      renameSync(`${file}.copy`, file);
    },
    says: /has been replaced by another file/,
  },
  {
    name: 'cut short',
    change: (dir) => {
      const file = newest(dir);
      const lines = readFileSync(file, 'utf8').split('\n');
      truncateSync(file, Buffer.byteLength(lines.slice(0, 2).join('\n') + '\n'));
    },
    says: /is \d+ bytes long, not the \d+ this gate (wrote|found)/,
  },
  { name: 'its directory removed', change: (dir) => rmSync(dir, { recursive: true }), says: /has been removed/ },
  // after this gate's own batches (the bytes past what start-up found are another case, below):
  // the gate writes by position, and would write its next record over the other writer's line
  {
    name: 'made longer by another writer (a stale gate appending)',
    change: (dir) => appendFileSync(newest(dir), '{"seq":5,"by":"a stale gate"}\n'),
    says: /is \d+ bytes long, not the \d+ this gate wrote: cut short or written by another/,
  },
];

for (const c of changes) {
  t.test(`the newest file ${c.name} while the log is open: appends are refused, nothing is written, no recovery until a restart`, async (t) => {
    const dir = join(t.testdir(), 'audit');
    const logger = memoryLogger();
    const log = await openFileAuditLog({ dir, recoveryProbeMs: 20, logger });
    t.teardown(() => log.close());
    for (let i = 1; i <= 4; i++) await log.append([entry(i, { at: DAY1 })]);
    const head = log.head();
    c.change(dir);
    const after = (() => {
      try {
        return Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'latin1')]));
      } catch {
        return null; // the directory is gone
      }
    })();

    const refused = await log.append([entry(5, { at: DAY1 })]).then(
      () => null,
      (err: unknown) => err,
    );
    t.ok(refused instanceof AuditUnavailableError, 'the append is refused (a 503), not acknowledged');
    t.match((refused as Error).message, c.says, 'naming what happened');
    t.match((refused as Error).message, /restart the gate/);
    t.equal(log.writable(), false, 'writable() false (/readyz 503)');
    t.same(log.head(), head, 'the head stays where it was');
    t.ok(logger.lines.some((l) => l.level === 'warn' && c.says.test(l.msg)), 'logged');
    await new Promise((r) => setTimeout(r, 100)); // five probe periods
    const again = await log.append([entry(6, { at: DAY1 })]).then(
      () => null,
      (err: unknown) => err,
    );
    t.ok(again instanceof AuditUnavailableError, 'still refused: no recovery while the gate runs');
    const now = (() => {
      try {
        return Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'latin1')]));
      } catch {
        return null;
      }
    })();
    t.same(now, after, 'nothing was written into the directory');
  });
}

t.test('a log no one touches: the check passes batch after batch, across a new file', async (t) => {
  const dir = t.testdir();
  const log = await openFileAuditLog({ dir, maxFileBytes: 2048 });
  t.teardown(() => log.close());
  for (let i = 1; i <= 40; i++) await log.append([entry(i, { at: DAY1 })]);
  t.equal(log.head().seq, 40);
  t.ok(readdirSync(dir).filter((f) => f.endsWith('.jsonl')).length > 1, 'several files');
  t.equal(log.writable(), true);
});

for (const c of changes.slice(0, 3)) {
  t.test(`the newest file ${c.name} after start-up read it, before the first batch (which goes into a new file): refused too`, async (t) => {
    const dir = join(t.testdir(), 'audit');
    const first = await openFileAuditLog({ dir });
    for (let i = 1; i <= 3; i++) await first.append([entry(i, { at: DAY1 })]);
    await first.close();
    const log = await openFileAuditLog({ dir, recoveryProbeMs: 20 });
    t.teardown(() => log.close());
    c.change(dir);
    const names = readdirSync(dir).sort();
    const refused = await log.append([entry(4, { at: DAY1 })]).then(
      () => null,
      (err: unknown) => err,
    );
    t.ok(refused instanceof AuditUnavailableError, 'refused, not acknowledged into a new file after a log that lost its records');
    t.match((refused as Error).message, c.says);
    t.same(readdirSync(dir).sort(), names, 'no new file made');
  });
}

t.test('bytes past the last record of the file start-up found (which the first batch does not write into) are not a change', async (t) => {
  const dir = t.testdir();
  const first = await openFileAuditLog({ dir });
  for (let i = 1; i <= 3; i++) await first.append([entry(i, { at: DAY1 })]);
  await first.close();
  const log = await openFileAuditLog({ dir });
  t.teardown(() => log.close());
  appendFileSync(newest(dir), '{"seq":99,"late":"a stale gate\'s write"}\n');
  t.equal((await log.append([entry(4, { at: DAY1 })]))[0]?.seq, 4, 'appended');
});

t.test('a first batch that fails (no batch of this gate landed yet): bytes past the last record of the file start-up found are not cut, by the rollback nor by the recovery', async (t) => {
  const dir = t.testdir();
  const first = await openFileAuditLog({ dir });
  for (let i = 1; i <= 3; i++) await first.append([entry(i, { at: DAY1 })]);
  await first.close();
  const ffs = faultyFs();
  const log = await openFileAuditLog({ dir, fs: ffs.fs, recoveryProbeMs: 20 });
  t.teardown(() => log.close());
  const late = '{"seq":4,"late":"a stale gate\'s page, flushed after the restart"}\n';
  const file = newest(dir);
  appendFileSync(file, late);
  const size = statSync(file).size;
  ffs.faults.open = 'ENOSPC'; // the first batch's new file cannot be made
  t.ok((await log.append([entry(4, { at: DAY1 })]).then(() => null, (e: unknown) => e)) instanceof AuditUnavailableError, 'the first batch fails');
  t.equal(statSync(file).size, size, 'the rollback cuts nothing from that file');
  delete ffs.faults.open;
  await waitFor(() => log.writable(), 2000);
  t.equal(statSync(file).size, size, 'nor the recovery');
  t.ok(readFileSync(file, 'utf8').endsWith(late), 'the late bytes are where they were, for audit verify');
  t.equal((await log.append([entry(4, { at: DAY1 })]))[0]?.seq, 4, 'and the log goes on in a new file');
});

/**
 * The file a batch rolls over from, changed by another hand while that batch is under way (here:
 * its last line cut off as the batch creates the next file, after the check before the batch).
 * The next batch's check is of the new file: without a check of the file left behind the gate
 * answered on, and the break showed only at the next `audit verify`.
 */
function cutAtRollover() {
  let armed = false;
  const fs: AuditFs = {
    ...nodeAuditFs,
    async open(path, flags) {
      if (armed && flags === 'wx+') {
        armed = false;
        const dir = join(path, '..');
        const file = newest(dir);
        const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
        truncateSync(file, Buffer.byteLength(lines.slice(0, -1).join('\n') + '\n'));
      }
      return nodeAuditFs.open(path, flags);
    },
  };
  return { fs, arm: () => (armed = true) };
}

t.test('the file a batch rolls over from, cut short while that batch is under way: the batch is refused, and every append after it', async (t) => {
  const dir = t.testdir();
  const cut = cutAtRollover();
  const log = await openFileAuditLog({ dir, fs: cut.fs, maxFileBytes: 2048, recoveryProbeMs: 20 });
  t.teardown(() => log.close());
  let i = 1;
  await log.append([entry(i++, { at: DAY1 })]);
  cut.arm();
  // appends go on into the first file until one rolls over: that one's new file is when the cut comes
  let head = log.head();
  let refused: unknown = null;
  for (let n = 0; n < 100 && refused === null; n++) {
    head = log.head();
    refused = await log.append([entry(i++, { at: DAY1 })]).then(() => null, (err: unknown) => err);
  }
  t.ok(head.seq > 1, 'some appends went into the first file before');
  t.ok(refused instanceof AuditUnavailableError, 'the batch that rolled over is not acknowledged');
  t.match((refused as Error).message, /is \d+ bytes long, not the \d+ this gate wrote: cut short or written by another; restart the gate/);
  t.equal(log.writable(), false, '/readyz 503');
  t.same(log.head(), head, 'the head stays where it was');
  const again = await log.append([entry(i++, { at: DAY1 })]).then(() => null, (err: unknown) => err);
  t.ok(again instanceof AuditUnavailableError, 'and every append after it');
});

t.test('the file start-up found, cut short as the first batch (which always goes into a new file) creates that file: refused, the batch\'s file removed, and a restart names the record lost', async (t) => {
  const dir = t.testdir();
  const first = await openFileAuditLog({ dir });
  for (let i = 1; i <= 4; i++) await first.append([entry(i, { at: DAY1 })]);
  await first.close();
  const files = readdirSync(dir).sort();
  const cut = cutAtRollover();
  const log = await openFileAuditLog({ dir, fs: cut.fs, recoveryProbeMs: 20 });
  cut.arm();
  // three records: in the new file, the last ones' links are to records of the same file, which
  // no start-up check crosses (one record alone would fail the link to the file before)
  const refused = await log.append([entry(5, { at: DAY1 }), entry(6, { at: DAY1 }), entry(7, { at: DAY1 })]).then(() => null, (err: unknown) => err);
  t.ok(refused instanceof AuditUnavailableError, 'not acknowledged');
  t.match((refused as Error).message, /is \d+ bytes long, not the \d+ this gate found/);
  t.equal(log.writable(), false);
  t.same(readdirSync(dir).sort(), files, "the batch's new file is removed: its records were never acknowledged");
  await log.close();
  // the restart: the checkpoint saw seq 4, which the cut took
  const reopened = await openFileAuditLog({ dir });
  t.teardown(() => reopened.close());
  const { replayAuditTail } = await import('../../src/gate/recorder.ts');
  const { createMemoryStore } = await import('../../src/store/memory-store.ts');
  const { emptyState } = await import('../../src/policy/state.ts');
  const { parseConfig } = await import('../../src/config.ts');
  const store = createMemoryStore({ ...emptyState(parseConfig({}).stages), auditSeq: 4 });
  await t.rejects(replayAuditTail(reopened, store, dir), /seq 4 is missing from/, 'start-up stops and names it (it folded in the unacknowledged 5..7 before)');
});

t.test('a file a batch created and filled, cut short before the batch ends: refused', async (t) => {
  const dir = t.testdir();
  let opened = 0;
  const fs: AuditFs = {
    ...nodeAuditFs,
    async open(path, flags) {
      // the third file the batch creates: cut the second (the batch's own, already filled)
      if (flags === 'wx+' && ++opened === 3) {
        const second = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort().at(-1)!;
        truncateSync(join(dir, second), 10);
      }
      return nodeAuditFs.open(path, flags);
    },
  };
  const log = await openFileAuditLog({ dir, fs, maxFileBytes: 300, recoveryProbeMs: 20 });
  t.teardown(() => log.close());
  // one append over several files of 300 bytes
  const refused = await log.append([1, 2, 3, 4].map((i) => entry(i, { at: DAY1 }))).then(() => null, (err: unknown) => err);
  t.ok(refused instanceof AuditUnavailableError, 'not acknowledged');
  t.match((refused as Error).message, /is 10 bytes long, not the \d+ this gate wrote/);
  t.same(readdirSync(dir).filter((f) => f.endsWith('.jsonl')), [], "the batch's files are removed");
});

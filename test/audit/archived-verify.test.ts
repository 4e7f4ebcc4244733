// Archiving old audit files (README: oldest first, the gate stopped, only files the state
// checkpoint covers) must not leave the console's checks red for good. The records archived before
// the gate started are reported as archived, the oldest page left is checked without its link to
// the archived record before it, and a file that goes while the gate runs is still a break. An
// empty file before the newest one (the gate never leaves one) is reported by audit verify: the
// readers would pass over the records its name claims.
import { appendFileSync, mkdirSync, readdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { openFileAuditLog } from '../../src/audit/file-log.ts';
import { verifyAuditLog } from '../../src/audit/verify.ts';
import { fixedClock } from '../../src/policy/clock.ts';
import { createFullVerifier, verifyPage } from '../../src/routes/audit-verify.ts';
import { spawnGate } from '../helpers/spawn-gate.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { entry } from './helpers.ts';
import { writeSyntheticLog } from './synthetic-log.ts';

/** 20 records in small files (3 a file), the gate stopped; the file names, oldest first */
async function smallFiles(dir: string): Promise<string[]> {
  const log = await openFileAuditLog({ dir, maxFileBytes: 2000, fsync: false });
  for (let i = 1; i <= 20; i++) await log.append([entry(i)]);
  await log.close();
  return readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort();
}

async function fullWalk(root: string, log: Awaited<ReturnType<typeof openFileAuditLog>>, archivedThrough: number) {
  const full = createFullVerifier({ audit: log, dataDir: root, clock: fixedClock('2026-11-26T15:00:00Z'), verifyFiles: (dir, o) => verifyAuditLog(dir, undefined, o), archivedThrough });
  full.maybeStart();
  await full.settled();
  return full.state();
}

t.test('files archived before the start: the oldest page checks, the full walk is ok and says what was archived', async (t) => {
  const root = await tempDir(t, 'archived-');
  const dir = join(root, 'audit');
  const files = await smallFiles(dir);
  mkdirSync(join(root, 'archive'));
  renameSync(join(dir, files[0]!), join(root, 'archive', files[0]!));
  const log = await openFileAuditLog({ dir, maxFileBytes: 2000, fsync: false });
  t.teardown(() => log.close());
  const oldest = await log.query({ limit: 5, cursor: 7 });
  t.same(oldest.records.map((r) => r.seq), [6, 5, 4], 'the oldest page: the records still in the directory');
  t.match(await verifyPage(log, oldest.records, 3), { scope: 'range', from: 4, to: 6, ok: true, unlinked: 1, firstBroken: null }, 'page: ok, seq 4 not linked to the archived seq 3');
  t.match(await verifyPage(log, oldest.records), { ok: false, firstBroken: { reason: 'records 3..6 could not all be read' } }, 'without knowing of the archive it could not be read');
  t.match(await fullWalk(root, log, 3), { status: 'ok', count: 17, throughSeq: 20, message: /^17 records in \d+ file\(s\); records 1\.\.3 archived before the gate started/ }, 'full walk: ok, 17 records checked');
  t.match(await verifyAuditLog(dir), { ok: false, firstBroken: { seq: 4, reason: /records 1\.\.3 are missing/ } }, 'gate audit verify (from seq 1) still reports them missing');

  // one more file goes while the gate runs: a break, not an archive
  renameSync(join(dir, files[1]!), join(root, 'archive', files[1]!));
  t.match(await fullWalk(root, log, 3), { status: 'broken', firstBroken: { seq: 7, reason: 'seq 7 follows seq 3 (expected seq 4 here: records 4..6 are missing)' } }, 'a file gone after the start is missing');
});

t.test('a full walk that meets an append in flight is ok, archived records or not, and names the last seq it checked', async (t) => {
  for (const archive of [false, true]) {
    const root = await tempDir(t, 'archived-');
    const dir = join(root, 'audit');
    const files = await smallFiles(dir);
    if (archive) renameSync(join(dir, files[0]!), join(root, files[0]!));
    const log = await openFileAuditLog({ dir, maxFileBytes: 2000, fsync: false });
    t.teardown(() => log.close());
    // the start of the next record, not yet whole (an append under way)
    appendFileSync(join(dir, files.at(-1)!), '{"seq":21,"at":"2026-11');
    t.match(await fullWalk(root, log, archive ? 3 : 0), { status: 'ok', count: archive ? 17 : 20, throughSeq: 20, message: archive ? /^17 records \(an append was in flight\); records 1\.\.3 archived/ : '20 records (an append was in flight)' }, archive ? 'records 1..3 archived' : 'nothing archived');
  }
});

t.test('an edited record just after the archived ones is still caught', async (t) => {
  const root = await tempDir(t, 'archived-');
  const dir = join(root, 'audit');
  const files = await smallFiles(dir);
  renameSync(join(dir, files[0]!), join(root, files[0]!));
  const second = join(dir, files[1]!);
  const { readFileSync } = await import('node:fs');
  writeFileSync(second, readFileSync(second, 'utf8').replace('"stage":"prod"', '"stage":"live"'));
  t.match(await verifyAuditLog(dir, undefined, { archivedThrough: 3 }), { ok: false, firstBroken: { seq: 4, reason: 'hash does not match the record content' } });
});

t.test('an empty file before the newest one is reported by audit verify', async (t) => {
  const dir = await tempDir(t, 'empty-middle-');
  const files = await smallFiles(dir);
  const empty = files[0]!.replace(/\d{12}(?=\.jsonl$)/, '000000000002');
  writeFileSync(join(dir, empty), '');
  t.match(await verifyAuditLog(dir), { ok: false, count: 3, firstBroken: { seq: null, file: empty, line: 0, reason: /^empty file before the newest one \(its name says seq 2\)/ } });
  const noMiddle = await tempDir(t, 'empty-last-');
  await smallFiles(noMiddle);
  const names = readdirSync(noMiddle).sort();
  writeFileSync(join(noMiddle, names.at(-1)!.replace(/\d{12}(?=\.jsonl$)/, '000000000021')), '');
  t.match(await verifyAuditLog(noMiddle), { ok: true, count: 20 }, 'an empty newest file (an append that has not written yet) is passed over');
});

t.test('a real gate started after archiving: /v1/audit/verify answers the oldest page ok and the full walk ok', async (t) => {
  const dataDir = await tempDir(t, 'archived-gate-');
  const dir = join(dataDir, 'audit');
  writeSyntheticLog(dir, 60, { maxFileBytes: 4096 });
  const first = await spawnGate({ t, dataDir });
  t.equal((await first.stop()).code, 0, 'a first start rebuilt the state and checkpointed it at the head');
  const files = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort();
  t.ok(files.length >= 3, `${files.length} files`);
  const archivedThrough = Number(/(\d{12})\.jsonl$/.exec(files[1]!)![1]) - 1;
  renameSync(join(dir, files[0]!), join(dataDir, files[0]!));
  const gate = await spawnGate({ t, dataDir });
  const headers = { authorization: `Bearer ${first.tokens['admin']}` };
  const verify = async (q: string) => (await fetch(`${gate.url}/v1/audit/verify${q}`, { headers })).json() as Promise<{ page: { ok: boolean; unlinked: number; from: number }; full: { status: string; message: string | null } }>;
  const oldest = await verify(`?cursor=${archivedThrough + 4}&limit=3`);
  t.match(oldest.page, { ok: true, unlinked: 1, from: archivedThrough + 1 }, 'the oldest page left checks');
  let full = oldest.full;
  for (let i = 0; i < 50 && full.status !== 'ok' && full.status !== 'broken'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    full = (await verify('?limit=1')).full;
  }
  t.match(full, { status: 'ok', message: new RegExp(`records 1\\.\\.${archivedThrough} archived before the gate started`) }, 'the full walk is ok and says what was archived');
  t.equal((await gate.stop()).code, 0);
});

t.test('a file removed while the log is open: pages read past it (no error), and the page check names the gap', async (t) => {
  const root = await tempDir(t, 'removed-');
  const dir = join(root, 'audit');
  const files = await smallFiles(dir);
  const log = await openFileAuditLog({ dir, maxFileBytes: 2000, fsync: false });
  t.teardown(() => log.close());
  const gone = files[2]!;
  const before = await log.query({ limit: 100 });
  const goneSeqs = new Set(before.records.map((r) => r.seq));
  unlinkSync(join(dir, gone));
  const page = await log.query({ limit: 100 });
  const seqs = page.records.map((r) => r.seq);
  t.ok(seqs.length > 0 && seqs.length < goneSeqs.size, 'the page holds the records of the files left');
  t.same(seqs, [...seqs].sort((a, b) => b - a), 'newest first');
  t.ok(seqs.includes(20) && seqs.includes(1), 'from the newest file to the oldest');
  const check = await verifyPage(log, page.records);
  t.equal(check.ok, false, 'the page check is not ok');
  t.match(check.firstBroken?.reason, /^seq \d+ follows seq \d+$/, 'and names the gap');
});

import { appendFileSync, readdirSync, readFileSync, renameSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { nodeAuditFs, type AuditFs } from '../../src/audit/audit-fs.ts';
import { openFileAuditLog } from '../../src/audit/file-log.ts';
import { verifyAuditLog } from '../../src/audit/verify.ts';
import { tempDirSync } from '../helpers/temp-dir.ts';
import { entry, faultyFs, memoryLogger } from './helpers.ts';

const DAY1 = '2026-11-26T10:00:00.000Z';
const DAY2 = '2026-11-27T10:00:00.000Z';

/** 3 records on day 1 (file A), 2 on day 2 (file B); returns paths and the good sizes */
async function makeLog(dir: string) {
  const log = await openFileAuditLog({ dir });
  for (let i = 1; i <= 3; i++) await log.append([entry(i, { at: DAY1 })]);
  for (let i = 4; i <= 5; i++) await log.append([entry(i, { at: DAY2 })]);
  const head = log.head();
  await log.close();
  const [a, b] = readdirSync(dir).sort();
  const fileA = join(dir, a!);
  const fileB = join(dir, b!);
  const lineA3 = readFileSync(fileA, 'utf8').split('\n')[2]!;
  return { head, fileA, fileB, sizeA: statSync(fileA).size, sizeB: statSync(fileB).size, prevHeadOfA: JSON.parse(lineA3).hash as string };
}

/** the first line of a file (a record of it) */
const firstLine = (f: string) => readFileSync(f, 'utf8').split('\n')[0]!;
/** NUL bytes: file pages that never reached the disk before a power cut */
const nul = (n: number) => Buffer.alloc(n);

const cases = [
  { name: 'half a line, no final newline', damage: (f: string) => appendFileSync(f, firstLine(f).slice(0, 200)), headSeq: 5, fileBKept: true, warns: true },
  { name: 'NUL bytes (size extended, data never written)', damage: (f: string) => appendFileSync(f, nul(4096)), headSeq: 5, fileBKept: true, warns: true },
  { name: 'NUL fill ended by a newline', damage: (f: string) => appendFileSync(f, Buffer.concat([nul(3000), Buffer.from('\n')])), headSeq: 5, fileBKept: true, warns: true },
  { name: 'NUL fill, a newline, then a partial line', damage: (f: string) => appendFileSync(f, Buffer.concat([nul(700), Buffer.from('\n{"actor":{"gro')])), headSeq: 5, fileBKept: true, warns: true },
  {
    name: 'a line whose first page never reached the disk (NULs, then the rest of it and its newline)',
    damage: (f: string) => appendFileSync(f, Buffer.concat([nul(300), Buffer.from(`${firstLine(f).slice(300)}\n`)])),
    headSeq: 5,
    fileBKept: true,
    warns: true,
  },
  {
    name: 'several pieces of debris: a line ending in NULs, a NUL line, a partial last line',
    damage: (f: string) => appendFileSync(f, Buffer.concat([Buffer.from(firstLine(f).slice(0, 100)), nul(200), Buffer.from('\n'), nul(50), Buffer.from('\n{"x":')])),
    headSeq: 5,
    fileBKept: true,
    warns: true,
  },
  { name: 'newest file empty (created, then crash)', damage: (f: string) => writeFileSync(f, ''), headSeq: 3, fileBKept: false, warns: false },
  { name: 'newest file holds only a torn line', damage: (f: string) => writeFileSync(f, '{"actor":{"gro'), headSeq: 3, fileBKept: false, warns: true },
  { name: 'newest file holds only NUL fill and newlines', damage: (f: string) => writeFileSync(f, Buffer.concat([nul(500), Buffer.from('\n'), nul(90)])), headSeq: 3, fileBKept: false, warns: true },
];

for (const c of cases) {
  t.test(`torn tail repaired: ${c.name}`, async (t) => {
    const dir = t.testdir();
    const made = await makeLog(dir);
    c.damage(made.fileB);
    const damaged = readFileSync(made.fileB);
    const logger = memoryLogger();
    const log = await openFileAuditLog({ dir, logger });
    // what was cut is kept beside the log, byte for byte, and is not an audit file
    const nameB = made.fileB.split('/').pop()!;
    const cutFrom = c.fileBKept ? made.sizeB : 0;
    const side = `${nameB}.cut-${cutFrom}`;
    if (damaged.length > cutFrom) {
      t.ok(readdirSync(dir).includes(side), `the cut bytes are kept in ${side}`);
      t.same(readFileSync(join(dir, side)), damaged.subarray(cutFrom), 'exactly the bytes cut off');
      t.match(logger.lines.find((l) => l.level === 'warn')?.obj, { keptIn: side }, 'and the warning says where');
    } else t.notOk(readdirSync(dir).some((n) => n.includes('.cut-')), 'nothing cut, nothing kept');
    t.equal(log.head().seq, c.headSeq, 'head is the last good record');
    t.equal(log.head().hash, c.headSeq === 5 ? made.head.hash : made.prevHeadOfA, 'head hash');
    if (c.fileBKept) t.equal(statSync(made.fileB).size, made.sizeB, 'truncated to the end of the last complete line');
    else t.notOk(readdirSync(dir).includes(made.fileB.split('/').pop()!), 'the newest file without a record is removed');
    t.equal(statSync(made.fileA).size, made.sizeA, 'older file untouched');
    t.equal(logger.lines.some((l) => l.level === 'warn' && /torn/.test(l.msg)), c.warns, c.warns ? 'logged as torn' : 'nothing to warn about');
    const [next] = await log.append([entry(6, { at: DAY2 })]);
    t.equal(next!.seq, c.headSeq + 1, 'next append takes the next seq');
    t.equal(next!.prev, c.headSeq === 5 ? made.head.hash : made.prevHeadOfA, 'and chains from the good head');
    await log.close();
    t.match(await verifyAuditLog(dir), { ok: true, count: c.headSeq + 1 });
  });
}

t.test('a complete newest record that does not check out stops start-up', async (t) => {
  const damages = [
    { name: 'hash of the last record altered', damage: (s: string) => s.replace(/"id":"dec-5"/, '"id":"dec-Z"'), msg: /line 2 \(byte \d+\): the last complete line is not a valid record \(seq 5: hash does not match the record content\)/ },
    { name: 'line before the head removed', damage: (s: string) => s.split('\n').filter((_, i) => i !== 0).join('\n'), msg: /first record has seq 5, file name says 4/ },
    { name: 'line before the head not a record', damage: (s: string) => s.replace(/^[^\n]*/, 'junk'), msg: /line 1 \(byte 0\): the line before seq 5 is not a record \(not valid JSON\)/ },
    { name: 'head not chained to the line before', damage: (s: string) => s.split('\n').reverse().slice(1).concat(['']).join('\n'), msg: /line 2 \(byte \d+\): seq 4 does not chain/ },
  ];
  for (const d of damages) {
    const dir = t.testdir();
    const made = await makeLog(dir);
    writeFileSync(made.fileB, d.damage(readFileSync(made.fileB, 'utf8')));
    await t.rejects(openFileAuditLog({ dir }), { name: 'AuditCorruptError', message: d.msg }, d.name);
  }
});

/** the bytes of file B, with `edit` applied to its lines (records 4 and 5 and a final '') */
function editLines(f: string, edit: (lines: string[]) => void): void {
  const lines = readFileSync(f, 'utf8').split('\n');
  edit(lines);
  writeFileSync(f, lines.join('\n'));
}

// What a crash cannot leave: a complete (newline-ended) line that is neither a record nor NUL fill.
// Start-up refuses and cuts nothing, naming the file, line and byte offset and what to do.
const damaged = [
  { name: 'a line cut short but ended by a newline', damage: (f: string) => appendFileSync(f, '{"actor":{"groups":[\n'), line: 3, at: 'end', why: /not valid JSON/ },
  { name: 'a non-record line, then debris', damage: (f: string) => appendFileSync(f, Buffer.concat([Buffer.from('garbage\n'), nul(20), Buffer.from('\n{"x":')])), line: 3, at: 'end', why: /not valid JSON/ },
  {
    name: 'the last two acknowledged records each with one byte changed (not JSON any more)',
    damage: (f: string) => editLines(f, (l) => { l[0] = `X${l[0]!.slice(1)}`; l[1] = `X${l[1]!.slice(1)}`; }),
    line: 2,
    at: 'line2',
    why: /not valid JSON/,
  },
  {
    name: 'the last acknowledged record with one byte changed (still JSON)',
    damage: (f: string) => editLines(f, (l) => { l[1] = l[1]!.replace('"dec-5"', '"dec-6"'); }),
    line: 2,
    at: 'line2',
    why: /seq 5: hash does not match the record content/,
  },
  {
    name: 'a head record with an extra top-level key (audit verify rejects it)',
    damage: (f: string) => editLines(f, (l) => { l[1] = l[1]!.replace('{', '{"aaa":1,'); }),
    line: 2,
    at: 'line2',
    why: /seq 5: not an AuditEventV1: \(record\): Unrecognized key: "aaa"/,
  },
  {
    name: 'a head record stored as other JSON than the writer wrote (audit verify rejects it)',
    damage: (f: string) => editLines(f, (l) => { l[1] = JSON.stringify(JSON.parse(l[1]!), null, 0).replace('{', '{ '); }),
    line: 2,
    at: 'line2',
    why: /seq 5: line is not canonical JSON/,
  },
  {
    name: 'NUL fill before a complete record (not at the end)',
    damage: (f: string) => editLines(f, (l) => { l[0] = '\u0000'.repeat(l[0]!.length); }),
    line: 1,
    at: 'start',
    why: /it holds NUL bytes, and 1 complete line follows it/,
  },
  { name: 'newest file holds only a complete non-record line', damage: (f: string) => writeFileSync(f, 'junk\n'), line: 1, at: 'start', why: /not valid JSON/ },
];

for (const d of damaged) {
  t.test(`damage a crash cannot leave stops start-up: ${d.name}`, async (t) => {
    const dir = t.testdir();
    const made = await makeLog(dir);
    d.damage(made.fileB);
    const before = readFileSync(made.fileB);
    const offset = d.at === 'end' ? made.sizeB : d.at === 'start' ? 0 : before.indexOf('\n') + 1;
    const name = made.fileB.split('/').pop()!;
    const logger = memoryLogger();
    const err = await openFileAuditLog({ dir, logger }).then(
      async (log) => {
        await log.close();
        return null;
      },
      (e: Error) => e,
    );
    t.ok(err, 'start-up rejects');
    t.equal(err?.name, 'AuditCorruptError');
    t.match(err?.message, `${name} line ${d.line} (byte ${offset}): `, 'names the file, the line and its byte offset');
    t.match(err?.message, d.why, 'and why');
    t.match(err?.message, `truncate -s ${offset} ${made.fileB}`, 'says where the operator may cut');
    t.match(err?.message, /gate audit verify/, 'points to audit verify');
    t.same(readFileSync(made.fileB), before, 'nothing cut');
    t.equal(statSync(made.fileA).size, made.sizeA, 'older file untouched');
    t.notOk(logger.lines.some((l) => /torn/.test(l.msg)), 'not reported as a torn write');
    t.match(await verifyAuditLog(dir), { ok: false }, 'audit verify agrees the log is broken');
  });
}

t.test('the cut of a torn end is made durable: a datasync of the file follows its truncate, before the log takes appends', async (t) => {
  const dir = t.testdir();
  const made = await makeLog(dir);
  appendFileSync(made.fileB, firstLine(made.fileB).slice(0, 200));
  const ops: string[] = [];
  const fs: AuditFs = {
    ...nodeAuditFs,
    async open(path, flags) {
      const fh = await nodeAuditFs.open(path, flags);
      const name = path.split('/').pop();
      return new Proxy(fh, {
        get(target, prop, receiver) {
          const v = Reflect.get(target, prop, receiver);
          if ((prop === 'truncate' || prop === 'datasync') && typeof v === 'function') {
            return (...args: unknown[]) => {
              ops.push(`${prop} ${name}`);
              return (v as (...a: unknown[]) => unknown).apply(target, args);
            };
          }
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
    },
  };
  const log = await openFileAuditLog({ dir, fs, logger: memoryLogger() });
  const b = made.fileB.split('/').pop();
  const cut = ops.indexOf(`truncate ${b}`);
  t.ok(cut >= 0, 'the torn end is cut');
  t.ok(ops.indexOf(`datasync ${b}`, cut) > cut, `and the file fsynced after the cut (${ops.join(', ')})`);
  t.equal(statSync(made.fileB).size, made.sizeB);
  await log.close();
});

t.test('start-up with a line longer than the tail chunk', async (t) => {
  const dir = t.testdir();
  const log = await openFileAuditLog({ dir });
  await log.append([entry(1)]);
  await log.append([entry(2, { data: { blob: 'y'.repeat(200_000) } })]);
  const head = log.head();
  await log.close();
  const [file] = readdirSync(dir);
  appendFileSync(join(dir, file!), '{"torn":');
  const again = await openFileAuditLog({ dir });
  t.same(again.head(), head);
  await again.append([entry(3)]);
  await again.close();
  t.match(await verifyAuditLog(dir), { ok: true, count: 3 });
});

t.test('a head that is the first record of its file must chain to the last record of the file before', async (t) => {
  const { AuditCorruptError } = await import('../../src/audit/file-log.ts');
  const { sealRecord, parseEntries } = await import('../../src/audit/record.ts');
  const { segmentName } = await import('../../src/audit/segments.ts');
  const freshDir = () => tempDirSync(t, 'audit-link-');

  // day 1: records 1-3; day 2: record 4 alone, so the head is the first line of its file
  const build = async (dir: string, salt: string) => {
    const log = await openFileAuditLog({ dir });
    for (let i = 1; i <= 3; i++) await log.append([entry(i, { at: DAY1, id: `${salt}-${i}` })]);
    await log.append([entry(4, { at: DAY2 })]);
    await log.close();
    return readdirSync(dir).sort();
  };
  const good = freshDir();
  await build(good, 'a');
  const log = await openFileAuditLog({ dir: good });
  t.equal(log.head().seq, 4, 'an intact log opens');
  await log.close();

  // the day-1 file replaced by one from another log: each file verifies alone, the link does not
  const dir = freshDir();
  const [fileA] = await build(dir, 'a');
  const other = freshDir();
  await build(other, 'b');
  writeFileSync(join(dir, fileA!), readFileSync(join(other, fileA!)));
  const opened = openFileAuditLog({ dir });
  await t.rejects(opened, AuditCorruptError);
  await t.rejects(openFileAuditLog({ dir }), /seq 4 does not chain to the last record of audit-20261126-000000000001\.jsonl \(seq 3\)/);

  // the day-1 file's last line is not a record
  const torn = freshDir();
  const [tornA] = await build(torn, 'a');
  writeFileSync(join(torn, tornA!), readFileSync(join(torn, tornA!), 'utf8').replace(/\n([^\n]*)\n$/, '\n{"not":"a record"}\n'));
  await t.rejects(openFileAuditLog({ dir: torn }), /audit-20261126-000000000001\.jsonl: its last line is not a record .* seq 4 in audit-20261127-000000000004\.jsonl links to nothing/);

  // a seq-1 head that does not start from the genesis hash (its own hash is right)
  const lone = freshDir();
  const [e] = parseEntries([entry(1, { at: DAY1 })]);
  writeFileSync(join(lone, segmentName('20261126', 1)), sealRecord(e!, 1, 'f'.repeat(64)).line);
  await t.rejects(openFileAuditLog({ dir: lone }), /seq 1 does not start from the genesis hash/);
});

t.test('a newest file whose name says a first seq beyond its last record stops start-up', async (t) => {
  // file A holds 1..3, file B 4..5 (maxFileBytes keeps B to those two: the next record starts a file)
  const renames = [
    // B renamed to the name its successor gets: the gate continued in it, then its next file
    // (audit-<day>-000000000006) was opened over it, truncating records 4 and 5 away
    { name: 'the newest file renamed to its successor\'s name', from: 'B', seq: 6 },
    // A put back under a name sorting after B: the gate continued the chain from seq 3, and
    // its next file, audit-<day 2>-000000000004, was opened over B, replacing records 4 and 5
    { name: 'an older file renamed past the newest', from: 'A', seq: 99 },
  ];
  for (const r of renames) {
    const dir = t.testdir();
    const made = await makeLog(dir);
    const file = r.from === 'A' ? made.fileA : made.fileB;
    const renamed = file.replace(/\d{12}/, String(r.seq).padStart(12, '0'));
    renameSync(file, renamed);
    const before = Object.fromEntries(readdirSync(dir).map((n) => [n, readFileSync(join(dir, n), 'latin1')]));
    const err = await openFileAuditLog({ dir, maxFileBytes: made.sizeB + 1 }).then(
      async (log) => {
        await log.append([entry(6, { at: DAY2 })]);
        await log.close();
        return null;
      },
      (e: Error) => e,
    );
    t.equal(err?.name, 'AuditCorruptError', `${r.name}: start-up rejects`);
    t.match(err?.message, `${renamed.split('/').pop()}: its last record is seq ${r.from === 'A' ? 3 : 5}, but its name says its first record is seq ${r.seq}`, 'naming the file');
    t.same(Object.fromEntries(readdirSync(dir).map((n) => [n, readFileSync(join(dir, n), 'latin1')])), before, 'nothing written, cut or removed');
  }
});

t.test('two files with one first seq (a copy put back under another day) stop start-up, naming both', async (t) => {
  for (const which of ['A', 'B'] as const) {
    const dir = t.testdir();
    const made = await makeLog(dir);
    const file = which === 'A' ? made.fileA : made.fileB;
    // the copy holds the first record only: a start that went on in it would fork the chain there
    const copy = file.replace(/audit-\d{8}-/, 'audit-20991231-');
    writeFileSync(copy, `${firstLine(file)}\n`);
    const before = Object.fromEntries(readdirSync(dir).map((n) => [n, readFileSync(join(dir, n), 'latin1')]));
    const err = await openFileAuditLog({ dir }).then(
      async (log) => {
        await log.close();
        return null;
      },
      (e: Error) => e,
    );
    t.equal(err?.name, 'AuditCorruptError', `a copy of ${which}: start-up rejects`);
    const names = [file, copy].map((f) => f.split('/').pop()).sort();
    t.match(err?.message, `${names[0]} and ${names[1]} both say their first record is seq ${which === 'A' ? 1 : 4}`, 'naming both files');
    t.same(Object.fromEntries(readdirSync(dir).map((n) => [n, readFileSync(join(dir, n), 'latin1')])), before, 'nothing written, cut or removed');
  }
});

t.test('a second cut at the same place does not overwrite the evidence the first one kept', async (t) => {
  // a gate in a crash loop tears its first write after start-up at the same offset each time,
  // and a newest file holding only debris is cut from byte 0 whenever it recurs
  const dir = t.testdir();
  const made = await makeLog(dir);
  const nameB = made.fileB.split('/').pop()!;
  const tears = ['{"first":"tear', '{"second":"tear', '{"third":"tear'];
  for (const tear of tears) {
    appendFileSync(made.fileB, tear);
    const log = await openFileAuditLog({ dir });
    t.equal(log.head().seq, 5, 'the head is the last complete record');
    await log.close();
  }
  const kept = readdirSync(dir)
    .filter((n) => n.startsWith(`${nameB}.cut-`))
    .map((n) => readFileSync(join(dir, n), 'utf8'))
    .sort();
  t.same(kept, [...tears].sort(), 'each cut is kept, in a file of its own');

  // a newest file holding nothing but a torn line, twice: removed both times, both kept
  const dir2 = t.testdir();
  const made2 = await makeLog(dir2);
  const name2 = made2.fileB.split('/').pop()!;
  for (const tear of tears.slice(0, 2)) {
    writeFileSync(made2.fileB, tear);
    const log = await openFileAuditLog({ dir: dir2 });
    t.equal(log.head().seq, 3);
    await log.close();
  }
  const kept2 = readdirSync(dir2)
    .filter((n) => n.startsWith(`${name2}.cut-`))
    .map((n) => readFileSync(join(dir2, n), 'utf8'))
    .sort();
  t.same(kept2, tears.slice(0, 2).sort(), 'both removed files are kept');
  t.match(await verifyAuditLog(dir2), { ok: true, count: 3 }, 'the kept files are not audit files');
});

/**
 * Records 1-3 acknowledged, then one batch of 1 + `after` records (records 4, 5...) whose
 * fdatasync a power cut interrupted after a later page of its write had reached the disk and the
 * first had not: its first 300 bytes read back as NULs. Returns the file and where the batch began.
 */
async function lostFirstPage(dir: string, after: number) {
  const log = await openFileAuditLog({ dir });
  for (let i = 1; i <= 3; i++) await log.append([entry(i, { at: DAY1 })]);
  const acked = log.head();
  const file = join(dir, readdirSync(dir)[0]!);
  const from = statSync(file).size;
  await log.append(Array.from({ length: 1 + after }, (_, k) => entry(4 + k, { at: DAY1 })));
  await log.close();
  const bytes = readFileSync(file);
  bytes.fill(0, from, from + 300);
  writeFileSync(file, bytes);
  return { acked, file, from };
}

for (const after of [1, 2, 5]) {
  t.test(`NUL bytes with ${after} whole record(s) after them (a batch's first page lost) stop start-up at the NUL line, and a cut there recovers`, async (t) => {
    const dir = t.testdir();
    const { acked, file, from } = await lostFirstPage(dir, after);
    const before = readFileSync(file);
    const name = file.split('/').pop()!;
    const err = await openFileAuditLog({ dir }).then(
      async (log) => {
        await log.close();
        return null;
      },
      (e: Error) => e,
    );
    t.equal(err?.name, 'AuditCorruptError', 'start-up refuses');
    t.match(err?.message, `${name} line 4 (byte ${from}): it holds NUL bytes, and ${after} complete line${after === 1 ? '' : 's'} follow`, 'at the NUL line, however many records follow it');
    t.match(err?.message, /power cut during the write of one batch can leave this/, 'naming the crash that leaves it');
    t.match(err?.message, `truncate -s ${from} ${file}`, 'and where the operator may cut');
    t.same(readFileSync(file), before, 'nothing cut');
    t.match(await verifyAuditLog(dir), { ok: false }, 'audit verify agrees the log is broken');
    // the operator's cut, as the message gives it: the log opens at the acknowledged head
    truncateSync(file, from);
    const log = await openFileAuditLog({ dir });
    t.same(log.head(), acked, 'after the cut the head is the last acknowledged record');
    await log.append([entry(4, { at: DAY1 })]);
    await log.close();
    t.match(await verifyAuditLog(dir), { ok: true, count: 4 });
  });
}

t.test('a burst of appends larger than 64 KiB whose last write lost its first page: start-up sees the NUL line and refuses', async (t) => {
  const dir = t.testdir();
  const ffs = faultyFs();
  const log = await openFileAuditLog({ dir, fs: ffs.fs });
  const pad = 'x'.repeat(600);
  await Promise.all(Array.from({ length: 150 }, (_, i) => log.append([entry(i + 1, { at: DAY1, data: { pad } })])));
  await log.close();
  const last = ffs.state.writes.at(-1)!;
  t.ok(ffs.state.writes.length > 1, `the burst took ${ffs.state.writes.length} writes`);
  // the power cut: the last write's first page never reached the disk, its later ones did
  const bytes = readFileSync(last.path);
  t.ok(bytes.length - last.at > 1000, 'whole records after the lost page');
  bytes.fill(0, last.at, last.at + 300);
  writeFileSync(last.path, bytes);
  await t.rejects(openFileAuditLog({ dir }), { name: 'AuditCorruptError', message: new RegExp(`\\(byte ${last.at}\\): it holds NUL bytes, and \\d+ complete lines follow it`) });
});

t.test('one append whose records exceed 64 KiB (a sweep expiring many grants) whose last write lost its first page: start-up sees the NUL line and refuses', async (t) => {
  const dir = t.testdir();
  const ffs = faultyFs();
  const log = await openFileAuditLog({ dir, fs: ffs.fs });
  await log.append([entry(1, { at: DAY1 })]);
  // 40 records of some 3.5 KB (a grant's expiry with a long justification): 140 KB in one append
  const pad = 'x'.repeat(3000);
  await log.append(Array.from({ length: 40 }, (_, i) => entry(i + 2, { at: DAY1, data: { pad } })));
  await log.close();
  const last = ffs.state.writes.at(-1)!;
  // the power cut: the last write's first page never reached the disk, its later ones did
  const bytes = readFileSync(last.path);
  t.ok(bytes.length - last.at > 4000, 'whole records after the lost page');
  bytes.fill(0, last.at, last.at + 300);
  writeFileSync(last.path, bytes);
  await t.rejects(openFileAuditLog({ dir }), { name: 'AuditCorruptError', message: new RegExp(`\\(byte ${last.at}\\): it holds NUL bytes, and \\d+ complete lines follow it`) });
});

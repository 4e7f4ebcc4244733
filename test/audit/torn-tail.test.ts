import { appendFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { openFileAuditLog } from '../../src/audit/file-log.ts';
import { verifyAuditLog } from '../../src/audit/verify.ts';
import { entry, memoryLogger } from './helpers.ts';

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

const cases = [
  { name: 'half a line, no final newline', damage: (f: string) => appendFileSync(f, readFileSync(f, 'utf8').split('\n')[0]!.slice(0, 200)), headSeq: 5, fileBKept: true, warns: true },
  { name: 'a line cut short but ended by a newline', damage: (f: string) => appendFileSync(f, '{"actor":{"groups":[\n'), headSeq: 5, fileBKept: true, warns: true },
  { name: 'NUL bytes (size extended, data never written)', damage: (f: string) => appendFileSync(f, Buffer.alloc(4096)), headSeq: 5, fileBKept: true, warns: true },
  { name: 'several torn lines after the last good one', damage: (f: string) => appendFileSync(f, 'garbage\n{"x":\n\u0000\u0000'), headSeq: 5, fileBKept: true, warns: true },
  { name: 'newest file empty (created, then crash)', damage: (f: string) => writeFileSync(f, ''), headSeq: 3, fileBKept: false, warns: false },
  { name: 'newest file holds only a torn line', damage: (f: string) => writeFileSync(f, '{"actor":{"gro'), headSeq: 3, fileBKept: false, warns: true },
];

for (const c of cases) {
  t.test(`torn tail repaired: ${c.name}`, async (t) => {
    const dir = t.testdir();
    const made = await makeLog(dir);
    c.damage(made.fileB);
    const logger = memoryLogger();
    const log = await openFileAuditLog({ dir, logger });
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
    { name: 'hash of the last record altered', damage: (s: string) => s.replace(/"id":"dec-5"/, '"id":"dec-Z"'), msg: /seq 5 hash does not recompute/ },
    { name: 'line before the head removed', damage: (s: string) => s.split('\n').filter((_, i) => i !== 0).join('\n'), msg: /first record has seq 5, file name says 4/ },
    { name: 'line before the head not a record', damage: (s: string) => s.replace(/^[^\n]*/, 'junk'), msg: /line before seq 5 is not a record/ },
    { name: 'head not chained to the line before', damage: (s: string) => s.split('\n').reverse().slice(1).concat(['']).join('\n'), msg: /seq 4 does not chain/ },
  ];
  for (const d of damages) {
    const dir = t.testdir();
    const made = await makeLog(dir);
    writeFileSync(made.fileB, d.damage(readFileSync(made.fileB, 'utf8')));
    await t.rejects(openFileAuditLog({ dir }), { name: 'AuditCorruptError', message: d.msg }, d.name);
  }
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

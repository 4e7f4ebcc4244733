import { mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { hashRecord } from '../../src/audit/canonical-json.ts';
import { openFileAuditLog } from '../../src/audit/file-log.ts';
import { runAuditVerify } from '../../src/audit/verify-command.ts';
import { chainBreak, verifyAuditLog } from '../../src/audit/verify.ts';
import { entry } from './helpers.ts';

/** 12 records in 3 files of 4, one file per day (26, 27, 28 Nov 2026) */
async function makeLog(dir: string): Promise<string[]> {
  const log = await openFileAuditLog({ dir });
  for (let i = 1; i <= 12; i++) await log.append([entry(i, { at: `2026-11-${26 + Math.floor((i - 1) / 4)}T10:00:00.000Z` })]);
  await log.close();
  return readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort();
}

function editLines(dir: string, file: string, edit: (lines: string[]) => string[]): void {
  const p = join(dir, file);
  const lines = readFileSync(p, 'utf8').split('\n').slice(0, -1);
  writeFileSync(p, edit(lines).map((l) => `${l}\n`).join(''));
}

t.test('an intact log verifies', async (t) => {
  const dir = t.testdir();
  const files = await makeLog(dir);
  t.ok(files.length >= 3, `${files.length} files`);
  const res = await verifyAuditLog(dir);
  t.match(res, { ok: true, count: 12, files: files.length, head: { seq: 12 } });
});

t.test('an empty or missing log', async (t) => {
  t.same(await verifyAuditLog(t.testdir()), { ok: true, count: 0, head: { seq: 0, hash: '0'.repeat(64) }, files: 0, archived: 0 });
  await t.rejects(verifyAuditLog(join(t.testdir(), 'nope')), { code: 'ENOENT' });
});

type Tamper = { name: string; apply(dir: string, files: string[]): void; seq: number | null; fileIndex: number; file?: string; line: number; reason: RegExp; count: number };

// Every file holds 4 records: file 0 = seq 1..4, file 1 = seq 5..8, file 2 = seq 9..12.
const tampers: Tamper[] = [
  {
    name: 'one byte of one record changed',
    apply: (dir, files) => editLines(dir, files[1]!, (ls) => ls.map((l, i) => (i === 1 ? l.replace('"id":"dec-6"', '"id":"dec-X"') : l))),
    seq: 6, fileIndex: 1, line: 2, reason: /hash does not match/, count: 5,
  },
  {
    name: 'a line deleted',
    apply: (dir, files) => editLines(dir, files[1]!, (ls) => ls.filter((_, i) => i !== 2)),
    seq: 8, fileIndex: 1, line: 3, reason: /^seq 8 follows seq 6 \(expected seq 7 here: record 7 is missing\)$/, count: 6,
  },
  {
    name: 'two lines swapped',
    apply: (dir, files) => editLines(dir, files[0]!, (ls) => [ls[0]!, ls[2]!, ls[1]!, ls[3]!]),
    seq: 3, fileIndex: 0, line: 2, reason: /^seq 3 follows seq 1 \(expected seq 2 here: record 2 is out of order, at file audit-20261126-000000000001\.jsonl line 3\)$/, count: 1,
  },
  {
    name: 'two lines swapped (seq 7 and 8)',
    apply: (dir, files) => editLines(dir, files[1]!, (ls) => [ls[0]!, ls[1]!, ls[3]!, ls[2]!]),
    seq: 8, fileIndex: 1, line: 3, reason: /^seq 8 follows seq 6 \(expected seq 7 here: record 7 is out of order, at file audit-20261127-000000000005\.jsonl line 4\)$/, count: 6,
  },
  {
    name: 'a record moved into a later file',
    apply: (dir, files) => {
      let moved = '';
      editLines(dir, files[1]!, (ls) => {
        moved = ls[1]!;
        return ls.filter((_, i) => i !== 1);
      });
      editLines(dir, files[2]!, (ls) => [ls[0]!, moved, ...ls.slice(1)]);
    },
    seq: 7, fileIndex: 1, line: 2, reason: /^seq 7 follows seq 5 \(expected seq 6 here: record 6 is out of order, at file audit-20261128-000000000009\.jsonl line 2\)$/, count: 5,
  },
  {
    name: 'two lines deleted, the later one of them put back further on',
    apply: (dir, files) => {
      let kept = '';
      editLines(dir, files[0]!, (ls) => {
        kept = ls[2]!;
        return [ls[0]!, ls[3]!];
      });
      editLines(dir, files[1]!, (ls) => [...ls, kept]);
    },
    seq: 4, fileIndex: 0, line: 2, reason: /^seq 4 follows seq 1 \(expected seq 2 here: record 2 is missing, and record 3 comes later, out of order\)$/, count: 1,
  },
  {
    name: 'prev changed (hash recomputed to match)',
    apply: (dir, files) =>
      editLines(dir, files[2]!, (ls) =>
        ls.map((l, i) => {
          if (i !== 0) return l;
          const r = JSON.parse(l);
          r.prev = 'a'.repeat(64);
          r.hash = hashRecord(r.prev, r);
          return JSON.stringify(Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1))));
        }),
      ),
    seq: 9, fileIndex: 2, line: 1, reason: /prev does not match the hash of seq 8/, count: 8,
  },
  {
    name: 'first record prev not genesis',
    apply: (dir, files) => editLines(dir, files[0]!, (ls) => ls.map((l, i) => (i === 0 ? l.replace(/"prev":"0{64}"/, `"prev":"${'1'.repeat(64)}"`) : l))),
    seq: 1, fileIndex: 0, line: 1, reason: /prev is not the genesis hash/, count: 0,
  },
  {
    name: 'a whole middle file deleted',
    apply: (dir, files) => unlinkSync(join(dir, files[1]!)),
    seq: 9, fileIndex: 2, line: 1, reason: /^seq 9 follows seq 4 \(expected seq 5 here: records 5\.\.8 are missing\)$/, count: 4,
  },
  {
    name: 'a file renamed out of order',
    apply: (dir, files) => renameSync(join(dir, files[2]!), join(dir, files[2]!.replace(/\d{12}/, '000000000010'))),
    seq: 9, fileIndex: 2, file: 'audit-20261128-000000000010.jsonl', line: 1, reason: /file name says the first seq is 10/, count: 8,
  },
  {
    name: 'a line that is not JSON',
    apply: (dir, files) => editLines(dir, files[0]!, (ls) => ls.map((l, i) => (i === 3 ? l.slice(0, 40) : l))),
    seq: null, fileIndex: 0, line: 4, reason: /not valid JSON/, count: 3,
  },
  {
    name: 'torn last line (no final newline)',
    apply: (dir, files) => {
      const p = join(dir, files[2]!);
      writeFileSync(p, readFileSync(p, 'utf8').slice(0, -1));
    },
    seq: 12, fileIndex: 2, line: 4, reason: /torn last line: no final newline/, count: 11,
  },
  {
    name: 'record reformatted (whitespace), same content',
    apply: (dir, files) => editLines(dir, files[0]!, (ls) => ls.map((l, i) => (i === 1 ? JSON.stringify(JSON.parse(l), null, 0).replace('{', '{ ') : l))),
    seq: 2, fileIndex: 0, line: 2, reason: /not canonical JSON/, count: 1,
  },
  {
    name: 'an extra member added',
    apply: (dir, files) => editLines(dir, files[0]!, (ls) => ls.map((l, i) => (i === 2 ? l.replace('{', '{"zzz":1,') : l))),
    seq: 3, fileIndex: 0, line: 3, reason: /not an AuditEventV1/, count: 2,
  },
  {
    name: 'a record missing a member',
    apply: (dir, files) => editLines(dir, files[1]!, (ls) => ls.map((l, i) => (i === 0 ? l.replace(/"stage":"prod",/, '') : l))),
    seq: 5, fileIndex: 1, line: 1, reason: /not an AuditEventV1: stage/, count: 4,
  },
];

t.test('chainBreak alone (one line, no look-ahead) says a skipped seq is missing or out of order', async (t) => {
  t.equal(chainBreak({ seq: 8, prev: 'x' }, { seq: 6, hash: 'x' }), 'seq 8 follows seq 6 (expected seq 7 here: record 7 is missing or out of order)');
  t.equal(chainBreak({ seq: 9, prev: 'x' }, { seq: 4, hash: 'x' }), 'seq 9 follows seq 4 (expected seq 5 here: records 5..8 are missing or out of order)');
  t.equal(chainBreak({ seq: 3, prev: 'x' }, { seq: 4, hash: 'x' }), 'seq 3 follows seq 4 (expected seq 5 here: seq 3 is out of order or repeated)');
});

for (const c of tampers) {
  t.test(`tampering is named: ${c.name}`, async (t) => {
    const dir = t.testdir();
    const files = await makeLog(dir);
    c.apply(dir, files);
    const res = await verifyAuditLog(dir);
    t.equal(res.ok, false);
    if (res.ok) return;
    t.equal(res.firstBroken.seq, c.seq, 'seq');
    t.equal(res.firstBroken.file, c.file ?? files[c.fileIndex], 'file');
    t.equal(res.firstBroken.line, c.line, 'line');
    t.match(res.firstBroken.reason, c.reason, 'reason');
    t.equal(res.count, c.count, 'records checked good before it');
  });
}

t.test('runAuditVerify prints one line and returns the exit code', async (t) => {
  const cases = [
    {
      name: 'intact',
      setup: async (dataDir: string) => void (await makeLog(join(dataDir, 'audit'))),
      code: 0,
      line: /^audit log OK: 12 records in 3 files, head seq 12 hash [0-9a-f]{64}$/,
    },
    {
      name: 'broken',
      setup: async (dataDir: string) => {
        const dir = join(dataDir, 'audit');
        const files = await makeLog(dir);
        tampers[0]!.apply(dir, files);
      },
      code: 1,
      line: /^audit log BROKEN at record seq 6 \(file audit-20261127-000000000005\.jsonl line 2\): hash does not match the record content$/,
    },
    { name: 'missing directory', setup: async () => {}, code: 2, line: /^audit log UNREADABLE at .*audit: ENOENT/ },
    {
      // the chain cannot show that its end is gone: the state checkpoint can
      name: 'newest file removed, behind a checkpoint at seq 12',
      setup: async (dataDir: string) => {
        const dir = join(dataDir, 'audit');
        const files = await makeLog(dir);
        writeFileSync(join(dataDir, 'state.json'), JSON.stringify({ version: 1, auditSeq: 12 }));
        unlinkSync(join(dir, files.at(-1)!));
      },
      code: 1,
      line: /^audit log BROKEN at its end: the log ends at seq 8 but the state checkpoint \(state\.json\) has seen seq 12: records 9\.\.12 are missing \(the newest file cut short or removed\)$/,
    },
    {
      name: 'newest file cut at a line boundary',
      setup: async (dataDir: string) => {
        const dir = join(dataDir, 'audit');
        const files = await makeLog(dir);
        writeFileSync(join(dataDir, 'state.json'), JSON.stringify({ version: 1, auditSeq: 12 }));
        editLines(dir, files.at(-1)!, (lines) => lines.slice(0, -1));
      },
      code: 1,
      line: /^audit log BROKEN at its end: the log ends at seq 11 but the state checkpoint \(state\.json\) has seen seq 12: record 12 is missing/,
    },
    {
      name: 'intact, checkpoint behind the log (a crash before the last checkpoint)',
      setup: async (dataDir: string) => {
        await makeLog(join(dataDir, 'audit'));
        writeFileSync(join(dataDir, 'state.json'), JSON.stringify({ version: 1, auditSeq: 7 }));
      },
      code: 0,
      line: /^audit log OK: 12 records in 3 files, head seq 12 /,
    },
    {
      // the gate refuses to start on such a checkpoint; "OK" would vouch for an end nothing was compared with
      name: 'intact, checkpoint not JSON',
      setup: async (dataDir: string) => {
        await makeLog(join(dataDir, 'audit'));
        writeFileSync(join(dataDir, 'state.json'), '{not json');
      },
      code: 2,
      line: /^audit log END UNCHECKED: the chain is intact \(12 records in 3 files, head seq 12\) but the state checkpoint .*state\.json cannot be read \(not JSON \(.*\)\), so the log cannot be shown to reach the seq the gate has seen$/,
    },
    {
      name: 'intact, checkpoint with a seq that is not one',
      setup: async (dataDir: string) => {
        await makeLog(join(dataDir, 'audit'));
        writeFileSync(join(dataDir, 'state.json'), JSON.stringify({ version: 1, auditSeq: -3 }));
      },
      code: 2,
      line: /^audit log END UNCHECKED: .*cannot be read \(its auditSeq -3 is not a whole number >= 0\)/,
    },
    {
      name: 'intact, checkpoint not a state file',
      setup: async (dataDir: string) => {
        await makeLog(join(dataDir, 'audit'));
        writeFileSync(join(dataDir, 'state.json'), '[]');
      },
      code: 2,
      line: /^audit log END UNCHECKED: .*cannot be read \(not a version 1 state file\)/,
    },
    // what the gate reads as a checkpoint at seq 0 (it rebuilds the state from the whole log): nothing to compare with
    ...['null', JSON.stringify({ version: 1 })].map((text) => ({
      name: `intact, checkpoint ${text}`,
      setup: async (dataDir: string) => {
        await makeLog(join(dataDir, 'audit'));
        writeFileSync(join(dataDir, 'state.json'), text);
      },
      code: 0,
      line: /^audit log OK: 12 records/,
    })),
    {
      name: 'intact, checkpoint a directory',
      setup: async (dataDir: string) => {
        await makeLog(join(dataDir, 'audit'));
        mkdirSync(join(dataDir, 'state.json'));
      },
      code: 2,
      line: /^audit log END UNCHECKED: .*cannot be read \(EISDIR/,
    },
    {
      name: 'intact, no checkpoint (a new data directory, or a copy of the log alone)',
      setup: async (dataDir: string) => void (await makeLog(join(dataDir, 'audit'))),
      code: 0,
      line: /^audit log OK: 12 records/,
    },
  ];
  for (const c of cases) {
    const dataDir = t.testdir();
    await c.setup(dataDir);
    const out: string[] = [];
    t.equal(await runAuditVerify(dataDir, (l) => out.push(l)), c.code, `${c.name}: exit code`);
    t.equal(out.length, 1, `${c.name}: one line`);
    t.match(out[0], c.line, `${c.name}: line`);
  }
});

t.test('runAuditVerify: a torn last line in an older file (the newest one is whole) is not called the end a crash leaves', async (t) => {
  const dataDir = t.testdir();
  const dir = join(dataDir, 'audit');
  const files = await makeLog(dir);
  t.ok(files.length >= 2, 'several files');
  const older = join(dir, files[0]!);
  writeFileSync(older, readFileSync(older, 'utf8').slice(0, -1));
  const out: string[] = [];
  t.equal(await runAuditVerify(dataDir, (l) => out.push(l), async () => {}), 1, 'broken');
  t.match(out[0], new RegExp(`file ${files[0]}.*torn last line: no final newline$`), 'torn, and nothing more said');
});

t.test('runAuditVerify on a running gate: a last line still being written is looked at again, not reported torn', async (t) => {
  const { appendFileSync } = await import('node:fs');
  const dataDir = t.testdir();
  const dir = join(dataDir, 'audit');
  const files = await makeLog(dir);
  const newest = join(dir, files.at(-1)!);
  const text = readFileSync(newest, 'utf8');
  const lines = text.split('\n');
  const last = lines.at(-2)!;
  // the gate's write of the last record has put only its first half in the file so far
  writeFileSync(newest, lines.slice(0, -2).join('\n') + '\n' + last.slice(0, 40));
  const out: string[] = [];
  const verifying = runAuditVerify(dataDir, (l) => out.push(l));
  await new Promise((r) => setTimeout(r, 50));
  appendFileSync(newest, last.slice(40) + '\n');
  t.equal(await verifying, 0, 'the write finished: intact');
  t.match(out[0], /^audit log OK: 12 records/);

  // a line that stays unfinished (a crash cut it; the gate's next start cuts it off) is reported
  writeFileSync(newest, lines.slice(0, -2).join('\n') + '\n' + last.slice(0, 40));
  const again: string[] = [];
  t.equal(await runAuditVerify(dataDir, (l) => again.push(l)), 1, 'still unfinished: torn');
  t.match(again[0], /torn last line/);
  t.match(again[0], /: the end a crash leaves in the newest file \(a write cut short, never acknowledged.*The gate's next start keeps it beside the log \(<file>\.cut-<byte offset>\) and cuts it: start the gate and verify again; restore from a backup only if start-up refuses$/, 'said to be the end a crash leaves, which start-up cuts');

  // a busy gate: by the second look the line is finished and a later one is being written (the
  // writer moves on during each pause)
  const before = lines.at(-3)!;
  writeFileSync(newest, lines.slice(0, -3).join('\n') + '\n' + before.slice(0, 40));
  const busy: string[] = [];
  const writes = [() => appendFileSync(newest, before.slice(40) + '\n' + last.slice(0, 40)), () => appendFileSync(newest, last.slice(40) + '\n')];
  const pauses: number[] = [];
  const code = await runAuditVerify(dataDir, (l) => busy.push(l), async (ms) => {
    pauses.push(ms);
    writes.shift()?.();
  });
  t.equal(code, 0, 'a later line unfinished at the second look is looked at again: intact');
  t.match(busy[0], /^audit log OK: 12 records/);
  t.same(pauses, [300, 300], 'two pauses of 0.3 s');
});

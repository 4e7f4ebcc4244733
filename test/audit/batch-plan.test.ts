import t from 'tap';
import { planRuns } from '../../src/audit/batch-plan.ts';
import { GENESIS_HASH } from '../../src/audit/event.ts';
import { sealRecord } from '../../src/audit/record.ts';
import type { Segment } from '../../src/audit/segments.ts';
import { entry } from './helpers.ts';

const now = () => new Date('2026-12-01T00:00:00Z');
const seal = (seq: number, at: string, pad = 0) => {
  const { record, line } = sealRecord(entry(seq, { at, data: { pad: 'x'.repeat(pad) } }), seq, GENESIS_HASH);
  return { record, buf: Buffer.from(line) };
};
const D26 = '2026-11-26T10:00:00.000Z';
const D27 = '2026-11-27T10:00:00.000Z';
const file26: Segment = { name: 'audit-20261126-000000000001.jsonl', day: '20261126', firstSeq: 1 };

t.test('planRuns', async (t) => {
  const lineBytes = seal(5, D26).buf.length;
  const L = lineBytes;
  const cases: { name: string; pos: { file: Segment | null; size: number }; recs: ReturnType<typeof seal>[]; max: number; write?: number; want: object[] }[] = [
    { name: 'empty log: one new file', pos: { file: null, size: 0 }, recs: [seal(1, D26), seal(2, D26)], max: 1e9, want: [{ name: 'audit-20261126-000000000001.jsonl', isNew: true, start: 0, n: 2 }] },
    { name: 'same day: continue the newest file', pos: { file: file26, size: 1000 }, recs: [seal(5, D26), seal(6, D26)], max: 1e9, want: [{ name: file26.name, isNew: false, start: 1000, n: 2 }] },
    { name: 'next day: new file named for its first record', pos: { file: file26, size: 1000 }, recs: [seal(5, D27)], max: 1e9, want: [{ name: 'audit-20261127-000000000005.jsonl', isNew: true, start: 0, n: 1 }] },
    { name: 'day changes within the batch', pos: { file: file26, size: 1000 }, recs: [seal(5, D26), seal(6, D27), seal(7, D27)], max: 1e9, want: [{ name: file26.name, isNew: false, start: 1000, n: 1 }, { name: 'audit-20261127-000000000006.jsonl', isNew: true, start: 0, n: 2 }] },
    { name: 'exactly fills the file: stays', pos: { file: file26, size: 1000 }, recs: [seal(5, D26)], max: 1000 + lineBytes, want: [{ name: file26.name, isNew: false, start: 1000, n: 1 }] },
    { name: 'one byte over: new file', pos: { file: file26, size: 1001 }, recs: [seal(5, D26)], max: 1000 + lineBytes, want: [{ name: 'audit-20261126-000000000005.jsonl', isNew: true, start: 0, n: 1 }] },
    { name: 'a record bigger than the limit sits alone', pos: { file: null, size: 0 }, recs: [seal(1, D26, 5000), seal(2, D26)], max: 2000, want: [{ name: 'audit-20261126-000000000001.jsonl', isNew: true, start: 0, n: 1 }, { name: 'audit-20261126-000000000002.jsonl', isNew: true, start: 0, n: 1 }] },
    {
      name: 'one batch past the write limit: the next run continues the same file where the last ended',
      pos: { file: file26, size: 1000 },
      recs: [seal(5, D26), seal(6, D26), seal(7, D26), seal(8, D26), seal(9, D26)],
      max: 1e9,
      write: 2 * L,
      want: [{ name: file26.name, isNew: false, start: 1000, n: 2 }, { name: file26.name, isNew: false, start: 1000 + 2 * L, n: 2 }, { name: file26.name, isNew: false, start: 1000 + 4 * L, n: 1 }],
    },
    {
      name: 'past the write limit in a new file: only its first run creates it',
      pos: { file: null, size: 0 },
      recs: [seal(1, D26), seal(2, D26), seal(3, D26)],
      max: 1e9,
      write: 2 * L - 1,
      want: [{ name: 'audit-20261126-000000000001.jsonl', isNew: true, start: 0, n: 1 }, { name: 'audit-20261126-000000000001.jsonl', isNew: false, start: L, n: 1 }, { name: 'audit-20261126-000000000001.jsonl', isNew: false, start: 2 * L, n: 1 }],
    },
    {
      name: 'a record bigger than the write limit is a run alone',
      pos: { file: file26, size: 1000 },
      recs: [seal(5, D26), seal(6, D26, 5000), seal(7, D26)],
      max: 1e9,
      write: 2000,
      want: [{ name: file26.name, isNew: false, start: 1000, n: 1 }, { name: file26.name, isNew: false, start: 1000 + L, n: 1 }, { name: file26.name, isNew: false, start: 1000 + L + seal(6, D26, 5000).buf.length, n: 1 }],
    },
    {
      name: 'write limit and day change together',
      pos: { file: file26, size: 1000 },
      recs: [seal(5, D26), seal(6, D26), seal(7, D27), seal(8, D27)],
      max: 1e9,
      write: L,
      want: [{ name: file26.name, isNew: false, start: 1000, n: 1 }, { name: file26.name, isNew: false, start: 1000 + L, n: 1 }, { name: 'audit-20261127-000000000007.jsonl', isNew: true, start: 0, n: 1 }, { name: 'audit-20261127-000000000007.jsonl', isNew: false, start: L, n: 1 }],
    },
    { name: 'at not an instant: day of now()', pos: { file: file26, size: 10 }, recs: [seal(5, 'soon')], max: 1e9, want: [{ name: 'audit-20261201-000000000005.jsonl', isNew: true, start: 0, n: 1 }] },
  ];
  for (const c of cases) {
    const runs = planRuns(c.pos, c.recs, c.max, c.write ?? 1e9, now);
    t.same(runs.map((r) => ({ name: r.seg.name, isNew: r.isNew, start: r.start, n: r.bufs.length })), c.want, c.name);
    t.equal(runs.reduce((a, r) => a + r.bytes, 0), c.recs.reduce((a, r) => a + r.buf.length, 0), `${c.name}: every byte planned once`);
    t.ok(runs.every((r) => r.bytes <= (c.write ?? 1e9) || r.bufs.length === 1), `${c.name}: each run within the write limit, or one record alone`);
  }
});

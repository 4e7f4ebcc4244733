import t from 'tap';
import { nodeAuditFs } from '../../src/audit/audit-fs.ts';
import { listSegments, parseSegmentName, segmentName, utcDay } from '../../src/audit/segments.ts';

t.test('segment names', async (t) => {
  const cases = [
    { day: '20261126', seq: 1, name: 'audit-20261126-000000000001.jsonl' },
    { day: '20270101', seq: 123456789012, name: 'audit-20270101-123456789012.jsonl' },
    { day: '20270101', seq: 1234567890123, name: 'audit-20270101-1234567890123.jsonl' },
  ];
  for (const c of cases) {
    t.equal(segmentName(c.day, c.seq), c.name);
    t.same(parseSegmentName(c.name), { name: c.name, day: c.day, firstSeq: c.seq });
  }
  for (const other of ['audit-2026112-000000000001.jsonl', 'audit-20261126-1.jsonl', '.audit-probe', 'audit-20261126-000000000001.jsonl.tmp', 'state.json']) {
    t.equal(parseSegmentName(other), null, `not a segment: ${other}`);
  }
});

t.test('listSegments orders by first seq, not by name or directory order', async (t) => {
  // the clock stepped back over midnight: the file for seq 3 has an earlier day than seq 2's
  const names = ['audit-20261127-000000000002.jsonl', '.audit-probe', 'audit-20261126-000000000003.jsonl', 'audit-20261126-000000000001.jsonl', 'notes.txt'];
  const fs = { ...nodeAuditFs, readdir: async () => names };
  t.same((await listSegments(fs, '/x')).map((s) => s.firstSeq), [1, 2, 3]);
});

t.test('utcDay', async (t) => {
  const now = () => new Date('2030-05-06T07:08:09Z');
  const cases = [
    { at: '2026-11-26T23:59:59.999Z', day: '20261126' },
    { at: '2026-11-27T00:00:00.000Z', day: '20261127' },
    { at: '2026-11-26T20:00:00-05:00', day: '20261127' },
    { at: 'garbage', day: '20300506' },
    { at: '', day: '20300506' },
  ];
  for (const c of cases) t.equal(utcDay(c.at, now), c.day, c.at || '(empty)');
  // years toISOString cannot write in four digits: as if not an instant (now()), never a bad name
  t.equal(utcDay('+010000-01-01T00:00:00.000Z', now), '20300506', 'year 10000: now()');
  t.equal(utcDay('-000001-06-01T00:00:00.000Z', now), '20300506', 'year -1: now()');
  t.equal(utcDay('not an instant', () => new Date('+010000-01-01T00:00:00Z')), '99991231', 'a now() past 9999 is clamped');
  t.equal(utcDay('not an instant', () => new Date(Number.NaN)), '19700101', 'an invalid now() gives the epoch day');
});

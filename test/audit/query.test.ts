import t, { type Test } from 'tap';
import type { AuditEventV1 } from '../../src/audit/event.ts';
import { openFileAuditLog } from '../../src/audit/file-log.ts';
import type { AuditLog, AuditQuery } from '../../src/audit/log.ts';
import { createMemoryAuditLog } from '../../src/audit/memory-log.ts';
import { syntheticEntry } from './synthetic-log.ts';

// 60 records: type cycles decision, refusal, breakglass.issued, breakglass.consumed, stage.toggled
// (seq % 5), stage cycles qa, prod, null (seq % 3); at = 2026-11-26T00:00:00Z + seq minutes.
const N = 60;
const START = Date.parse('2026-11-26T00:00:00.000Z');
function entryN(i: number) {
  const e = syntheticEntry(i);
  return { ...e, at: new Date(START + i * 60_000).toISOString() };
}

const logs: { name: string; open: (dir: string) => Promise<AuditLog> }[] = [
  { name: 'memory log', open: async () => createMemoryAuditLog() },
  // small files: the 60 records span many files, so pages and cursors cross file boundaries
  { name: 'file log', open: (dir) => openFileAuditLog({ dir, maxFileBytes: 2048, fsync: false }) },
];

/** what a query must return, worked out by brute force over all records */
function expected(all: AuditEventV1[], q: Omit<AuditQuery, 'limit' | 'cursor'>): number[] {
  return all
    .filter((r) => q.stage === undefined || r.stage === q.stage)
    .filter((r) => q.type === undefined || (q.type.endsWith('.') ? r.type.startsWith(q.type) : r.type === q.type))
    .filter((r) => q.since === undefined || Date.parse(r.at) >= Date.parse(q.since))
    .map((r) => r.seq)
    .reverse();
}

async function allPages(t: Test, log: AuditLog, q: AuditQuery): Promise<number[]> {
  const seqs: number[] = [];
  let cursor = q.cursor;
  for (let page = 0; page < 100; page++) {
    const res = await log.query({ ...q, cursor });
    t.ok(res.records.length <= q.limit, 'page within limit');
    seqs.push(...res.records.map((r) => r.seq));
    if (res.nextCursor === null) return seqs;
    t.equal(res.nextCursor, res.records.at(-1)!.seq, 'nextCursor is the last seq returned');
    t.equal(res.records.length, q.limit, 'a page with a next cursor is full');
    cursor = res.nextCursor;
  }
  throw new Error('too many pages');
}

const filters: { name: string; q: Omit<AuditQuery, 'limit' | 'cursor'> }[] = [
  { name: 'no filter', q: {} },
  { name: 'stage', q: { stage: 'prod' } },
  { name: 'stage nobody has', q: { stage: 'staging' } },
  { name: 'type exact', q: { type: 'decision' } },
  { name: 'type family prefix', q: { type: 'breakglass.' } },
  { name: 'since (inclusive)', q: { since: new Date(START + 40 * 60_000).toISOString() } },
  { name: 'since with another offset form', q: { since: '2026-11-25T19:40:00-05:00' } },
  { name: 'stage + type + since', q: { stage: 'qa', type: 'breakglass.', since: new Date(START + 10 * 60_000).toISOString() } },
];

for (const l of logs) {
  t.test(`${l.name}: query and since`, async (t) => {
    const log = await l.open(t.testdir());
    t.teardown(() => log.close());
    const all: AuditEventV1[] = [];
    for (let i = 1; i <= N; i += 3) all.push(...(await log.append([entryN(i), entryN(i + 1), entryN(i + 2)])));
    t.equal(all.length, N);

    for (const f of filters) {
      const want = expected(all, f.q);
      for (const limit of [1, 7, 60, 500]) {
        t.same(await allPages(t, log, { ...f.q, limit }), want, `${f.name}, limit ${limit}: all pages newest first`);
      }
      t.same(await allPages(t, log, { ...f.q, limit: 4, cursor: 31 }), want.filter((s) => s < 31), `${f.name}: from cursor 31`);
    }

    const cases: { name: string; q: AuditQuery; seqs: number[]; next: number | null }[] = [
      { name: 'first page', q: { limit: 3 }, seqs: [60, 59, 58], next: 58 },
      { name: 'exactly the rest: no next page', q: { limit: 5, cursor: 6 }, seqs: [5, 4, 3, 2, 1], next: null },
      { name: 'cursor 1: nothing older', q: { limit: 5, cursor: 1 }, seqs: [], next: null },
      { name: 'cursor beyond the head', q: { limit: 2, cursor: 1000 }, seqs: [60, 59], next: 59 },
      { name: 'matches fill the page exactly', q: { limit: 12, type: 'decision' }, seqs: [60, 55, 50, 45, 40, 35, 30, 25, 20, 15, 10, 5], next: null },
      { name: 'since in the future', q: { limit: 10, since: '2030-01-01T00:00:00Z' }, seqs: [], next: null },
    ];
    for (const c of cases) {
      const res = await log.query(c.q);
      t.same(res.records.map((r) => r.seq), c.seqs, `${c.name}: records`);
      t.equal(res.nextCursor, c.next, `${c.name}: nextCursor`);
    }
    t.same((await log.query({ limit: 1 })).records[0], all.at(-1), 'records come back exactly as appended');

    for (const bad of [{ limit: 0 }, { limit: 501 }, { limit: 1.5 }, { limit: 5, cursor: 0 }, { limit: 5, since: 'yesterday' }] as AuditQuery[]) {
      await t.rejects(log.query(bad), RangeError, `refused: ${JSON.stringify(bad)}`);
    }

    const sinceCases = [
      { after: 0, seqs: all.map((r) => r.seq) },
      { after: 55, seqs: [56, 57, 58, 59, 60] },
      { after: 59, seqs: [60] },
      { after: 60, seqs: [] },
      { after: 1000, seqs: [] },
    ];
    for (const c of sinceCases) t.same((await log.since(c.after)).map((r) => r.seq), c.seqs, `since(${c.after})`);
    t.same(await log.since(57), all.slice(57), 'since() returns the records themselves, oldest first');
    await t.rejects(log.since(-1), RangeError);
  });

  t.test(`${l.name}: since and a clock that stepped back`, async (t) => {
    // at: 10:00, 10:30, 10:20 (the clock stepped back), 10:40; query since 10:25
    const ats = ['10:00', '10:30', '10:20', '10:40'].map((hm) => `2026-11-26T${hm}:00.000Z`);
    const since = '2026-11-26T10:25:00.000Z';
    const variants = [
      { name: 'default slack (1 h) finds every match', slack: undefined, seqs: [4, 2] },
      { name: 'no slack stops at the stepped-back record', slack: 0, seqs: [4] },
    ];
    for (const v of variants) {
      const dir = t.testdir();
      const log = l.name === 'memory log' ? createMemoryAuditLog({ sinceSlackMs: v.slack }) : await openFileAuditLog({ dir, sinceSlackMs: v.slack, fsync: false });
      for (const [i, at] of ats.entries()) await log.append([{ ...entryN(i), at }]);
      t.same((await log.query({ limit: 10, since })).records.map((r) => r.seq), v.seqs, v.name);
      await log.close();
    }
  });
}

for (const l of logs) {
  t.test(`${l.name}: a query examines at most scanLimit records; a partial page says so and the next goes on from where it stopped`, async (t) => {
    const SCAN = 9;
    const log = l.name === 'memory log' ? createMemoryAuditLog({ scanLimit: SCAN }) : await openFileAuditLog({ dir: t.testdir(), maxFileBytes: 2048, fsync: false, scanLimit: SCAN });
    t.teardown(() => log.close());
    const all: AuditEventV1[] = [];
    for (let i = 1; i <= N; i += 3) all.push(...(await log.append([entryN(i), entryN(i + 1), entryN(i + 2)])));

    const first = await log.query({ limit: 5, stage: 'staging' });
    t.same(first, { records: [], nextCursor: N - SCAN + 1, partial: true }, 'nothing among the newest 9: an empty partial page going on below seq 52');
    const full = await log.query({ limit: 3 });
    t.same({ seqs: full.records.map((r) => r.seq), next: full.nextCursor, partial: full.partial }, { seqs: [60, 59, 58], next: 58, partial: false }, 'a page filled within the budget is not partial');
    const exact = await log.query({ limit: SCAN });
    t.same(
      { n: exact.records.length, next: exact.nextCursor, partial: exact.partial },
      { n: SCAN, next: N - SCAN + 1, partial: false },
      'a page that fills just as the budget runs out is full, not partial, and goes on below what it examined',
    );

    for (const f of filters) {
      const want = expected(all, f.q);
      for (const limit of [1, 4, 500]) {
        const seqs: number[] = [];
        let cursor: number | undefined;
        let pages = 0;
        let partials = 0;
        for (; pages < 100; pages++) {
          const res = await log.query({ ...f.q, limit, cursor });
          seqs.push(...res.records.map((r) => r.seq));
          if (res.partial) {
            partials += 1;
            t.not(res.nextCursor, null, 'a partial page has a cursor to go on from');
            if (res.records.length > 0) t.ok(res.nextCursor! <= res.records.at(-1)!.seq, 'which is below what it returned');
          }
          if (res.nextCursor === null) break;
          cursor = res.nextCursor;
        }
        t.same(seqs, want, `${f.name}, limit ${limit}: the pages together hold every match, newest first, once`);
        const examinedBound = Math.ceil(N / SCAN) + Math.ceil(want.length / limit) + 1;
        t.ok(pages <= examinedBound, `${f.name}, limit ${limit}: ${pages + 1} pages (${partials} partial)`);
      }
    }
  });
}

t.test('memory and file logs chain the same entries to the same records', async (t) => {
  const mem = createMemoryAuditLog();
  const file = await openFileAuditLog({ dir: t.testdir(), fsync: false });
  for (let i = 1; i <= 20; i += 2) {
    const [a, b] = await Promise.all([mem.append([entryN(i), entryN(i + 1)]), file.append([entryN(i), entryN(i + 1)])]);
    t.same(a, b);
  }
  t.same(mem.head(), file.head());
  t.same(await mem.since(0), await file.since(0));
  await file.close();
});

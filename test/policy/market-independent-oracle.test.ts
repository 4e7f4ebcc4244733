/**
 * The market clock against an oracle written independently of src/policy (luxon for wall time and
 * weekdays, Oudin's Easter, RULES.md §1a-§1c restated): every New York date 2000-2099 has the same
 * session, and for random instants (plus 09:29:59.999/09:30/12:59:59.999/13:00/15:59:59.999/16:00
 * on random dates) open iff session.open <= t < session.close, nextOpen/nextClose are the oracle's.
 * Operator extras (closures, early closes, overlapping holidays and each other) likewise.
 */
import t from 'tap';
import fc from 'fast-check';
import { DateTime } from 'luxon';
import { createMarketCalendar } from '../../src/policy/market-hours.ts';
const Z = 'America/New_York';
// independent holiday rules using luxon only
function easter(y: number): DateTime { // Oudin's algorithm
  const g = y % 19, c = Math.floor(y / 100);
  const h = (c - Math.floor(c / 4) - Math.floor((8 * c + 13) / 25) + 19 * g + 15) % 30;
  const i = h - Math.floor(h / 28) * (1 - Math.floor(29 / (h + 1)) * Math.floor((21 - g) / 11));
  const j = (y + Math.floor(y / 4) + i + 2 - c + Math.floor(c / 4)) % 7;
  const l = i - j; const m = 3 + Math.floor((l + 40) / 44); const d = l + 28 - 31 * Math.floor(m / 4);
  return DateTime.fromObject({ year: y, month: m, day: d }, { zone: Z });
}
const nth = (y: number, m: number, wd: number, n: number) => { let d = DateTime.fromObject({ year: y, month: m, day: 1 }, { zone: Z }); while (d.weekday !== wd) d = d.plus({ days: 1 }); return d.plus({ weeks: n - 1 }); };
const last = (y: number, m: number, wd: number) => { let d = DateTime.fromObject({ year: y, month: m, day: 1 }, { zone: Z }).endOf('month').startOf('day'); while (d.weekday !== wd) d = d.minus({ days: 1 }); return d; };
const nearest = (d: DateTime) => d.weekday === 6 ? d.minus({ days: 1 }) : d.weekday === 7 ? d.plus({ days: 1 }) : d;
const memo = new Map<number, { hol: Set<string>; early: Set<string> }>();
function year(y: number) {
  let r = memo.get(y); if (r) return r;
  const hol = new Set<string>(); const early = new Set<string>();
  const ny = DateTime.fromObject({ year: y, month: 1, day: 1 }, { zone: Z });
  if (ny.weekday === 7) hol.add(ny.plus({ days: 1 }).toISODate()!); else if (ny.weekday !== 6) hol.add(ny.toISODate()!);
  hol.add(nth(y, 1, 1, 3).toISODate()!); hol.add(nth(y, 2, 1, 3).toISODate()!); hol.add(easter(y).minus({ days: 2 }).toISODate()!);
  hol.add(last(y, 5, 1).toISODate()!);
  if (y >= 2022) hol.add(nearest(DateTime.fromObject({ year: y, month: 6, day: 19 }, { zone: Z })).toISODate()!);
  hol.add(nearest(DateTime.fromObject({ year: y, month: 7, day: 4 }, { zone: Z })).toISODate()!);
  hol.add(nth(y, 9, 1, 1).toISODate()!); const tg = nth(y, 11, 4, 4); hol.add(tg.toISODate()!);
  hol.add(nearest(DateTime.fromObject({ year: y, month: 12, day: 25 }, { zone: Z })).toISODate()!);
  for (const d of ['2001-09-11','2001-09-12','2001-09-13','2001-09-14','2004-06-11','2007-01-02','2012-10-29','2012-10-30','2018-12-05','2025-01-09']) hol.add(d);
  const j3 = DateTime.fromObject({ year: y, month: 7, day: 3 }, { zone: Z });
  if ([1, 2, 4].includes(j3.weekday) || (j3.weekday === 3 && y >= 2013)) early.add(j3.toISODate()!);
  const j5 = DateTime.fromObject({ year: y, month: 7, day: 5 }, { zone: Z });
  if (j5.weekday === 5 && y <= 2012) early.add(j5.toISODate()!);
  early.add(tg.plus({ days: 1 }).toISODate()!);
  const d24 = DateTime.fromObject({ year: y, month: 12, day: 24 }, { zone: Z });
  if (d24.weekday <= 4) early.add(d24.toISODate()!);
  if (y === 2003) early.add('2003-12-26');
  r = { hol, early }; memo.set(y, r); return r;
}
function session(d: DateTime): { open: number; close: number } | null {
  if (d.weekday >= 6) return null; const y = year(d.year); const iso = d.toISODate()!;
  if (y.hol.has(iso)) return null;
  const open = d.set({ hour: 9, minute: 30 }).toMillis(); const close = d.set({ hour: y.early.has(iso) ? 13 : 16, minute: 0 }).toMillis();
  return { open, close };
}
const cal = createMarketCalendar();
const min = Date.parse('2000-01-01T05:00:00Z'), max = Date.parse('2099-12-24T00:00:00Z');
// every day check
t.test('every New York date 2000-2099 has the oracle session', async (t) => {
let bad = 0;
const firstBad: string[] = [];
for (let d = DateTime.fromObject({ year: 2000, month: 1, day: 1 }, { zone: Z }); d.year < 2100; d = d.plus({ days: 1 })) {
  const want = session(d); const got = cal.day(d.toISODate()!).session;
  if ((want === null) !== (got === null) || (want && got && (want.open !== +got.open || want.close !== +got.close))) { if (bad++ < 5) firstBad.push(String(d.toISODate())); }
}
t.equal(bad, 0, `day mismatches; first: ${firstBad.join(', ')}`);
});
const special = fc.integer({ min, max }).map((ms) => ms);
const interesting = fc.tuple(fc.integer({ min: 2000, max: 2099 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 28 }), fc.constantFrom([9,29,59,999],[9,30,0,0],[12,59,59,999],[13,0,0,0],[15,59,59,999],[16,0,0,0],[0,0,0,0],[23,59,59,999],[2,30,0,0],[1,30,0,0])).map(([y,m,dd,[h,mi,s,ms]]) => DateTime.fromObject({ year: y, month: m, day: dd, hour: h, minute: mi, second: s, millisecond: ms }, { zone: Z }).toMillis());
function nextOpenOracle(ms: number): { open: number; close: number } {
  let d = DateTime.fromMillis(ms, { zone: Z }).startOf('day');
  for (let i = 0; i < 20; i++, d = d.plus({ days: 1 })) { const s = session(d); if (s && s.open > ms) return s; }
  throw new Error('none');
}
t.test('random instants: open, nextOpen, nextClose match the oracle', async (t) => {
const r = fc.check(fc.property(fc.oneof(special, interesting), (ms) => {
  if (ms < min || ms > max) return true;
  const at = DateTime.fromMillis(ms, { zone: 'utc' });
  const s = cal.state(at);
  const today = session(at.setZone(Z).startOf('day'));
  const open = today !== null && today.open <= ms && ms < today.close;
  if (s.open !== open) throw new Error(`open ${s.open} vs ${open} at ${at.toISO()}`);
  const no = nextOpenOracle(ms);
  if (+s.nextOpen !== no.open) throw new Error(`nextOpen ${s.nextOpen.toISO()} vs ${new Date(no.open).toISOString()} at ${at.toISO()}`);
  const nc = open ? today!.close : no.close;
  if (+s.nextClose !== nc) throw new Error(`nextClose at ${at.toISO()}`);
  return true;
}), { numRuns: 30_000 });
t.equal(r.failed, false, `30000 instants; ${r.failed ? `${r.counterexample} ${r.errorInstance}` : 'no counterexample'}`);
});
t.test('operator extras: open, nextOpen, nextClose match the oracle around each extra date', async (t) => {
const dateArb = fc.tuple(fc.integer({ min: 2000, max: 2099 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 28 })).map(([y, m, d]) => DateTime.fromObject({ year: y, month: m, day: d }, { zone: Z }));
const r2 = fc.check(fc.property(fc.array(dateArb, { maxLength: 3 }), fc.array(fc.tuple(dateArb, fc.integer({ min: 9 * 60 + 31, max: 15 * 60 + 59 })), { maxLength: 3 }), fc.integer({ min: 0, max: 5 }), fc.integer({ min: -1, max: 1 }), (cls, ecs, pick, delta) => {
  const seen = new Set<string>(); const ecList = ecs.filter(([d]) => !seen.has(d.toISODate()!) && seen.add(d.toISODate()!));
  const calX = createMarketCalendar({ extraClosures: cls.map((d) => ({ date: d.toISODate()! })), extraEarlyCloses: ecList.map(([d, m]) => ({ date: d.toISODate()!, close: `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}` })) });
  const closedSet = new Set(cls.map((d) => d.toISODate()!)); const ecMap = new Map(ecList.map(([d, m]) => [d.toISODate()!, m]));
  const sess = (d: DateTime) => { const s = session(d); if (!s) return null; const iso = d.toISODate()!; if (closedSet.has(iso)) return null; const m = ecMap.get(iso); return m === undefined ? s : { open: s.open, close: d.set({ hour: Math.floor(m / 60), minute: m % 60 }).toMillis() }; };
  const days = [...cls, ...ecList.map(([d]) => d)];
  const base = days.length ? days[pick % days.length]! : DateTime.fromObject({ year: 2030, month: 6, day: 3 }, { zone: Z });
  for (const [h, mi] of [[9, 29], [9, 30], [12, 59], [13, 0], [15, 59], [16, 0], [0, 0]]) {
    for (const off of [-1, 0, 1]) {
      const d = base.plus({ days: off });
      const ms = d.set({ hour: h, minute: mi }).toMillis() + delta * 1;
      if (ms < min || ms > max) continue;
      const s = calX.state(DateTime.fromMillis(ms, { zone: 'utc' }));
      const today = sess(DateTime.fromMillis(ms, { zone: Z }).startOf('day'));
      const open = today !== null && today.open <= ms && ms < today.close;
      if (s.open !== open) throw new Error(`extras open ${s.open} vs ${open} at ${new Date(ms).toISOString()}`);
      let dd = DateTime.fromMillis(ms, { zone: Z }).startOf('day'); let no: any = null;
      for (let i = 0; i < 20 && !no; i++, dd = dd.plus({ days: 1 })) { const x = sess(dd); if (x && x.open > ms) no = x; }
      if (+s.nextOpen !== no.open) throw new Error('extras nextOpen');
      if (+s.nextClose !== (open ? today!.close : no.close)) throw new Error('extras nextClose');
    }
  }
  return true;
}), { numRuns: 1000 });
t.equal(r2.failed, false, `1000 extras configurations; ${r2.failed ? `${JSON.stringify(r2.counterexample)} ${r2.errorInstance}` : 'no counterexample'}`);
});

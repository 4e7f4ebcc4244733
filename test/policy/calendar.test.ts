/**
 * The NYSE rule engine (holidays.ts, ad-hoc-days.ts, calendar.ts via MarketCalendar.day) against the
 * published NYSE schedule 2023–2028, the rule projections for 2029–2030, the tricky dates of
 * ../shared/reference/market-calendar/RULES.md §4, and structural invariants for 2000–2099.
 * Expected UTC instants are computed with luxon directly (not with the code under test).
 */
import t from 'tap';
import { DateTime } from 'luxon';
import { createMarketCalendar } from '../../src/policy/market-hours.ts';
import { easterSunday, regularEarlyCloses, regularHolidays, SUPPORTED_YEARS } from '../../src/policy/holidays.ts';
import { AD_HOC_CLOSURES, AD_HOC_EARLY_CLOSES } from '../../src/policy/ad-hoc-days.ts';
import { civilFromDays, daysFromCivil, formatDays, parseIsoDate, weekdayOfDays } from '../../src/policy/civil-date.ts';

const NY = 'America/New_York';
const cal = createMarketCalendar();

const NYD = "New Year's Day";
const MLK = 'Martin Luther King Jr. Day';
const WB = "Washington's Birthday";
const GF = 'Good Friday';
const MEM = 'Memorial Day';
const JT = 'Juneteenth National Independence Day';
const IND = 'Independence Day';
const LAB = 'Labor Day';
const TG = 'Thanksgiving Day';
const XMAS = 'Christmas Day';
const obs = (name: string) => `${name} (observed)`;
const EVE4 = 'Day before Independence Day';
const AFTER4 = 'Day after Independence Day';
const BLACK = 'Day after Thanksgiving';
const EVE25 = 'Christmas Eve';

type Named = [date: string, name: string];
interface YearSchedule {
  source: string;
  holidays: Named[];
  earlyCloses: Named[];
  closures?: Named[];
}

/** RULES.md §4: official NYSE releases (2022–2028) and rule projections (2029–2030). */
const SCHEDULES: Record<number, YearSchedule> = {
  2022: {
    source: 'NYSE 2022–2024 release',
    holidays: [['2022-01-17', MLK], ['2022-02-21', WB], ['2022-04-15', GF], ['2022-05-30', MEM], ['2022-06-20', obs(JT)], ['2022-07-04', IND], ['2022-09-05', LAB], ['2022-11-24', TG], ['2022-12-26', obs(XMAS)]],
    earlyCloses: [['2022-11-25', BLACK]],
  },
  2023: {
    source: 'NYSE 2022–2024 release',
    holidays: [['2023-01-02', obs(NYD)], ['2023-01-16', MLK], ['2023-02-20', WB], ['2023-04-07', GF], ['2023-05-29', MEM], ['2023-06-19', JT], ['2023-07-04', IND], ['2023-09-04', LAB], ['2023-11-23', TG], ['2023-12-25', XMAS]],
    earlyCloses: [['2023-07-03', EVE4], ['2023-11-24', BLACK]],
  },
  2024: {
    source: 'NYSE 2022–2024 release',
    holidays: [['2024-01-01', NYD], ['2024-01-15', MLK], ['2024-02-19', WB], ['2024-03-29', GF], ['2024-05-27', MEM], ['2024-06-19', JT], ['2024-07-04', IND], ['2024-09-02', LAB], ['2024-11-28', TG], ['2024-12-25', XMAS]],
    earlyCloses: [['2024-07-03', EVE4], ['2024-11-29', BLACK], ['2024-12-24', EVE25]],
  },
  2025: {
    source: 'NYSE 2025–2027 release',
    holidays: [['2025-01-01', NYD], ['2025-01-20', MLK], ['2025-02-17', WB], ['2025-04-18', GF], ['2025-05-26', MEM], ['2025-06-19', JT], ['2025-07-04', IND], ['2025-09-01', LAB], ['2025-11-27', TG], ['2025-12-25', XMAS]],
    earlyCloses: [['2025-07-03', EVE4], ['2025-11-28', BLACK], ['2025-12-24', EVE25]],
    closures: [['2025-01-09', 'National Day of Mourning for President Jimmy Carter']],
  },
  2026: {
    source: 'NYSE 2026–2028 release',
    holidays: [['2026-01-01', NYD], ['2026-01-19', MLK], ['2026-02-16', WB], ['2026-04-03', GF], ['2026-05-25', MEM], ['2026-06-19', JT], ['2026-07-03', obs(IND)], ['2026-09-07', LAB], ['2026-11-26', TG], ['2026-12-25', XMAS]],
    earlyCloses: [['2026-11-27', BLACK], ['2026-12-24', EVE25]],
  },
  2027: {
    source: 'NYSE 2026–2028 release',
    holidays: [['2027-01-01', NYD], ['2027-01-18', MLK], ['2027-02-15', WB], ['2027-03-26', GF], ['2027-05-31', MEM], ['2027-06-18', obs(JT)], ['2027-07-05', obs(IND)], ['2027-09-06', LAB], ['2027-11-25', TG], ['2027-12-24', obs(XMAS)]],
    earlyCloses: [['2027-11-26', BLACK]],
  },
  2028: {
    source: 'NYSE 2026–2028 release',
    holidays: [['2028-01-17', MLK], ['2028-02-21', WB], ['2028-04-14', GF], ['2028-05-29', MEM], ['2028-06-19', JT], ['2028-07-04', IND], ['2028-09-04', LAB], ['2028-11-23', TG], ['2028-12-25', XMAS]],
    earlyCloses: [['2028-07-03', EVE4], ['2028-11-24', BLACK]],
  },
  2029: {
    source: 'rule projection',
    holidays: [['2029-01-01', NYD], ['2029-01-15', MLK], ['2029-02-19', WB], ['2029-03-30', GF], ['2029-05-28', MEM], ['2029-06-19', JT], ['2029-07-04', IND], ['2029-09-03', LAB], ['2029-11-22', TG], ['2029-12-25', XMAS]],
    earlyCloses: [['2029-07-03', EVE4], ['2029-11-23', BLACK], ['2029-12-24', EVE25]],
  },
  2030: {
    source: 'rule projection',
    holidays: [['2030-01-01', NYD], ['2030-01-21', MLK], ['2030-02-18', WB], ['2030-04-19', GF], ['2030-05-27', MEM], ['2030-06-19', JT], ['2030-07-04', IND], ['2030-09-02', LAB], ['2030-11-28', TG], ['2030-12-25', XMAS]],
    earlyCloses: [['2030-07-03', EVE4], ['2030-11-29', BLACK], ['2030-12-24', EVE25]],
  },
};

/** A day as plain data, with instants as UTC ISO strings. */
function summarize(date: string) {
  const d = cal.day(date);
  if (d.session === null) return { kind: d.reason, name: d.name };
  const s = d.session;
  return { kind: s.earlyClose ? 'early' : 'full', name: s.earlyCloseName, open: s.open.toISO(), close: s.close.toISO() };
}

/** The expected session, computed by luxon from New York wall time. */
function expectedSession(date: string, close: string, name: string | null) {
  const at = (hhmm: string) => DateTime.fromISO(`${date}T${hhmm}`, { zone: NY }).toUTC().toISO();
  return { kind: name === null ? 'full' : 'early', name, open: at('09:30'), close: at(close) };
}

t.test('civil-date agrees with luxon for every day 1999-12-01..2100-02-01', async (t) => {
  const first = daysFromCivil(1999, 12, 1);
  const last = daysFromCivil(2100, 2, 1);
  const bad: string[] = [];
  for (let n = first; n <= last; n++) {
    const ref = DateTime.fromMillis(n * 86_400_000, { zone: 'utc' });
    const c = civilFromDays(n);
    if (formatDays(n) !== ref.toISODate() || weekdayOfDays(n) !== ref.weekday || daysFromCivil(c.year, c.month, c.day) !== n) bad.push(ref.toISODate() ?? String(n));
    if (parseIsoDate(formatDays(n)) !== n) bad.push(`parse ${formatDays(n)}`);
  }
  t.same(bad.slice(0, 5), [], `${last - first + 1} days checked`);
});

t.test('parseIsoDate accepts only real yyyy-MM-dd dates', async (t) => {
  const cases: [string, boolean][] = [
    ['2026-02-28', true], ['2028-02-29', true], ['2100-02-28', true], ['2026-02-29', false], ['2100-02-29', false],
    ['2026-13-01', false], ['2026-00-10', false], ['2026-04-31', false], ['2026-1-05', false], ['26-01-05', false],
    ['2026-01-05T00:00', false], [' 2026-01-05', false], ['', false], ['2026/01/05', false],
  ];
  for (const [text, ok] of cases) t.equal(parseIsoDate(text) !== null, ok, `${JSON.stringify(text)} → ${ok ? 'date' : 'null'}`);
});

t.test('Easter matches python-dateutil (EASTER_WESTERN) for 2000–2099', async (t) => {
  // Generated with dateutil.easter.easter(y) for y = 2000..2099: an independent implementation.
  const mmdd = ('0423 0415 0331 0420 0411 0327 0416 0408 0323 0412 0404 0424 0408 0331 0420 0405 0327 0416 0401 0421 ' +
    '0412 0404 0417 0409 0331 0420 0405 0328 0416 0401 0421 0413 0328 0417 0409 0325 0413 0405 0425 0410 ' +
    '0401 0421 0406 0329 0417 0409 0325 0414 0405 0418 0410 0402 0421 0406 0329 0418 0402 0422 0414 0330 ' +
    '0418 0410 0326 0415 0406 0329 0411 0403 0422 0414 0330 0419 0410 0326 0415 0407 0419 0411 0403 0423 ' +
    '0407 0330 0419 0404 0326 0415 0331 0420 0411 0403 0416 0408 0330 0412 0404 0424 0415 0331 0420 0412').split(' ');
  t.equal(mmdd.length, 100);
  const wrong = mmdd
    .map((md, i) => [2000 + i, `${2000 + i}-${md.slice(0, 2)}-${md.slice(2)}`] as const)
    .filter(([year, date]) => formatDays(easterSunday(year)) !== date);
  t.same(wrong, [], 'every year agrees');
});

for (const [yearText, schedule] of Object.entries(SCHEDULES)) {
  const year = Number(yearText);
  t.test(`${year} schedule (${schedule.source})`, async (t) => {
    t.same(regularHolidays(year).map((h) => [h.date, h.name]), schedule.holidays, 'regularHolidays');
    t.same(regularEarlyCloses(year).map((h) => [h.date, h.name]), schedule.earlyCloses, 'regularEarlyCloses');
    for (const [date, name] of schedule.holidays) t.same(summarize(date), { kind: 'holiday', name }, `${date} closed: ${name}`);
    for (const [date, name] of schedule.closures ?? []) t.same(summarize(date), { kind: 'closure', name }, `${date} closed: ${name}`);
    for (const [date, name] of schedule.earlyCloses) t.same(summarize(date), expectedSession(date, '13:00', name), `${date} closes 13:00: ${name}`);

    // The full sessions around each holiday and early close: the nearest weekdays before and after that are not themselves listed.
    const listed = new Set([...schedule.holidays, ...schedule.earlyCloses, ...(schedule.closures ?? [])].map(([d]) => d));
    const neighbours = new Set<string>();
    for (const date of listed) {
      for (const step of [-1, 1]) {
        let n = parseIsoDate(date) as number;
        do n += step;
        while (weekdayOfDays(n) >= 6 || listed.has(formatDays(n)));
        neighbours.add(formatDays(n));
      }
    }
    for (const date of [...neighbours].sort()) t.same(summarize(date), expectedSession(date, '16:00', null), `${date} full session 09:30–16:00`);

    // Every other weekday of the year is a full session; weekends are 'weekend'.
    const mismatches: string[] = [];
    let sessions = 0;
    for (let n = daysFromCivil(year, 1, 1); n < daysFromCivil(year + 1, 1, 1); n++) {
      const date = formatDays(n);
      const got = summarize(date);
      if (got.kind === 'full' || got.kind === 'early') sessions++;
      if (listed.has(date)) continue;
      const want = weekdayOfDays(n) >= 6 ? { kind: 'weekend', name: null } : expectedSession(date, '16:00', null);
      if (JSON.stringify(got) !== JSON.stringify(want)) mismatches.push(`${date}: ${JSON.stringify(got)}`);
    }
    t.same(mismatches.slice(0, 5), [], `all other days of ${year} are regular (${sessions} sessions)`);
  });
}

t.test('tricky dates (RULES.md §4)', async (t) => {
  const full = [
    ['2021-06-18', 'Juneteenth before NYSE observed it'], ['2021-12-31', "Saturday New Year's not observed"],
    ['2027-12-31', "Saturday New Year's not observed"], ['2024-07-05', 'Friday after Thursday July 4 (since 2013)'],
    ['2025-12-26', 'federal closure, NYSE open'], ['2026-07-02', 'before observed Friday holiday'],
    ['2027-07-02', 'July 4 on Sunday'], ['2027-12-23', 'Christmas Eve is the observed holiday'], ['2028-12-22', 'Christmas on Monday'],
    ['2019-07-05', 'Friday after Thursday July 4'], ['2008-12-26', 'Friday after Thursday Christmas'],
    ['2014-12-26', 'Friday after Thursday Christmas'], ['2026-10-12', 'Columbus Day'], ['2026-11-11', 'Veterans Day'],
    ['2027-10-11', 'Columbus Day'], ['2027-11-11', 'Veterans Day'], ['2022-01-03', "Monday after Saturday New Year's"],
    ['2028-01-03', "Monday after Saturday New Year's"], ['2026-12-28', 'Monday after Friday Christmas'],
  ];
  for (const [date, why] of full) t.same(summarize(date as string), expectedSession(date as string, '16:00', null), `${date} full session (${why})`);
  const closed: [string, string, string][] = [
    ['2022-06-20', 'holiday', obs(JT)], ['2025-01-09', 'closure', 'National Day of Mourning for President Jimmy Carter'],
    ['2026-04-03', 'holiday', GF], ['2026-07-03', 'holiday', obs(IND)], ['2027-06-18', 'holiday', obs(JT)],
    ['2027-07-05', 'holiday', obs(IND)], ['2027-12-24', 'holiday', obs(XMAS)],
  ];
  for (const [date, kind, name] of closed) t.same(summarize(date), { kind, name }, `${date} closed (${name})`);
  const early: Named[] = [['2024-07-03', EVE4], ['2025-12-24', EVE25], ['2026-12-24', EVE25], ['2028-07-03', EVE4],
    ['2013-07-03', EVE4], ['2002-07-05', AFTER4], ['2003-12-26', 'Day after Christmas']];
  for (const [date, name] of early) t.same(summarize(date), expectedSession(date, '13:00', name), `${date} closes 13:00 (${name})`);
  t.same(summarize('2002-07-03'), expectedSession('2002-07-03', '16:00', null), '2002-07-03 (Wednesday, before 2013) full session');
  t.same(summarize('2028-01-01'), { kind: 'weekend', name: null }, "2028-01-01 Saturday New Year's is just a weekend");
  t.same(summarize('2026-11-28'), { kind: 'weekend', name: null }, 'Saturday');
  t.same(summarize('2026-11-29'), { kind: 'weekend', name: null }, 'Sunday');
});

t.test('ad-hoc closures since 2000 are closed with their names', async (t) => {
  t.equal(AD_HOC_CLOSURES.length, 10);
  for (const { date, name } of AD_HOC_CLOSURES) t.same(summarize(date), { kind: 'closure', name }, `${date} ${name}`);
  t.same(AD_HOC_EARLY_CLOSES.map((d) => d.date), ['1997-12-26', '1999-12-31', '2003-12-26']);
});

t.test("New Year's Day observance for every year 2000–2099", async (t) => {
  const bad: string[] = [];
  for (let year = SUPPORTED_YEARS.from; year <= SUPPORTED_YEARS.to; year++) {
    const jan1 = daysFromCivil(year, 1, 1);
    const wd = weekdayOfDays(jan1);
    const nyd = regularHolidays(year).filter((h) => h.name.startsWith(NYD));
    const want = wd === 6 ? [] : [{ date: formatDays(wd === 7 ? jan1 + 1 : jan1), name: wd === 7 ? obs(NYD) : NYD }];
    if (JSON.stringify(nyd) !== JSON.stringify(want)) bad.push(`${year}: ${JSON.stringify(nyd)}`);
    if (wd === 6 && year > SUPPORTED_YEARS.from && cal.day(formatDays(jan1 - 1)).session === null) bad.push(`${year - 1}-12-31 should be a session`);
    if (regularHolidays(year).some((h) => h.date < `${year}-01-01` || h.date > `${year}-12-31`)) bad.push(`${year}: holiday outside the year`);
  }
  t.same(bad, []);
  t.same(summarize('2005-01-01'), { kind: 'weekend', name: null });
  t.same(summarize('2004-12-31'), expectedSession('2004-12-31', '16:00', null), '2004-12-31 full (New Year 2005 on Saturday)');
  t.same(summarize('2010-12-31'), expectedSession('2010-12-31', '16:00', null), '2010-12-31 full (New Year 2011 on Saturday)');
  t.same(summarize('2017-01-02'), { kind: 'holiday', name: obs(NYD) }, '2017-01-02 observed');
});

t.test('structural invariants for every year 2000–2099', async (t) => {
  const bad: string[] = [];
  let sessions = 0;
  for (let year = SUPPORTED_YEARS.from; year <= SUPPORTED_YEARS.to; year++) {
    const holidays = regularHolidays(year);
    const early = regularEarlyCloses(year);
    const expectedCount = (year >= 2022 ? 10 : 9) - (weekdayOfDays(daysFromCivil(year, 1, 1)) === 6 ? 1 : 0);
    if (holidays.length !== expectedCount) bad.push(`${year}: ${holidays.length} holidays`);
    if (new Set(holidays.map((h) => h.date)).size !== holidays.length) bad.push(`${year}: duplicate holiday dates`);
    for (const d of [...holidays, ...early]) if (weekdayOfDays(parseIsoDate(d.date) as number) >= 6) bad.push(`${d.date} ${d.name} on a weekend`);
    for (const e of early) if (holidays.some((h) => h.date === e.date)) bad.push(`${e.date} both holiday and early close`);
    const gf = holidays.find((h) => h.name === GF);
    if (!gf || weekdayOfDays(parseIsoDate(gf.date) as number) !== 5) bad.push(`${year}: Good Friday ${gf?.date}`);
    let yearSessions = 0;
    for (let n = daysFromCivil(year, 1, 1); n < daysFromCivil(year + 1, 1, 1); n++) {
      const s = cal.day(formatDays(n)).session;
      if (!s) continue;
      yearSessions++;
      const open = s.open.setZone(NY);
      const close = s.close.setZone(NY);
      if (open.toFormat('yyyy-MM-dd HH:mm:ss.SSS') !== `${s.date} 09:30:00.000`) bad.push(`${s.date} opens ${open.toISO()}`);
      const want = s.earlyClose ? '13:00:00.000' : '16:00:00.000';
      if (close.toFormat('yyyy-MM-dd HH:mm:ss.SSS') !== `${s.date} ${want}`) bad.push(`${s.date} closes ${close.toISO()}`);
    }
    if (yearSessions < 247 || yearSessions > 255) bad.push(`${year}: ${yearSessions} sessions`);
    sessions += yearSessions;
  }
  t.same(bad.slice(0, 10), [], `${sessions} sessions in 2000–2099 open 09:30 and close 16:00/13:00 New York time`);
});

t.test('day() rejects malformed dates and years outside 2000–2099', async (t) => {
  const cases: [string, RegExp][] = [
    ['2026-02-30', /not a yyyy-MM-dd date/], ['2026-1-5', /not a yyyy-MM-dd date/], ['tomorrow', /not a yyyy-MM-dd date/],
    ['1999-12-31', /1999-12-31.*outside the supported NYSE calendar years 2000-2099/],
    ['2100-01-01', /2100-01-01.*outside the supported NYSE calendar years 2000-2099/],
  ];
  for (const [date, message] of cases) t.throws(() => cal.day(date), { name: 'RangeError', message }, date);
  t.throws(() => regularHolidays(1999), RangeError, 'regularHolidays(1999)');
  t.throws(() => regularEarlyCloses(2100), RangeError, 'regularEarlyCloses(2100)');
  t.ok(cal.day('2000-01-03').session, 'first session 2000-01-03');
  t.ok(cal.day('2099-12-31').session, 'last session 2099-12-31');
});

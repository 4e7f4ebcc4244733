/**
 * NYSE regular full-day holidays and regular 13:00 early closes, computed from the exchange's
 * rules (not a table of dates). Valid for SUPPORTED_YEARS; earlier-century rules (pre-1998 MLK,
 * pre-1993 14:00 closes, Election Day...) are deliberately not modelled.
 * Sources: ../shared/reference/market-calendar/RULES.md §1a, §1b.
 */
import {
  daysFromCivil,
  formatDays,
  weekdayOfDays,
  FRIDAY,
  MONDAY,
  SATURDAY,
  SUNDAY,
  THURSDAY,
} from './civil-date.ts';

/** The years the rule engine answers for; anything else is a RangeError. */
export const SUPPORTED_YEARS: { readonly from: 2000; readonly to: 2099 } = Object.freeze({ from: 2000, to: 2099 });

/** A New York calendar date (yyyy-MM-dd) with the name the exchange gives it. */
export interface NamedDate {
  readonly date: string;
  readonly name: string;
}

/**
 * The year after SUPPORTED_YEARS, whose rules are computed only to find the session that follows
 * the last one of 2099 (its nextOpen and nextClose); nothing in it is answered for itself.
 */
export const LOOKAHEAD_YEAR = SUPPORTED_YEARS.to + 1;

/**
 * Throws RangeError unless `year` is an integer in SUPPORTED_YEARS (or is LOOKAHEAD_YEAR, when
 * `lookAhead`). `what` names the request in the message.
 */
export function assertSupportedYear(year: number, what: string, lookAhead = false): void {
  const last = lookAhead ? LOOKAHEAD_YEAR : SUPPORTED_YEARS.to;
  if (!Number.isInteger(year) || year < SUPPORTED_YEARS.from || year > last) {
    throw new RangeError(
      `${what}: year ${year} is outside the supported NYSE calendar years ${SUPPORTED_YEARS.from}-${SUPPORTED_YEARS.to}`,
    );
  }
}

/** Easter Sunday (Gregorian; anonymous / Meeus–Jones–Butcher algorithm) as a day number. */
export function easterSunday(year: number): number {
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const day = ((h + l - 7 * m + 114) % 31) + 1;
  return daysFromCivil(year, month, day);
}

/** The n-th (1-based) given ISO weekday of a month, as a day number. */
function nthWeekday(year: number, month: number, weekday: number, n: number): number {
  const first = daysFromCivil(year, month, 1);
  return first + ((weekday - weekdayOfDays(first) + 7) % 7) + 7 * (n - 1);
}

/** The last given ISO weekday of a month, as a day number. */
function lastWeekday(year: number, month: number, weekday: number): number {
  const last = daysFromCivil(year, month + 1, 1) - 1; // month + 1 = 13 is January of the next year: still correct
  return last - ((weekdayOfDays(last) - weekday + 7) % 7);
}

/** Saturday → the Friday before, Sunday → the Monday after; "(observed)" is added to the name when moved. */
function nearestWeekday(year: number, month: number, day: number, name: string): NamedDate {
  const actual = daysFromCivil(year, month, day);
  const wd = weekdayOfDays(actual);
  const observed = wd === SATURDAY ? actual - 1 : wd === SUNDAY ? actual + 1 : actual;
  return { date: formatDays(observed), name: observed === actual ? name : `${name} (observed)` };
}

function computeHolidays(year: number): NamedDate[] {
  const out: NamedDate[] = [];
  // New Year's Day only rolls forward (Sunday → Monday); on a Saturday it is not observed at all (NYSE Rule 7.2).
  const jan1 = daysFromCivil(year, 1, 1);
  const jan1Weekday = weekdayOfDays(jan1);
  if (jan1Weekday === SUNDAY) out.push({ date: formatDays(jan1 + 1), name: "New Year's Day (observed)" });
  else if (jan1Weekday !== SATURDAY) out.push({ date: formatDays(jan1), name: "New Year's Day" });
  out.push({ date: formatDays(nthWeekday(year, 1, MONDAY, 3)), name: 'Martin Luther King Jr. Day' });
  out.push({ date: formatDays(nthWeekday(year, 2, MONDAY, 3)), name: "Washington's Birthday" });
  out.push({ date: formatDays(easterSunday(year) - 2), name: 'Good Friday' });
  out.push({ date: formatDays(lastWeekday(year, 5, MONDAY)), name: 'Memorial Day' });
  if (year >= 2022) out.push(nearestWeekday(year, 6, 19, 'Juneteenth National Independence Day'));
  out.push(nearestWeekday(year, 7, 4, 'Independence Day'));
  out.push({ date: formatDays(nthWeekday(year, 9, MONDAY, 1)), name: 'Labor Day' });
  out.push({ date: formatDays(nthWeekday(year, 11, THURSDAY, 4)), name: 'Thanksgiving Day' });
  out.push(nearestWeekday(year, 12, 25, 'Christmas Day'));
  return out;
}

function computeEarlyCloses(year: number): NamedDate[] {
  const out: NamedDate[] = [];
  const jul3 = daysFromCivil(year, 7, 3);
  const jul3Weekday = weekdayOfDays(jul3);
  // July 3 on Mon/Tue/Thu (1995+) or Wed (2013+); on a Friday it is the observed holiday instead.
  if (jul3Weekday === 1 || jul3Weekday === 2 || jul3Weekday === 4 || (jul3Weekday === 3 && year >= 2013)) {
    out.push({ date: formatDays(jul3), name: 'Day before Independence Day' });
  }
  const jul5 = jul3 + 2;
  if (weekdayOfDays(jul5) === FRIDAY && year <= 2012) out.push({ date: formatDays(jul5), name: 'Day after Independence Day' });
  out.push({ date: formatDays(nthWeekday(year, 11, THURSDAY, 4) + 1), name: 'Day after Thanksgiving' });
  const dec24 = daysFromCivil(year, 12, 24);
  if (weekdayOfDays(dec24) <= THURSDAY) out.push({ date: formatDays(dec24), name: 'Christmas Eve' });
  return out;
}

const holidayMemo = new Map<number, readonly NamedDate[]>();
const earlyCloseMemo = new Map<number, readonly NamedDate[]>();

function memo(cache: Map<number, readonly NamedDate[]>, year: number, what: string, build: (y: number) => NamedDate[], lookAhead: boolean) {
  // checked before the cache too: a look-ahead build of 2100 must not make it answerable to others
  assertSupportedYear(year, what, lookAhead);
  let hit = cache.get(year);
  if (!hit) {
    hit = Object.freeze(build(year).map((d) => Object.freeze(d)));
    cache.set(year, hit);
  }
  return hit;
}

/** The regular full-day holidays of a year, in date order, on their observed dates. RangeError outside SUPPORTED_YEARS (`lookAhead`: or LOOKAHEAD_YEAR). */
export function regularHolidays(year: number, lookAhead = false): readonly NamedDate[] {
  return memo(holidayMemo, year, 'regularHolidays', computeHolidays, lookAhead);
}

/** The regular 13:00 ET early closes of a year, in date order. RangeError outside SUPPORTED_YEARS (`lookAhead`: or LOOKAHEAD_YEAR). */
export function regularEarlyCloses(year: number, lookAhead = false): readonly NamedDate[] {
  return memo(earlyCloseMemo, year, 'regularEarlyCloses', computeEarlyCloses, lookAhead);
}

/** The close time of every regular and ad-hoc early close (New York time). */
export const EARLY_CLOSE_TIME = '13:00';

/**
 * Per-year NYSE day tables: for every New York date of a year, its session (UTC open/close) or why
 * it has none. Built once per year from the rules (holidays.ts), the ad-hoc data (ad-hoc-days.ts)
 * and the operator extras, then only read. New York wall times become UTC instants through the
 * tz database (zone-offsets.ts).
 */
import { DateTime } from 'luxon';
import type { Session } from './market-hours.ts';
import type { NormalizedExtras } from './market-extras.ts';
import { daysFromCivil, formatDays, weekdayOfDays, SATURDAY } from './civil-date.ts';
import { yearOffsets } from './zone-offsets.ts';
import { assertSupportedYear, regularEarlyCloses, regularHolidays, EARLY_CLOSE_TIME } from './holidays.ts';
import { AD_HOC_CLOSURES, AD_HOC_EARLY_CLOSES } from './ad-hoc-days.ts';

/** The exchange's time zone. */
export const MARKET_ZONE = 'America/New_York';

/** What `MarketCalendar.day` returns for one date. */
export type DayResult =
  | { readonly session: Session }
  | { readonly session: null; readonly reason: 'weekend' | 'holiday' | 'closure'; readonly name: string | null };

/** One year of days; index i is the date `firstDay + i`. */
export interface YearTable {
  readonly year: number;
  /** Day number (days since 1970-01-01) of January 1. */
  readonly firstDay: number;
  /** UTC milliseconds of New York midnight starting each day. */
  readonly midnights: Float64Array;
  readonly days: readonly DayResult[];
  /** The year's sessions in date order. */
  readonly sessions: readonly Session[];
  /** For each day, the index in `sessions` of the first session on a later date (sessions.length: none this year). */
  readonly nextSession: Int32Array;
}

function minuteOfDay(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

function byDate(list: readonly { date: string; name: string }[]): Map<string, string> {
  return new Map(list.map((d) => [d.date, d.name]));
}

function closed(reason: 'weekend' | 'holiday' | 'closure', name: string | null): DayResult {
  return Object.freeze({ session: null, reason, name });
}

const adHocClosures = byDate(AD_HOC_CLOSURES);
const adHocEarlyCloses = byDate(AD_HOC_EARLY_CLOSES);

/**
 * Builds the table of one year. Precedence on a date: weekend, then operator extra session (which
 * opens a holiday or a closure), then regular holiday, then ad-hoc or operator closure ('closure'),
 * then early close (operator close time over the 13:00 rule), else 09:30–16:00.
 * Throws RangeError outside SUPPORTED_YEARS; `lookAhead` also builds LOOKAHEAD_YEAR, for the session
 * after the last one of 2099.
 */
export function buildYearTable(year: number, extras: NormalizedExtras, lookAhead = false): YearTable {
  assertSupportedYear(year, 'calendar', lookAhead);
  const holidays = byDate(regularHolidays(year, lookAhead));
  const earlyCloses = byDate(regularEarlyCloses(year, lookAhead));
  const firstDay = daysFromCivil(year, 1, 1);
  const count = daysFromCivil(year + 1, 1, 1) - firstDay;
  const midnights = new Float64Array(count);
  const days: DayResult[] = [];
  const sessions: Session[] = [];
  const sessionIndexOfDay = new Int32Array(count).fill(-1);
  const wallClock = yearOffsets(MARKET_ZONE, year);
  const utc = (dayNumber: number, hhmm: string) => DateTime.fromMillis(wallClock.utcMillis(dayNumber, minuteOfDay(hhmm)), { zone: 'utc' });
  for (let i = 0; i < count; i++) {
    const date = formatDays(firstDay + i);
    midnights[i] = wallClock.utcMillis(firstDay + i, 0);
    // an operator's extra session opens a day the rules close (not a weekend: the NYSE never trades one)
    const forced = extras.sessions.has(date);
    const holiday = forced ? undefined : holidays.get(date);
    const closure = forced ? undefined : (adHocClosures.get(date) ?? extras.closures.get(date));
    if (weekdayOfDays(firstDay + i) >= SATURDAY) {
      days.push(closed('weekend', null));
    } else if (holiday !== undefined) {
      days.push(closed('holiday', holiday));
    } else if (closure !== undefined) {
      days.push(closed('closure', closure));
    } else {
      const extra = extras.earlyCloses.get(date);
      const ruleName = earlyCloses.get(date) ?? adHocEarlyCloses.get(date);
      // an extra close of 16:00 cancels the rule early close: a full session, not an early close
      const earlyCloseName = extra?.close === '16:00' ? null : (extra?.name ?? ruleName ?? null);
      const session: Session = Object.freeze({
        date,
        open: utc(firstDay + i, '09:30'),
        close: utc(firstDay + i, extra?.close ?? (ruleName !== undefined ? EARLY_CLOSE_TIME : '16:00')),
        earlyClose: earlyCloseName !== null,
        earlyCloseName,
      });
      sessionIndexOfDay[i] = sessions.length;
      sessions.push(session);
      days.push(Object.freeze({ session }));
    }
  }
  const nextSession = new Int32Array(count);
  let next = sessions.length;
  for (let i = count - 1; i >= 0; i--) {
    nextSession[i] = next;
    const own = sessionIndexOfDay[i] as number;
    if (own >= 0) next = own;
  }
  return { year, firstDay, midnights, days, sessions, nextSession };
}

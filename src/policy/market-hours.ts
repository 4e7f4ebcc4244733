/**
 * Is the NYSE regular session open at an instant, and when does it next open and close.
 * Pure: the instant is an argument; the calendar is computed from rules (holidays.ts) plus data
 * (ad-hoc-days.ts, operator extras) for the years 2000–2099. Boundary convention: open at
 * 09:30:00, closed at 16:00:00 (13:00:00 on early-close days), i.e. open <= t < close.
 */
import type { DateTime } from 'luxon';
import { buildYearTable, MARKET_ZONE, type DayResult, type YearTable } from './calendar.ts';
import { civilFromDays, daysFromCivil, formatDays, parseIsoDate } from './civil-date.ts';
import { LOOKAHEAD_YEAR, SUPPORTED_YEARS } from './holidays.ts';
import { normalizeMarketExtras } from './market-extras.ts';

export { MARKET_ZONE } from './calendar.ts';
export { SUPPORTED_YEARS } from './holidays.ts';

/** An operator-configured full-day closure. */
export interface ExtraClosure { date: string /* yyyy-MM-dd, NY date */; name?: string }
/** An operator-configured early close; `close` is HH:mm New York time, after 09:30 and before 16:00, or 16:00 (a full session: it cancels a rule early close). */
export interface ExtraEarlyClose { date: string; close: string; name?: string }
/**
 * An operator-configured session on a day the rules close (a regular holiday or an ad-hoc closure)
 * on which the exchange trades after all: 09:30 to 16:00, or to an extra early close of that date.
 */
export interface ExtraSession { date: string; name?: string }
export interface MarketExtras { extraClosures: ExtraClosure[]; extraEarlyCloses: ExtraEarlyClose[]; extraSessions?: ExtraSession[] }

/** One trading day's regular session; `open`/`close` are UTC instants. */
export interface Session { date: string; open: DateTime; close: DateTime; earlyClose: boolean; earlyCloseName: string | null }

/**
 * 'open': inside a session; 'pre_open': trading day before 09:30; 'after_close': trading day after a 16:00 close;
 * 'early_close': trading day after an early close; 'weekend'; 'holiday': a regular holiday;
 * 'closure': an ad-hoc or operator-configured closure.
 */
export type MarketReason = 'open' | 'pre_open' | 'after_close' | 'early_close' | 'weekend' | 'holiday' | 'closure';

export interface MarketState {
  /** The instant asked about, UTC. */
  at: DateTime;
  /** session.open <= at < session.close */
  open: boolean;
  reason: MarketReason;
  /** Name of the holiday or closure when reason is 'holiday' or 'closure', else null. */
  holiday: string | null;
  /** The session of at's New York date; null when that date is not a trading day. */
  session: Session | null;
  /** The first session open strictly after `at` (before today's open: today's open). */
  nextOpen: DateTime;
  /** When open: this session's close; else the close of the session that opens at nextOpen. */
  nextClose: DateTime;
}

export interface MarketCalendar {
  /** The session on a New York date (yyyy-MM-dd), or why there is none. RangeError for a malformed date or a year outside 2000–2099. */
  day(date: string): DayResult;
  /** The market at an instant. RangeError for an invalid instant or a New York date outside 2000–2099 (the last session of 2099 names 2100's first as next). */
  state(at: DateTime): MarketState;
}

const DAY_MS = 86_400_000;
const YEAR_COUNT = SUPPORTED_YEARS.to - SUPPORTED_YEARS.from + 1;
const YEAR_START_DAYS: readonly number[] = Array.from({ length: YEAR_COUNT + 1 }, (_, i) => daysFromCivil(SUPPORTED_YEARS.from + i, 1, 1));
const FIRST_DAY = YEAR_START_DAYS[0] as number;
const END_DAY = YEAR_START_DAYS[YEAR_COUNT] as number; // 2100-01-01, exclusive

/**
 * A calendar with the given operator extras (validated now; RangeError naming the bad entry).
 * Extras only change trading days: a closure closes it, an early close sets its close time.
 * Year tables are built on first use and memoized, so `state` is a few array reads.
 */
export function createMarketCalendar(extras?: MarketExtras): MarketCalendar {
  const normalized = normalizeMarketExtras(extras);
  const tables: (YearTable | undefined)[] = new Array(YEAR_COUNT);

  /** LOOKAHEAD_YEAR's table, built only for the session after the last one of 2099 */
  let lookAheadTable: YearTable | undefined;

  function tableOfYear(year: number): YearTable {
    const i = year - SUPPORTED_YEARS.from;
    return tables[i] ?? (tables[i] = buildYearTable(year, normalized));
  }

  /** The table holding a day number in range; caller checks the range. */
  function tableOfDay(dayNumber: number): YearTable {
    let i = Math.min(YEAR_COUNT - 1, Math.floor((dayNumber - FIRST_DAY) / 365.2425));
    while (dayNumber < (YEAR_START_DAYS[i] as number)) i--;
    while (dayNumber >= (YEAR_START_DAYS[i + 1] as number)) i++;
    return tableOfYear(SUPPORTED_YEARS.from + i);
  }

  function outOfRange(what: string): never {
    throw new RangeError(`${what} is outside the supported NYSE calendar years ${SUPPORTED_YEARS.from}-${SUPPORTED_YEARS.to}`);
  }

  /** The New York day number containing the UTC instant `ms` (New York midnight is 04:00Z or 05:00Z). */
  function nyDayOf(ms: number, at: DateTime): number {
    const utcDay = Math.floor(ms / DAY_MS);
    if (utcDay > FIRST_DAY && utcDay < END_DAY) {
      const t = tableOfDay(utcDay);
      return ms >= (t.midnights[utcDay - t.firstDay] as number) ? utcDay : utcDay - 1;
    }
    // At or past the ends of the range: ask the tz database directly.
    const ny = at.setZone(MARKET_ZONE);
    const dayNumber = daysFromCivil(ny.year, ny.month, ny.day);
    if (dayNumber < FIRST_DAY || dayNumber >= END_DAY) {
      outOfRange(`instant ${at.toUTC().toISO()} (New York date ${formatDays(dayNumber)})`);
    }
    return dayNumber;
  }

  function sessionAfter(t: YearTable, index: number): Session {
    const next = t.nextSession[index] as number;
    if (next < t.sessions.length) return t.sessions[next] as Session;
    // operator extras cannot name a date in LOOKAHEAD_YEAR: its first session is the rules' alone
    if (t.year === SUPPORTED_YEARS.to) return (lookAheadTable ??= buildYearTable(LOOKAHEAD_YEAR, normalized, true)).sessions[0] as Session;
    return tableOfYear(t.year + 1).sessions[0] as Session;
  }

  return {
    day(date: string): DayResult {
      const dayNumber = parseIsoDate(date);
      if (dayNumber === null) throw new RangeError(`market day: ${JSON.stringify(date)} is not a yyyy-MM-dd date`);
      if (dayNumber < FIRST_DAY || dayNumber >= END_DAY) outOfRange(`date ${date} (year ${civilFromDays(dayNumber).year})`);
      const t = tableOfDay(dayNumber);
      return t.days[dayNumber - t.firstDay] as DayResult;
    },

    state(at: DateTime): MarketState {
      if (!at.isValid) throw new RangeError(`market state: invalid instant (${at.invalidReason ?? 'unknown'})`);
      const ms = at.toMillis();
      const dayNumber = nyDayOf(ms, at);
      const t = tableOfDay(dayNumber);
      const index = dayNumber - t.firstDay;
      const day = t.days[index] as DayResult;
      const utc = at.toUTC();
      const session = day.session;
      if (session === null) {
        const next = sessionAfter(t, index);
        return { at: utc, open: false, reason: day.reason, holiday: day.name, session: null, nextOpen: next.open, nextClose: next.close };
      }
      if (ms < session.open.toMillis()) {
        return { at: utc, open: false, reason: 'pre_open', holiday: null, session, nextOpen: session.open, nextClose: session.close };
      }
      const next = sessionAfter(t, index);
      if (ms < session.close.toMillis()) {
        return { at: utc, open: true, reason: 'open', holiday: null, session, nextOpen: next.open, nextClose: session.close };
      }
      const reason = session.earlyClose ? 'early_close' : 'after_close';
      return { at: utc, open: false, reason, holiday: null, session, nextOpen: next.open, nextClose: next.close };
    },
  };
}

/** Same as `calendar.state(at)`. */
export function marketState(at: DateTime, calendar: MarketCalendar): MarketState {
  return calendar.state(at);
}

/** `yyyy-MM-ddTHH:mm:ssZ` in UTC; milliseconds are truncated. Plain arithmetic: luxon's toFormat costs ~4 µs. */
function isoSeconds(dt: DateTime): string {
  const seconds = Math.floor(dt.toMillis() / 1000);
  const dayNumber = Math.floor(seconds / 86_400);
  const s = seconds - dayNumber * 86_400;
  const two = (n: number) => (n < 10 ? `0${n}` : `${n}`);
  return `${formatDays(dayNumber)}T${two(Math.floor(s / 3600))}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}Z`;
}

/** The JSON body of GET /v1/market: instants as ISO UTC without milliseconds, e.g. "2026-11-27T18:00:00Z". */
export function marketStateToJson(s: MarketState): {
  at: string;
  open: boolean;
  reason: MarketReason;
  holiday: string | null;
  session: { date: string; open: string; close: string; earlyClose: boolean } | null;
  nextOpen: string;
  nextClose: string;
} {
  return {
    at: isoSeconds(s.at),
    open: s.open,
    reason: s.reason,
    holiday: s.holiday,
    session: s.session
      ? { date: s.session.date, open: isoSeconds(s.session.open), close: isoSeconds(s.session.close), earlyClose: s.session.earlyClose }
      : null,
    nextOpen: isoSeconds(s.nextOpen),
    nextClose: isoSeconds(s.nextClose),
  };
}

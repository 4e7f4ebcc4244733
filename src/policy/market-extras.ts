/**
 * Validation of operator-configured market extras (closures and early closes added without a release).
 */
import type { MarketExtras } from './market-hours.ts';
import { civilFromDays, parseIsoDate } from './civil-date.ts';
import { SUPPORTED_YEARS } from './holidays.ts';

/** Extras after validation, keyed by New York date (yyyy-MM-dd). */
export interface NormalizedExtras {
  readonly closures: ReadonlyMap<string, string>;
  readonly earlyCloses: ReadonlyMap<string, { readonly close: string; readonly name: string }>;
  /** days the rules close on which the exchange trades after all (force open); their names are checked, not kept: nothing shows them */
  readonly sessions: ReadonlySet<string>;
}

export const DEFAULT_CLOSURE_NAME = 'Operator-configured closure';
export const DEFAULT_EARLY_CLOSE_NAME = 'Operator-configured early close';

const HH_MM = /^([01]\d|2[0-3]):([0-5]\d)$/;
const OPEN_MINUTES = 9 * 60 + 30;
const CLOSE_MINUTES = 16 * 60;

/** A bad entry (still a RangeError by name): `list[index]` as the config file names it, what is wrong with it, and the entry as JSON. */
export class MarketExtrasError extends RangeError {
  readonly list: string;
  readonly index: number;
  readonly problem: string;
  readonly shown: string;
  constructor(where: Where, problem: string) {
    super(`market extras: ${where.list}[${where.index}] ${where.shown}: ${problem}`);
    this.list = where.list;
    this.index = where.index;
    this.problem = problem;
    this.shown = where.shown;
  }
}

interface Where { list: string; index: number; shown: string }

function describe(list: string, index: number, entry: unknown): Where {
  let shown: string;
  try {
    shown = JSON.stringify(entry) ?? String(entry);
  } catch {
    shown = String(entry);
  }
  return { list, index, shown };
}

function entries(extras: unknown, list: 'extraClosures' | 'extraEarlyCloses' | 'extraSessions'): unknown[] {
  const value = (extras as Record<string, unknown>)[list];
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new RangeError(`market extras: ${list} must be an array`);
  return value;
}

function checkDate(where: Where, date: unknown): string {
  const day = typeof date === 'string' ? parseIsoDate(date) : null;
  if (day === null) throw new MarketExtrasError(where, 'date must be a real yyyy-MM-dd date');
  const { year } = civilFromDays(day);
  if (year < SUPPORTED_YEARS.from || year > SUPPORTED_YEARS.to) {
    throw new MarketExtrasError(where, `date is outside the supported years ${SUPPORTED_YEARS.from}-${SUPPORTED_YEARS.to}`);
  }
  return date as string;
}

function checkName(where: Where, name: unknown, fallback: string): string {
  if (name === undefined || name === null) return fallback;
  if (typeof name !== 'string' || name.trim() === '') throw new MarketExtrasError(where, 'name must be a non-empty string');
  return name;
}

function checkClose(where: Where, close: unknown): string {
  const m = typeof close === 'string' ? HH_MM.exec(close) : null;
  if (!m) throw new MarketExtrasError(where, 'close must be HH:mm (24-hour New York time)');
  const minutes = Number(m[1]) * 60 + Number(m[2]);
  // 16:00 is the regular close: an exchange notice that cancels a rule early close (a full session)
  if (minutes > CLOSE_MINUTES) throw new MarketExtrasError(where, 'close must be before 16:00, or 16:00 for a full session');
  if (minutes <= OPEN_MINUTES) throw new MarketExtrasError(where, 'close must be after the 09:30 open');
  return close as string;
}

/**
 * Validates extras and indexes them by date. Throws RangeError (MarketExtrasError for an entry) naming the offending entry for a
 * malformed or out-of-range date, a close that is not HH:mm or not after 09:30 and at most 16:00,
 * a blank name, two early closes on one date with different times, or an extra session on the date
 * of an extra closure. `undefined` means no extras.
 */
export function normalizeMarketExtras(extras: MarketExtras | undefined): NormalizedExtras {
  const closures = new Map<string, string>();
  const earlyCloses = new Map<string, { close: string; name: string }>();
  const sessions = new Set<string>();
  if (extras === undefined || extras === null) return { closures, earlyCloses, sessions };
  if (typeof extras !== 'object') throw new RangeError('market extras must be an object');
  /** an entry `{ date, name? }` of a list of whole days, checked */
  const dayEntry = (list: 'extraClosures' | 'extraSessions', i: number, entry: unknown, fallbackName: string) => {
    const where = describe(list, i, entry);
    if (typeof entry !== 'object' || entry === null) throw new MarketExtrasError(where, 'must be an object { date, name? }');
    const e = entry as Record<string, unknown>;
    return { where, date: checkDate(where, e.date), name: checkName(where, e.name, fallbackName) };
  };
  entries(extras, 'extraClosures').forEach((entry, i) => {
    const { date, name } = dayEntry('extraClosures', i, entry, DEFAULT_CLOSURE_NAME);
    if (!closures.has(date)) closures.set(date, name);
  });
  entries(extras, 'extraEarlyCloses').forEach((entry, i) => {
    const where = describe('extraEarlyCloses', i, entry);
    if (typeof entry !== 'object' || entry === null) throw new MarketExtrasError(where, 'must be an object { date, close, name? }');
    const e = entry as Record<string, unknown>;
    const date = checkDate(where, e.date);
    const close = checkClose(where, e.close);
    const name = checkName(where, e.name, DEFAULT_EARLY_CLOSE_NAME);
    const before = earlyCloses.get(date);
    if (before && before.close !== close) {
      throw new MarketExtrasError(where, `conflicts with an earlier early close at ${before.close} on the same date`);
    }
    if (!before) earlyCloses.set(date, { close, name });
  });
  entries(extras, 'extraSessions').forEach((entry, i) => {
    const { where, date } = dayEntry('extraSessions', i, entry, '');
    // the two say opposite things about one day: which one the exchange announced is not for the gate to guess
    if (closures.has(date)) throw new MarketExtrasError(where, `conflicts with the extra closure of the same date (${date} cannot be both closed and open)`);
    sessions.add(date);
  });
  return { closures, earlyCloses, sessions };
}

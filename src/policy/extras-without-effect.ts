import type { DayResult } from './calendar.ts';
import { createMarketCalendar, type MarketCalendar, type MarketExtras } from './market-hours.ts';

/** An operator extra that changes nothing: the day is closed anyway. */
export interface IneffectiveExtra {
  /** the config key, e.g. `market.extraEarlyCloses[0]` */
  key: string;
  date: string;
  message: string;
}

/**
 * The configured closures and early closes that fall on a day already without a session (a
 * weekend, a regular holiday, an ad-hoc closure, another closure), an early close of 16:00 on a
 * day that has no early close to cancel, and the extra sessions that
 * fall on a day that is a session anyway or on a weekend: valid, but most likely a wrong date,
 * since the day the operator meant keeps what the rules make of it. The gate warns at start.
 */
export function extrasWithoutEffect(calendar: MarketCalendar, extras: MarketExtras): IneffectiveExtra[] {
  const out: IneffectiveExtra[] = [];
  /** why a day without a session has none: "holiday: Christmas Day", "weekend" */
  const closedBy = (day: DayResult & { session: null }): string => `${day.reason}${day.name ? `: ${day.name}` : ''}`;
  extras.extraClosures.forEach(({ date }, i) => {
    const day = calendar.day(date);
    // a closure that is the reason the day is closed is in effect (it, or an ad-hoc closure of the same day)
    if (!day.session && day.reason !== 'closure') {
      out.push({ key: `market.extraClosures[${i}]`, date, message: `${date} has no session anyway (${closedBy(day)}): this closure changes nothing; is the date right?` });
    }
  });
  /** the days as the rules and the other extras make them, without the extra early closes */
  let withoutEarlyCloses: MarketCalendar | null = null;
  extras.extraEarlyCloses.forEach(({ date, close }, i) => {
    const day = calendar.day(date);
    const key = `market.extraEarlyCloses[${i}]`;
    if (!day.session) {
      out.push({ key, date, message: `${date} has no session (${closedBy(day)}): this early close changes nothing; is the date right?` });
      return;
    }
    if (close !== '16:00') return;
    withoutEarlyCloses ??= createMarketCalendar({ ...extras, extraEarlyCloses: [] });
    const rules = withoutEarlyCloses.day(date);
    if (rules.session && !rules.session.earlyClose) {
      out.push({ key, date, message: `${date} closes at 16:00 anyway (no early close to cancel): this entry changes nothing; is the date right?` });
    }
  });
  const sessions = extras.extraSessions ?? [];
  if (sessions.length > 0) {
    // what the day would be without the extra sessions: one that opens nothing changes nothing
    const rules = createMarketCalendar({ ...extras, extraSessions: [] });
    sessions.forEach(({ date }, i) => {
      const day = rules.day(date);
      const key = `market.extraSessions[${i}]`;
      if (day.session) out.push({ key, date, message: `${date} is a session anyway: this extra session changes nothing; is the date right?` });
      else if (day.reason === 'weekend') out.push({ key, date, message: `${date} is a weekend, when the NYSE never trades: this extra session changes nothing; is the date right?` });
    });
  }
  return out;
}

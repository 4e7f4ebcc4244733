/**
 * MarketCalendar.state / marketState / marketStateToJson at fixed instants: boundaries, DST switch
 * days, holidays, early closes, operator extras, range errors, and a fast-check property test.
 */
import t from 'tap';
import fc from 'fast-check';
import { DateTime } from 'luxon';
import {
  createMarketCalendar,
  marketState,
  marketStateToJson,
  MARKET_ZONE,
  SUPPORTED_YEARS,
  type MarketCalendar,
  type MarketExtras,
  type MarketReason,
} from '../../src/policy/market-hours.ts';
import { regularHolidays } from '../../src/policy/holidays.ts';

const cal = createMarketCalendar();
const utc = (iso: string) => DateTime.fromISO(iso, { zone: 'utc' });

/** [at, reason, session date or null, holiday name or null, nextOpen, nextClose]; open is implied by reason. */
type Row = [at: string, reason: MarketReason, session: string | null, holiday: string | null, nextOpen: string, nextClose: string];

/** The one assertion `check` needs from a tap test. */
interface Same { same(found: unknown, wanted: unknown, message: string): boolean }

function check(t: Same, calendar: MarketCalendar, rows: Row[]) {
  for (const [at, reason, session, holiday, nextOpen, nextClose] of rows) {
    const s = marketStateToJson(calendar.state(utc(at)));
    t.same(
      { open: s.open, reason: s.reason, session: s.session?.date ?? null, holiday: s.holiday, nextOpen: s.nextOpen, nextClose: s.nextClose },
      { open: reason === 'open', reason, session, holiday, nextOpen, nextClose },
      `${at} → ${reason}${holiday ? ` (${holiday})` : ''}`,
    );
  }
}

t.test('boundaries of a regular winter session (2026-03-04, EST)', async (t) => {
  check(t, cal, [
    ['2026-03-04T05:00:00Z', 'pre_open', '2026-03-04', null, '2026-03-04T14:30:00Z', '2026-03-04T21:00:00Z'],
    ['2026-03-04T14:29:59Z', 'pre_open', '2026-03-04', null, '2026-03-04T14:30:00Z', '2026-03-04T21:00:00Z'],
    ['2026-03-04T14:30:00Z', 'open', '2026-03-04', null, '2026-03-05T14:30:00Z', '2026-03-04T21:00:00Z'],
    ['2026-03-04T20:59:59Z', 'open', '2026-03-04', null, '2026-03-05T14:30:00Z', '2026-03-04T21:00:00Z'],
    ['2026-03-04T21:00:00Z', 'after_close', '2026-03-04', null, '2026-03-05T14:30:00Z', '2026-03-05T21:00:00Z'],
    ['2026-03-05T04:59:59Z', 'after_close', '2026-03-04', null, '2026-03-05T14:30:00Z', '2026-03-05T21:00:00Z'],
  ]);
  t.equal(cal.state(utc('2026-03-04T20:59:59.999Z')).open, true, '15:59:59.999 open');
  t.equal(cal.state(utc('2026-03-04T14:29:59.999Z')).open, false, '09:29:59.999 closed');
});

t.test('DST switch days and the Sunday transitions (2026)', async (t) => {
  check(t, cal, [
    // Spring: Fri 03-06 EST 14:30Z, Sun 03-08 02:00 EST → 03:00 EDT (07:00Z), Mon 03-09 EDT 13:30Z.
    ['2026-03-06T14:29:59Z', 'pre_open', '2026-03-06', null, '2026-03-06T14:30:00Z', '2026-03-06T21:00:00Z'],
    ['2026-03-06T14:30:00Z', 'open', '2026-03-06', null, '2026-03-09T13:30:00Z', '2026-03-06T21:00:00Z'],
    ['2026-03-06T21:00:00Z', 'after_close', '2026-03-06', null, '2026-03-09T13:30:00Z', '2026-03-09T20:00:00Z'],
    ['2026-03-07T04:59:59Z', 'after_close', '2026-03-06', null, '2026-03-09T13:30:00Z', '2026-03-09T20:00:00Z'],
    ['2026-03-07T05:00:00Z', 'weekend', null, null, '2026-03-09T13:30:00Z', '2026-03-09T20:00:00Z'],
    ['2026-03-08T06:59:59Z', 'weekend', null, null, '2026-03-09T13:30:00Z', '2026-03-09T20:00:00Z'],
    ['2026-03-08T07:00:00Z', 'weekend', null, null, '2026-03-09T13:30:00Z', '2026-03-09T20:00:00Z'],
    ['2026-03-09T03:59:59Z', 'weekend', null, null, '2026-03-09T13:30:00Z', '2026-03-09T20:00:00Z'],
    ['2026-03-09T04:00:00Z', 'pre_open', '2026-03-09', null, '2026-03-09T13:30:00Z', '2026-03-09T20:00:00Z'],
    ['2026-03-09T13:29:59Z', 'pre_open', '2026-03-09', null, '2026-03-09T13:30:00Z', '2026-03-09T20:00:00Z'],
    ['2026-03-09T13:30:00Z', 'open', '2026-03-09', null, '2026-03-10T13:30:00Z', '2026-03-09T20:00:00Z'],
    ['2026-03-09T19:59:59Z', 'open', '2026-03-09', null, '2026-03-10T13:30:00Z', '2026-03-09T20:00:00Z'],
    ['2026-03-09T20:00:00Z', 'after_close', '2026-03-09', null, '2026-03-10T13:30:00Z', '2026-03-10T20:00:00Z'],
    // Autumn: Fri 10-30 EDT 13:30Z, Sun 11-01 02:00 EDT → 01:00 EST (06:00Z), Mon 11-02 EST 14:30Z.
    ['2026-10-30T13:29:59Z', 'pre_open', '2026-10-30', null, '2026-10-30T13:30:00Z', '2026-10-30T20:00:00Z'],
    ['2026-10-30T13:30:00Z', 'open', '2026-10-30', null, '2026-11-02T14:30:00Z', '2026-10-30T20:00:00Z'],
    ['2026-10-30T20:00:00Z', 'after_close', '2026-10-30', null, '2026-11-02T14:30:00Z', '2026-11-02T21:00:00Z'],
    ['2026-10-31T03:59:59Z', 'after_close', '2026-10-30', null, '2026-11-02T14:30:00Z', '2026-11-02T21:00:00Z'],
    ['2026-10-31T04:00:00Z', 'weekend', null, null, '2026-11-02T14:30:00Z', '2026-11-02T21:00:00Z'],
    ['2026-11-01T05:59:59Z', 'weekend', null, null, '2026-11-02T14:30:00Z', '2026-11-02T21:00:00Z'],
    ['2026-11-01T06:00:00Z', 'weekend', null, null, '2026-11-02T14:30:00Z', '2026-11-02T21:00:00Z'],
    ['2026-11-02T04:59:59Z', 'weekend', null, null, '2026-11-02T14:30:00Z', '2026-11-02T21:00:00Z'],
    ['2026-11-02T05:00:00Z', 'pre_open', '2026-11-02', null, '2026-11-02T14:30:00Z', '2026-11-02T21:00:00Z'],
    ['2026-11-02T14:29:59Z', 'pre_open', '2026-11-02', null, '2026-11-02T14:30:00Z', '2026-11-02T21:00:00Z'],
    ['2026-11-02T14:30:00Z', 'open', '2026-11-02', null, '2026-11-03T14:30:00Z', '2026-11-02T21:00:00Z'],
    ['2026-11-02T20:59:59Z', 'open', '2026-11-02', null, '2026-11-03T14:30:00Z', '2026-11-02T21:00:00Z'],
    ['2026-11-02T21:00:00Z', 'after_close', '2026-11-02', null, '2026-11-03T14:30:00Z', '2026-11-03T21:00:00Z'],
  ]);
});

t.test('early closes: 12:59:59 open, 13:00:00 closed', async (t) => {
  check(t, cal, [
    ['2026-11-27T14:29:59Z', 'pre_open', '2026-11-27', null, '2026-11-27T14:30:00Z', '2026-11-27T18:00:00Z'],
    ['2026-11-27T14:30:00Z', 'open', '2026-11-27', null, '2026-11-30T14:30:00Z', '2026-11-27T18:00:00Z'],
    ['2026-11-27T17:59:59Z', 'open', '2026-11-27', null, '2026-11-30T14:30:00Z', '2026-11-27T18:00:00Z'],
    ['2026-11-27T18:00:00Z', 'early_close', '2026-11-27', null, '2026-11-30T14:30:00Z', '2026-11-30T21:00:00Z'],
    ['2026-11-27T20:30:00Z', 'early_close', '2026-11-27', null, '2026-11-30T14:30:00Z', '2026-11-30T21:00:00Z'],
    ['2026-12-24T17:59:59Z', 'open', '2026-12-24', null, '2026-12-28T14:30:00Z', '2026-12-24T18:00:00Z'],
    ['2026-12-24T18:00:00Z', 'early_close', '2026-12-24', null, '2026-12-28T14:30:00Z', '2026-12-28T21:00:00Z'],
    ['2028-07-03T16:59:59Z', 'open', '2028-07-03', null, '2028-07-05T13:30:00Z', '2028-07-03T17:00:00Z'],
    ['2028-07-03T17:00:00Z', 'early_close', '2028-07-03', null, '2028-07-05T13:30:00Z', '2028-07-05T20:00:00Z'],
    ['2024-07-03T16:59:59Z', 'open', '2024-07-03', null, '2024-07-05T13:30:00Z', '2024-07-03T17:00:00Z'],
    ['2024-07-03T17:00:00Z', 'early_close', '2024-07-03', null, '2024-07-05T13:30:00Z', '2024-07-05T20:00:00Z'],
  ]);
  const s = cal.state(utc('2026-11-27T15:00:00Z')).session;
  t.same([s?.earlyClose, s?.earlyCloseName], [true, 'Day after Thanksgiving'], 'session names the early close');
});

t.test('holidays, closures and weekends: reason, name, next session', async (t) => {
  check(t, cal, [
    ['2026-11-26T15:00:00Z', 'holiday', null, 'Thanksgiving Day', '2026-11-27T14:30:00Z', '2026-11-27T18:00:00Z'],
    // 21:00 ET on Thanksgiving is already Nov 27 in UTC: the New York date decides.
    ['2026-11-27T02:00:00Z', 'holiday', null, 'Thanksgiving Day', '2026-11-27T14:30:00Z', '2026-11-27T18:00:00Z'],
    ['2026-11-25T21:00:00Z', 'after_close', '2026-11-25', null, '2026-11-27T14:30:00Z', '2026-11-27T18:00:00Z'],
    ['2026-11-28T15:00:00Z', 'weekend', null, null, '2026-11-30T14:30:00Z', '2026-11-30T21:00:00Z'],
    // Thursday evening before Good Friday → the following Monday.
    ['2026-04-02T20:00:00Z', 'after_close', '2026-04-02', null, '2026-04-06T13:30:00Z', '2026-04-06T20:00:00Z'],
    ['2026-04-02T23:30:00Z', 'after_close', '2026-04-02', null, '2026-04-06T13:30:00Z', '2026-04-06T20:00:00Z'],
    ['2026-04-03T15:00:00Z', 'holiday', null, 'Good Friday', '2026-04-06T13:30:00Z', '2026-04-06T20:00:00Z'],
    ['2026-01-19T15:00:00Z', 'holiday', null, 'Martin Luther King Jr. Day', '2026-01-20T14:30:00Z', '2026-01-20T21:00:00Z'],
    ['2026-07-02T19:59:59Z', 'open', '2026-07-02', null, '2026-07-06T13:30:00Z', '2026-07-02T20:00:00Z'],
    ['2026-07-03T15:00:00Z', 'holiday', null, 'Independence Day (observed)', '2026-07-06T13:30:00Z', '2026-07-06T20:00:00Z'],
    ['2026-12-25T15:00:00Z', 'holiday', null, 'Christmas Day', '2026-12-28T14:30:00Z', '2026-12-28T21:00:00Z'],
    ['2026-12-31T21:00:00Z', 'after_close', '2026-12-31', null, '2027-01-04T14:30:00Z', '2027-01-04T21:00:00Z'],
    ['2027-01-01T15:00:00Z', 'holiday', null, "New Year's Day", '2027-01-04T14:30:00Z', '2027-01-04T21:00:00Z'],
    // New Year's Day on a Saturday: Dec 31 is a full session, Jan 1 is only a weekend.
    ['2021-12-31T20:59:59Z', 'open', '2021-12-31', null, '2022-01-03T14:30:00Z', '2021-12-31T21:00:00Z'],
    ['2022-01-01T15:00:00Z', 'weekend', null, null, '2022-01-03T14:30:00Z', '2022-01-03T21:00:00Z'],
    ['2027-12-31T14:30:00Z', 'open', '2027-12-31', null, '2028-01-03T14:30:00Z', '2027-12-31T21:00:00Z'],
    ['2027-12-31T21:00:00Z', 'after_close', '2027-12-31', null, '2028-01-03T14:30:00Z', '2028-01-03T21:00:00Z'],
    ['2028-01-01T15:00:00Z', 'weekend', null, null, '2028-01-03T14:30:00Z', '2028-01-03T21:00:00Z'],
    // Carter closure 2025-01-09 (Thursday); 2025-12-26 is a normal full session.
    ['2025-01-08T21:00:00Z', 'after_close', '2025-01-08', null, '2025-01-10T14:30:00Z', '2025-01-10T21:00:00Z'],
    ['2025-01-09T15:00:00Z', 'closure', null, 'National Day of Mourning for President Jimmy Carter', '2025-01-10T14:30:00Z', '2025-01-10T21:00:00Z'],
    ['2025-12-26T15:00:00Z', 'open', '2025-12-26', null, '2025-12-29T14:30:00Z', '2025-12-26T21:00:00Z'],
    ['2025-12-26T20:59:59Z', 'open', '2025-12-26', null, '2025-12-29T14:30:00Z', '2025-12-26T21:00:00Z'],
    // September 2001: closed Tue–Fri, reopened Monday 09-17.
    ['2001-09-10T21:00:00Z', 'after_close', '2001-09-10', null, '2001-09-17T13:30:00Z', '2001-09-17T20:00:00Z'],
    ['2001-09-12T14:00:00Z', 'closure', null, 'September 11 attacks', '2001-09-17T13:30:00Z', '2001-09-17T20:00:00Z'],
  ]);
});

t.test('instants in other zones and marketState()', async (t) => {
  const at = DateTime.fromISO('2026-11-27T09:00:00', { zone: MARKET_ZONE });
  const s = marketState(at, cal);
  t.equal(s.at.zoneName, 'UTC', 'at is returned in UTC');
  t.equal(s.at.toISO(), '2026-11-27T14:00:00.000Z');
  t.equal(s.reason, 'pre_open');
  t.same(marketStateToJson(s), marketStateToJson(cal.state(utc('2026-11-27T14:00:00Z'))), 'marketState(at, cal) = cal.state(at)');
  const tokyo = DateTime.fromISO('2026-11-28T02:59:59', { zone: 'Asia/Tokyo' }); // 17:59:59Z on Black Friday
  t.equal(cal.state(tokyo).open, true, 'Tokyo wall time converted by instant');
  t.equal(cal.state(tokyo.plus({ seconds: 1 })).reason, 'early_close');
  for (const dt of [cal.state(tokyo).nextOpen, cal.state(tokyo).nextClose, cal.state(tokyo).session?.open]) t.equal(dt?.zoneName, 'UTC');
});

t.test('marketStateToJson', async (t) => {
  t.same(marketStateToJson(cal.state(utc('2026-11-27T18:00:00.789Z'))), {
    at: '2026-11-27T18:00:00Z',
    open: false,
    reason: 'early_close',
    holiday: null,
    session: { date: '2026-11-27', open: '2026-11-27T14:30:00Z', close: '2026-11-27T18:00:00Z', earlyClose: true },
    nextOpen: '2026-11-30T14:30:00Z',
    nextClose: '2026-11-30T21:00:00Z',
  });
  t.same(marketStateToJson(cal.state(utc('2026-11-26T12:34:56.999Z'))), {
    at: '2026-11-26T12:34:56Z',
    open: false,
    reason: 'holiday',
    holiday: 'Thanksgiving Day',
    session: null,
    nextOpen: '2026-11-27T14:30:00Z',
    nextClose: '2026-11-27T18:00:00Z',
  });
});

t.test('operator extras: closures and early closes', async (t) => {
  const extras: MarketExtras = {
    extraClosures: [
      { date: '2027-01-08', name: 'National Day of Mourning' },
      { date: '2027-02-03' },
      { date: '2026-11-28', name: 'on a Saturday: no effect' },
      { date: '2026-11-26', name: 'on Thanksgiving: stays a holiday' },
    ],
    extraEarlyCloses: [
      { date: '2026-11-25', close: '14:00', name: 'Pre-holiday close' },
      { date: '2026-11-27', close: '12:00' },
      { date: '2026-07-03', close: '13:00', name: 'on a holiday: no effect' },
      { date: '2027-02-03', close: '13:00', name: 'closure wins' },
      { date: '2026-07-06', close: '09:31' },
      { date: '2027-11-26', close: '15:00', name: 'rule early close moved later by notice' },
    ],
  };
  const x = createMarketCalendar(extras);
  check(t, x, [
    ['2027-01-07T21:00:00Z', 'after_close', '2027-01-07', null, '2027-01-11T14:30:00Z', '2027-01-11T21:00:00Z'],
    ['2027-01-08T15:00:00Z', 'closure', null, 'National Day of Mourning', '2027-01-11T14:30:00Z', '2027-01-11T21:00:00Z'],
    ['2027-02-03T15:00:00Z', 'closure', null, 'Operator-configured closure', '2027-02-04T14:30:00Z', '2027-02-04T21:00:00Z'],
    ['2026-11-28T15:00:00Z', 'weekend', null, null, '2026-11-30T14:30:00Z', '2026-11-30T21:00:00Z'],
    ['2026-11-26T15:00:00Z', 'holiday', null, 'Thanksgiving Day', '2026-11-27T14:30:00Z', '2026-11-27T17:00:00Z'],
    ['2026-11-25T18:59:59Z', 'open', '2026-11-25', null, '2026-11-27T14:30:00Z', '2026-11-25T19:00:00Z'],
    ['2026-11-25T19:00:00Z', 'early_close', '2026-11-25', null, '2026-11-27T14:30:00Z', '2026-11-27T17:00:00Z'],
    ['2026-11-27T16:59:59Z', 'open', '2026-11-27', null, '2026-11-30T14:30:00Z', '2026-11-27T17:00:00Z'],
    ['2026-11-27T17:00:00Z', 'early_close', '2026-11-27', null, '2026-11-30T14:30:00Z', '2026-11-30T21:00:00Z'],
    ['2026-07-03T15:00:00Z', 'holiday', null, 'Independence Day (observed)', '2026-07-06T13:30:00Z', '2026-07-06T13:31:00Z'],
    ['2026-07-06T13:30:59Z', 'open', '2026-07-06', null, '2026-07-07T13:30:00Z', '2026-07-06T13:31:00Z'],
    ['2026-07-06T13:31:00Z', 'early_close', '2026-07-06', null, '2026-07-07T13:30:00Z', '2026-07-07T20:00:00Z'],
    // the day after Thanksgiving 2027 closes at 13:00 by rule; the operator's 15:00 replaces it
    ['2027-11-26T19:59:59Z', 'open', '2027-11-26', null, '2027-11-29T14:30:00Z', '2027-11-26T20:00:00Z'],
    ['2027-11-26T20:00:00Z', 'early_close', '2027-11-26', null, '2027-11-29T14:30:00Z', '2027-11-29T21:00:00Z'],
  ]);
  t.same(
    [x.day('2026-11-25'), x.day('2026-11-27')].map((d) => d.session && [d.session.earlyClose, d.session.earlyCloseName]),
    [[true, 'Pre-holiday close'], [true, 'Operator-configured early close']],
    'early-close names',
  );
  t.same(cal.day('2027-01-08').session?.date, '2027-01-08', 'the default calendar is not affected by another calendar’s extras');
  t.equal(cal.state(utc('2026-11-27T17:30:00Z')).open, true, 'default Black Friday still closes at 13:00');
  t.ok(createMarketCalendar({ extraClosures: [], extraEarlyCloses: [] }).day('2026-11-27').session?.earlyClose, 'empty extras');
});

t.test('an extra early close at 16:00 cancels a rule early close: a full session, not labelled early', async (t) => {
  // Christmas Eve 2026 (a Thursday) and the day after Thanksgiving 2026 close at 13:00 by rule
  const x = createMarketCalendar({ extraClosures: [], extraEarlyCloses: [{ date: '2026-12-24', close: '16:00', name: 'full session by notice' }] });
  check(t, x, [
    ['2026-12-24T18:00:00Z', 'open', '2026-12-24', null, '2026-12-28T14:30:00Z', '2026-12-24T21:00:00Z'],
    ['2026-12-24T20:59:59Z', 'open', '2026-12-24', null, '2026-12-28T14:30:00Z', '2026-12-24T21:00:00Z'],
    ['2026-12-24T21:00:00Z', 'after_close', '2026-12-24', null, '2026-12-28T14:30:00Z', '2026-12-28T21:00:00Z'],
  ]);
  const day = x.day('2026-12-24').session;
  t.same([day?.earlyClose, day?.earlyCloseName], [false, null], 'not an early close');
  t.ok(x.day('2026-11-27').session?.earlyClose, 'other rule early closes stay');
  t.equal(cal.state(utc('2026-12-24T18:00:00Z')).reason, 'early_close', 'the default calendar keeps the 13:00 close');
});

t.test('malformed extras are rejected with a RangeError naming the entry', async (t) => {
  const closures = (entry: unknown): MarketExtras => ({ extraClosures: [entry as never], extraEarlyCloses: [] });
  const early = (...entries: unknown[]): MarketExtras => ({ extraClosures: [], extraEarlyCloses: entries as never[] });
  const cases: [string, MarketExtras, RegExp][] = [
    ['impossible date', closures({ date: '2026-02-30' }), /extraClosures\[0\] \{"date":"2026-02-30"\}: date must be a real yyyy-MM-dd date/],
    ['short year', closures({ date: '27-01-08' }), /extraClosures\[0\].*27-01-08.*yyyy-MM-dd/],
    ['unpadded month', closures({ date: '2027-1-08' }), /extraClosures\[0\].*2027-1-08/],
    ['missing date', closures({ name: 'x' }), /extraClosures\[0\] \{"name":"x"\}: date must be/],
    ['bare string entry', closures('2027-01-08'), /extraClosures\[0\] "2027-01-08": must be an object/],
    ['year before 2000', closures({ date: '1999-12-31' }), /extraClosures\[0\].*1999-12-31.*outside the supported years 2000-2099/],
    ['year after 2099', closures({ date: '2100-01-04' }), /extraClosures\[0\].*2100-01-04.*outside/],
    ['blank name', closures({ date: '2027-01-08', name: ' ' }), /extraClosures\[0\].*name must be a non-empty string/],
    ['close after 16:00', early({ date: '2026-11-25', close: '16:30' }), /extraEarlyCloses\[0\] \{"date":"2026-11-25","close":"16:30"\}: close must be before 16:00, or 16:00 for a full session/],
    ['close at 16:01', early({ date: '2026-11-25', close: '16:01' }), /extraEarlyCloses\[0\].*16:01.*before 16:00/],
    ['close 1pm', early({ date: '2026-11-25', close: '1pm' }), /extraEarlyCloses\[0\].*1pm.*HH:mm/],
    ['close with seconds', early({ date: '2026-11-25', close: '13:00:00' }), /extraEarlyCloses\[0\].*HH:mm/],
    ['close unpadded', early({ date: '2026-11-25', close: '9:45' }), /extraEarlyCloses\[0\].*HH:mm/],
    ['close 24:00', early({ date: '2026-11-25', close: '24:00' }), /extraEarlyCloses\[0\].*HH:mm/],
    ['close at the open', early({ date: '2026-11-25', close: '09:30' }), /extraEarlyCloses\[0\].*after the 09:30 open/],
    ['close before the open', early({ date: '2026-11-25', close: '08:00' }), /extraEarlyCloses\[0\].*after the 09:30 open/],
    ['missing close', early({ date: '2026-11-25' }), /extraEarlyCloses\[0\].*HH:mm/],
    ['bad early date', early({ date: '2026-11-31', close: '13:00' }), /extraEarlyCloses\[0\].*2026-11-31.*yyyy-MM-dd/],
    ['second entry named', early({ date: '2026-11-25', close: '13:00' }, { date: '2026-11-25', close: '14:00' }), /extraEarlyCloses\[1\].*conflicts with an earlier early close at 13:00/],
    ['list not an array', { extraClosures: '2027-01-08', extraEarlyCloses: [] } as never, /extraClosures must be an array/],
  ];
  for (const [label, extras, message] of cases) t.throws(() => createMarketCalendar(extras), { name: 'RangeError', message }, label);
  t.doesNotThrow(() => createMarketCalendar(early({ date: '2026-11-25', close: '13:00' }, { date: '2026-11-25', close: '13:00' })), 'identical duplicates are fine');
});

t.test('years outside 2000–2099 and invalid instants are RangeErrors', async (t) => {
  const cases: [string, RegExp][] = [
    ['1999-12-31T20:00:00Z', /1999-12-31.*outside the supported NYSE calendar years 2000-2099/],
    ['2000-01-01T04:59:59Z', /New York date 1999-12-31.*outside/],
    ['2100-01-04T15:00:00Z', /New York date 2100-01-04.*outside/],
    ['2100-01-01T05:00:00Z', /New York date 2100-01-01.*outside/],
    // an expanded ISO year is named as one (-0001-12-31, not 00-1-12-31)
    ['0000-01-01T00:00:00Z', /New York date -0001-12-31\) is outside/],
  ];
  for (const [at, message] of cases) t.throws(() => cal.state(utc(at)), { name: 'RangeError', message }, at);
  t.throws(() => cal.state(DateTime.fromISO('not a date')), { name: 'RangeError', message: /invalid instant/ }, 'invalid DateTime');
  check(t, cal, [
    ['2000-01-01T05:00:00Z', 'weekend', null, null, '2000-01-03T14:30:00Z', '2000-01-03T21:00:00Z'],
    ['2099-12-30T21:00:00Z', 'after_close', '2099-12-30', null, '2099-12-31T14:30:00Z', '2099-12-31T21:00:00Z'],
    ['2099-12-31T14:29:59Z', 'pre_open', '2099-12-31', null, '2099-12-31T14:30:00Z', '2099-12-31T21:00:00Z'],
    // the last session of 2099 and the night after it: the next open is 2100's first session (New
    // Year's Day 2100 is a Friday, so Monday 4 January), computed by the rules though 2100 itself is refused
    ['2099-12-31T14:30:00Z', 'open', '2099-12-31', null, '2100-01-04T14:30:00Z', '2099-12-31T21:00:00Z'],
    ['2099-12-31T20:59:59Z', 'open', '2099-12-31', null, '2100-01-04T14:30:00Z', '2099-12-31T21:00:00Z'],
    ['2099-12-31T21:00:00Z', 'after_close', '2099-12-31', null, '2100-01-04T14:30:00Z', '2100-01-04T21:00:00Z'],
    ['2100-01-01T04:59:59Z', 'after_close', '2099-12-31', null, '2100-01-04T14:30:00Z', '2100-01-04T21:00:00Z'],
  ]);
  t.throws(() => cal.day('2100-01-04'), { name: 'RangeError', message: /2100-01-04.*outside/ }, 'the look-ahead year is still refused when asked for itself');
  t.throws(() => regularHolidays(2100), RangeError, 'regularHolidays(2100) after the look-ahead built it');
  t.same(SUPPORTED_YEARS, { from: 2000, to: 2099 });
});

t.test('property: state() is consistent with day() for random instants 2000–2099', async (t) => {
  const calendar = createMarketCalendar({ extraClosures: [{ date: '2031-03-12' }], extraEarlyCloses: [{ date: '2031-03-13', close: '11:15' }] });
  const min = utc('2000-01-01T05:00:00Z').toMillis();
  const max = utc('2099-12-24T00:00:00Z').toMillis();
  const problems: string[] = [];
  /** Every New York date strictly between two instants' dates has no session. */
  const noSessionBetween = (a: DateTime, b: DateTime) => {
    for (let d = a.setZone(MARKET_ZONE).startOf('day').plus({ days: 1 }); d < b.setZone(MARKET_ZONE).startOf('day'); d = d.plus({ days: 1 })) {
      if (calendar.day(d.toISODate() as string).session) return false;
    }
    return true;
  };
  const property = fc.property(fc.oneof(fc.integer({ min, max }), fc.constantFrom(utc('2031-03-12T15:00:00Z').toMillis(), utc('2031-03-13T16:14:59Z').toMillis(), utc('2031-03-13T16:15:00Z').toMillis())), (ms) => {
    const at = DateTime.fromMillis(ms, { zone: 'utc' });
    const s = calendar.state(at);
    const date = at.setZone(MARKET_ZONE).toISODate() as string;
    const day = calendar.day(date);
    const session = day.session;
    const expectOpen = session !== null && session.open <= at && at < session.close;
    const openSession = calendar.day(s.nextOpen.setZone(MARKET_ZONE).toISODate() as string).session;
    const closeSession = calendar.day(s.nextClose.setZone(MARKET_ZONE).toISODate() as string).session;
    const fails = [
      s.open !== expectOpen && 'open',
      s.session !== session && 'session is day(date).session',
      !(s.nextOpen > at) && 'nextOpen > at',
      !(s.nextClose > at) && 'nextClose > at',
      !(openSession && +openSession.open === +s.nextOpen) && 'nextOpen is a session open',
      !(closeSession && +closeSession.close === +s.nextClose) && 'nextClose is a session close',
      !s.open && !(s.nextClose > s.nextOpen) && 'closed: nextClose > nextOpen',
      s.open && session && +s.nextClose !== +session.close && 'open: nextClose is this close',
      s.open !== (s.reason === 'open') && 'reason open iff open',
      (session === null) !== ['weekend', 'holiday', 'closure'].includes(s.reason) && 'reason matches day kind',
      session === null && 'reason' in day && (day.reason !== s.reason || day.name !== s.holiday) && 'reason/name from day()',
      // nextOpen is the first open after `at`: no session between at's date and nextOpen's date, and today's open if still ahead.
      !noSessionBetween(at, s.nextOpen) && 'no session skipped before nextOpen',
      session && at < session.open && +s.nextOpen !== +session.open && "before today's open: today's open",
    ].filter(Boolean);
    if (fails.length) problems.push(`${at.toISO()}: ${fails.join(', ')}`);
    return fails.length === 0;
  });
  const result = fc.check(property, { numRuns: 20_000, seed: 20260101 });
  t.equal(result.failed, false, `20000 random instants; first problems: ${problems.slice(0, 3).join(' | ')}${result.failed ? ` (counterexample ${JSON.stringify(result.counterexample)})` : ''}`);
});

import t from 'tap';
import { extrasWithoutEffect } from '../../src/policy/extras-without-effect.ts';
import { createMarketCalendar, type MarketExtras } from '../../src/policy/market-hours.ts';

t.test('closures and early closes on a day with no session anyway are named; those that change a day are not', async (t) => {
  const extras: MarketExtras = {
    extraClosures: [
      { date: '2027-01-08' }, // a Friday session: closed by this entry
      { date: '2027-01-09' }, // a Saturday
      { date: '2025-01-09' }, // the ad-hoc national day of mourning: closed anyway, but by a closure
      { date: '2027-07-05', name: 'typo for the 6th?' }, // Independence Day observed (July 4 is a Sunday)
    ],
    extraEarlyCloses: [
      { date: '2027-12-23', close: '13:00' }, // a Thursday session
      { date: '2027-12-24', close: '13:00' }, // Christmas observed (the 25th is a Saturday)
      { date: '2027-12-26', close: '13:00' }, // a Sunday
      { date: '2027-01-08', close: '12:00' }, // closed by the operator's own closure
    ],
  };
  const found = extrasWithoutEffect(createMarketCalendar(extras), extras);
  t.same(
    found.map((x) => [x.key, x.date]),
    [
      ['market.extraClosures[1]', '2027-01-09'],
      ['market.extraClosures[3]', '2027-07-05'],
      ['market.extraEarlyCloses[1]', '2027-12-24'],
      ['market.extraEarlyCloses[2]', '2027-12-26'],
      ['market.extraEarlyCloses[3]', '2027-01-08'],
    ],
  );
  t.match(found[1]?.message, /2027-07-05 has no session anyway \(holiday: Independence Day.*\): this closure changes nothing/);
  t.match(found[2]?.message, /2027-12-24 has no session \(holiday: Christmas.*\): this early close changes nothing/);
  t.match(found[3]?.message, /\(weekend\)/);
  t.match(found[4]?.message, /\(closure: Operator-configured closure\)/);
  t.same(extrasWithoutEffect(createMarketCalendar(), { extraClosures: [], extraEarlyCloses: [] }), [], 'no extras, nothing to say');
});

t.test('an early close of 16:00 is named on a day with no early close to cancel, not on one it cancels', async (t) => {
  const extras: MarketExtras = {
    extraClosures: [],
    extraEarlyCloses: [
      { date: '2026-12-24', close: '16:00' }, // Christmas Eve, a Thursday: 13:00 by rule, cancelled
      { date: '2026-12-23', close: '16:00' }, // a regular Wednesday: nothing to cancel
    ],
  };
  const found = extrasWithoutEffect(createMarketCalendar(extras), extras);
  t.same(found.map((x) => [x.key, x.date]), [['market.extraEarlyCloses[1]', '2026-12-23']]);
  t.match(found[0]?.message, /2026-12-23 closes at 16:00 anyway \(no early close to cancel\): this entry changes nothing/);
});

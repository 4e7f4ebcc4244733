import t from 'tap';
import { DateTime } from 'luxon';
import { parseConfig } from '../../src/config.ts';
import { extrasWithoutEffect } from '../../src/policy/extras-without-effect.ts';
import { createMarketCalendar, marketStateToJson, type MarketExtras } from '../../src/policy/market-hours.ts';
import { buildTestApp, decisionBody } from '../helpers/build-app.ts';

const utc = (iso: string) => DateTime.fromISO(iso, { zone: 'utc' });
const extras = (...extraSessions: MarketExtras['extraSessions'] & object): MarketExtras => ({ extraClosures: [], extraEarlyCloses: [], extraSessions });

t.test('an extra session opens a day the rules close: a regular holiday, an ad-hoc closure', async (t) => {
  // Independence Day observed 2027-07-05 (a Monday; the 4th is a Sunday), and the 2025-01-09 national day of mourning
  const rules = createMarketCalendar();
  t.same([rules.day('2027-07-05').session, rules.day('2025-01-09').session], [null, null], 'both closed by the rules');
  const cal = createMarketCalendar(extras({ date: '2027-07-05', name: 'NYSE notice: open after all' }, { date: '2025-01-09' }));
  const rows: [string, boolean, string | null, string, string][] = [
    // at, open, session date, nextOpen, nextClose
    ['2027-07-02T21:00:00Z', false, '2027-07-02', '2027-07-05T13:30:00Z', '2027-07-05T20:00:00Z'],
    ['2027-07-05T13:29:59Z', false, '2027-07-05', '2027-07-05T13:30:00Z', '2027-07-05T20:00:00Z'],
    ['2027-07-05T13:30:00Z', true, '2027-07-05', '2027-07-06T13:30:00Z', '2027-07-05T20:00:00Z'],
    ['2027-07-05T19:59:59Z', true, '2027-07-05', '2027-07-06T13:30:00Z', '2027-07-05T20:00:00Z'],
    ['2027-07-05T20:00:00Z', false, '2027-07-05', '2027-07-06T13:30:00Z', '2027-07-06T20:00:00Z'],
    ['2025-01-09T15:00:00Z', true, '2025-01-09', '2025-01-10T14:30:00Z', '2025-01-09T21:00:00Z'],
  ];
  for (const [at, open, session, nextOpen, nextClose] of rows) {
    const s = marketStateToJson(cal.state(utc(at)));
    t.same({ open: s.open, session: s.session?.date ?? null, nextOpen: s.nextOpen, nextClose: s.nextClose }, { open, session, nextOpen, nextClose }, at);
  }
  // an extra early close of the same date sets its close
  const early = createMarketCalendar({ extraClosures: [], extraEarlyCloses: [{ date: '2027-07-05', close: '13:00' }], extraSessions: [{ date: '2027-07-05' }] });
  t.match(marketStateToJson(early.state(utc('2027-07-05T16:59:59Z'))).session, { date: '2027-07-05', open: '2027-07-05T13:30:00Z', close: '2027-07-05T17:00:00Z', earlyClose: true });
  t.equal(early.state(utc('2027-07-05T17:00:00Z')).open, false, 'closed at 13:00 ET');
  // never a weekend
  const weekend = createMarketCalendar(extras({ date: '2027-07-03' }));
  t.same(weekend.day('2027-07-03'), { session: null, reason: 'weekend', name: null }, 'Saturday stays closed');
});

t.test('config: extraSessions takes dates or { date, name }, and refuses one on an extra closure\'s date, naming the key', async (t) => {
  const ok = parseConfig({ GATE_DATA_DIR: t.testdirName }, 'market:\n  extraSessions: ["2027-07-05", { date: "2025-01-09", name: "open after all" }]\n');
  t.same(ok.market.extraSessions, [{ date: '2027-07-05' }, { date: '2025-01-09', name: 'open after all' }]);
  t.throws(
    () => parseConfig({ GATE_DATA_DIR: t.testdirName }, 'market:\n  extraClosures: ["2027-07-06"]\n  extraSessions: ["2027-07-05", "2027-07-06"]\n'),
    /market\.extraSessions\[1\]: conflicts with the extra closure of the same date/,
  );
  t.throws(() => parseConfig({ GATE_DATA_DIR: t.testdirName }, 'market:\n  extraSessions: ["2027-02-30"]\n'), /market\.extraSessions\[0\]/);
  t.throws(() => parseConfig({ GATE_DATA_DIR: t.testdirName }, 'market:\n  extraSessions: [{ date: "2027-07-05", open: "10:00" }]\n'), /market\.extraSessions\[0\]/, 'unknown keys refused');
});

t.test('an extra session on a day that is a session anyway, or on a weekend, is named for the start-up warning', async (t) => {
  const x = extras({ date: '2027-07-05' }, { date: '2027-07-06' }, { date: '2027-07-03' });
  t.same(
    extrasWithoutEffect(createMarketCalendar(x), x).map((w) => [w.key, w.message.replace(/:.*/, '')]),
    [
      ['market.extraSessions[1]', '2027-07-06 is a session anyway'],
      ['market.extraSessions[2]', '2027-07-03 is a weekend, when the NYSE never trades'],
    ],
  );
});

t.test('decisions on an extra session: paper waits for the close, live is denied', async (t) => {
  const g = await buildTestApp(t, {
    now: '2027-07-05T15:00:00Z',
    configYaml: 'stages:\n  paper: { requireIntegrationTests: false }\n  live: { requireIntegrationTests: false, requireApproval: false }\nmarket:\n  extraSessions: ["2027-07-05"]\n',
  });
  const ask = (stage: string) => g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage, promotion: `${stage}-1` }) });
  const paper = (await ask('paper')).json();
  t.match(paper, { decision: 'wait', message: /closes 16:00 ET \(in 5h 0m\)/ });
  t.equal((await ask('live')).json().decision, 'deny');
});

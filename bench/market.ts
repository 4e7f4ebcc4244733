/**
 * Micro-benchmark of the market clock (run: `npx node bench/market.ts`).
 * Prints the cost per call of MarketCalendar.state on a warm calendar (the decision hot path),
 * of building a year table on first use, and of day() and marketStateToJson.
 */
import { DateTime } from 'luxon';
import { createMarketCalendar, marketStateToJson, type MarketState } from '../src/policy/market-hours.ts';

const N = 1_000_000;
const FROM = DateTime.fromISO('2020-01-01T00:00:00Z').toMillis();
const TO = DateTime.fromISO('2030-12-01T00:00:00Z').toMillis();

// Deterministic pseudo-random instants (xorshift32), created up front so only state() is timed.
let seed = 0x9e3779b9;
function random(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 0x1_0000_0000;
}
const instants = Array.from({ length: 10_000 }, () => DateTime.fromMillis(Math.floor(FROM + random() * (TO - FROM)), { zone: 'utc' }));

function time(label: string, calls: number, fn: () => void): number {
  const start = performance.now();
  fn();
  const perCallUs = ((performance.now() - start) * 1000) / calls;
  console.log(`${label.padEnd(48)} ${perCallUs.toFixed(3)} µs/call  (${calls} calls)`);
  return perCallUs;
}

const coldYears = 2099 - 2000 + 1;
time('first use of each year (year table build)', coldYears, () => {
  const cal = createMarketCalendar();
  for (let y = 2000; y <= 2099; y++) cal.day(`${y}-06-15`);
});

const calendar = createMarketCalendar({
  extraClosures: [{ date: '2027-01-08', name: 'bench closure' }],
  extraEarlyCloses: [{ date: '2027-11-24', close: '14:00' }],
});
let sink: MarketState | undefined;
for (const at of instants) sink = calendar.state(at); // warm: builds the 11 year tables, JIT

const warm = time('state() on a warm calendar', N, () => {
  for (let i = 0; i < N; i++) sink = calendar.state(instants[i % instants.length] as DateTime);
});
time('state() incl. DateTime.fromMillis of the instant', N / 10, () => {
  for (let i = 0; i < N / 10; i++) sink = calendar.state(DateTime.fromMillis(FROM + (i * 7_919_000) % (TO - FROM), { zone: 'utc' }));
});
time('day(date)', N, () => {
  for (let i = 0; i < N; i++) calendar.day(i % 2 ? '2026-11-27' : '2027-07-05');
});
time('marketStateToJson(state)', N / 10, () => {
  for (let i = 0; i < N / 10; i++) marketStateToJson(sink as MarketState);
});
console.log(`hot path budget 20 µs: state() uses ${((warm / 20) * 100).toFixed(1)}% of it`);

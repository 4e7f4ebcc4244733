import { DateTime } from 'luxon';

/** The gate's only source of "now". Injected through deps; policy code receives instants, never reads a clock. */
export interface Clock {
  /** The current instant, in UTC. */
  now(): DateTime;
}

/** A clock stopped at one instant (tests). */
export function fixedClock(at: string | DateTime): Clock {
  const instant = (typeof at === 'string' ? DateTime.fromISO(at, { setZone: true }) : at).toUTC();
  if (!instant.isValid) throw new RangeError(`fixedClock: invalid instant ${String(at)}`);
  return { now: () => instant };
}

/**
 * A clock that starts at `start` and runs on at the speed of `elapsedMs`
 * (a monotonic millisecond source, e.g. performance.now). Used for GATE_NOW.
 */
export function clockFrom(start: DateTime, elapsedMs: () => number): Clock {
  const origin = elapsedMs();
  const base = start.toMillis();
  return { now: () => DateTime.fromMillis(base + Math.floor(elapsedMs() - origin), { zone: 'utc' }) };
}

/**
 * The instant as an ISO-8601 UTC string with milliseconds ("2026-11-25T15:00:00.000Z"), the
 * form every record and answer uses. Same text as luxon's toISO() in UTC, without its cost.
 */
export function isoOf(at: DateTime): string {
  const ms = at.toMillis();
  // under load many answers share a millisecond: format each millisecond once
  if (ms !== lastIso.ms) lastIso = { ms, text: new Date(ms).toISOString() };
  return lastIso.text;
}
let lastIso = { ms: Number.NaN, text: '' };

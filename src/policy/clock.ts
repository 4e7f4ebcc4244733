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
  const base = start.toUTC();
  return { now: () => base.plus({ milliseconds: Math.floor(elapsedMs() - origin) }) };
}

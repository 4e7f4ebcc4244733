/**
 * New York wall-clock time → UTC for one year, with few tz-database lookups.
 * luxon's IANAZone.offset costs ~10 µs (an Intl.formatToParts call) and a year table needs ~900
 * conversions, so instead the year's offset transitions are located once (weekly samples, then
 * bisection to the millisecond) and every conversion is arithmetic over those few segments.
 */
import { IANAZone } from 'luxon';
import { daysFromCivil } from './civil-date.ts';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
const SAMPLE_MS = 7 * DAY_MS; // no zone changes its offset twice within a week

/** Converts wall-clock times of one year in one zone to UTC. */
export interface YearOffsets {
  /** UTC milliseconds of `minuteOfDay` (0–1439) wall-clock time on the date `dayNumber` (days since 1970-01-01). Throws RangeError for a time skipped by a DST gap. */
  utcMillis(dayNumber: number, minuteOfDay: number): number;
}

/** Builds the converter for `year` (dates from Dec 31 of the year before to Jan 1 of the year after). */
export function yearOffsets(zoneName: string, year: number): YearOffsets {
  const zone = IANAZone.create(zoneName);
  if (!zone.isValid) throw new RangeError(`zone-offsets: unknown time zone ${zoneName}`);
  const from = (daysFromCivil(year, 1, 1) - 2) * DAY_MS;
  const to = (daysFromCivil(year + 1, 1, 1) + 2) * DAY_MS;
  // Segments: starts[i] (UTC ms) with offsets[i] (minutes east of UTC) until starts[i + 1].
  const starts = [from];
  const offsets = [zone.offset(from)];
  for (let t = from + SAMPLE_MS; ; t = Math.min(t + SAMPLE_MS, to)) {
    const o = zone.offset(t);
    if (o !== offsets.at(-1)) {
      let lo = t - SAMPLE_MS; // offset(lo) is the previous offset
      let hi = t;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (zone.offset(mid) === o) hi = mid;
        else lo = mid;
      }
      starts.push(hi);
      offsets.push(o);
    }
    if (t >= to) break;
  }
  return {
    utcMillis(dayNumber: number, minuteOfDay: number): number {
      const wall = dayNumber * DAY_MS + minuteOfDay * MINUTE_MS;
      for (let i = 0; i < starts.length; i++) {
        const utc = wall - (offsets[i] as number) * MINUTE_MS;
        const end = i + 1 < starts.length ? (starts[i + 1] as number) : Infinity;
        if (utc >= (starts[i] as number) && utc < end) return utc; // in an overlap, the earlier instant wins
      }
      throw new RangeError(`zone-offsets: wall time ${minuteOfDay} min on day ${dayNumber} does not exist in ${zoneName}`);
    },
  };
}

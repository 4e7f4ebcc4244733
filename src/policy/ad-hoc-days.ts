/**
 * One-off NYSE closures and early closes decided by the exchange, kept as data (RULES.md §1b, §1c).
 * New ones should go into operator configuration (MarketExtras) first and be copied here in a release.
 */
import type { NamedDate } from './holidays.ts';

/** Ad-hoc full-day closures from 2000 onward. */
export const AD_HOC_CLOSURES: readonly NamedDate[] = Object.freeze([
  { date: '2001-09-11', name: 'September 11 attacks' },
  { date: '2001-09-12', name: 'September 11 attacks' },
  { date: '2001-09-13', name: 'September 11 attacks' },
  { date: '2001-09-14', name: 'September 11 attacks' },
  { date: '2004-06-11', name: 'National Day of Mourning for President Ronald Reagan' },
  { date: '2007-01-02', name: 'National Day of Mourning for President Gerald Ford' },
  { date: '2012-10-29', name: 'Hurricane Sandy' },
  { date: '2012-10-30', name: 'Hurricane Sandy' },
  { date: '2018-12-05', name: 'National Day of Mourning for President George H. W. Bush' },
  { date: '2025-01-09', name: 'National Day of Mourning for President Jimmy Carter' },
]);

/**
 * Ad-hoc 13:00 ET early closes. The 1997 and 1999 entries are before SUPPORTED_YEARS and are kept
 * only so the list is complete; the calendar never consults them.
 */
export const AD_HOC_EARLY_CLOSES: readonly NamedDate[] = Object.freeze([
  { date: '1997-12-26', name: 'Day after Christmas' },
  { date: '1999-12-31', name: "New Year's Eve 1999" },
  { date: '2003-12-26', name: 'Day after Christmas' },
]);

import type { DateTime } from 'luxon';
import type { StagePolicy } from '../config.ts';
import type { MarketState } from './market-hours.ts';

/**
 * Whether a stage's market-hours answer (wait or deny) holds at `now`: while the session is open
 * ('open'), and from the stage's quietBeforeOpenMinutes before the next open until it opens
 * ('opening'), so a promotion allowed just before the bell does not roll out into it. Null when it
 * does not hold, or the stage has no market-hours rule.
 */
export function marketHold(policy: Pick<StagePolicy, 'marketHours' | 'quietBeforeOpenMinutes'>, market: MarketState, now: DateTime): 'open' | 'opening' | null {
  if (policy.marketHours === null) return null;
  if (market.open) return 'open';
  const quietMs = policy.quietBeforeOpenMinutes * 60_000;
  return quietMs > 0 && market.nextOpen.toMillis() - now.toMillis() <= quietMs ? 'opening' : null;
}

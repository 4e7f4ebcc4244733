/**
 * The decision core's public surface: pure functions of their arguments (no I/O, no clock
 * reads). The shell (src/gate/) records and applies what they return. Listed by name, grouped;
 * test/policy/public-surface.test.ts snapshots the list so a change to it shows in review.
 */

// Deciding
export { decide, POLICIES, type DecisionInput, type DecisionState, type Outcome } from './decide.ts';
export { REASON_CODES, reason, strictest, summarize, type Effect, type Reason, type ReasonCode } from './reasons.ts';

// The market clock
export {
  MARKET_ZONE,
  SUPPORTED_YEARS,
  createMarketCalendar,
  marketState,
  marketStateToJson,
  type ExtraClosure,
  type ExtraEarlyClose,
  type MarketCalendar,
  type MarketExtras,
  type MarketReason,
  type MarketState,
  type Session,
} from './market-hours.ts';
export { formatTimeLeft } from './durations.ts';

// Grants and approvals
export { findCoveringGrant, findExpiredGrants, findGrantByTokenHash, grantMatches, isGrantLive, type GrantTarget } from './grants.ts';
export { findApprovals, findExpiredApprovals, isApprovalLive } from './approvals.ts';

// State: the fold of the audit log
export { applyRecord } from './apply-record.ts';
export {
  PROMOTIONS_KEPT,
  TEST_RESULTS_KEPT,
  WAITING_KEPT,
  emptyState,
  promotionKey,
  type AllowedPromotion,
  type ApprovalRecord,
  type GateState,
  type GrantRecord,
  type LastDecision,
  type StageToggle,
  type TestCounts,
  type TestSummary,
  type WaitingPromotion,
} from './state.ts';

// Time
export { clockFrom, fixedClock, isoOf, type Clock } from './clock.ts';

import { DateTime } from 'luxon';
import { redactTokens } from '../auth/redact-tokens.ts';
import type { StagePolicy } from '../config.ts';
import { isStage, type Stage } from '../stages.ts';
import { findApprovals, findExpiredApprovals } from './approvals.ts';
import { formatTimeLeft } from './durations.ts';
import { type GrantTarget, findCoveringGrant, findExpiredGrants, findGrantByTokenHash, grantMatches, isGrantLive } from './grants.ts';
import type { MarketCalendar, MarketState } from './market-hours.ts';
import { type Effect, type Reason, reason, strictest, summarize } from './reasons.ts';
import { type ApprovalRecord, type GateState, type GrantRecord, TEST_RESULTS_KEPT, promotionKey } from './state.ts';
import { MARKET_ZONE } from './market-hours.ts';
import { marketHold } from './market-hold.ts';
import { getOwn } from './own.ts';
import { personKey } from './person-key.ts';
import { noTestPassed } from './no-test-passed.ts';

/** What Kargo asks: may this promotion of this image tag into this stage proceed now? */
export interface DecisionInput {
  project: string;
  stage: string;
  imageTag: string;
  /** Kargo's Promotion name: unique per promotion, the key of idempotent replays */
  promotion: string | null;
  /** sha256 hex of a break-glass token presented with the request, if any */
  breakGlassTokenHash: string | null;
}

/** Everything decide() reads besides the input and the instant. */
export interface DecisionState {
  project: string;
  policies: Record<Stage, StagePolicy>;
  state: GateState;
  /** ids of grants and approvals an in-flight decision is about to consume */
  reserved: ReadonlySet<string>;
  calendar: MarketCalendar;
  separationOfDuties: boolean;
}

/** The answer and what the shell must apply with it (atomically with its audit record). */
export interface Outcome {
  decision: Effect;
  skip: boolean;
  /** set when this repeats an allow already given to the same promotion */
  replayOf: string | null;
  reasons: Reason[];
  message: string;
  market: MarketState;
  /** the break-glass grant that covered the market-hours reason (consumed only if decision is allow) */
  grant: GrantRecord | null;
  /** the approval that satisfied the approval policy (consumed only if decision is allow) */
  approval: ApprovalRecord | null;
  /** grants and approvals found expired while deciding, to be recorded as expired */
  expired: { grants: GrantRecord[]; approvals: ApprovalRecord[] };
}

interface PolicyContext {
  input: DecisionInput;
  stage: Stage;
  policy: StagePolicy;
  ds: DecisionState;
  now: DateTime;
  market: MarketState;
  /** filled by the market-hours policy when a grant covers it */
  grant: GrantRecord | null;
}

interface PolicyResult {
  reasons: Reason[];
  grant?: GrantRecord | null;
  approval?: ApprovalRecord | null;
}

type Policy = (ctx: PolicyContext) => PolicyResult;

function describeCounts(c: { passed: number | null; failed: number | null; skipped: number | null; total: number | null }): string {
  const parts: string[] = [];
  if (c.failed !== null) parts.push(`${c.failed} failed`);
  if (c.passed !== null) parts.push(`${c.passed} passed`);
  if (c.skipped !== null) parts.push(`${c.skipped} skipped`);
  if (c.total !== null) parts.push(`${c.total} total`);
  return parts.length ? parts.join(', ') : 'no counts reported';
}

/**
 * Whether a decision for a stage with this policy needs a passing integration-test result now:
 * the stage requires integration tests and the integration stage is enabled. The one rule for
 * decide() and for `required` in GET /v1/test-results (the beta verification).
 */
export function integrationTestsRequired(policy: StagePolicy, state: GateState): boolean {
  return policy.requireIntegrationTests && state.stages.integration.enabled;
}

/**
 * Whether a decision for `stage` would wait for a passing integration-test result now: not while
 * the stage itself is switched off (its decisions pass the freight through before any policy),
 * else by integrationTestsRequired. What GET /v1/test-results?stage= answers as `required`.
 */
export function stageNeedsTestResult(stage: Stage, policy: StagePolicy, state: GateState): boolean {
  return state.stages[stage].enabled && integrationTestsRequired(policy, state);
}

/** Integration tests: required by the stage and the integration stage enabled → a passing result must exist. */
const integrationTests: Policy = ({ input, policy, ds }) => {
  if (!integrationTestsRequired(policy, ds.state)) {
    if (!policy.requireIntegrationTests) return { reasons: [] };
    return { reasons: [reason('tests_not_required', 'allow', 'Integration stage is disabled, so integration tests are not required.')] };
  }
  const result = getOwn(ds.state.testResults, input.imageTag);
  if (!result) {
    // with the newest TEST_RESULTS_KEPT kept, an older tag's result may have been dropped (a
    // rollback to a release of months ago): it then waits like a tag CI has not reported yet
    // unless its stored result is sent again, which the message says where that can be the case
    const dropped = Object.keys(ds.state.testResults).length >= TEST_RESULTS_KEPT;
    return {
      reasons: [
        reason(
          'tests_pending',
          'wait',
          `No integration-test result for ${input.imageTag} yet.` +
            (dropped
              ? ` The gate keeps the newest ${TEST_RESULTS_KEPT.toLocaleString('en-US')} results: if ${input.imageTag}'s was recorded before them (a rollback to an old release), send its stored result again (README, Test results).`
              : ''),
        ),
      ],
    };
  }
  if (!result.passed) {
    // the error is refused with a token in it, but a result recorded before that may hold one
    return {
      reasons: [
        reason(
          'tests_failed',
          'deny',
          `Integration tests failed for ${input.imageTag}: exit code ${result.exitCode}, ${describeCounts(result.counts)}${result.error ? `: ${redactTokens(result.error)}` : ''}${noTestPassed(result.counts) ? '; no test passed, which proves nothing' : ''} (recorded ${etStamp(result.recordedAt)}).`,
        ),
      ],
    };
  }
  return { reasons: [reason('tests_passed', 'allow', `Integration tests passed for ${input.imageTag} (${describeCounts(result.counts)}).`)] };
};

/**
 * Whether the session that ends at market.nextClose closes early. While it is open or about to
 * open that day it is market.session; in the evening before (a quiet window longer than the
 * night) market.session is the day just ended, and the calendar tells (false past its range).
 */
function closesEarly(market: MarketState, calendar: MarketCalendar): boolean {
  if (market.session !== null && market.session.close.toMillis() === market.nextClose.toMillis()) return market.session.earlyClose;
  try {
    return calendar.day(market.nextClose.setZone(MARKET_ZONE).toISODate() ?? '').session?.earlyClose === true;
  } catch {
    return false;
  }
}

/** A market time as the messages put it: "16:00 ET". */
function etClock(at: DateTime): string {
  return `${at.setZone(MARKET_ZONE).toFormat('HH:mm')} ET`;
}

/**
 * A recorded instant (ISO) as the messages put it, in the market's zone like every other time
 * they name: "2026-11-25 17:00:24 ET" (a bare UTC "22:00" beside ET times reads as ET).
 */
function etStamp(iso: string): string {
  const at = DateTime.fromISO(iso, { zone: MARKET_ZONE });
  return at.isValid ? `${at.toFormat('yyyy-MM-dd HH:mm:ss')} ET` : iso;
}

/** The close ("16:00 ET") and the time left as the messages put them, with one pair of brackets: "(in 6h 0m)" or "(early close, in 2h 30m)" */
function closeAndLeft(market: MarketState, left: string, early: boolean): { close: string; inLeft: string; withLeft: string } {
  const close = etClock(market.nextClose);
  return { close, inLeft: `(${early ? 'early close, ' : ''}in ${left})`, withLeft: `${close}, ${early ? 'an early close, ' : ''}in ${left}` };
}

/**
 * Under separation of duties on a stage that needs an approval, a grant leaves the promotion
 * approvable when some live approval is by someone other than its requester (compared by
 * personKey, as findApprovals does): the automatic pick prefers such a grant, so an older grant by
 * the only approver does not hold the promotion back while another grant would let it through.
 */
function leavesAnApprover(ds: DecisionState, policy: StagePolicy, target: GrantTarget, now: DateTime): ((g: GrantRecord) => boolean) | undefined {
  if (!ds.separationOfDuties || !policy.requireApproval) return undefined;
  const approvers = findApprovals(Object.values(ds.state.approvals), target, now, ds.reserved, null).usable.map((a) => personKey(a.approvedBy));
  return (g) => {
    const requester = personKey(g.requestedBy);
    return approvers.some((key) => key !== requester);
  };
}

/**
 * Market hours: while the NYSE session is open, and from the stage's quietBeforeOpenMinutes before
 * the open, the stage's answer holds, unless a live grant covers it.
 */
const marketHours: Policy = ({ input, stage, policy, ds, now, market }) => {
  if (policy.marketHours === null) return { reasons: [] };
  const reasons: Reason[] = [];
  const target = { project: input.project, stage, imageTag: input.imageTag };
  let grant: GrantRecord | null = null;

  if (input.breakGlassTokenHash !== null) {
    const named = findGrantByTokenHash(Object.values(ds.state.grants), input.breakGlassTokenHash);
    if (named === null) {
      // a consumed, revoked or expired grant leaves the state a week after it closed (or sooner,
      // past the newest CLOSED_KEPT): its token is refused the same, but is no longer named
      reasons.push(
        reason('break_glass_invalid', 'allow', 'The break-glass token presented is not known: never issued, or its grant closed long enough ago to be dropped from the gate\'s state (its records stay in the audit log).'),
      );
    } else if (!grantMatches(named, target)) {
      reasons.push(reason('break_glass_invalid', 'allow', `Break-glass grant ${named.id} is for ${named.stage} ${named.imageTag}, not this promotion.`));
    } else if (!isGrantLive(named, now) || ds.reserved.has(named.id)) {
      // held while its expiry is recorded: expired, not "being used"
      const state = named.status === 'open' ? (isGrantLive(named, now) ? 'being used' : 'expired') : named.status;
      reasons.push(reason('break_glass_invalid', 'allow', `Break-glass grant ${named.id} is ${state}.`));
    } else {
      grant = named;
    }
  }
  const hold = marketHold(policy, market, now);
  if (hold === null) {
    reasons.push(reason('market_closed', 'allow', `NYSE regular session is closed (${market.reason.replace('_', ' ')}${market.holiday ? `: ${market.holiday}` : ''}).`));
    return { reasons, grant: null };
  }
  grant ??= findCoveringGrant(Object.values(ds.state.grants), target, now, ds.reserved, leavesAnApprover(ds, policy, target, now));
  const { close, inLeft, withLeft } = closeAndLeft(market, formatTimeLeft(now, market.nextClose), closesEarly(market, ds.calendar));
  // before the open: when it opens, and that the stage's hold has begun
  const opening =
    hold === 'opening'
      ? `NYSE regular session opens at ${etClock(market.nextOpen)} (in ${formatTimeLeft(now, market.nextOpen)}); ` +
        `${stage} promotions are held from ${policy.quietBeforeOpenMinutes} minutes before the open`
      : null;
  if (grant !== null) {
    const held = opening ?? `NYSE regular session is open (closes ${withLeft})`;
    reasons.push(reason('break_glass_applied', 'allow', `${held}; break-glass grant ${grant.id} by ${grant.requestedBy} covers it: "${grant.justification}".`));
    return { reasons, grant };
  }
  const message =
    opening !== null
      ? policy.marketHours === 'wait'
        ? `${opening} until the close (${withLeft}). The promotion waits for the close. Request break-glass to override.`
        : `${opening}, and refused until the close (${withLeft}). Promote again after the close, or request break-glass to override.`
      : policy.marketHours === 'wait'
        ? `NYSE regular session is open; closes ${close} ${inLeft}. The promotion waits for the close. Request break-glass to override.`
        : `NYSE regular session is open; ${stage} promotions are refused during market hours (closes ${withLeft}). Promote again after the close, or request break-glass to override.`;
  reasons.push(reason(hold === 'opening' ? 'market_opening' : 'market_open', policy.marketHours, message));
  return { reasons, grant: null };
};

/** Approval: the stage needs a live approval of this image tag (not only by the grant's requester, under separation of duties). */
const approvalRequired: Policy = ({ input, stage, policy, ds, now, grant }) => {
  if (!policy.requireApproval) return { reasons: [] };
  const target = { project: input.project, stage, imageTag: input.imageTag };
  const excludedApprover = ds.separationOfDuties && grant !== null ? grant.requestedBy : null;
  const { usable, excluded } = findApprovals(Object.values(ds.state.approvals), target, now, ds.reserved, excludedApprover);
  const approval = usable[0];
  if (approval) {
    return {
      reasons: [reason('approval_applied', 'allow', `Approved by ${approval.approvedBy} at ${etStamp(approval.approvedAt)}: "${approval.notes}".`)],
      approval,
    };
  }
  // the names as given: "Olivia" and "olivia" are one person, and the message shows both spellings
  const excludedNames = [...new Set(excluded.map((a) => a.approvedBy))];
  const sod = !excluded.length
    ? ''
    : excludedNames.length === 1 && excludedNames[0] === excludedApprover
      ? ` The approval by ${excludedApprover} does not count: they requested the break-glass grant (separation of duties).`
      : ` The approval by ${excludedNames.join(', ')} does not count: the break-glass grant was requested by ${excludedApprover}, the same person (separation of duties).`;
  return {
    reasons: [reason('awaiting_approval', 'wait', `Waiting for an approval of ${input.imageTag} for ${stage} (with notes).${sod}`)],
    approval: null,
  };
};

/** The stage policies, evaluated in this order; each unmet one adds a reason. */
export const POLICIES: readonly Policy[] = [integrationTests, marketHours, approvalRequired];

/**
 * Decides one promotion. Pure: reads only its arguments. Returns the answer (deny over wait over
 * allow, every reason listed) and what an allow consumes; the caller records and applies it.
 */
export function decide(input: DecisionInput, ds: DecisionState, now: DateTime): Outcome {
  const market = ds.calendar.state(now);
  const expired = {
    grants: findExpiredGrants(Object.values(ds.state.grants), now),
    approvals: findExpiredApprovals(Object.values(ds.state.approvals), now),
  };
  const base = { market, grant: null, approval: null, expired, replayOf: null, skip: false };
  const finish = (reasons: Reason[], extra: Partial<Outcome> = {}): Outcome => ({
    ...base,
    decision: strictest(reasons),
    reasons,
    message: summarize(reasons),
    ...extra,
  });

  // 1. unknown project or stage
  if (input.project !== ds.project) {
    return finish([reason('unknown_stage', 'deny', `Unknown project "${input.project}": this gate serves project "${ds.project}".`)]);
  }
  if (!isStage(input.stage)) {
    return finish([reason('unknown_stage', 'deny', `Unknown stage "${input.stage}": expected one of ci, integration, beta, paper, live.`)]);
  }
  const stage = input.stage;

  // 2. a promotion already allowed gets the same answer again
  if (input.promotion !== null) {
    const earlier = getOwn(ds.state.promotions, promotionKey(input.project, stage, input.promotion));
    if (earlier) {
      if (earlier.imageTag !== input.imageTag) {
        return finish([
          reason('promotion_mismatch', 'deny', `Promotion ${input.promotion} was allowed for image tag ${earlier.imageTag}, not ${input.imageTag}.`),
        ]);
      }
      const replayed = reason('replayed', 'allow', `Promotion ${input.promotion} was already allowed by decision ${earlier.decisionId} at ${etStamp(earlier.at)}; same answer, nothing consumed.`);
      return { ...finish([replayed]), replayOf: earlier.decisionId, skip: earlier.skip === true };
    }
  }

  // 3. a disabled stage passes the freight through
  if (!ds.state.stages[stage].enabled) {
    const toggle = ds.state.stages[stage];
    const note = toggle.note ? ` (${toggle.changedBy ?? 'configuration'}: "${toggle.note}")` : '';
    return finish([reason('stage_disabled', 'allow', `Stage ${stage} is disabled${note}; the promotion steps are skipped and the freight passes through.`)], {
      skip: true,
    });
  }

  // the stage's policies
  const ctx: PolicyContext = { input, stage, policy: ds.policies[stage], ds, now, market, grant: null };
  const reasons: Reason[] = [];
  let approval: ApprovalRecord | null = null;
  for (const policy of POLICIES) {
    const result = policy(ctx);
    reasons.push(...result.reasons);
    if (result.grant !== undefined) ctx.grant = result.grant;
    if (result.approval !== undefined) approval = result.approval;
  }
  return finish(reasons, { grant: ctx.grant, approval });
}

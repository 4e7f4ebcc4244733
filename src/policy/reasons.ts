/**
 * The closed set of reason codes a decision can carry. Each reason has an effect: `deny` and
 * `wait` hold the promotion; `allow` reasons are informational (the operator sees why it passed).
 */
export const REASON_CODES = [
  'unknown_project',
  'unknown_stage',
  'promotion_mismatch',
  'replayed',
  'stage_disabled',
  'tests_pending',
  'tests_failed',
  'tests_passed',
  'tests_not_required',
  'market_open',
  'market_opening',
  'market_closed',
  'break_glass_applied',
  'break_glass_invalid',
  'awaiting_approval',
  'approval_applied',
] as const;
export type ReasonCode = (typeof REASON_CODES)[number];

export type Effect = 'allow' | 'wait' | 'deny';

export interface Reason {
  code: ReasonCode;
  message: string;
  effect: Effect;
}

const SEVERITY: Record<Effect, number> = { allow: 0, wait: 1, deny: 2 };

/** The strictest effect among the reasons: deny over wait over allow (allow when there are none). */
export function strictest(reasons: readonly Reason[]): Effect {
  let worst: Effect = 'allow';
  for (const r of reasons) if (SEVERITY[r.effect] > SEVERITY[worst]) worst = r.effect;
  return worst;
}

/**
 * The one-line message of a decision: the messages of the reasons that decide it (those with the
 * strictest effect) first, then the others.
 */
export function summarize(reasons: readonly Reason[]): string {
  if (reasons.length === 0) return 'allowed: no policy holds this promotion';
  const effect = strictest(reasons);
  const deciding = reasons.filter((r) => r.effect === effect).map((r) => r.message);
  const others = reasons.filter((r) => r.effect !== effect).map((r) => r.message);
  return [...deciding, ...others].join(' ');
}

export function reason(code: ReasonCode, effect: Effect, message: string): Reason {
  return { code, effect, message };
}

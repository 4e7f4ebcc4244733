import type { AuditEventV1 } from '../audit/event.ts';
import { isStage } from '../stages.ts';
import { getOwn, setOwn } from './own.ts';
import type { Reason } from './reasons.ts';
import {
  type ApprovalRecord,
  type GateState,
  type GrantRecord,
  PROMOTIONS_KEPT,
  WAITING_KEPT,
  TEST_RESULTS_KEPT,
  type TestSummary,
  promotionKey,
} from './state.ts';

/** Waiting promotions not seen for this long are dropped (Kargo polls every minute or so). */
const WAITING_STALE_MS = 6 * 60 * 60 * 1000;
/** Closed grants and approvals stay in the state this long (they stay in the audit log forever). */
const CLOSED_KEPT_MS = 7 * 24 * 60 * 60 * 1000;
/**
 * and no more of them than this, each (the newest closed): a script gone wrong that approves at
 * the rate limit would otherwise keep tens of thousands in the state for the week, which every
 * checkpoint serialises and every decision walks.
 */
export const CLOSED_KEPT = 1000;

/** Drops closed entries older than CLOSED_KEPT_MS, then all but the newest CLOSED_KEPT closed ones. */
function pruneClosed<T extends { closedAt: string | null }>(map: Record<string, T>, now: number): void {
  const closed: [string, number][] = [];
  for (const [k, v] of Object.entries(map)) {
    if (!v.closedAt) continue;
    const at = Date.parse(v.closedAt);
    if (now - at > CLOSED_KEPT_MS) delete map[k];
    else closed.push([k, at]);
  }
  if (closed.length <= CLOSED_KEPT) return;
  closed.sort((a, b) => a[1] - b[1]);
  for (const [k] of closed.slice(0, closed.length - CLOSED_KEPT)) delete map[k];
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/**
 * Keeps the newest `keep` entries. Entries are inserted in time order (re-inserted when
 * replaced), so the oldest are first — unless a key looks like an array index, which JavaScript
 * orders first; then fall back to sorting by time.
 */
function trimOldest<T>(map: Record<string, T>, keep: number, at: (v: T) => string, indexLikeKeys: boolean): void {
  const keys = Object.keys(map);
  if (keys.length <= keep) return;
  if (indexLikeKeys && keys.some((k) => /^(0|[1-9]\d*)$/.test(k))) keys.sort((a, b) => at(map[a] as T).localeCompare(at(map[b] as T)));
  for (const k of keys.slice(0, keys.length - keep)) delete map[k];
}

/** Drops stale waiting promotions and long-closed grants and approvals; at most once a minute of record time. */
function prune(state: GateState, nowIso: string): void {
  const now = Date.parse(nowIso);
  if (state.prunedAt !== null && now - Date.parse(state.prunedAt) < 60_000) return;
  state.prunedAt = nowIso;
  for (const [k, w] of Object.entries(state.waiting)) if (now - Date.parse(w.lastSeen) > WAITING_STALE_MS) delete state.waiting[k];
  pruneClosed(state.grants, now);
  pruneClosed(state.approvals, now);
}

function closeGrant(state: GateState, id: string, status: GrantRecord['status'], at: string, by: string | null, consumedBy: GrantRecord['consumedBy'] = null): void {
  const g = getOwn(state.grants, id);
  if (!g || g.status !== 'open') return;
  g.status = status;
  g.closedAt = at;
  g.closedBy = by;
  if (consumedBy) g.consumedBy = consumedBy;
}

function closeApproval(state: GateState, id: string, status: ApprovalRecord['status'], at: string, consumedBy: ApprovalRecord['consumedBy'] = null): void {
  const a = getOwn(state.approvals, id);
  if (!a || a.status !== 'open') return;
  a.status = status;
  a.closedAt = at;
  if (consumedBy) a.consumedBy = consumedBy;
}

function applyDecision(state: GateState, r: AuditEventV1): void {
  const stage = r.stage;
  if (stage === null || !isStage(stage) || r.decision === null || r.imageTag === null) return;
  // a refusal of an unknown project or stage changes nothing the status pages show
  if (r.reasons.some((x) => x.code === 'unknown_stage')) return;
  const data = r.data ?? {};
  const skip = data['skip'] === true;
  const message = str(data['message']) ?? '';
  const reasons = r.reasons as Reason[];
  state.lastDecisions[stage] = { id: r.id, at: r.at, decision: r.decision, imageTag: r.imageTag, promotion: r.promotion, skip, reasons, message };

  const replayOf = str(data['replayOf']);
  // a replay (a retry of a promotion already allowed) deploys nothing new: the original allow set
  // the stage's tag and time, and a replay of an older promotion must not set the stage back to it
  if (r.decision === 'allow' && !skip && replayOf === null) state.allowedTags[stage] = { imageTag: r.imageTag, decisionId: r.id, at: r.at };
  if (r.decision === 'allow' && replayOf === null) {
    const consumedBy = { decisionId: r.id, promotion: r.promotion };
    const grantId = str(r.breakGlass?.['id']);
    if (grantId && r.breakGlass?.['consumed'] === true) closeGrant(state, grantId, 'consumed', r.at, r.actor.name, consumedBy);
    const approvalId = str(r.approval?.['id']);
    if (approvalId && r.approval?.['consumed'] === true) closeApproval(state, approvalId, 'consumed', r.at, consumedBy);
  }
  if (r.promotion === null || r.project === null) return;
  const key = promotionKey(r.project, stage, r.promotion);
  if (r.decision === 'wait') {
    const earlier = getOwn(state.waiting, key);
    // re-inserted, not replaced in place: trimOldest drops the first keys, which must be the
    // promotions polled longest ago (one still polling every minute was the first dropped)
    delete state.waiting[key];
    setOwn(state.waiting, key, {
      project: r.project,
      stage,
      imageTag: r.imageTag,
      promotion: r.promotion,
      since: earlier?.since ?? r.at,
      lastSeen: r.at,
      lastDecisionId: r.id,
      reasons,
      message,
    });
    return;
  }
  delete state.waiting[key];
  if (r.decision === 'allow' && replayOf === null) {
    setOwn(state.promotions, key, { project: r.project, stage, imageTag: r.imageTag, promotion: r.promotion, decisionId: r.id, at: r.at, skip });
  }
}

/**
 * Folds one audit record into the state (mutates `state`). Pure apart from that mutation:
 * the same records applied to the same state give the same result, and applying a record
 * whose seq is not above state.auditSeq changes nothing, so replays are idempotent.
 */
export function applyRecord(state: GateState, r: AuditEventV1): void {
  if (r.seq <= state.auditSeq) return;
  state.auditSeq = r.seq;
  // bounded maps, trimmed in steps (every 1024th record) so the hot path does not count them each time
  if (r.seq % 1024 === 0) {
    trimOldest(state.promotions, PROMOTIONS_KEPT, (p) => p.at, false); // keys hold '/': never index-like
    trimOldest(state.waiting, WAITING_KEPT, (w) => w.lastSeen, false);
  }
  switch (r.type) {
    case 'decision':
      applyDecision(state, r);
      break;
    case 'breakglass.issued': {
      const b = r.breakGlass ?? {};
      const stage = r.stage;
      if (stage === null || !isStage(stage) || r.project === null || r.imageTag === null) break;
      setOwn(state.grants, r.id, {
        id: r.id,
        project: r.project,
        stage,
        imageTag: r.imageTag,
        tokenHash: str(b['tokenHash']) ?? '',
        justification: str(b['justification']) ?? '',
        requestedBy: r.actor.name,
        issuedAt: r.at,
        expiresAt: str(b['expiresAt']) ?? r.at,
        status: 'open',
        closedAt: null,
        closedBy: null,
        consumedBy: null,
      });
      break;
    }
    case 'breakglass.consumed': {
      const b = r.breakGlass ?? {};
      closeGrant(state, r.id, 'consumed', r.at, r.actor.name, { decisionId: str(b['decisionId']) ?? '', promotion: r.promotion });
      break;
    }
    case 'breakglass.expired':
      closeGrant(state, r.id, 'expired', r.at, null);
      break;
    case 'breakglass.revoked':
      closeGrant(state, r.id, 'revoked', r.at, r.actor.name);
      break;
    case 'approval.recorded': {
      const a = r.approval ?? {};
      const stage = r.stage;
      if (stage === null || !isStage(stage) || r.project === null || r.imageTag === null) break;
      setOwn(state.approvals, r.id, {
        id: r.id,
        project: r.project,
        stage,
        imageTag: r.imageTag,
        notes: str(a['notes']) ?? '',
        approvedBy: r.actor.name,
        approvedAt: r.at,
        expiresAt: str(a['expiresAt']) ?? r.at,
        status: 'open',
        closedAt: null,
        consumedBy: null,
      });
      break;
    }
    case 'approval.consumed': {
      const a = r.approval ?? {};
      closeApproval(state, r.id, 'consumed', r.at, { decisionId: str(a['decisionId']) ?? '', promotion: r.promotion });
      break;
    }
    case 'approval.expired':
      closeApproval(state, r.id, 'expired', r.at);
      break;
    case 'approval.revoked':
      closeApproval(state, r.id, 'revoked', r.at);
      break;
    case 'stage.toggled': {
      const stage = r.stage;
      const enabled = r.data?.['enabled'];
      if (stage === null || !isStage(stage) || typeof enabled !== 'boolean') break;
      state.stages[stage] = { enabled, note: str(r.data?.['note']), changedBy: r.actor.name, changedAt: r.at };
      break;
    }
    case 'testresult.recorded': {
      const summary = r.data?.['summary'] as TestSummary | undefined;
      if (!summary || r.imageTag === null) break;
      delete state.testResults[r.imageTag]; // re-insert so the newest is last
      setOwn(state.testResults, r.imageTag, summary);
      trimOldest(state.testResults, TEST_RESULTS_KEPT, (s) => s.recordedAt, true); // an image tag may be all digits
      break;
    }
    case 'refusal':
      break;
  }
  prune(state, r.at);
}

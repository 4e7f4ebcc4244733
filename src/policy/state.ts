import type { StagePolicy } from '../config.ts';
import { STAGES, type Stage } from '../stages.ts';
import type { Reason } from './reasons.ts';

/**
 * The gate's small mutable state. It is a fold of the audit log (see apply-record.ts): the
 * audit log is the write-ahead log and the state file a checkpoint of it at `auditSeq`.
 */
export interface GateState {
  version: 1;
  /** seq of the last audit record folded into this state */
  auditSeq: number;
  stages: Record<Stage, StageToggle>;
  grants: Record<string, GrantRecord>;
  approvals: Record<string, ApprovalRecord>;
  /** newest TEST_RESULTS_KEPT summaries, by image tag */
  testResults: Record<string, TestSummary>;
  /** promotions already allowed, by promotionKey(), for idempotent replays */
  promotions: Record<string, AllowedPromotion>;
  /** the last answered decision per stage (console, /v1/status) */
  lastDecisions: Partial<Record<Stage, LastDecision>>;
  /** promotions the gate is holding (last answer wait), by promotionKey() */
  waiting: Record<string, WaitingPromotion>;
  /** record time of the last prune of stale entries (they are pruned at most once a minute) */
  prunedAt: string | null;
  /** the image tag each stage last let through (allow without skip): the local-mode "deployed" tag */
  allowedTags: Partial<Record<Stage, { imageTag: string; decisionId: string; at: string }>>;
}

/** Whether a state file's `auditSeq` is one: a whole number >= 0 (the gate and `audit verify` both refuse any other). */
export function isAuditSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

export interface StageToggle {
  enabled: boolean;
  note: string | null;
  changedBy: string | null;
  changedAt: string | null;
}

export interface GrantRecord {
  id: string;
  project: string;
  stage: Stage;
  imageTag: string;
  /** sha256 hex of the one-time token; the token itself is never stored */
  tokenHash: string;
  justification: string;
  requestedBy: string;
  issuedAt: string;
  expiresAt: string;
  status: 'open' | 'consumed' | 'revoked' | 'expired';
  closedAt: string | null;
  closedBy: string | null;
  consumedBy: { decisionId: string; promotion: string | null } | null;
}

export interface ApprovalRecord {
  id: string;
  project: string;
  stage: Stage;
  imageTag: string;
  notes: string;
  approvedBy: string;
  approvedAt: string;
  expiresAt: string;
  status: 'open' | 'consumed' | 'revoked' | 'expired';
  closedAt: string | null;
  consumedBy: { decisionId: string; promotion: string | null } | null;
}

export interface TestCounts {
  passed: number | null;
  failed: number | null;
  skipped: number | null;
  total: number | null;
}

export interface TestSummary {
  imageTag: string;
  passed: boolean;
  exitCode: number;
  counts: TestCounts;
  /** what broke, when the run itself did (the results file's `error`) */
  error?: string | null;
  recordedAt: string;
  recordedBy: string;
  /** path of the stored artifact, relative to the data directory */
  artifact: string;
}

export interface AllowedPromotion {
  project: string;
  stage: Stage;
  imageTag: string;
  promotion: string;
  decisionId: string;
  at: string;
  /** the allow was a pass-through of a disabled stage: its replays say skip too */
  skip?: boolean;
}

export interface LastDecision {
  id: string;
  at: string;
  decision: 'allow' | 'wait' | 'deny';
  imageTag: string;
  promotion: string | null;
  skip: boolean;
  reasons: Reason[];
  message: string;
}

export interface WaitingPromotion {
  project: string;
  stage: Stage;
  imageTag: string;
  promotion: string;
  since: string;
  lastSeen: string;
  lastDecisionId: string;
  reasons: Reason[];
  message: string;
}

export const TEST_RESULTS_KEPT = 1000;
export const PROMOTIONS_KEPT = 5000;
/** promotions shown as waiting at most (the oldest-polled are dropped first) */
export const WAITING_KEPT = 1000;

/** The key that makes a promotion unique to the gate. */
export function promotionKey(project: string, stage: string, promotion: string): string {
  return `${project}/${stage}/${promotion}`;
}

/** A fresh state: every stage toggle from the stage policy in configuration. */
export function emptyState(policies: Record<Stage, StagePolicy>): GateState {
  const stages = Object.fromEntries(
    STAGES.map((s) => [s, { enabled: policies[s].enabled, note: null, changedBy: null, changedAt: null }]),
  ) as Record<Stage, StageToggle>;
  return { version: 1, auditSeq: 0, stages, grants: {}, approvals: {}, testResults: {}, promotions: {}, lastDecisions: {}, waiting: {}, allowedTags: {}, prunedAt: null };
}

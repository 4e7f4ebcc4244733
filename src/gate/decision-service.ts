import type { DateTime } from 'luxon';
import { auditEntry } from '../audit/entry.ts';
import type { Actor, AuditEntry, AuditEventV1 } from '../audit/event.ts';
import type { Config } from '../config.ts';
import { type DecisionInput, type Outcome, decide } from '../policy/decide.ts';
import type { MarketCalendar } from '../policy/market-hours.ts';
import { marketStateToJson } from '../policy/market-hours.ts';

type MarketJson = ReturnType<typeof marketStateToJson>;
import type { ApprovalRecord, GrantRecord } from '../policy/state.ts';
import { findExpiredGrants } from '../policy/grants.ts';
import { findExpiredApprovals } from '../policy/approvals.ts';
import { promotionKey } from '../policy/state.ts';
import type { Clock } from '../policy/clock.ts';
import type { StateStore } from '../store/store.ts';
import type { Recorder } from './recorder.ts';
import { SYSTEM_ACTOR } from './system-actor.ts';
import { whileWritable } from './while-writable.ts';
import { isoOf } from '../policy/clock.ts';

/** Request details recorded with a decision besides the policy input. */
export interface DecisionMeta {
  actor: Actor;
  requestedBy: string | null;
  freight: string | null;
  rollback: boolean | null;
  requestId: string;
}

export interface RecordedDecision {
  /** the decision id the caller sees (for a replay: the original allow's id) */
  id: string;
  outcome: Outcome;
  at: DateTime;
  record: AuditEventV1;
  /** the market as the answer shows it (computed once for the record and the answer) */
  market: MarketJson;
}

/** What the audit record keeps of the market: enough to say why, small enough for every decision. */
function compactMarket(j: MarketJson): Record<string, unknown> {
  return { open: j.open, reason: j.reason, holiday: j.holiday, close: j.session?.close ?? null, nextOpen: j.nextOpen };
}

/** Audit entries for grants and approvals found expired (each recorded once). */
export function expiryEntries(at: string, grants: readonly GrantRecord[], approvals: readonly ApprovalRecord[]): AuditEntry[] {
  return [
    ...grants.map((g) =>
      auditEntry({
        at,
        type: 'breakglass.expired',
        id: g.id,
        actor: SYSTEM_ACTOR,
        project: g.project,
        stage: g.stage,
        imageTag: g.imageTag,
        breakGlass: { id: g.id, requestedBy: g.requestedBy, justification: g.justification, issuedAt: g.issuedAt, expiresAt: g.expiresAt },
      }),
    ),
    ...approvals.map((a) =>
      auditEntry({
        at,
        type: 'approval.expired',
        id: a.id,
        actor: SYSTEM_ACTOR,
        project: a.project,
        stage: a.stage,
        imageTag: a.imageTag,
        approval: { id: a.id, approvedBy: a.approvedBy, notes: a.notes, approvedAt: a.approvedAt, expiresAt: a.expiresAt },
      }),
    ),
  ];
}

/**
 * The shell around decide(): evaluates against the state plus the grants and approvals that
 * in-flight decisions hold (so one grant can cover only one allow even under concurrency),
 * records the answer and what it consumes in one audit append, then releases the hold.
 * Requests for the same promotion are handled one after the other, so a repeat sees the first
 * answer and gets it back as a replay.
 */
export function createDecisionService(deps: {
  config: Config;
  clock: Clock;
  newId: (kind: string) => string;
  store: StateStore;
  recorder: Recorder;
  calendar: MarketCalendar;
  /** grant/approval ids held by changes whose audit append is in flight (shared with the other writers) */
  reserved: Set<string>;
  /** whether the audit log can be written: a decision waiting behind another change gives up (503) once it cannot */
  writable: () => boolean;
}) {
  const { config, clock, newId, store, recorder, calendar, reserved, writable } = deps;
  const perPromotion = new Map<string, Promise<unknown>>();

  const evaluate = (input: DecisionInput, at: DateTime): Outcome =>
    decide(
      input,
      { project: config.project, policies: config.stages, state: store.read(), reserved, calendar, separationOfDuties: config.approvals.separationOfDuties },
      at,
    );

  async function decideOnce(input: DecisionInput, meta: DecisionMeta): Promise<RecordedDecision> {
    // not across a toggle or test result being recorded (recorder.changesInFlight); from here
    // to the append nothing waits, so the record's place in the log matches the state it read.
    // While this waits, new such changes wait for it (recorder.decisionWaiting)
    let waited: (() => void) | null = null;
    try {
      for (let change = recorder.changesInFlight(); change !== null; change = recorder.changesInFlight()) {
        waited ??= recorder.decisionWaiting();
        await whileWritable(change, writable);
      }
      return await evaluateAndRecord(input, meta, () => waited?.());
    } finally {
      waited?.();
    }
  }

  /** `queued` is called once the decision's append is queued (or it failed before that). */
  async function evaluateAndRecord(input: DecisionInput, meta: DecisionMeta, queued: () => void): Promise<RecordedDecision> {
    const at = clock.now();
    const outcome = evaluate(input, at);
    const market = marketStateToJson(outcome.market);
    const atIso = isoOf(at);
    const id = newId('dec');
    const consumes = outcome.decision === 'allow' && outcome.replayOf === null;
    const expiredGrants = outcome.expired.grants.filter((g) => !reserved.has(g.id));
    const expiredApprovals = outcome.expired.approvals.filter((a) => !reserved.has(a.id));
    const held = [
      ...(consumes && outcome.grant ? [outcome.grant.id] : []),
      ...(consumes && outcome.approval ? [outcome.approval.id] : []),
      ...expiredGrants.map((g) => g.id),
      ...expiredApprovals.map((a) => a.id),
    ];
    for (const h of held) reserved.add(h);

    const grant = outcome.grant;
    const approval = outcome.approval;
    const entries: AuditEntry[] = [
      ...expiryEntries(atIso, expiredGrants, expiredApprovals),
      {
        at: atIso,
        type: 'decision',
        id,
        actor: meta.actor,
        requestedBy: meta.requestedBy,
        project: input.project,
        stage: input.stage,
        imageTag: input.imageTag,
        promotion: input.promotion,
        decision: outcome.decision,
        reasons: outcome.reasons,
        breakGlass: grant
          ? { id: grant.id, requestedBy: grant.requestedBy, justification: grant.justification, expiresAt: grant.expiresAt, consumed: consumes }
          : null,
        approval: approval ? { id: approval.id, approvedBy: approval.approvedBy, notes: approval.notes, consumed: consumes } : null,
        data: {
          skip: outcome.skip,
          message: outcome.message,
          replayOf: outcome.replayOf,
          market: compactMarket(market),
          freight: meta.freight,
          rollback: meta.rollback,
          requestId: meta.requestId,
        },
      },
    ];
    const consumedCommon = { at: atIso, actor: meta.actor, requestedBy: meta.requestedBy, project: input.project, stage: input.stage, imageTag: input.imageTag, promotion: input.promotion };
    if (consumes && grant) {
      entries.push(
        auditEntry({
          ...consumedCommon,
          type: 'breakglass.consumed',
          id: grant.id,
          breakGlass: { id: grant.id, decisionId: id, requestedBy: grant.requestedBy, justification: grant.justification, issuedAt: grant.issuedAt, expiresAt: grant.expiresAt },
        }),
      );
    }
    if (consumes && approval) {
      entries.push(
        auditEntry({
          ...consumedCommon,
          type: 'approval.consumed',
          id: approval.id,
          approval: { id: approval.id, decisionId: id, approvedBy: approval.approvedBy, notes: approval.notes, approvedAt: approval.approvedAt },
        }),
      );
    }
    try {
      // record() queues the append before it first waits: the changes waiting may go from here
      const recording = recorder.record(entries);
      queued();
      const records = await recording;
      const record = records.find((r) => r.type === 'decision') as AuditEventV1;
      return { id: outcome.replayOf ?? id, outcome, at, record, market };
    } finally {
      for (const h of held) reserved.delete(h);
    }
  }

  return {
    /** Decides, records and applies; rejects with AuditUnavailableError when it cannot be recorded. */
    async decide(input: DecisionInput, meta: DecisionMeta): Promise<RecordedDecision> {
      if (input.promotion === null) return decideOnce(input, meta);
      const key = promotionKey(input.project, input.stage, input.promotion);
      const before = perPromotion.get(key);
      if (before === undefined) {
        // nothing in flight for this promotion (the usual case): decide at once
        const mine = decideOnce(input, meta);
        perPromotion.set(key, mine);
        try {
          return await mine;
        } finally {
          if (perPromotion.get(key) === mine) perPromotion.delete(key);
        }
      }
      // after the requests in flight for it, unless the log stops being writable meanwhile: a
      // retry behind a stalled append gets the 503 at once, as every other request does, and
      // decides nothing later. The next one waits for all of them, this one given up or not.
      // (whatever became of them: a retry behind a request whose append failed decides for itself)
      const mine = whileWritable(before.catch(() => undefined), writable).then(() => decideOnce(input, meta));
      const all = Promise.allSettled([before, mine]);
      perPromotion.set(key, all);
      void all.then(() => {
        if (perPromotion.get(key) === all) perPromotion.delete(key);
      });
      return mine;
    },
    /** The same evaluation at any instant; consumes and records nothing. */
    preview(input: DecisionInput, at: DateTime): Outcome {
      return evaluate(input, at);
    },
    /** Records the expiry of grants and approvals nobody has noticed yet; returns how many. */
    async sweepExpired(): Promise<number> {
      const now = clock.now();
      const state = store.read();
      const grants = findExpiredGrants(Object.values(state.grants), now).filter((g) => !reserved.has(g.id));
      const approvals = findExpiredApprovals(Object.values(state.approvals), now).filter((a) => !reserved.has(a.id));
      const held = [...grants.map((g) => g.id), ...approvals.map((a) => a.id)];
      if (held.length === 0) return 0;
      for (const h of held) reserved.add(h);
      try {
        await recorder.record(expiryEntries(isoOf(now), grants, approvals));
        return held.length;
      } finally {
        for (const h of held) reserved.delete(h);
      }
    },
  };
}

export type DecisionService = ReturnType<typeof createDecisionService>;

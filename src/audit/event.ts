import { z } from 'zod';

/**
 * AuditEventV1: one line of the audit log. Every decision (allow, wait, deny), every refusal
 * (401/403/429/...), and every change of policy state is one record. The record is
 * self-describing: `type` says which optional blocks are filled.
 *
 * hash = sha256_hex(prev + canonicalJson(record without `hash`)); the first record's prev is GENESIS.
 */
export const GENESIS_HASH = '0'.repeat(64);

export const AUDIT_TYPES = [
  'decision', // POST /v1/decisions answered (allow | wait | deny)
  'refusal', // a request refused before any policy ran: 400/401/403/429/503 with who and why
  'breakglass.issued',
  'breakglass.consumed',
  'breakglass.expired',
  'breakglass.revoked',
  'approval.recorded',
  'approval.consumed',
  'approval.expired',
  'approval.revoked',
  'stage.toggled',
  'testresult.recorded',
] as const;
export type AuditType = (typeof AUDIT_TYPES)[number];

export const ActorSchema = z.object({
  /** authenticated name (token name locally, reviewed user name in Kubernetes), or "anonymous" */
  name: z.string(),
  /** local roles, or Kubernetes groups */
  groups: z.array(z.string()),
  /** how the identity was established */
  via: z.enum(['local-token', 'kubernetes', 'proxy-header', 'system', 'none']),
});
export type Actor = z.infer<typeof ActorSchema>;

export const ReasonSchema = z.object({ code: z.string(), message: z.string(), effect: z.enum(['allow', 'wait', 'deny']).optional() });

export const AuditEventV1Schema = z.object({
  v: z.literal(1),
  seq: z.number().int().positive(),
  /** ISO-8601 UTC instant the event happened (the gate's clock) */
  at: z.string(),
  type: z.enum(AUDIT_TYPES),
  /** id of the decision / grant / approval / request the record is about */
  id: z.string(),
  actor: ActorSchema,
  /** what the caller claimed (Kargo's `actor`), recorded apart from the authenticated actor */
  requestedBy: z.string().nullable(),
  project: z.string().nullable(),
  stage: z.string().nullable(),
  imageTag: z.string().nullable(),
  promotion: z.string().nullable(),
  decision: z.enum(['allow', 'wait', 'deny']).nullable(),
  reasons: z.array(ReasonSchema),
  breakGlass: z.record(z.string(), z.unknown()).nullable(),
  approval: z.record(z.string(), z.unknown()).nullable(),
  /** anything else the type carries (toggle note, test counts, refusal status, request id...) */
  data: z.record(z.string(), z.unknown()).nullable(),
  prev: z.string().regex(/^[0-9a-f]{64}$/),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
});
export type AuditEventV1 = z.infer<typeof AuditEventV1Schema>;

/** What a caller hands to AuditLog.append: the log fills v, seq, prev and hash. */
export type AuditEntry = Omit<AuditEventV1, 'v' | 'seq' | 'prev' | 'hash'>;

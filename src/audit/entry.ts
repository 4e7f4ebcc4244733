import type { AuditEntry } from './event.ts';

/** The fields every entry names; the rest default to "not about that" (null, no reasons). */
export type EntryFields = Pick<AuditEntry, 'at' | 'type' | 'id' | 'actor'> & Partial<AuditEntry>;

/** An audit entry with every field AuditEventV1 requires, the ones not given set to null / []. */
export function auditEntry(fields: EntryFields): AuditEntry {
  return {
    requestedBy: null,
    project: null,
    stage: null,
    imageTag: null,
    promotion: null,
    decision: null,
    reasons: [],
    breakGlass: null,
    approval: null,
    data: null,
    ...fields,
  };
}

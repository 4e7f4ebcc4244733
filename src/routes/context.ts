import type { onRequestHookHandler } from 'fastify';
import type { AuditLog } from '../audit/log.ts';
import type { Authenticator } from '../auth/identity.ts';
import type { Config } from '../config.ts';
import type { DecisionService } from '../gate/decision-service.ts';
import type { Recorder } from '../gate/recorder.ts';
import type { Access, Guard } from '../http/guard.ts';
import type { Metrics } from '../metrics.ts';
import type { Clock } from '../policy/clock.ts';
import type { MarketCalendar } from '../policy/market-hours.ts';
import type { StateStore } from '../store/store.ts';
import type { KargoHealth } from '../deps.ts';
import type { Stage } from '../stages.ts';

/** What route files get from buildApp: the deps plus the services built from them. */
export interface RouteContext {
  config: Config;
  clock: Clock;
  /** the data directory (test-result artifacts live under it) */
  dataDir: string;
  /** bytes free to the gate on the volume holding a directory */
  freeBytes: (dir: string) => Promise<number>;
  newId: (kind: string) => string;
  store: StateStore;
  audit: AuditLog;
  auth: Authenticator;
  recorder: Recorder;
  metrics: Metrics;
  calendar: MarketCalendar;
  decisions: DecisionService;
  /**
   * the turns the audit log's scans take (GET /v1/audit queries, /v1/audit/verify page checks):
   * one at a time, so the thread that answers decisions has at most one scan's stretches ahead
   * of a decision, however many auditors read at once; at most AUDIT_READS_WAITING wait behind
   * the running one, and the call of one more rejects at once with TurnsFullError
   */
  auditReads: <T>(fn: () => Promise<T>) => Promise<T>;
  /** grant and approval ids an in-flight change holds (shared by every writer) */
  reserved: Set<string>;
  guard: (access: Access) => onRequestHookHandler;
  /** refuses a request as the guard does: accounted for in the audit log and the refusal metrics, then thrown as the HttpError */
  refuse: Guard['refuse'];
  /** in Kubernetes mode: the image tag of each stage's current freight, read from Kargo */
  deployedTags: (() => Partial<Record<Stage, { imageTag: string; at: string | null }>>) | null;
  /** in Kubernetes mode: the latest read of the Kargo Stages (KargoHealth) */
  kargoHealth: (() => KargoHealth) | null;
  /**
   * runs a calendar computation, turning an out-of-range instant into a 400 naming `field`, the
   * request field the instant came from; null: the instant is the gate clock's, and that is a 503
   */
  calendarGuard: <T>(fn: () => T, field: string | null) => T;
}

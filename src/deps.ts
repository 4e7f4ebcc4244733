import type { FastifyBaseLogger } from 'fastify';
import type { AuditLog } from './audit/log.ts';
import type { Authenticator } from './auth/identity.ts';
import type { Config } from './config.ts';
import type { BodyBudget } from './http/body-budget.ts';
import type { Clock } from './policy/clock.ts';
import type { MarketCalendar } from './policy/market-hours.ts';
import type { Stage } from './stages.ts';
import type { StateStore } from './store/store.ts';

/** The Kargo Stage reader's latest read: its error (null after a success) and its last success (ISO, null if none yet). */
export interface KargoHealth {
  lastError: string | null;
  lastSuccess: string | null;
}

/** Everything buildApp needs from the outside world; server.ts makes the real ones, tests the fakes. */
export interface Deps {
  config: Config;
  clock: Clock;
  /** new unique ids, e.g. newId('dec') → "dec_01k…" */
  newId: (kind: string) => string;
  audit: AuditLog;
  store: StateStore;
  auth: Authenticator;
  calendar: MarketCalendar;
  /** where test-result artifacts are written (the data directory) */
  dataDir: string;
  /** Kubernetes mode: the tag of each stage's current freight from Kargo; null locally */
  deployedTags?: (() => Partial<Record<Stage, { imageTag: string; at: string | null }>>) | null;
  /** Kubernetes mode: how the latest read of the Kargo Stages went; null locally (no reader) */
  kargoHealth?: (() => KargoHealth) | null;
  /** Kubernetes mode: the TokenReviews not made so far because too many were in flight (gate_token_reviews_shed_total); null locally */
  tokenReviewsShed?: (() => number) | null;
  /** with a sign-in proxy's secret: the requests whose secret matched each configured hash (gate_proxy_secret_matches_total); null otherwise */
  proxySecretMatches?: (() => number[]) | null;
  /** how often expired grants and approvals nobody asked about are recorded (default 60 s) */
  sweepIntervalMs?: number;
  /** a pino logger, or false for none (tests) */
  logger?: FastifyBaseLogger | false;
  /** mark the process's metrics (GC, memory...) too; off in tests that build many apps */
  processMetrics?: boolean;
  /** how long a request may take to arrive whole, headers and body (default 30 s) */
  requestTimeoutMs?: number;
  /** how long refused connections (http.maxConnections) are counted before the log tells them (default 60 s) */
  dropReportMs?: number;
  /** bytes free to the gate on the volume holding `dir` (default: statfs); tests fake a full disk */
  freeBytes?: (dir: string) => Promise<number>;
  /** the request bodies held at once (default: BODIES_HELD_BYTES, BODIES_HELD_PER_IDENTITY_BYTES); tests use smaller ones */
  bodyBudget?: BodyBudget;
}

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { within } from './within.ts';

/** The gate's Prometheus metrics, on a registry of its own (so tests can build many apps). */
export interface Metrics {
  registry: Registry;
  decisions: Counter<'stage' | 'decision'>;
  refusals: Counter<'status' | 'error'>;
  refusalsSummarised: Counter;
  shed: Counter<'error'>;
  connectionsDropped: Counter;
  marketOpen: Gauge;
  auditAppendSeconds: Histogram;
  auditFailures: Counter;
  auditWritable: Gauge;
}

/**
 * Creates the metrics. `marketOpen` and `auditWritable` are computed when scraped from the two
 * callbacks, so they are never stale.
 */
export function createMetrics(opts: {
  /** null: not known (the gate clock is outside the market calendar) */
  isMarketOpen: () => boolean | null;
  isAuditWritable: () => boolean;
  /** true when the gate clock runs from GATE_NOW instead of the system clock */
  clockSimulated?: boolean;
  /** Kubernetes mode: the TokenReviews not made so far because too many were in flight */
  tokenReviewsShed?: (() => number) | null;
  /** with a sign-in proxy's secret: the requests whose secret matched each hash of proxyAuth.secretSha256, by position */
  proxySecretMatches?: (() => number[]) | null;
  /** the bytes free on the data volume (audit log, state, artifacts), read when scraped */
  dataVolumeFreeBytes?: (() => Promise<number>) | null;
  processMetrics?: boolean;
}): Metrics {
  const registry = new Registry();
  if (opts.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'gate_' });
  // fixed for the process's life: set once, read by nobody but the scrape
  new Gauge({
    name: 'gate_clock_simulated',
    help: '1 when the gate clock was started from GATE_NOW (demos and tests) instead of the system clock: alert on it in production',
    registers: [registry],
  }).set(opts.clockSimulated ? 1 : 0);
  // counted by the authenticator (no prom-client there), read when scraped
  new Counter({
    name: 'gate_token_reviews_shed_total',
    help: 'TokenReviews not made because the most allowed were in flight (Kubernetes mode, kubernetes.maxReviewsInFlight, or the quarter of the shared ones one client may hold: a flood of unknown tokens): the requests that needed them were answered 503 auth_saturated at once',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(opts.tokenReviewsShed?.() ?? 0);
    },
  });
  if (opts.proxySecretMatches) {
    const read = opts.proxySecretMatches;
    new Counter({
      name: 'gate_proxy_secret_matches_total',
      help: 'Requests whose sign-in proxy secret matched each hash of proxyAuth.secretSha256 (secret: its position, 1 or 2): while a rotation is under way, the old hash can go once its count stops growing',
      labelNames: ['secret'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [i, n] of read().entries()) this.inc({ secret: String(i + 1) }, n);
      },
    });
  }
  if (opts.dataVolumeFreeBytes) {
    const read = opts.dataVolumeFreeBytes;
    // one read at a time: on a volume that hangs (NFS) each read holds a thread of libuv's pool
    // of four, and one a scrape would take them all within minutes, and every file call with them
    let reading: Promise<number> | null = null;
    new Gauge({
      name: 'gate_data_volume_free_bytes',
      help: 'Bytes free on the data volume (audit log, state, test-result artifacts), read when scraped; NaN when it cannot be read within a second. Test results are refused below 256 MiB, and a full volume stops every decision (503, fail closed)',
      registers: [registry],
      async collect() {
        reading ??= read().finally(() => {
          reading = null;
        });
        // a volume that does not answer (NFS) must not hold the scrape: NaN after a second
        this.set(await within(reading, 1000, () => Number.NaN).catch(() => Number.NaN));
      },
    });
  }
  return {
    registry,
    decisions: new Counter({
      name: 'gate_decisions_total',
      help: 'Decisions answered, by stage and answer (allow, wait, deny)',
      labelNames: ['stage', 'decision'] as const,
      registers: [registry],
    }),
    refusals: new Counter({
      name: 'gate_refusals_total',
      help: 'Requests refused before any policy ran (401, 403, 429, ...), by status and error code',
      labelNames: ['status', 'error'] as const,
      registers: [registry],
    }),
    refusalsSummarised: new Counter({
      name: 'gate_refusals_summarised_total',
      help: 'Refusals over the budget of their client address (unauthenticated) or identity (authenticated): answered, counted in a summary audit record instead of one record each',
      registers: [registry],
    }),
    shed: new Counter({
      name: 'gate_requests_shed_total',
      help: 'Requests turned away at once with a 503 because a bounded line was full (error: audit_reads_saturated, the audit reads waiting their turn), by error code',
      labelNames: ['error'] as const,
      registers: [registry],
    }),
    connectionsDropped: new Counter({
      name: 'gate_connections_dropped_total',
      help: 'New connections closed at once, unanswered, because http.maxConnections were open (a client holding idle connections; Kargo counts the close as an error)',
      registers: [registry],
    }),
    marketOpen: new Gauge({
      name: 'gate_market_open',
      help: '1 while the NYSE regular session is open (by the gate clock), else 0',
      registers: [registry],
      collect() {
        const open = opts.isMarketOpen();
        this.set(open === null ? Number.NaN : open ? 1 : 0);
      },
    }),
    auditAppendSeconds: new Histogram({
      name: 'gate_audit_append_seconds',
      help: 'Time to make audit records durable (write + fsync, group commit included), of the appends that succeeded (the failed ones are gate_audit_failures_total)',
      // up to 10 s: an append may wait that long and still succeed (each write and fsync gets 5 s
      // before it counts as stalled), and the chart's p99 alert cannot fire above the top bucket
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    auditFailures: new Counter({
      name: 'gate_audit_failures_total',
      help: 'Audit records that could not be made durable (the request was refused with 503)',
      registers: [registry],
    }),
    auditWritable: new Gauge({
      name: 'gate_audit_writable',
      help: '1 while the audit log accepts appends, else 0 (the gate refuses decisions)',
      registers: [registry],
      collect() {
        this.set(opts.isAuditWritable() ? 1 : 0);
      },
    }),
  };
}

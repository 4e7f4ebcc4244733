import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { nodeAuditFs } from '../audit/audit-fs.ts';
import { hashRecord } from '../audit/canonical-json.ts';
import { type AuditEventV1, GENESIS_HASH } from '../audit/event.ts';
import type { AuditLog } from '../audit/log.ts';
import { listSegments } from '../audit/segments.ts';
import type { VerifyResult } from '../audit/verify.ts';
import { verifyAuditLogInWorker } from '../audit/verify-in-worker.ts';
import { type Clock, isoOf } from '../policy/clock.ts';
import { AuditQuerySchema, READ_AUDIT, scanInTurn, toAuditQuery } from './audit.ts';
import type { RouteContext } from './context.ts';
import { ErrorSchema, authErrors } from './common-schemas.ts';

/** A full walk of the log runs at most this often (it reads every record). */
export const FULL_VERIFY_INTERVAL_MS = 10 * 60 * 1000;
/** A page is checked as one contiguous stretch of the chain when it spans at most this many seqs. */
export const MAX_PAGE_SPAN = 2000;

const Broken = z.object({ seq: z.number().nullable(), reason: z.string() });

const PageCheck = z.object({
  /** 'range': every record from `from - 1` to `to` was read and linked; 'records': only the page's own records */
  scope: z.enum(['empty', 'range', 'records']),
  from: z.number().nullable(),
  to: z.number().nullable(),
  /** records whose hash was recomputed */
  checked: z.number(),
  /** records of the page whose prev could not be compared with the hash before it (scope 'records') */
  unlinked: z.number(),
  ok: z.boolean(),
  firstBroken: Broken.nullable(),
});

/** the check of a page, and what GET /v1/audit says of the same query: whether its search got to the end */
const PageVerification = PageCheck.extend({
  partial: z
    .boolean()
    .describe(
      'as GET /v1/audit: the search for the page stopped at its budget of records examined before the page was full; older records may still match, and ok covers only the records found (none when scope is empty)',
    ),
  nextCursor: z.number().nullable().describe('as GET /v1/audit: the cursor of the next page, or where a partial search goes on'),
});

const FullVerification = z.object({
  status: z.enum(['never', 'running', 'ok', 'broken', 'error']),
  source: z.enum(['file', 'memory']).nullable(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  /** records verified good (from seq 1, or from the oldest file when the ones before it were archived before the gate started) */
  count: z.number().nullable(),
  /** the last record verified */
  throughSeq: z.number().nullable(),
  firstBroken: Broken.extend({ file: z.string().optional(), line: z.number().optional() }).nullable(),
  message: z.string().nullable(),
  intervalMinutes: z.number(),
});
type FullVerificationView = z.infer<typeof FullVerification>;
type BrokenAt = z.infer<typeof Broken>;

/**
 * Checks a run of records, oldest first, with consecutive seqs: each hash recomputes from its
 * prev and content, and each prev is the hash of the record before (the first one's prev is only
 * checked when it is seq 1, against the genesis hash). Returns the first failure or null.
 */
export function verifyRun(records: readonly AuditEventV1[]): BrokenAt | null {
  let before: AuditEventV1 | null = null;
  for (const r of records) {
    if (before !== null && r.seq !== before.seq + 1) return { seq: r.seq, reason: `seq ${r.seq} follows seq ${before.seq}` };
    if (before === null && r.seq === 1 && r.prev !== GENESIS_HASH) return { seq: 1, reason: 'prev of seq 1 is not the genesis hash' };
    if (before !== null && r.prev !== before.hash) return { seq: r.seq, reason: `prev does not match the hash of seq ${before.seq}` };
    if (hashRecord(r.prev, r) !== r.hash) return { seq: r.seq, reason: 'hash does not match the record content' };
    before = r;
  }
  return null;
}

/**
 * Verifies the records of one newest-first page. When the page spans at most MAX_PAGE_SPAN seqs,
 * the whole stretch from the record below the oldest one to the newest is read unfiltered and
 * checked as a chain (scope 'range'); otherwise each record's hash is recomputed and only
 * neighbours in the page are linked (scope 'records', `unlinked` says how many were not). A
 * record below `archivedThrough` + 1 is not read (archived before the gate started): the oldest
 * record left is then checked without its link to the one before (unlinked 1).
 */
export async function verifyPage(audit: AuditLog, page: readonly AuditEventV1[], archivedThrough = 0): Promise<z.infer<typeof PageCheck>> {
  if (page.length === 0) return { scope: 'empty', from: null, to: null, checked: 0, unlinked: 0, ok: true, firstBroken: null };
  const seqs = page.map((r) => r.seq);
  const from = Math.min(...seqs);
  const to = Math.max(...seqs);
  const lowest = Math.max(1, from - 1, archivedThrough + 1);
  if (to - lowest + 1 <= MAX_PAGE_SPAN) {
    const range: AuditEventV1[] = [];
    let cursor = to + 1;
    while (cursor > lowest) {
      const { records } = await audit.query({ limit: Math.min(500, cursor - lowest), cursor });
      if (records.length === 0) break;
      range.push(...records);
      cursor = records.at(-1)!.seq;
    }
    range.reverse();
    let broken = verifyRun(range);
    if (!broken && (range[0]?.seq !== lowest || range.at(-1)?.seq !== to)) broken = { seq: null, reason: `records ${lowest}..${to} could not all be read` };
    // the page must be the records the chain holds
    const bySeq = new Map(range.map((r) => [r.seq, r.hash]));
    if (!broken) for (const r of page) if (bySeq.get(r.seq) !== r.hash || hashRecord(r.prev, r) !== r.hash) broken ??= { seq: r.seq, reason: 'page record differs from the chain' };
    return { scope: 'range', from, to, checked: range.length, unlinked: lowest === from && from > 1 ? 1 : 0, ok: broken === null, firstBroken: broken };
  }
  const sorted = [...page].sort((a, b) => a.seq - b.seq);
  let broken: BrokenAt | null = null;
  let unlinked = 0;
  for (let i = 0; i < sorted.length && !broken; i++) {
    const r = sorted[i]!;
    const prev = sorted[i - 1];
    if (hashRecord(r.prev, r) !== r.hash) broken = { seq: r.seq, reason: 'hash does not match the record content' };
    else if (prev && prev.seq === r.seq - 1) {
      if (r.prev !== prev.hash) broken = { seq: r.seq, reason: `prev does not match the hash of seq ${prev.seq}` };
    } else if (r.seq === 1) {
      if (r.prev !== GENESIS_HASH) broken = { seq: 1, reason: 'prev of seq 1 is not the genesis hash' };
    } else unlinked += 1;
  }
  return { scope: 'records', from, to, checked: page.length, unlinked, ok: broken === null, firstBroken: broken };
}

/** What a full walk's message adds when it began after archived records. */
function archivedNote(archived: number): string {
  return archived > 0 ? `; records 1..${archived} archived before the gate started, not checked here (gate audit verify with them back in place checks them)` : '';
}

export interface FullVerifierDeps {
  audit: AuditLog;
  /** the data directory; the file log keeps its files in `<dataDir>/audit` */
  dataDir: string;
  clock: Clock;
  intervalMs?: number;
  /** monotonic milliseconds (performance.now) for the throttle */
  monotonicMs?: () => number;
  onError?: (err: unknown) => void;
  /** walks the audit files (default: verifyAuditLog on a worker thread, off the request path) */
  verifyFiles?: (dir: string, opts: { archivedThrough: number }) => Promise<VerifyResult>;
  /**
   * the records archived before the gate started (the first seq of the oldest audit file then,
   * less one: start-up found them covered by the state checkpoint); a file that goes after
   * that, while the gate runs, is reported missing
   */
  archivedThrough?: number;
}

/**
 * A full walk of the audit chain, run in the background at most once per interval. With the file
 * log it is verifyAuditLog over `<dataDir>/audit` (streaming, every line checked) on a worker
 * thread, so its CPU stays off the thread that answers decisions; when there are
 * no audit files (the in-memory log of tests) it checks the records the log holds. A torn last
 * line or a record newer than the head seen at the start is an append in flight, not a break.
 */
export function createFullVerifier(deps: FullVerifierDeps) {
  const intervalMs = deps.intervalMs ?? FULL_VERIFY_INTERVAL_MS;
  const mono = deps.monotonicMs ?? (() => performance.now());
  let lastStart: number | null = null;
  let running: Promise<void> | null = null;
  let view: FullVerificationView = {
    status: 'never',
    source: null,
    startedAt: null,
    finishedAt: null,
    count: null,
    throughSeq: null,
    firstBroken: null,
    message: null,
    intervalMinutes: intervalMs / 60_000,
  };
  const nowIso = () => isoOf(deps.clock.now());

  async function run(): Promise<void> {
    const headAtStart = deps.audit.head();
    const dir = join(deps.dataDir, 'audit');
    // no directory: the in-memory log (tests). Any other failure to list it is an error: taken
    // for "no files", it sent the walk to audit.since(0), the whole file log read into memory and
    // hashed on the thread that answers decisions
    const segments = await listSegments(nodeAuditFs, dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    if (segments.length > 0) {
      const result = await (deps.verifyFiles ?? verifyAuditLogInWorker)(dir, { archivedThrough: deps.archivedThrough ?? 0 });
      if (result.ok) {
        // the files must hold at least what the gate has acknowledged, ending in the same hash
        const mismatch =
          result.head.seq < headAtStart.seq
            ? `the files end at seq ${result.head.seq} but the gate acknowledged seq ${headAtStart.seq}`
            : result.head.seq === headAtStart.seq && result.head.hash !== headAtStart.hash
              ? 'the last record on disk is not the head the gate holds'
              : null;
        view = mismatch
          ? { ...view, source: 'file', status: 'broken', count: result.count, throughSeq: result.head.seq, firstBroken: { seq: result.head.seq, reason: mismatch }, message: null }
          : {
              ...view,
              source: 'file',
              status: 'ok',
              count: result.count,
              throughSeq: result.head.seq,
              firstBroken: null,
              message: `${result.count} records in ${result.files} file(s)${archivedNote(result.archived)}`,
            };
      } else if (result.firstBroken.reason.startsWith('torn last line') && result.archived + result.count >= headAtStart.seq) {
        // the seq of the last good record: the records checked after the archived ones
        const through = result.archived + result.count;
        view = { ...view, source: 'file', status: 'ok', count: result.count, throughSeq: through, firstBroken: null, message: `${result.count} records (an append was in flight)${archivedNote(result.archived)}` };
      } else {
        const fb = result.firstBroken;
        view = { ...view, source: 'file', status: 'broken', count: result.count, throughSeq: result.archived + result.count, firstBroken: { seq: fb.seq, reason: fb.reason, file: fb.file, line: fb.line }, message: null };
      }
      return;
    }
    const records = (await deps.audit.since(0)).filter((r) => r.seq <= headAtStart.seq);
    const broken = records.length > 0 && records[0]!.seq !== 1 ? { seq: records[0]!.seq, reason: 'the log does not start at seq 1' } : verifyRun(records);
    const good = broken ? records.filter((r) => r.seq < (broken.seq ?? 0)).length : records.length;
    view = broken
      ? { ...view, source: 'memory', status: 'broken', count: good, throughSeq: good, firstBroken: broken, message: null }
      : { ...view, source: 'memory', status: 'ok', count: records.length, throughSeq: records.at(-1)?.seq ?? 0, firstBroken: null, message: `${records.length} records held in memory` };
  }

  return {
    /** Starts a full verification unless one runs or the last started less than the interval ago. */
    maybeStart(): void {
      if (running || (lastStart !== null && mono() - lastStart < intervalMs)) return;
      lastStart = mono();
      view = { ...view, status: 'running', startedAt: nowIso(), finishedAt: null };
      running = run()
        .catch((err: unknown) => {
          deps.onError?.(err);
          view = { ...view, status: 'error', message: `verification could not read the log: ${(err as Error).message}` };
        })
        .finally(() => {
          view = { ...view, finishedAt: nowIso() };
          running = null;
        });
    },
    /** The latest result (status 'running' while one is in progress; the previous counts stay until it ends). */
    state: (): FullVerificationView => view,
    /** Resolves when the verification in progress (if any) has finished. */
    settled: async (): Promise<void> => {
      await running;
    },
  };
}

/**
 * GET /v1/audit/verify: is the chain of a page (same query as /v1/audit) intact, whether the page's
 * search stopped at its scan budget (partial, nextCursor: as /v1/audit), and the last full walk;
 * for holders of get auditrecords, as the log itself. Page checks take turns (ctx.auditReads, with
 * GET /v1/audit's queries): each hashes up to MAX_PAGE_SPAN records in one synchronous
 * stretch (some 20-50 ms), and side by side those stretches add up on the thread that answers
 * decisions (8 at once held it for 320 ms); one at a time, a decision waits behind one at most
 * (25 ms).
 */
export function auditVerifyRoutes(ctx: RouteContext) {
  return async (app: FastifyInstance) => {
    // archived before this start (README: archiving, with the gate stopped; start-up refused any
    // not covered by the state checkpoint): the records before the oldest file now
    const oldest = await listSegments(nodeAuditFs, join(ctx.dataDir, 'audit')).then(
      (segments) => segments[0]?.firstSeq ?? 1,
      () => 1,
    );
    const archivedThrough = oldest - 1;
    const full = createFullVerifier({ audit: ctx.audit, dataDir: ctx.dataDir, clock: ctx.clock, archivedThrough });
    app.withTypeProvider<ZodTypeProvider>().get('/v1/audit/verify', {
      onRequest: ctx.guard(READ_AUDIT),
      schema: {
        summary: 'Chain verification of one audit page (same query as /v1/audit) and of the whole log (background, throttled); the same permission as /v1/audit',
        tags: ['audit'],
        querystring: AuditQuerySchema,
        response: {
          200: z.object({ at: z.string(), head: z.object({ seq: z.number(), hash: z.string() }), page: PageVerification, full: FullVerification }),
          400: ErrorSchema,
          ...authErrors,
        },
      },
      handler: async (req, reply) => {
        full.maybeStart();
        const page = await scanInTurn(ctx, req, reply, async () => {
          // a page cut short by the scan budget says so: an empty one is not "nothing to check"
          const { records, partial, nextCursor } = await ctx.audit.query(toAuditQuery(req.query));
          return { ...(await verifyPage(ctx.audit, records, archivedThrough)), partial, nextCursor };
        });
        return { at: isoOf(ctx.clock.now()), head: ctx.audit.head(), page, full: full.state() };
      },
    });
  };
}

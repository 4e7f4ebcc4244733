import type { FastifyRequest } from 'fastify';
import { auditEntry } from '../audit/entry.ts';
import type { Actor, AuditEntry } from '../audit/event.ts';
import { AuditUnavailableError } from '../audit/log.ts';
import type { Recorder } from '../gate/recorder.ts';
import { SYSTEM_ACTOR } from '../gate/system-actor.ts';
import type { Metrics } from '../metrics.ts';
import type { Clock } from '../policy/clock.ts';
import { isoOf } from '../policy/clock.ts';
import { clientAddress, unmappedAddress } from './peer-address.ts';
import { markRefusalAudited, refusalEntry } from './refusals.ts';

/** What one client's unauthenticated refusals of the current window add up to. */
interface Window {
  startMs: number;
  recorded: number;
  /** refusals over the budget: counted, not recorded one by one */
  suppressed: number;
  byError: Record<string, number>;
  /** the first few names the refused requests presented (anonymous, unknown-token:…) */
  presented: string[];
  first: string | null;
  last: string | null;
}

/** names kept per summary: enough to tell one prober from many, bounded whatever they send */
const PRESENTED_KEPT = 10;
/** windows held at once; refusals from further clients share one window (key OTHERS) */
const MAX_WINDOWS = 10_000;
const OTHERS = 'other addresses';
/** all clients together get this many budgets of records one by one per window */
const GLOBAL_BUDGETS = 10;
/**
 * Summaries recorded in one append by a flush (the sweep, the stop): up to ~1.5 KB each, so one
 * append stays under the audit log's 64 KiB write, and the decisions that come meanwhile go in
 * between two appends instead of waiting behind all of them (10,000 windows: ~14 MB).
 */
export const SUMMARIES_PER_APPEND = 32;

export interface RefusalRecorderDeps {
  recorder: Recorder;
  metrics: Metrics;
  clock: Clock;
  newId: (kind: string) => string;
  project: string;
  /** whether the audit log takes appends now: over the budget a refusal is answered only then */
  writable: () => boolean;
  /** unauthenticated refusals recorded one by one per client and window (at least 1); the rest are counted */
  perWindow: number;
  windowMs?: number;
  /** clients told apart at once (default 10,000); further ones share one window */
  maxWindows?: number;
}

/**
 * Who a budget belongs to: the IPv4 address, or the /64 of an IPv6 one (a single host can hold a
 * whole /64, so rotating addresses within it gains nothing).
 */
export function clientKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const plain = unmappedAddress(address);
  if (!plain.includes(':')) return plain;
  const [head = '', tail = ''] = address.toLowerCase().split('%')[0]!.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => (g === '' ? '0' : g.replace(/^0+(?=.)/, '')))
    .join(':')}::/64`;
}

/**
 * Records refusals in the audit log before they are answered. Refusals of requests that carried no
 * valid identity (401, and anything refused to an anonymous caller) have a budget per client
 * (clientAddress: the TCP peer, or the client a trusted proxy forwarded; IPv6 by /64), so that a
 * client hammering the gate with bad tokens cannot turn each request into an fsynced record: the
 * first `perWindow` of a client in a window (a minute) are recorded one by one, and so are all
 * refusals of authenticated callers (a 403 names who was refused, and is never summarised). Over
 * the budget a refusal is answered the same way and counted, and one summary record (type
 * `refusal`, written by the gate, with how many by status and error, the first names presented,
 * the first and last instant) accounts for them when the window is over: at the client's next
 * refusal, at the sweep, or when the gate stops. All clients together get GLOBAL_BUDGETS budgets
 * per window, and at most MAX_WINDOWS clients are told apart (further ones share a window), so
 * neither the disk nor the memory grows with the number of addresses. Nothing is answered
 * unrecorded while the audit log is down (503).
 */
export function createRefusalRecorder(deps: RefusalRecorderDeps) {
  const windowMs = deps.windowMs ?? 60_000;
  const maxWindows = deps.maxWindows ?? MAX_WINDOWS;
  const windows = new Map<string, Window>();
  const global = { startMs: Number.NEGATIVE_INFINITY, recorded: 0 };
  /** summaries an audit append refused: retried with the next refusal, the sweep or the shutdown */
  let unrecorded: AuditEntry[] = [];

  function summaryEntry(client: string, w: Window): AuditEntry {
    return auditEntry({
      at: isoOf(deps.clock.now()),
      type: 'refusal',
      id: deps.newId('req'),
      actor: SYSTEM_ACTOR,
      project: deps.project,
      reasons: [
        {
          code: 'refusals_summarised',
          message: `${w.suppressed} more refusal${w.suppressed === 1 ? '' : 's'} from ${client} between ${w.first} and ${w.last} were answered without a record each (over ${deps.perWindow} in ${windowMs / 1000} s)`,
        },
      ],
      data: { suppressed: w.suppressed, byError: w.byError, presented: w.presented, remoteAddress: client, from: w.first, to: w.last },
    });
  }

  /** Removes and returns the summaries of windows that are over (all of them with `all`; one client's with `only`). */
  function takeDue(nowMs: number, all: boolean, only?: string): AuditEntry[] {
    const out: AuditEntry[] = [...unrecorded];
    unrecorded = [];
    const candidates: [string, Window | undefined][] = only === undefined ? [...windows] : [[only, windows.get(only)]];
    for (const [client, w] of candidates) {
      if (!w || (!all && nowMs - w.startMs < windowMs)) continue;
      windows.delete(client);
      if (w.suppressed > 0) out.push(summaryEntry(client, w));
    }
    return out;
  }

  /** Records entries (summaries first, maybe a refusal last); a failed append keeps the summaries for later. */
  async function record(entries: AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    try {
      await deps.recorder.record(entries);
    } catch (err) {
      unrecorded = [...entries.filter((e) => e.data?.['suppressed'] !== undefined), ...unrecorded];
      throw err;
    }
  }

  function windowOf(client: string, nowMs: number): Window {
    let w = windows.get(client);
    if (!w) {
      w = { startMs: nowMs, recorded: 0, suppressed: 0, byError: {}, presented: [], first: null, last: null };
      windows.set(client, w);
    }
    return w;
  }

  /** Records the refusal (with any summary due for its client), or counts it over the client's budget. */
  async function account(req: FastifyRequest, actor: Actor, verified: boolean, status: number, code: string, message: string): Promise<void> {
    const now = deps.clock.now();
    const nowMs = now.toMillis();
    const at = isoOf(now);
    const entry = () => refusalEntry(req, at, actor, status, code, message, deps.project);
    if (verified && status !== 401 && actor.via !== 'none') {
      // an authenticated caller: always one record, naming who
      return record([entry()]);
    }
    let client = clientKey(clientAddress(req) ?? undefined);
    if (!windows.has(client) && windows.size >= maxWindows) client = OTHERS;
    const due = takeDue(nowMs, false, client);
    if (nowMs - global.startMs >= windowMs) {
      global.startMs = nowMs;
      global.recorded = 0;
    }
    const w = windowOf(client, nowMs);
    if (w.recorded < deps.perWindow && global.recorded < deps.perWindow * GLOBAL_BUDGETS) {
      w.recorded += 1;
      global.recorded += 1;
      try {
        return await record([...due, entry()]);
      } catch (err) {
        w.recorded -= 1;
        global.recorded -= 1;
        throw err;
      }
    }
    // over the budget: answered only while the log would take the record, and counted only
    // once anything due before it is in
    if (!deps.writable()) {
      unrecorded = [...due, ...unrecorded];
      throw new AuditUnavailableError('audit log is not writable');
    }
    await record(due);
    w.suppressed += 1;
    w.first ??= at;
    w.last = at;
    const key = `${status} ${code}`;
    w.byError[key] = (w.byError[key] ?? 0) + 1;
    if (w.presented.length < PRESENTED_KEPT && !w.presented.includes(actor.name)) w.presented.push(actor.name);
    deps.metrics.refusalsSummarised.inc();
  }

  return {
    /**
     * Accounts for one refusal before it is answered: records it (with any summary now due for
     * its client), or counts it when an unauthenticated client is over its budget. `verified`
     * (default: the actor names an authenticator) is false when the actor is only what the
     * request presented and the gate could not check (a TokenReview that failed): such refusals
     * are budgeted like a 401. Rejects (the answer is then 503) when the audit log cannot take
     * what has to be recorded, or is down.
     */
    async refuse(req: FastifyRequest, actor: Actor, status: number, code: string, message: string, verified = actor.via !== 'none'): Promise<void> {
      await account(req, actor, verified, status, code, message);
      markRefusalAudited(req);
      deps.metrics.refusals.inc({ status: String(status), error: code });
    },
    /** Records the summaries of windows that are over (`all`: every window, at shutdown); returns how many. */
    async flush(all = false): Promise<number> {
      const due = takeDue(deps.clock.now().toMillis(), all);
      for (let i = 0; i < due.length; i += SUMMARIES_PER_APPEND) {
        const part = due.slice(i, i + SUMMARIES_PER_APPEND);
        try {
          await record(part);
        } catch (err) {
          // record() kept the part that failed for later; so are the parts after it
          unrecorded = [...unrecorded, ...due.slice(i + part.length)];
          throw err;
        }
      }
      return due.length;
    },
    /** clients with an open window (tests) */
    size: () => windows.size,
  };
}

export type RefusalRecorder = ReturnType<typeof createRefusalRecorder>;

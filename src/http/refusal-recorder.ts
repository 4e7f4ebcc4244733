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

/** What one client's unauthenticated refusals, or one identity's refusals, of the current window add up to. */
interface Window {
  startMs: number;
  /** the identity whose window it is (null: a client's, or the window identities past MAX_WINDOWS share) */
  identity: { name: string; via: Actor['via'] } | null;
  recorded: number;
  /** refusals over the budget: counted, not recorded one by one */
  suppressed: number;
  byError: Record<string, number>;
  /** the first few names the refused requests presented (anonymous, unknown-token:…) */
  presented: string[];
  /** an identity's: the first few client addresses its refused requests came from */
  addresses: string[];
  first: string | null;
  last: string | null;
}

/** names (and an identity's addresses) kept per summary: enough to tell one prober from many, bounded whatever they send */
const PRESENTED_KEPT = 10;
/** windows held at once, of clients and of identities each; further ones share one window (key OTHERS) */
const MAX_WINDOWS = 10_000;
const OTHERS = 'other addresses';
const OTHER_IDENTITIES = 'other identities';
/** all clients together, and all identities together, get this many budgets of records one by one per window */
const GLOBAL_BUDGETS = 10;
/**
 * Summaries recorded in one append by a flush (the sweep, the stop): up to ~1.5 KB each, so one
 * append stays under the audit log's 64 KiB write, and the decisions that come meanwhile go in
 * between two appends instead of waiting behind all of them (10,000 windows: ~14 MB).
 */
export const SUMMARIES_PER_APPEND = 32;

export interface RefusalRecorderDeps {
  recorder: Pick<Recorder, 'record'>;
  metrics: Metrics;
  clock: Clock;
  newId: (kind: string) => string;
  project: string;
  /** whether the audit log takes appends now: over the budget a refusal is answered only then */
  writable: () => boolean;
  /** refusals recorded one by one per client (unauthenticated) or identity (authenticated) and window (at least 1); the rest are counted */
  perWindow: number;
  windowMs?: number;
  /** clients, and identities, told apart at once (default 10,000 each); further ones share one window */
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

/** Who an authenticated caller's budget belongs to: the identity, by how it was authenticated and its name. */
export function identityKey(actor: Pick<Actor, 'name' | 'via'>): string {
  return `${actor.via}:${actor.name}`;
}

/**
 * Records refusals in the audit log before they are answered, within budgets, so that no caller
 * can turn each request into an fsynced record (the budgets bound the rate of records, not their
 * total: see the README on what a flood that lasts days costs). Refusals of requests that carried
 * no valid identity (401, and anything refused to an anonymous caller) have a budget per client
 * (clientAddress: the TCP peer, or the client a trusted proxy forwarded; IPv6 by /64); refusals of
 * an authenticated caller (403, 400, 429...: in Kubernetes mode any ServiceAccount of any pod
 * authenticates) have a budget per identity (identityKey), wherever its requests come from. The
 * first `perWindow` of a budget in a window (a minute) are recorded one by one (a record names who
 * was refused); over it a refusal is answered the same way and counted, and one summary record
 * (type `refusal`, written by the gate, with how many by status and error, the first names
 * presented or the identity and its first addresses, the first and last instant) accounts for them
 * when the window is over: at the budget's next refusal, at the sweep, or when the gate stops. All
 * clients together, and all identities together, get GLOBAL_BUDGETS budgets per window, and at most
 * MAX_WINDOWS clients and MAX_WINDOWS identities are told apart (further ones share a window), so
 * neither the disk nor the memory grows with the number of addresses or identities. Nothing is
 * answered unrecorded while the audit log is down (503).
 */
export function createRefusalRecorder(deps: RefusalRecorderDeps) {
  const windowMs = deps.windowMs ?? 60_000;
  const maxWindows = deps.maxWindows ?? MAX_WINDOWS;
  /** the budgets of clients (unauthenticated refusals) and of identities (authenticated ones) */
  const budgetOf = (others: string) => ({ windows: new Map<string, Window>(), global: { startMs: Number.NEGATIVE_INFINITY, recorded: 0 }, others });
  type Budget = ReturnType<typeof budgetOf>;
  const clients = budgetOf(OTHERS);
  const identities = budgetOf(OTHER_IDENTITIES);
  /** records one by one a window for all clients, or all identities, together */
  const globalLimit = deps.perWindow * GLOBAL_BUDGETS;
  /** summaries an audit append refused: retried with the next refusal, the sweep or the shutdown */
  let unrecorded: AuditEntry[] = [];

  function summaryEntry(budget: Budget, key: string, w: Window): AuditEntry {
    const counted = { suppressed: w.suppressed, byError: w.byError, presented: w.presented };
    const [who, data] =
      budget === identities
        ? [`of ${w.identity ? `${w.identity.name} (${w.identity.via})` : `${OTHER_IDENTITIES} (${w.presented.join(', ')})`}`, { ...counted, identity: w.identity, remoteAddresses: w.addresses }]
        : [`from ${key}`, { ...counted, remoteAddress: key }];
    return auditEntry({
      at: isoOf(deps.clock.now()),
      type: 'refusal',
      id: deps.newId('req'),
      actor: SYSTEM_ACTOR,
      project: deps.project,
      reasons: [
        {
          code: 'refusals_summarised',
          message: `${w.suppressed} more refusal${w.suppressed === 1 ? '' : 's'} ${who} between ${w.first} and ${w.last} were answered without a record each (over ${deps.perWindow} in ${windowMs / 1000} s)`,
        },
      ],
      data: { ...data, from: w.first, to: w.last },
    });
  }

  /** Removes and returns the summaries of windows that are over (all of them with `all`; one client's or identity's with `only`). */
  function takeDue(nowMs: number, all: boolean, only?: { budget: Budget; key: string }): AuditEntry[] {
    const out: AuditEntry[] = [...unrecorded];
    unrecorded = [];
    const candidates: [Budget, string, Window | undefined][] = only
      ? [[only.budget, only.key, only.budget.windows.get(only.key)]]
      : [clients, identities].flatMap((budget) => [...budget.windows].map(([key, w]): [Budget, string, Window] => [budget, key, w]));
    for (const [budget, key, w] of candidates) {
      if (!w || (!all && nowMs - w.startMs < windowMs)) continue;
      budget.windows.delete(key);
      if (w.suppressed > 0) out.push(summaryEntry(budget, key, w));
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

  function windowOf(budget: Budget, key: string, identity: Window['identity'], nowMs: number): Window {
    let w = budget.windows.get(key);
    if (!w) {
      w = { startMs: nowMs, identity, recorded: 0, suppressed: 0, byError: {}, presented: [], addresses: [], first: null, last: null };
      budget.windows.set(key, w);
    }
    return w;
  }

  /** Records the refusal (with any summary due for its client or identity), or counts it over that budget. */
  async function account(req: FastifyRequest, actor: Actor, verified: boolean, status: number, code: string, message: string): Promise<void> {
    const now = deps.clock.now();
    const nowMs = now.toMillis();
    const at = isoOf(now);
    const entry = () => refusalEntry(req, at, actor, status, code, message, deps.project);
    // an authenticated caller is budgeted by who it is (its own record names it), anyone else by address
    const authenticated = verified && status !== 401 && actor.via !== 'none';
    const budget = authenticated ? identities : clients;
    const global = budget.global;
    if (nowMs - global.startMs >= windowMs) {
      global.startMs = nowMs;
      global.recorded = 0;
    }
    let key = authenticated ? identityKey(actor) : clientKey(clientAddress(req) ?? undefined);
    // a client or identity not seen in this window shares the others' window once too many are
    // told apart, and once all of them together have used their records one by one: otherwise
    // each new one (a ServiceAccount, an IPv6 /64 made up per request) would still cost a summary
    // record of its own, one record per refused request
    if (!budget.windows.has(key) && (budget.windows.size >= maxWindows || global.recorded >= globalLimit)) key = budget.others;
    const due = takeDue(nowMs, false, { budget, key });
    const w = windowOf(budget, key, authenticated && key !== budget.others ? { name: actor.name, via: actor.via } : null, nowMs);
    if (w.recorded < deps.perWindow && global.recorded < globalLimit) {
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
    const error = `${status} ${code}`;
    w.byError[error] = (w.byError[error] ?? 0) + 1;
    if (w.presented.length < PRESENTED_KEPT && !w.presented.includes(actor.name)) w.presented.push(actor.name);
    const address = clientAddress(req) ?? 'unknown';
    if (authenticated && w.addresses.length < PRESENTED_KEPT && !w.addresses.includes(address)) w.addresses.push(address);
    deps.metrics.refusalsSummarised.inc();
  }

  return {
    /**
     * Accounts for one refusal before it is answered: records it (with any summary now due for
     * its client or identity), or counts it when that client or identity is over its budget. `verified`
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
    /** clients and identities with an open window (tests) */
    size: () => clients.windows.size + identities.windows.size,
  };
}

export type RefusalRecorder = ReturnType<typeof createRefusalRecorder>;

import type { FastifyRequest } from 'fastify';
import { auditEntry } from '../audit/entry.ts';
import type { Actor, AuditEntry } from '../audit/event.ts';
import type { Recorder } from '../gate/recorder.ts';
import { SYSTEM_ACTOR } from '../gate/system-actor.ts';
import type { Metrics } from '../metrics.ts';
import type { Clock } from '../policy/clock.ts';
import { isoOf } from '../policy/clock.ts';
import { markRefusalAudited, refusalEntry } from './refusals.ts';

/** What one client address's refusals of the current window add up to. */
interface Window {
  startMs: number;
  recorded: number;
  /** refusals over the budget: counted, not recorded one by one */
  suppressed: number;
  byError: Record<string, number>;
  first: string | null;
  last: string | null;
}

export interface RefusalRecorderDeps {
  recorder: Recorder;
  metrics: Metrics;
  clock: Clock;
  newId: (kind: string) => string;
  project: string;
  /** refusals recorded one by one per client address and window (at least 1); the rest are counted */
  perWindow: number;
  windowMs?: number;
}

/**
 * Records refusals in the audit log, with a budget per client address (the TCP peer) so that a
 * client hammering the gate with bad requests cannot turn each one into an fsynced record: the
 * first `perWindow` refusals of an address in a window (a minute) are recorded one by one before
 * they are answered, as every refusal used to be; the rest of that window are answered the same
 * way and counted, and one summary record (type `refusal`, `data.suppressed` = how many, by
 * status and error, first and last instant) accounts for them when the window is over: at the
 * address's next refusal, at the sweep, or when the gate stops.
 */
export function createRefusalRecorder(deps: RefusalRecorderDeps) {
  const windowMs = deps.windowMs ?? 60_000;
  const windows = new Map<string, Window>();

  function summaryEntry(address: string, w: Window): AuditEntry {
    return auditEntry({
      at: isoOf(deps.clock.now()),
      type: 'refusal',
      id: deps.newId('req'),
      actor: SYSTEM_ACTOR,
      project: deps.project,
      reasons: [
        {
          code: 'refusals_summarised',
          message: `${w.suppressed} more refusal${w.suppressed === 1 ? '' : 's'} from ${address} between ${w.first} and ${w.last} were answered without a record each (over ${deps.perWindow} in ${windowMs / 1000} s)`,
        },
      ],
      data: { suppressed: w.suppressed, byError: w.byError, remoteAddress: address, from: w.first, to: w.last },
    });
  }

  /** Removes and returns the summaries of windows that are over (all of them with `all`). */
  function takeDue(nowMs: number, all: boolean, only?: string): AuditEntry[] {
    const out: AuditEntry[] = [];
    for (const [address, w] of only === undefined ? windows : ([[only, windows.get(only)]] as const)) {
      if (!w || (!all && nowMs - w.startMs < windowMs)) continue;
      windows.delete(address);
      if (w.suppressed > 0) out.push(summaryEntry(address, w));
    }
    return out;
  }

  /** summaries an audit append refused: retried with the next refusal, the sweep or the shutdown */
  let unrecorded: AuditEntry[] = [];

  /** Records entries that begin with summaries (and maybe end with a refusal); a failed append keeps the summaries for later. */
  async function record(entries: AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    try {
      await deps.recorder.record(entries);
    } catch (err) {
      unrecorded = [...entries.filter((e) => e.data?.['suppressed'] !== undefined), ...unrecorded];
      throw err;
    }
  }

  function takeUnrecorded(): AuditEntry[] {
    const out = unrecorded;
    unrecorded = [];
    return out;
  }

  return {
    /**
     * Accounts for one refusal before it is answered: records it (with any summary now due for
     * its address), or counts it when its address is over the budget. Rejects when the audit log
     * cannot take what has to be recorded; the answer is then 503.
     */
    async refuse(req: FastifyRequest, actor: Actor, status: number, code: string, message: string): Promise<void> {
      deps.metrics.refusals.inc({ status: String(status), error: code });
      const now = deps.clock.now();
      const nowMs = now.toMillis();
      const address = req.socket?.remoteAddress ?? 'unknown';
      const due = [...takeUnrecorded(), ...takeDue(nowMs, false, address)];
      let w = windows.get(address);
      if (!w) {
        w = { startMs: nowMs, recorded: 0, suppressed: 0, byError: {}, first: null, last: null };
        windows.set(address, w);
      }
      if (w.recorded < deps.perWindow) {
        w.recorded += 1;
        const at = isoOf(now);
        try {
          await record([...due, refusalEntry(req, at, actor, status, code, message, deps.project)]);
        } catch (err) {
          w.recorded -= 1;
          throw err;
        }
        markRefusalAudited(req);
        return;
      }
      const at = isoOf(now);
      w.suppressed += 1;
      w.first ??= at;
      w.last = at;
      const key = `${status} ${code}`;
      w.byError[key] = (w.byError[key] ?? 0) + 1;
      deps.metrics.refusalsSummarised.inc();
      markRefusalAudited(req);
      // a summary an earlier append refused goes in as soon as the log takes it
      if (due.length > 0) await record(due);
    },
    /** Records the summaries of windows that are over (`all`: every window, at shutdown); returns how many. */
    async flush(all = false): Promise<number> {
      const due = [...takeUnrecorded(), ...takeDue(deps.clock.now().toMillis(), all)];
      await record(due);
      return due.length;
    },
    /** client addresses with an open window (tests) */
    size: () => windows.size,
  };
}

export type RefusalRecorder = ReturnType<typeof createRefusalRecorder>;

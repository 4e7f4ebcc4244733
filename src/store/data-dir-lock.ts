import { createHash, randomUUID } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import * as nodeFs from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { within } from '../within.ts';
import { volumeAgeMs } from './volume-clock.ts';
import { VOLUME_FULL, volumeRefusal } from './when-volume-takes-writes.ts';

/** How long release() waits for a renewal under way before it leaves the lock to expire instead. */
const RELEASE_WAIT_MS = 2000;

/** Takeover claims tried for one stale lock before giving up (each a crashed taker's left-over). */
const MAX_CLAIMS = 20;

/** How many times a lock file that vanishes between the exclusive create and the read is tried again. */
const MAX_ACQUIRE_ATTEMPTS = 5;

/** The data directory is held by another live gate. */
export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';
}

interface LockFile {
  owner: string;
  host: string;
  pid: number;
  acquiredAt: string;
  renewedAt: string;
  /**
   * The holder's process identity on its host (absent in lock files of older gates, null where
   * unknown): the kernel's boot id, and its process's start time (clock ticks after boot). A
   * pid alone names another process after a reboot or once the pid is reused.
   */
  bootId?: string | null;
  processStart?: string | null;
  /** the holder's pid namespace (/proc/self/ns/pid): its pid names nothing in another one */
  pidNs?: string | null;
}

export interface LockOptions {
  dir: string;
  host: string;
  pid: number;
  /**
   * wall-clock milliseconds (real time, never the GATE_NOW demo clock): the lock file's stamps,
   * and the second clock of this gate's own lease (see `monotonic`)
   */
  now: () => number;
  /**
   * monotonic milliseconds (default performance.now) for this gate's own lease, which is timed on
   * both clocks and lapses when either says a lease went by: a wall clock stepped back must not
   * keep a lapsed lease looking fresh, and a monotonic clock that stood still while the VM was
   * paused (CLOCK_MONOTONIC on a KVM guest) must not either. A wall clock stepped forward by a
   * lease costs the lock (a spurious lapse): the price of noticing the pause
   */
  monotonic?: () => number;
  /** is a process with this pid alive on this host? */
  isAlive: (pid: number) => boolean;
  /** this host's current boot id (readBootId); null or absent where unknown */
  bootId?: string | null;
  /** when the process now at this pid started (processStartTime); null where unknown or gone */
  processStart?: (pid: number) => string | null;
  /** this process's pid namespace (readPidNamespace); null or absent where unknown */
  pidNamespace?: string | null;
  /**
   * How long to wait, in all, for a holder that only its lease can judge (another host, boot or
   * pid namespace: a container restarted in its pod) to let the lease run out, instead of
   * refusing at once (default 0). A holder that renews meanwhile is refused at the end. Such a
   * lease runs out only once this gate has seen the lock file unchanged for a whole lease, so a
   * wait shorter than the lease never takes it over.
   */
  waitForLeaseMs?: number;
  /** told once when the lock is waited for, with why */
  onWait?: (why: string) => void;
  /** ends a wait for a lease early (the gate was told to stop): acquire rejects with its reason */
  signal?: AbortSignal;
  /** a lease not renewed for this long is taken over (another host, e.g. the pod moved) */
  leaseMs?: number;
  /** renewal period; default leaseMs / 3 */
  renewMs?: number;
  /** wait before trying a failed renewal again; default 1 s (at most renewMs) */
  retryMs?: number;
  /**
   * Called once when the lock is lost for good: another gate took it over, or the lease went
   * unconfirmed for a whole lease (another gate may have taken it over and written in the gap,
   * so this gate's view of the audit log can be stale). The holder should stop: at once when
   * taken over; after a lapse (`cause` 'lapsed': the volume failed its renewals, or the gate
   * stalled) it may stay up refusing until probe() says the volume takes writes again.
   */
  onLost?: (why: string, cause: LostCause) => void;
  /** the file operations (tests stall them) */
  fs?: LockFs;
}

/** Why a lock was lost: another gate's stamp in the lock file, or a whole lease unconfirmed. */
export type LostCause = 'taken-over' | 'lapsed';

/** The file operations the lock uses. */
export type LockFs = Pick<typeof nodeFs, 'readFile' | 'writeFile' | 'rename' | 'rm' | 'readdir' | 'link' | 'stat' | 'open'>;

/**
 * Creates `path` holding `text`, or fails with EEXIST when it exists: the text is written to a
 * temp file first and hard-linked into place, so no other gate ever sees the file empty or half
 * written (an exclusive open would show it empty until the write lands). link() is atomic on NFS
 * too; as an NFS reply can be lost and the retried call fail although the first one worked, the
 * temp file's link count, not the call's result, says whether the link was made.
 */
export async function createExclusive(fs: LockFs, path: string, text: string, tmp: string): Promise<void> {
  try {
    // inside the try: a write that fails part way (a full volume) leaves no temp file behind
    await fs.writeFile(tmp, text);
    let linkError: unknown = null;
    try {
      await fs.link(tmp, path);
    } catch (err) {
      linkError = err;
    }
    const { nlink } = await fs.stat(tmp);
    if (nlink >= 2) return;
    throw linkError ?? Object.assign(new Error(`EEXIST: ${path} exists`), { code: 'EEXIST' });
  } finally {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
  }
}

export interface DataDirLock {
  readonly file: string;
  /**
   * Whether this gate may still write the data directory: false once the lock is lost for good
   * (taken over, or a whole lease unconfirmed: see onLost), and while the lease has gone
   * unrenewed for so long that another host may take it over soon (lease minus a renewal
   * period, at most a third of the lease).
   */
  held(): boolean;
  /** Stops renewing and removes the lock file if it is still ours (never once the lock is lost). */
  release(): Promise<void>;
  /**
   * Whether the data volume takes a write again: writes, fsyncs and removes a probe file of this
   * gate's beside the lock (rejects with the volume's error). For a gate that lost the lock by a
   * lapse: it never renews or takes the lock back (another gate may hold it by now), but it can
   * tell when a restart would get through.
   */
  probe(): Promise<void>;
}

/** The file's text, or null when it does not exist. */
async function readText(fs: LockFs, file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** A lock (or claim) file's stamp; null for a torn or foreign file, which holds nothing. */
function parseLock(text: string | null): LockFile | null {
  if (text === null) return null;
  try {
    const lock = JSON.parse(text) as LockFile;
    return lock !== null && typeof lock === 'object' && typeof lock.host === 'string' && typeof lock.renewedAt === 'string' ? lock : null;
  } catch {
    return null;
  }
}

async function readLock(fs: LockFs, file: string): Promise<LockFile | null> {
  return parseLock(await readText(fs, file));
}

/**
 * Takes the single-writer lock of a data directory (`<dir>/gate.lock`). Refuses with
 * DataDirLockedError while another live gate holds it. Never blocks the restart of a crashed
 * gate: on the same host, boot and pid namespace a holder is stale when it is this very pid,
 * when its pid is gone, or when the process now at its pid started at another time (the pid was
 * reused); on another host (NFS, the pod moved), under another boot id (the host rebooted, or
 * another machine has the same name) or in another pid namespace (a container restarted in its
 * pod), the holder's lease must have expired, which `waitForLeaseMs` waits for: timed on this
 * gate's own clock from when it last saw the lock file change, never from the holder's stamp
 * (the two hosts' clocks may disagree), so such a takeover always waits at least a whole lease. A lock file without the boot id and
 * start time (an older gate's, or one written where /proc is absent) is judged by its pid alone.
 */
export async function acquireDataDirLock(opts: LockOptions): Promise<DataDirLock> {
  const leaseMs = opts.leaseMs ?? 30_000;
  const renewMs = opts.renewMs ?? Math.floor(leaseMs / 3);
  const retryMs = Math.min(opts.retryMs ?? 1000, renewMs);
  const file = join(opts.dir, 'gate.lock');
  const mono = opts.monotonic ?? (() => performance.now());
  const fs = opts.fs ?? nodeFs;
  const owner = randomUUID();
  const bootId = opts.bootId ?? null;
  const startOf = opts.processStart ?? (() => null);
  const processStart = startOf(opts.pid);
  const pidNs = opts.pidNamespace ?? null;
  const stamp = (acquiredAt: string): LockFile => {
    const now = new Date(opts.now()).toISOString();
    return { owner, host: opts.host, pid: opts.pid, acquiredAt, renewedAt: now, bootId, processStart, pidNs };
  };
  /** the temp file a replacing write goes through */
  const tmp = `${file}.${owner}.tmp`;
  /** the file probe() writes (a lapsed lock's test of the volume) */
  const probeFile = `${file}.${owner}.probe`;
  /** writes the lock file; a replacing write is dropped (false) when `stillOurs` says no just before it lands */
  const write = async (lock: LockFile, exclusive: boolean, stillOurs: () => boolean = () => true): Promise<boolean> => {
    if (exclusive) {
      await createExclusive(fs, file, JSON.stringify(lock), `${file}.${owner}.new`);
      return true;
    }
    await fs.writeFile(tmp, JSON.stringify(lock));
    if (!stillOurs()) {
      await fs.rm(tmp, { force: true });
      return false;
    }
    await fs.rename(tmp, file);
    return true;
  };
  /**
   * A renewal on a full volume, where the temp file cannot be written: the new stamp is written
   * over the lock file's own bytes. Without it a volume full for a whole lease cost the lock and
   * stopped the gate (exit 1), although its audit log fails closed and recovers by itself once
   * there is room: the same outage then refused connections instead of answering 503, and a gate
   * run by hand did not come back at all. Only a renewal of this gate's own stamp: the text read
   * and the text written go through one open file, so a lock another gate put in place meanwhile
   * (a new file) is either read as theirs and left alone, or never written (this write lands in
   * the file they replaced). The stamp changes only in `renewedAt`, a timestamp of fixed length:
   * the file keeps its size (no block to allocate), and a reader that meets the write half done
   * reads valid JSON holding some of the old digits and some of the new, a change all the same.
   */
  const renewInPlace = async (lock: LockFile, stillOurs: () => boolean): Promise<boolean> => {
    const text = JSON.stringify(lock);
    const fh = await fs.open(file, 'r+');
    try {
      const bytes = Buffer.byteLength(text);
      const buf = Buffer.alloc(bytes + 1);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      const held = parseLock(buf.subarray(0, bytesRead).toString('utf8'));
      if (bytesRead !== bytes || held?.owner !== owner || !stillOurs()) return false;
      const { bytesWritten } = await fh.write(Buffer.from(text), 0, bytes, 0);
      return bytesWritten === bytes;
    } finally {
      await fh.close().catch(() => undefined);
    }
  };

  let acquiredAt = new Date(opts.now()).toISOString();
  /** the time on both clocks */
  const clocks = () => ({ mono: mono(), wall: opts.now() });
  /** when the lock file last held our stamp for sure (taken before each write that succeeded) */
  let confirmed = clocks();
  /** how long the lease has gone unconfirmed: the longer of the two clocks' counts */
  const unconfirmedMs = () => Math.max(mono() - confirmed.mono, opts.now() - confirmed.wall);
  let lost = false;
  /** the lease went a whole lease unconfirmed: another gate may have taken it over meanwhile */
  const lapsed = () => unconfirmedMs() >= leaseMs;
  /**
   * Why a holder (of the lock, or of a takeover claim) still counts, and whether only its lease
   * says so; null when it is stale. Its pid means something here only on this host, under this
   * boot and in this pid namespace (each compared where both sides know it): anywhere else (NFS
   * and the pod moved; a reboot; another machine or container with this host name, pid 1 in each)
   * its lease decides, never timed by the stamp in it (the two hosts' clocks may disagree): for
   * the lock file, `unrenewedMs` is how long this gate has seen its text unchanged, on its own
   * clock; for a takeover claim (never renewed, and only met while two gates race for the same
   * stale lock), its age on the data volume's clock (volumeAgeMs).
   */
  const liveBecause = (held: LockFile, unrenewedMs: number, what: 'lock' | 'claim'): { why: string; byLease: boolean } | null => {
    const otherBoot = typeof held.bootId === 'string' && bootId !== null && held.bootId !== bootId;
    const otherNs = typeof held.pidNs === 'string' && pidNs !== null && held.pidNs !== pidNs;
    if (held.host !== opts.host || otherBoot || otherNs) {
      const who = held.host !== opts.host ? null : otherBoot ? 'this host name under another boot id (rebooted since, or another machine)' : 'this host in another pid namespace (another container)';
      // a stamp is the holder's clock, which can be any time off this host's (a clock ahead here
      // took a live holder's lock over at once, or made a second claim beside a live one; one
      // behind kept a crashed holder's for as long as it was off): a live holder renews within a
      // renewal period, and one that has not for a whole lease has stopped writing
      if (!(unrenewedMs < leaseMs)) return null;
      const expires = Math.ceil((leaseMs - unrenewedMs) / 1000);
      const timed =
        what === 'lock'
          ? `its lease was renewed at ${held.renewedAt} (by its clock) and expires ${expires} s from now unless renewed (timed on this host's clock, from when the lock file was last seen to change)`
          : `its claim was made ${Math.max(0, Math.round(unrenewedMs / 1000))} s ago and expires ${expires} s from now (timed on the data volume's clock, by the file's modification time)`;
      return { why: `${who ? `${who}: ` : ''}${timed}`, byLease: true };
    }
    // this very pid is this process: the holder was an earlier one (a restart in the same namespace)
    if (held.pid === opts.pid) return null;
    if (!opts.isAlive(held.pid)) return null;
    // the pid now belongs to a process that started at another time (reused)
    const now = typeof held.processStart === 'string' ? startOf(held.pid) : null;
    if (now !== null && now !== held.processStart) return null;
    return { why: `process ${held.pid} on this host is still running`, byLease: false };
  };
  /**
   * Claims the right to replace one particular stale lock file, named by a digest of its text:
   * every gate that found the same stale file tries the same claim names in the same order, and
   * an exclusive create (atomic on NFS too) lets only one of them through. A claim left by a
   * taker that died half-way is itself stale by the same rules, and the next name is tried.
   */
  const claimTakeover = async (staleText: string): Promise<string> => {
    const prefix = `${file}.takeover-${createHash('sha256').update(staleText).digest('hex').slice(0, 16)}-`;
    for (let n = 1; n <= MAX_CLAIMS; n++) {
      const claim = `${prefix}${n}`;
      try {
        await createExclusive(fs, claim, JSON.stringify(stamp(acquiredAt)), `${claim}.${owner}.new`);
        return prefix;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const other = await readLock(fs, claim);
      // how long ago it was made, on the data volume's clock, never off another host's (null: it
      // is gone). Its maker timed its own takeover from before it wrote the claim, and gives up
      // once a lease went by: a claim older than a lease is one whose maker has stopped
      const age = other ? await volumeAgeMs(fs, claim, `${claim}.${owner}.new`) : null;
      const why = other && age !== null ? liveBecause(other, age, 'claim')?.why : null;
      if (why) {
        throw new DataDirLockedError(
          `data directory ${opts.dir}: another gate (host ${other?.host}, pid ${other?.pid}) is taking the stale lock over at this moment: ${why}. ` +
            `Only one gate may write an audit log.`,
        );
      }
    }
    throw new DataDirLockedError(`data directory ${opts.dir}: ${MAX_CLAIMS} takeovers of the same stale lock were started and none finished; remove ${file}* by hand once no gate runs`);
  };
  /** Removes the claims of takeovers before ours (ours stays: a gate that read the same stale lock late must still find it). */
  const removeOlderClaims = async (ourPrefix: string): Promise<void> => {
    const base = `${basename(file)}.takeover-`;
    const names = await fs.readdir(opts.dir).catch(() => [] as string[]);
    for (const name of names) {
      const path = join(opts.dir, String(name));
      // not a claim being written right now (its temp file, linked into place next)
      if (String(name).endsWith('.new')) continue;
      if (String(name).startsWith(base) && !path.startsWith(ourPrefix)) await fs.rm(path, { force: true }).catch(() => undefined);
    }
  };
  const waitUntil = mono() + (opts.waitForLeaseMs ?? 0);
  opts.signal?.throwIfAborted();
  let told = false;
  /** the lock file's text as last read, and when (monotonic) it was first read so */
  let seen: { text: string; at: number } | null = null;
  for (let attempt = 1; ; attempt++) {
    // taken now, after any wait: the lease counts from here, and the lock says since when
    const takingAt = clocks();
    acquiredAt = new Date(takingAt.wall).toISOString();
    try {
      await write(stamp(acquiredAt), true);
      confirmed = takingAt;
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const text = await readText(fs, file);
    if (text === null) {
      // released between the create and the read: take it the ordinary way
      if (attempt < MAX_ACQUIRE_ATTEMPTS) continue;
      throw new DataDirLockedError(`data directory ${opts.dir}: its lock file keeps appearing and vanishing; is another gate starting and stopping?`);
    }
    // first look, or the file changed since (renewed, replaced): the lease is timed from now
    const last: { text: string; at: number } | null = seen;
    const since: number = last !== null && last.text === text ? last.at : mono();
    seen = { text, at: since };
    const held = parseLock(text);
    const live = held ? liveBecause(held, mono() - since, 'lock') : null;
    if (held && live?.byLease && mono() < waitUntil) {
      // a lease that runs out within the wait (the holder crashed) is waited for, not refused
      if (!told) opts.onWait?.(`data directory ${opts.dir} is held by host ${held.host}, pid ${held.pid}: ${live.why}; waiting for it to run out`);
      told = true;
      attempt = 0;
      await sleepUnlessAborted(Math.min(retryMs, Math.max(10, waitUntil - mono())), opts.signal);
      continue;
    }
    if (held && live) {
      throw new DataDirLockedError(
        `data directory ${opts.dir} is in use by another gate (host ${held.host}, pid ${held.pid}, since ${held.acquiredAt}): ${live.why}. ` +
          `Only one gate may write an audit log. Stop the other instance, or point GATE_DATA_DIR elsewhere. ` +
          `If no gate uses this directory (for instance it was copied from a running gate's directory, which copies its lock), remove ${file}.`,
      );
    }
    confirmed = clocks();
    const ours = await claimTakeover(text);
    const raced = () => new DataDirLockedError(`data directory ${opts.dir}: another gate took the lock over at the same moment`);
    // the stale file may have been replaced while this gate was reading it (a slow volume):
    // the claim only covers the text it read
    if ((await readText(fs, file)) !== text) throw raced();
    // a taker that stalled for a whole lease since it read the stale file must not land now
    if (!(await write(stamp(acquiredAt), false, () => !lapsed()))) throw raced();
    const check = await readLock(fs, file);
    if (check?.owner !== owner || lapsed()) throw raced();
    await removeOlderClaims(ours);
    break;
  }
  const fenceMs = leaseMs - Math.min(renewMs, leaseMs / 3);

  let stopped = false;
  const loseForGood = (why: string, cause: LostCause): void => {
    if (lost) return;
    lost = true; // held() is false from now on, so the audit log refuses
    opts.onLost?.(why, cause);
  };
  /** true (and the lock lost for good) when the lease has lapsed */
  const loseIfLapsed = (): boolean => {
    if (!lapsed()) return false;
    loseForGood(`its lease went unrenewed for ${Math.round(unconfirmedMs() / 1000)} s (lease ${leaseMs / 1000} s): another gate may have taken the data directory over meanwhile`, 'lapsed');
    return true;
  };
  /**
   * One renewal: true when the lock file holds a fresh stamp of ours. A renewal that lands after
   * the lease lapsed could overwrite a new holder's lock and let this gate write again from a
   * stale view of the log: a lapse is for good, checked after the read (which may have stalled),
   * just before the write lands, and after it.
   */
  const renewOnce = async (): Promise<boolean> => {
    const started = clocks();
    const current = await readLock(fs, file).catch(() => undefined);
    if (stopped || lost) return false;
    if (current && current.owner !== owner) {
      loseForGood(`taken over by host ${current.host}, pid ${current.pid}`, 'taken-over');
      return false;
    }
    if (loseIfLapsed()) return false;
    if (current === undefined) return false; // could not read it: try again soon
    const next = stamp(acquiredAt);
    const stillOurs = () => !stopped && !lost && !lapsed();
    const wrote = await write(next, false, stillOurs)
      .catch(async (err: unknown) => {
        if (volumeRefusal(err, VOLUME_FULL) === null) return false;
        // a full volume: the lock's own blocks are still there to write in (the temp file, created
        // empty, is not left behind)
        await fs.rm(tmp, { force: true }).catch(() => undefined);
        return renewInPlace(next, stillOurs);
      })
      .catch(() => false);
    if (stopped || lost) return false;
    if (loseIfLapsed()) return false;
    if (wrote && started.mono >= confirmed.mono) confirmed = started;
    return wrote;
  };
  // one renewal at a time (they share the temp file), every renewMs, and a failed one is tried
  // again after retryMs, so a data volume back within the lease never costs the lock
  let timer: NodeJS.Timeout | null = null;
  let renewing: Promise<void> | null = null;
  const schedule = (ms: number): void => {
    if (stopped || lost) return;
    timer = setTimeout(() => {
      renewing = renewOnce()
        .catch(() => false)
        .then((ok) => schedule(ok ? renewMs : retryMs))
        .finally(() => {
          renewing = null;
        });
    }, ms);
    timer.unref();
  };
  schedule(renewMs);
  // a renewal stuck in a read or write that never returns (a hard NFS mount) cannot notice the
  // lapse itself: this does, without any I/O
  const watchdog = setInterval(() => {
    if (stopped || lost) clearInterval(watchdog);
    else loseIfLapsed();
  }, retryMs);
  watchdog.unref();

  return {
    file,
    held: () => !lost && !stopped && unconfirmedMs() < fenceMs,
    release: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      clearInterval(watchdog);
      // a renewal under way may still land: wait for it (a bounded time: on a hung volume the
      // lock is left to expire rather than removed under a rename that may land later)
      if (renewing) {
        const settled = await within(renewing.then(() => true), RELEASE_WAIT_MS, () => false);
        if (!settled) return;
      }
      // a lost (or lapsed: another gate may hold it by now) lock is never removed
      if (lost || lapsed()) return;
      const current = await readLock(fs, file).catch(() => null);
      if (current?.owner === owner && !lapsed()) await fs.rm(file, { force: true });
    },
    probe: async () => {
      // a lost lock renews no more, though a renewal stuck in a hung write may still be under way:
      // the probe has a file of its own, never the renewals' temp file
      if (!lost && !stopped) throw new Error('the lock is held: its renewals show whether the volume takes writes');
      try {
        const fh = await fs.open(probeFile, 'w');
        try {
          await fh.writeFile(`volume probe of ${owner}\n`);
          await fh.datasync();
        } finally {
          await fh.close().catch(() => undefined);
        }
      } finally {
        await fs.rm(probeFile, { force: true }).catch(() => undefined);
      }
    },
  };
}

/** Waits `ms`, or rejects with the signal's reason (not Node's AbortError) as soon as it is aborted. */
async function sleepUnlessAborted(ms: number, signal: AbortSignal | undefined): Promise<void> {
  await sleep(ms, undefined, { signal }).catch((err: unknown) => {
    throw signal?.aborted ? signal.reason : err;
  });
}

/** This process's pid namespace (Linux /proc/self/ns/pid, e.g. "pid:[4026531836]"); null where there is none. */
export function readPidNamespace(): string | null {
  try {
    return readlinkSync('/proc/self/ns/pid') || null;
  } catch {
    return null;
  }
}

/** This host's boot id (Linux /proc/sys/kernel/random/boot_id); null where there is none (macOS). */
export function readBootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/**
 * The start time of a /proc/<pid>/stat line: field 22, clock ticks after boot. Read after the
 * last ')': the command name before it (field 2) may hold spaces and parentheses.
 */
export function parseStatStartTime(stat: string): string | null {
  const end = stat.lastIndexOf(')');
  if (end < 0) return null;
  // the fields after the name start with field 3 (state)
  const start = stat.slice(end + 1).trim().split(/\s+/)[22 - 3];
  return start !== undefined && /^\d+$/.test(start) ? start : null;
}

/** When the process now at this pid started (clock ticks after boot); null when it is gone or /proc is absent. */
export function processStartTime(pid: number): string | null {
  try {
    return parseStatStartTime(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** process.kill(pid, 0) as a liveness probe: true unless the process does not exist. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

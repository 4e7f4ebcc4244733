import { randomUUID } from 'node:crypto';
import * as nodeFs from 'node:fs/promises';
import { join } from 'node:path';

/** How long release() waits for a renewal under way before it leaves the lock to expire instead. */
const RELEASE_WAIT_MS = 2000;

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
}

export interface LockOptions {
  dir: string;
  host: string;
  pid: number;
  /** wall-clock milliseconds for the lock file's stamps and other gates' leases (real time, never the GATE_NOW demo clock) */
  now: () => number;
  /**
   * monotonic milliseconds for this gate's own lease (default performance.now): a wall clock
   * stepped forward must not make a healthy gate give its lease up, nor one stepped back keep
   * a lapsed lease looking fresh
   */
  monotonic?: () => number;
  /** is a process with this pid alive on this host? */
  isAlive: (pid: number) => boolean;
  /** a lease not renewed for this long is taken over (another host, e.g. the pod moved) */
  leaseMs?: number;
  /** renewal period; default leaseMs / 3 */
  renewMs?: number;
  /** wait before trying a failed renewal again; default 1 s (at most renewMs) */
  retryMs?: number;
  /**
   * Called once when the lock is lost for good: another gate took it over, or the lease went
   * unconfirmed for a whole lease (another gate may have taken it over and written in the gap,
   * so this gate's view of the audit log can be stale). The holder should stop.
   */
  onLost?: (why: string) => void;
  /** the file operations (tests stall them) */
  fs?: LockFs;
}

/** The file operations the lock uses. */
export type LockFs = Pick<typeof nodeFs, 'readFile' | 'writeFile' | 'rename' | 'rm'>;

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
}

async function readLock(fs: LockFs, file: string): Promise<LockFile | null> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as LockFile;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (err instanceof SyntaxError) return null; // a torn lock file holds nothing
    throw err;
  }
}

/**
 * Takes the single-writer lock of a data directory (`<dir>/gate.lock`). Refuses with
 * DataDirLockedError while another live gate holds it. Never blocks the restart of a crashed
 * gate: on the same host a holder whose process is gone (or is this very pid, as after a
 * container restart) is stale; on another host (NFS, the pod moved) the holder's lease must
 * have expired.
 */
export async function acquireDataDirLock(opts: LockOptions): Promise<DataDirLock> {
  const leaseMs = opts.leaseMs ?? 30_000;
  const renewMs = opts.renewMs ?? Math.floor(leaseMs / 3);
  const retryMs = Math.min(opts.retryMs ?? 1000, renewMs);
  const file = join(opts.dir, 'gate.lock');
  const mono = opts.monotonic ?? (() => performance.now());
  const fs = opts.fs ?? nodeFs;
  const owner = randomUUID();
  const stamp = (acquiredAt: string): LockFile => {
    const now = new Date(opts.now()).toISOString();
    return { owner, host: opts.host, pid: opts.pid, acquiredAt, renewedAt: now };
  };
  /** writes the lock file; a replacing write is dropped (false) when `stillOurs` says no just before it lands */
  const write = async (lock: LockFile, exclusive: boolean, stillOurs: () => boolean = () => true): Promise<boolean> => {
    if (exclusive) {
      await fs.writeFile(file, JSON.stringify(lock), { flag: 'wx' });
      return true;
    }
    const tmp = `${file}.${owner}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(lock));
    if (!stillOurs()) {
      await fs.rm(tmp, { force: true });
      return false;
    }
    await fs.rename(tmp, file);
    return true;
  };

  const acquiredAt = new Date(opts.now()).toISOString();
  /** when (monotonic) the lock file last held our stamp for sure (taken before each write that succeeded) */
  let confirmedAt = mono();
  let lost = false;
  try {
    await write(stamp(acquiredAt), true);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const held = await readLock(fs, file);
    if (held) {
      const sameHost = held.host === opts.host;
      const gone = sameHost && (held.pid === opts.pid || !opts.isAlive(held.pid));
      const expired = opts.now() - Date.parse(held.renewedAt) > leaseMs;
      if (!gone && !(expired && !sameHost)) {
        const why = sameHost
          ? `process ${held.pid} on this host is still running`
          : `its lease was renewed at ${held.renewedAt} and expires ${Math.ceil((leaseMs - (opts.now() - Date.parse(held.renewedAt))) / 1000)} s from now`;
        throw new DataDirLockedError(
          `data directory ${opts.dir} is in use by another gate (host ${held.host}, pid ${held.pid}, since ${held.acquiredAt}): ${why}. ` +
            `Only one gate may write an audit log. Stop the other instance, or point GATE_DATA_DIR elsewhere.`,
        );
      }
    }
    confirmedAt = mono();
    await write(stamp(acquiredAt), false);
    const check = await readLock(fs, file);
    if (check?.owner !== owner) throw new DataDirLockedError(`data directory ${opts.dir}: another gate took the lock at the same moment`);
  }
  const fenceMs = leaseMs - Math.min(renewMs, leaseMs / 3);

  let stopped = false;
  /** the lease went a whole lease unconfirmed: another gate may have taken it over meanwhile */
  const lapsed = () => mono() - confirmedAt >= leaseMs;
  const loseForGood = (why: string): void => {
    if (lost) return;
    lost = true; // held() is false from now on, so the audit log refuses
    opts.onLost?.(why);
  };
  /** true (and the lock lost for good) when the lease has lapsed */
  const loseIfLapsed = (): boolean => {
    if (!lapsed()) return false;
    loseForGood(`its lease went unrenewed for ${Math.round((mono() - confirmedAt) / 1000)} s (lease ${leaseMs / 1000} s): another gate may have taken the data directory over meanwhile`);
    return true;
  };
  /**
   * One renewal: true when the lock file holds a fresh stamp of ours. A renewal that lands after
   * the lease lapsed could overwrite a new holder's lock and let this gate write again from a
   * stale view of the log: a lapse is for good, checked after the read (which may have stalled),
   * just before the write lands, and after it.
   */
  const renewOnce = async (): Promise<boolean> => {
    const started = mono();
    const current = await readLock(fs, file).catch(() => undefined);
    if (stopped || lost) return false;
    if (current && current.owner !== owner) {
      loseForGood(`taken over by host ${current.host}, pid ${current.pid}`);
      return false;
    }
    if (loseIfLapsed()) return false;
    if (current === undefined) return false; // could not read it: try again soon
    const wrote = await write(stamp(acquiredAt), false, () => !stopped && !lost && !lapsed()).catch(() => false);
    if (stopped || lost) return false;
    if (loseIfLapsed()) return false;
    if (wrote) confirmedAt = Math.max(confirmedAt, started);
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
    held: () => !lost && !stopped && mono() - confirmedAt < fenceMs,
    release: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      clearInterval(watchdog);
      // a renewal under way may still land: wait for it (a bounded time: on a hung volume the
      // lock is left to expire rather than removed under a rename that may land later)
      if (renewing) {
        const settled = await Promise.race([renewing.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), RELEASE_WAIT_MS).unref())]);
        if (!settled) return;
      }
      // a lost (or lapsed: another gate may hold it by now) lock is never removed
      if (lost || lapsed()) return;
      const current = await readLock(fs, file).catch(() => null);
      if (current?.owner === owner && !lapsed()) await fs.rm(file, { force: true });
    },
  };
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

import { hash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import * as nodeFs from 'node:fs/promises';
import { link, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { makeDirDurably } from '../store/make-data-dir.ts';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { personKey } from '../policy/person-key.ts';
import { createExclusive, isProcessAlive } from '../store/data-dir-lock.ts';
import { syncParentDir } from '../store/sync-parent-dir.ts';
import { volumeAgeMs } from '../store/volume-clock.ts';
import { writerTempOf, writerTempsBeside } from '../store/writer-temp.ts';
import { isReservedName, RESERVED_NAMES, RESERVED_WHAT } from './readable-name.ts';
import { within } from '../within.ts';
import { type Authenticator, type AuthzResult, type Identity, ROLES_FOR_RESOURCE, type Role, ROLES, bearerToken } from './identity.ts';

/** One entry of the local token file. The token itself is never stored, only its SHA-256. */
export interface StoredToken {
  id: string;
  name: string;
  roles: Role[];
  sha256: string;
  createdAt: string;
}

interface TokenFile {
  version: 1;
  tokens: StoredToken[];
}

export function tokenFilePath(dataDir: string): string {
  return join(dataDir, 'tokens.json');
}

export function hashToken(token: string): string {
  // the one-shot hash: a third of createHash's cost on every authenticated request
  return hash('sha256', token);
}

/** A new random token: "gate_" + 43 base64url characters (256 bits). */
export function generateToken(): string {
  return `gate_${randomBytes(32).toString('base64url')}`;
}

export async function readTokenFile(file: string): Promise<StoredToken[] | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not a gate token file: not valid JSON (${(err as Error).message})`);
  }
  const problem = tokenFileProblem(parsed);
  if (problem !== null) throw new Error(`${file}: not a gate token file: ${problem}`);
  return (parsed as TokenFile).tokens;
}

/**
 * What makes a parsed token file unusable, or null: every entry needs what authentication reads
 * (a name, a list of known roles, a SHA-256 hex digest). A file edited by hand that lacks one is
 * named with the entry, not left to fail later as a TypeError (a missing hash) or to be read in a
 * way no one meant (roles as a string, which "includes" searches as a substring, and which the
 * audit records would carry as the actor's groups).
 */
function tokenFileProblem(parsed: unknown): string | null {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return 'expected a JSON object {"version": 1, "tokens": [...]}';
  const { version, tokens } = parsed as { version?: unknown; tokens?: unknown };
  if (version !== 1) return `version is ${JSON.stringify(version) ?? 'missing'}, expected 1`;
  if (!Array.isArray(tokens)) return 'tokens is not a list';
  for (const [i, t] of tokens.entries()) {
    const at = `tokens[${i}]`;
    if (t === null || typeof t !== 'object' || Array.isArray(t)) return `${at} is not an object`;
    const { name, roles, sha256 } = t as { name?: unknown; roles?: unknown; sha256?: unknown };
    if (typeof name !== 'string' || name === '') return `${at}.name is not a name`;
    if (!Array.isArray(roles) || !roles.every((r) => (ROLES as readonly unknown[]).includes(r))) return `${at}.roles (token "${name}") is not a list of ${ROLES.join(', ')}`;
    if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/i.test(sha256)) return `${at}.sha256 (token "${name}") is not a SHA-256 hex digest`;
  }
  return null;
}

/** How long a writer waits in all for another writer's lock on the token file, by default. */
const LOCK_WAIT_MS = 6000;
/** A lock stamped longer ago than this, by default, is a crashed writer's and is taken over. */
const LOCK_STALE_MS = 5000;

export interface TokenFileLockOptions {
  /** how long to wait in all for another writer's lock (default 6 s) */
  waitMs?: number;
  /** a lock stamped longer ago than this is a crashed writer's and is taken over (default 5 s) */
  staleMs?: number;
}

interface TokenLockStamp {
  owner: string;
  host: string;
  pid: number;
  at: string;
}

/** The lock file's text and stamp (null when torn or foreign), or null when there is none. */
async function readLockFile(path: string): Promise<{ text: string; stamp: TokenLockStamp | null; mtimeMs: number } | null> {
  try {
    const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    let stamp: TokenLockStamp | null = null;
    try {
      const parsed = JSON.parse(text) as TokenLockStamp;
      if (parsed && typeof parsed.owner === 'string' && typeof parsed.host === 'string' && typeof parsed.pid === 'number' && typeof parsed.at === 'string') stamp = parsed;
    } catch {
      // torn or foreign: judged by its mtime
    }
    return { text, stamp, mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Runs `body` holding the token file's writer lock, `<file>.lock`: every writer (`gate token
 * create`, a gate's first start) holds it across its read-modify-write, so none drops another's
 * token. The lock is created exclusively by a hard link (atomic on NFS too, where the data
 * directory may live; see createExclusive). A held lock is waited for (backing off, `waitMs` in
 * all); one of a crashed writer is taken over: written over `staleMs` ago (by the data volume's
 * clock: volumeAgeMs), or of a process gone on this host. `stillOurs` tells the body, just before its
 * write lands, whether the lock was taken over meanwhile (a writer stalled past the staleness).
 */
async function withTokenFileLock<T>(file: string, opts: TokenFileLockOptions, body: (stillOurs: () => Promise<boolean>) => Promise<T>): Promise<T> {
  const waitMs = opts.waitMs ?? LOCK_WAIT_MS;
  const staleMs = opts.staleMs ?? LOCK_STALE_MS;
  const path = `${file}.lock`;
  const owner = randomUUID();
  const host = hostname();
  // stamped at each try, not once before the wait: a lock made after a long wait must not look
  // that old to the next writer, who would take it over as stale while this one writes
  let ours = '';
  // `token create` may be what makes the data directory: durably, as the gate's start does
  await makeDirDurably(dirname(file));
  const deadline = performance.now() + waitMs;
  let backoffMs = 5;
  for (;;) {
    ours = JSON.stringify({ owner, host, pid: process.pid, at: new Date().toISOString() } satisfies TokenLockStamp);
    try {
      await createExclusive(nodeFs, path, ours, `${path}.${owner}.new`);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const held = await readLockFile(path);
    if (held === null) continue; // released between the create and the read
    const { stamp } = held;
    // its age on the data volume's clock (the lock's modification time against a file written
    // now), never from the stamp in it: another host's clock can be seconds off this one's, and a
    // host ahead by more than staleMs took a live writer's lock over at once (two writers, and
    // one's token dropped); one behind kept a crashed writer's for as long as it was off
    const ageMs = (await volumeAgeMs(nodeFs, path, `${path}.${owner}.new`)) ?? 0;
    const dead = stamp !== null && stamp.host === host && stamp.pid !== process.pid && !isProcessAlive(stamp.pid);
    if (dead || !(ageMs <= staleMs)) {
      await takeOver(path, held.text, owner);
      continue;
    }
    if (performance.now() >= deadline) {
      const by = stamp ? `host ${stamp.host}, pid ${stamp.pid}, since ${stamp.at}` : 'an unreadable lock file';
      throw new Error(
        `${file} is locked by another writer (${by}) and stayed locked for ${Math.round(waitMs / 1000)} s; ` +
          `try again, and if it keeps failing while no \`gate token create\` or first start of a gate runs, remove ${path}`,
      );
    }
    await new Promise((r) => setTimeout(r, backoffMs + Math.random() * backoffMs));
    backoffMs = Math.min(backoffMs * 2, 200);
  }
  const stillOurs = async () => (await readFile(path, 'utf8').catch(() => null)) === ours;
  try {
    return await body(stillOurs);
  } finally {
    if (await stillOurs()) await rm(path, { force: true });
  }
}

/**
 * Removes the stale lock whose text was read as `staleText`. It is first renamed aside (atomic):
 * when what was moved is not that text, another writer had already taken the stale lock over and
 * holds a fresh one, which is linked back (exclusively: it cannot replace a newer one).
 */
async function takeOver(path: string, staleText: string, owner: string): Promise<void> {
  const aside = `${path}.stale-${owner}`;
  try {
    await rename(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if ((await readFile(aside, 'utf8').catch(() => null)) !== staleText) await link(aside, path).catch(() => undefined);
  await rm(aside, { force: true });
}

/**
 * Replaces the token file atomically: a temp file of this writer's own (pid and a random suffix),
 * fsynced, renamed over the file, then the directory fsynced, so a reader (the running gate
 * re-reads the file when it changes) sees the old file or the new one, never a part of one.
 */
async function writeTokenFile(file: string, tokens: StoredToken[], stillOurs: () => Promise<boolean>): Promise<void> {
  const tmp = writerTempOf(file);
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(`${JSON.stringify({ version: 1, tokens } satisfies TokenFile, null, 2)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (!(await stillOurs())) {
      throw new Error(`${file}.lock was taken over as stale while this writer held it (a stalled disk?); nothing was written: try again`);
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  // the rename itself durable
  await syncParentDir(file);
}

/**
 * Removes the temp files writers of the token file left behind when they died between writing one
 * and renaming it over the file (each has a name of its own, so they pile up); returns their
 * paths. Taken under the file's writer lock, so a writer at work (`gate token create` beside a
 * starting gate) keeps its own; nothing is locked when there is none to remove.
 */
export async function removeLeftoverTokenTemps(file: string, opts: TokenFileLockOptions = {}): Promise<string[]> {
  if ((await writerTempsBeside(file)).length === 0) return [];
  return withTokenFileLock(file, opts, async () => {
    const removed: string[] = [];
    for (const path of await writerTempsBeside(file)) {
      await rm(path, { force: true });
      removed.push(path);
    }
    return removed;
  });
}

/**
 * One read-modify-write of the token file under its writer lock: `change` gets the entries (null
 * when there is no file) read under the lock and returns the new list, or null to write nothing
 * (it may throw, or reject, to refuse: then nothing is written). Returns whether the file was written.
 */
export async function updateTokenFile(
  file: string,
  change: (tokens: StoredToken[] | null) => StoredToken[] | null | Promise<StoredToken[] | null>,
  opts: TokenFileLockOptions = {},
): Promise<boolean> {
  let wrote = false;
  try {
    return await withTokenFileLock(file, opts, async (stillOurs) => {
      const next = await change(await readTokenFile(file));
      if (next === null) return false;
      await writeTokenFile(file, next, stillOurs);
      wrote = true;
      return true;
    });
  } catch (err) {
    // e.g. the lock that could not be removed: the change is in the file all the same
    if (wrote) throw new TokenFileWrittenError(file, err as Error);
    throw err;
  }
}

/**
 * The token file was written (the change is in place and the running gate takes it), and a step
 * after that failed (removing the writer lock): `cause` is that failure.
 */
export class TokenFileWrittenError extends Error {
  /** For a revoke: the entries it took out (they are out of the file). */
  revoked?: StoredToken[];
  constructor(file: string, cause: Error) {
    super(`${file} was written, and then: ${cause.message}`, { cause });
    this.name = 'TokenFileWrittenError';
  }
}

/** A new token and its entry (holding only its hash); not yet stored. */
export function newTokenEntry(name: string, roles: Role[], now: Date, id: string): { token: string; entry: StoredToken } {
  const token = generateToken();
  return { token, entry: { id, name, roles, sha256: hashToken(token), createdAt: now.toISOString() } };
}

export function parseRoles(csv: string): Role[] {
  const roles = csv
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  if (roles.length === 0) throw new Error(`--roles: give at least one of ${ROLES.join(', ')}`);
  for (const r of roles) if (!(ROLES as readonly string[]).includes(r)) throw new Error(`--roles: unknown role "${r}" (expected ${ROLES.join(', ')})`);
  return [...new Set(roles)] as Role[];
}


/** Throws when `name` can never be a token's name, whatever the file holds. */
export function checkTokenName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,62}$/.test(name)) throw new Error(`--name: "${name}" must be 1-63 letters, digits, . _ @ -`);
  // the names the gate's own records use: a token under one would read, in the audit log, as an
  // unauthenticated caller or as the gate itself
  if (isReservedName(name)) {
    throw new Error(`--name: "${name}" is reserved: the audit log names ${RESERVED_NAMES.map((n) => `"${n}"`).join(' and ')} for ${RESERVED_WHAT}`);
  }
}

/**
 * Adds a token to the file and returns it: the only time the token is visible.
 * Names are unique by personKey (so ignoring case): "Olivia" is refused when "olivia" exists, since
 * separation of duties would take them for one person anyway.
 */
export async function createToken(
  file: string,
  name: string,
  roles: Role[],
  now: Date,
  id: string,
  lock: TokenFileLockOptions = {},
): Promise<{ token: string; entry: StoredToken }> {
  checkTokenName(name);
  const key = personKey(name);
  const made = newTokenEntry(name, roles, now, id);
  // the name is checked against the file as read under the lock, so two creates of one name
  // (or of two case variants) cannot both pass
  await updateTokenFile(
    file,
    (current) => {
      const tokens = current ?? [];
      const clash = tokens.find((t) => personKey(t.name) === key);
      if (clash && clash.name === name) throw new Error(`--name: "${name}" is taken: a token named "${name}" already exists`);
      if (clash) throw new Error(`--name: "${name}" is taken: a token named "${clash.name}" already exists, and names are compared ignoring case`);
      return [...tokens, made.entry];
    },
    lock,
  );
  return made;
}

/**
 * Removes every token named `name` (exactly, as listed: a hand edit can leave two) from the file
 * and returns their entries; the running gate stops taking them within a second (it re-reads the
 * file when it changes). Throws naming the names there are when there is none of that name.
 */
export async function revokeToken(file: string, name: string, lock: TokenFileLockOptions = {}): Promise<StoredToken[]> {
  let revoked: StoredToken[] = [];
  await updateTokenFile(
    file,
    (current) => {
      const tokens = current ?? [];
      revoked = tokens.filter((t) => t.name === name);
      if (revoked.length === 0) {
        const names = tokens.map((t) => t.name).join(', ') || 'none';
        throw new Error(`--name: no token named "${name}" in ${file} (tokens there: ${names})`);
      }
      return tokens.filter((t) => t.name !== name);
    },
    lock,
  ).catch((err: unknown) => {
    // revoked all the same: said by the caller
    if (err instanceof TokenFileWrittenError) err.revoked = revoked;
    throw err;
  });
  return revoked;
}

/**
 * Local-mode authentication: bearer tokens checked (in constant time) against the hashes in the
 * token file, which is re-read when it changes (so `gate token create` needs no restart).
 * `readTimeoutMs` (default 2000): how long a request waits for the file's check before its answer
 * is a 503.
 */
export function createLocalAuthenticator(file: string, opts: { readTimeoutMs?: number } = {}): Authenticator {
  const readTimeoutMs = opts.readTimeoutMs ?? 2000;
  /** the file's entries as read by the check that started at `checkedAt` (performance.now()) */
  let cache: { version: string; tokens: { entry: StoredToken; hash: Buffer }[]; checkedAt: number } | null = null;
  /** the check of the file under way: one at a time, however long it takes; `ended` settles (never rejects) once it is over */
  let checking: { startedAt: number; tokens: Promise<{ entry: StoredToken; hash: Buffer }[]>; ended: Promise<void> } | null = null;

  /** The entries of the file as it is now, read again only when it has changed (the check started at `startedAt`). */
  const reread = async (startedAt: number) => {
    // Only a missing file means "no tokens". Any other failure (EIO on a flaky NFS mount, EACCES,
    // ELOOP...) is thrown like a read error, so the request gets 503 (auth_unavailable, which Kargo
    // keeps polling on) instead of a 401 for every token, which Kargo takes as final.
    const st = await stat(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (!st) return (cache = { version: 'none', tokens: [], checkedAt: startedAt }).tokens;
    // not the mtime alone: two writes can land within one mtime tick (coarse-grained NFS or ext3
    // timestamps), while each write is a rename of a new file (another inode) that appends (grows)
    const version = `${st.mtimeMs}/${st.ctimeMs}/${st.size}/${st.ino}`;
    if (cache && cache.version === version) return (cache = { ...cache, checkedAt: startedAt }).tokens;
    const tokens = (await readTokenFile(file)) ?? [];
    cache = { version, tokens: tokens.map((entry) => ({ entry, hash: Buffer.from(entry.sha256, 'hex') })), checkedAt: startedAt };
    return cache.tokens;
  };

  /** Starts a check of the file (there is none under way). */
  const startCheck = () => {
    const startedAt = performance.now();
    const tokens = reread(startedAt).catch((err: unknown) => {
      // a file that cannot be stat'ed or read (a hand edit gone wrong, EIO, ELOOP) stops every
      // request until it can be read again, not only the first of each second: the copy read
      // before may hold a token the edit meant to revoke
      cache = null;
      throw err;
    });
    const check = {
      startedAt,
      tokens,
      ended: tokens.then(
        () => undefined,
        () => undefined,
      ),
    };
    // over before anyone waiting for `ended` goes on, so the first of them starts the next check
    void check.ended.then(() => {
      if (checking === check) checking = null;
    });
    // a rejection nobody waits for (every request gave up) is not an unhandled one: the error
    // reaches the requests that do wait
    tokens.catch(() => undefined);
    return check;
  };

  /**
   * The entries as read by a check that started at most a second before `arrived`: the check under
   * way if it started since, else a new one once that one is over (one check at a time), so no
   * request takes what a check started long ago read (a token revoked meanwhile). `gaveUp()`: the
   * request no longer waits, so no check is started for it.
   */
  const freshSince = async (arrived: number, gaveUp: () => boolean) => {
    while (checking && arrived - checking.startedAt >= 1000) await checking.ended;
    if (!checking) {
      if (gaveUp()) throw new Error('no longer waited for');
      checking = startCheck();
    }
    return checking.tokens;
  };

  const load = async () => {
    // a monotonic clock: the wall clock set back (an NTP step, a VM resumed) would keep the copy,
    // and a token revoked meanwhile, for as long as it went back
    const arrived = performance.now();
    // fresh for a second from when the check that read it started, not from when the last one did
    if (cache && arrived - cache.checkedAt < 1000) return cache.tokens;
    // One check of the file at a time, which every request that needs it waits for. On a volume
    // that hangs (an NFS server gone, a hard mount) a stat or read never returns and holds one of
    // libuv's four pool threads: a check per request (or per second) would soon hold them all,
    // and with them every file operation of the process, the audit log's included.
    // And no request waits longer than readTimeoutMs (for a check under way that is too old, then
    // for its own): past that its answer is a 503 (auth_unavailable, which Kargo polls on), not a
    // connection held for as long as the volume hangs.
    let late = false;
    const fresh = freshSince(arrived, () => late);
    fresh.catch(() => undefined);
    return within(fresh, readTimeoutMs, () => {
      late = true;
      throw new Error(`${file}: no answer from the data volume within ${readTimeoutMs} ms`);
    });
  };

  return {
    mode: 'local',
    async authenticate(req) {
      const token = bearerToken(req.headers);
      if (token === null) {
        return { ok: false, status: 401, error: 'unauthorized', message: 'Authorization: Bearer <token> required', presented: { name: 'anonymous', groups: [], via: 'none' } };
      }
      const presented = Buffer.from(hashToken(token), 'hex');
      let found: StoredToken | null = null;
      for (const t of await load()) if (t.hash.length === presented.length && timingSafeEqual(t.hash, presented) && !found) found = t.entry;
      if (!found) {
        return {
          ok: false,
          status: 401,
          error: 'unauthorized',
          message: 'the bearer token is not valid',
          presented: { name: `unknown-token:${hashToken(token).slice(0, 8)}`, groups: [], via: 'local-token' },
        };
      }
      return { ok: true, identity: { name: found.name, groups: found.roles, via: 'local-token' } };
    },
    async authorize(identity: Identity, permission): Promise<AuthzResult> {
      const roles = ROLES_FOR_RESOURCE[permission.resource];
      if (roles.some((role) => identity.groups.includes(role)) || identity.groups.includes('admin')) return { ok: true };
      const named = roles.map((role) => `"${role}"`);
      return {
        ok: false,
        status: 403,
        error: 'forbidden',
        message: `${identity.name} may not ${permission.verb} ${permission.resource}: role ${named.length > 1 ? `${named.slice(0, -1).join(', ')} or ${named.at(-1)}` : named[0]} required`,
      };
    },
  };
}

import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { personKey } from '../policy/person-key.ts';
import { type Authenticator, type AuthzResult, type Identity, ROLE_FOR_RESOURCE, type Role, ROLES, bearerToken } from './identity.ts';

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
  const parsed = JSON.parse(text) as TokenFile;
  if (parsed.version !== 1 || !Array.isArray(parsed.tokens)) throw new Error(`${file}: not a gate token file`);
  return parsed.tokens;
}

async function writeTokenFile(file: string, tokens: StoredToken[]): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify({ version: 1, tokens } satisfies TokenFile, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, file);
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

/**
 * Adds a token to the file and returns it: the only time the token is visible.
 * Names are unique by personKey (so ignoring case): "Olivia" is refused when "olivia" exists, since
 * separation of duties would take them for one person anyway.
 */
export async function createToken(file: string, name: string, roles: Role[], now: Date, id: string): Promise<{ token: string; entry: StoredToken }> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,62}$/.test(name)) throw new Error(`--name: "${name}" must be 1-63 letters, digits, . _ @ -`);
  const tokens = (await readTokenFile(file)) ?? [];
  const key = personKey(name);
  const clash = tokens.find((t) => personKey(t.name) === key);
  if (clash && clash.name === name) throw new Error(`--name: "${name}" is taken: a token named "${name}" already exists`);
  if (clash) throw new Error(`--name: "${name}" is taken: a token named "${clash.name}" already exists, and names are compared ignoring case`);
  const token = generateToken();
  const entry: StoredToken = { id, name, roles, sha256: hashToken(token), createdAt: now.toISOString() };
  await writeTokenFile(file, [...tokens, entry]);
  return { token, entry };
}

/**
 * Local-mode authentication: bearer tokens checked (in constant time) against the hashes in the
 * token file, which is re-read when it changes (so `gate token create` needs no restart).
 */
export function createLocalAuthenticator(file: string): Authenticator {
  let cache: { mtimeMs: number; tokens: { entry: StoredToken; hash: Buffer }[] } | null = null;
  let checkedAt = 0;

  const load = async () => {
    const now = Date.now();
    if (cache && now - checkedAt < 1000) return cache.tokens;
    checkedAt = now;
    // Only a missing file means "no tokens". Any other failure (EIO on a flaky NFS mount, EACCES,
    // ELOOP...) is thrown like a read error, so the request gets 503 (auth_unavailable, which Kargo
    // keeps polling on) instead of a 401 for every token, which Kargo takes as final.
    const st = await stat(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (!st) return (cache = { mtimeMs: 0, tokens: [] }).tokens;
    if (cache && cache.mtimeMs === st.mtimeMs) return cache.tokens;
    const tokens = (await readTokenFile(file)) ?? [];
    cache = { mtimeMs: st.mtimeMs, tokens: tokens.map((entry) => ({ entry, hash: Buffer.from(entry.sha256, 'hex') })) };
    return cache.tokens;
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
      const role = ROLE_FOR_RESOURCE[permission.resource];
      if (identity.groups.includes(role) || identity.groups.includes('admin')) return { ok: true };
      return {
        ok: false,
        status: 403,
        error: 'forbidden',
        message: `${identity.name} may not ${permission.verb} ${permission.resource}: role "${role}" required`,
      };
    },
  };
}

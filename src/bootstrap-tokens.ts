import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Role } from './auth/identity.ts';
import { newTokenEntry, readTokenFile, updateTokenFile } from './auth/local-tokens.ts';

/** A token made by a first start, in clear: handed over once, never stored. */
export interface FirstStartToken {
  name: string;
  roles: Role[];
  token: string;
}

/**
 * First start in local mode: when there is no token file, create an admin and a caller token
 * and return them (the only time they are visible). Returns [] when the file exists. Both are
 * written at once under the token file's writer lock, and only if the file is still missing
 * there: a `gate token create` racing the first start either lands first (then this is no first
 * start) or after both, and loses nothing.
 *
 * `handOver`, when given, runs under that lock once the file is known to be missing, before the
 * hashes are stored. If it fails, nothing is stored and the error is thrown: the next start is a
 * first start again and makes tokens it can hand over, instead of storing the hashes of tokens no
 * one was given (which would leave only `gate token create` on the data directory to get in).
 */
export async function bootstrapLocalTokens(
  file: string,
  now: Date,
  newId: (kind: string) => string,
  handOver?: (made: readonly FirstStartToken[]) => Promise<void>,
): Promise<FirstStartToken[]> {
  if ((await readTokenFile(file)) !== null) return []; // the usual restart: no lock taken
  const made = (
    [
      ['admin', ['admin']],
      ['kargo', ['caller']],
    ] as const
  ).map(([name, roles]) => ({ name, roles: [...roles] as Role[], ...newTokenEntry(name, [...roles], now, newId('tok')) }));
  const clear = made.map(({ name, roles, token }) => ({ name, roles, token }));
  const wrote = await updateTokenFile(file, async (current) => {
    if (current !== null) return null;
    await handOver?.(clear);
    return made.map((m) => m.entry);
  });
  return wrote ? clear : [];
}

/** Where `firstStartTokens: file` puts a first start's tokens. */
const FIRST_START_TOKENS_FILE = 'first-start-tokens';

function firstStartTokensPath(dataDir: string): string {
  return join(dataDir, FIRST_START_TOKENS_FILE);
}

function tokenList(made: readonly FirstStartToken[]): string {
  return made.map((t) => `  ${t.name.padEnd(6)} roles=${t.roles.join(',').padEnd(7)} ${t.token}`).join('\n');
}

/** `value` as one shell word (single-quoted unless it is plain). */
function shellWord(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * How to create more tokens on this data directory: named, since the command run later need not
 * see the gate's GATE_DATA_DIR (`GATE_DATA_DIR=/x npm start` sets it for the gate alone), and a
 * token made in another directory is one the gate does not know. `file` is the image's mode (the
 * chart sets it), where the CLI is `gate` (there is no src/ for `npm run gate`).
 */
function moreTokens(mode: 'print' | 'file', dataDir: string): string {
  const command = mode === 'file' ? 'gate token create' : 'npm run gate -- token create';
  const from = mode === 'file' ? ' (in the image; from a checkout: npm run gate -- token create …)' : '';
  return `=== Create more with: ${command} --data-dir ${shellWord(dataDir)} --name NAME --roles operator,approver,ci${from} ===`;
}

/**
 * `firstStartTokens: file`: writes a first start's tokens to <dataDir>/first-start-tokens, created
 * afresh with mode 0600 (a file or symlink left at that path is removed, never reused with its
 * permissions or followed). Meant as bootstrapLocalTokens' `handOver`, so that a file that cannot
 * be written stores no token. In a container stderr is the pod log, which log shippers copy to
 * places a token must never be.
 */
export async function writeFirstStartTokensFile(made: readonly FirstStartToken[], tokenFile: string, dataDir: string): Promise<void> {
  const path = firstStartTokensPath(dataDir);
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  const fh = await open(path, 'wx', 0o600);
  try {
    await fh.writeFile(`# First start: local tokens created in ${tokenFile} (only their hashes are stored there).\n# Copy them where they belong, then delete this file.\n${tokenList(made)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * What a first start writes on stderr. `print`: the tokens themselves (a terminal). `file`: only
 * where writeFirstStartTokensFile put them.
 */
export function firstStartMessage(made: readonly FirstStartToken[], tokenFile: string, mode: 'print' | 'file', dataDir: string): string {
  if (mode === 'print') {
    return `\n=== First start: local tokens created in ${tokenFile} (only their hashes are stored). They are shown once: ===\n${tokenList(made)}\n${moreTokens(mode, dataDir)}\n\n`;
  }
  const path = firstStartTokensPath(dataDir);
  return `\n=== First start: local tokens created in ${tokenFile}. They are in ${path} (mode 0600, not in this log): read them once, then delete that file. ===\n${moreTokens(mode, dataDir)}\n\n`;
}

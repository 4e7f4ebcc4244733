import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Role } from './auth/identity.ts';
import { newTokenEntry, readTokenFile, updateTokenFile } from './auth/local-tokens.ts';

/**
 * First start in local mode: when there is no token file, create an admin and a caller token
 * and return them (the only time they are visible). Returns [] when the file exists. Both are
 * written at once under the token file's writer lock, and only if the file is still missing
 * there: a `gate token create` racing the first start either lands first (then this is no first
 * start) or after both, and loses nothing.
 */
export async function bootstrapLocalTokens(file: string, now: Date, newId: (kind: string) => string): Promise<{ name: string; roles: Role[]; token: string }[]> {
  if ((await readTokenFile(file)) !== null) return []; // the usual restart: no lock taken
  const made = (
    [
      ['admin', ['admin']],
      ['kargo', ['caller']],
    ] as const
  ).map(([name, roles]) => ({ name, roles: [...roles] as Role[], ...newTokenEntry(name, [...roles], now, newId('tok')) }));
  const wrote = await updateTokenFile(file, (current) => (current === null ? made.map((m) => m.entry) : null));
  return wrote ? made.map(({ name, roles, token }) => ({ name, roles, token })) : [];
}

/** Where `firstStartTokens: file` puts a first start's tokens. */
export const FIRST_START_TOKENS_FILE = 'first-start-tokens';

/**
 * Hands a first start's tokens to the operator, once. `print`: on stderr (a terminal). `file`: in
 * <dataDir>/first-start-tokens, created afresh with mode 0600 (a file left by an earlier first
 * start is replaced, never reused with its permissions), and stderr only says where: in a
 * container stderr is the pod log, which log shippers copy to places a token must never be.
 * Returns the text written to stderr.
 */
export async function handOverFirstStartTokens(
  made: readonly { name: string; roles: readonly Role[]; token: string }[],
  tokenFile: string,
  mode: 'print' | 'file',
  dataDir: string,
): Promise<string> {
  const list = made.map((t) => `  ${t.name.padEnd(6)} roles=${t.roles.join(',').padEnd(7)} ${t.token}`).join('\n');
  const more = `=== Create more with: npm run gate -- token create --name NAME --roles operator,approver,ci ===`;
  if (mode === 'print') {
    return `\n=== First start: local tokens created in ${tokenFile} (only their hashes are stored). They are shown once: ===\n${list}\n${more}\n\n`;
  }
  const path = join(dataDir, FIRST_START_TOKENS_FILE);
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  const fh = await open(path, 'wx', 0o600);
  try {
    await fh.writeFile(`# First start: local tokens created in ${tokenFile} (only their hashes are stored there).\n# Copy them where they belong, then delete this file.\n${list}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return `\n=== First start: local tokens created in ${tokenFile}. They are in ${path} (mode 0600, not in this log): read them once, then delete that file. ===\n${more}\n\n`;
}

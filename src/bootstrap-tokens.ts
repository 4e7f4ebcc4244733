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

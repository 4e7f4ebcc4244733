import type { Role } from './auth/identity.ts';
import { createToken, readTokenFile } from './auth/local-tokens.ts';

/**
 * First start in local mode: when there is no token file, create an admin and a caller token
 * and return them (the only time they are visible). Returns [] when the file exists.
 */
export async function bootstrapLocalTokens(file: string, now: Date, newId: (kind: string) => string): Promise<{ name: string; roles: Role[]; token: string }[]> {
  if ((await readTokenFile(file)) !== null) return [];
  const made = [];
  for (const [name, roles] of [
    ['admin', ['admin']],
    ['kargo', ['caller']],
  ] as const) {
    const { token } = await createToken(file, name, [...roles], now, newId('tok'));
    made.push({ name, roles: [...roles] as Role[], token });
  }
  return made;
}

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './paths.ts';

const run = promisify(execFile);

/**
 * Creates a local token with role `ci` in a gate's data directory through the gate's own CLI
 * (`node src/cli.ts token create --name <name> --roles ci --data-dir <dir>`), as an operator
 * would for the CI runner. The running gate re-reads its token file, so no restart is needed.
 * Returns the token (printed once by the CLI); throws with the CLI's output when it fails.
 */
export async function createCiToken(dataDir: string, name = 'ci'): Promise<string> {
  const args = [join(repoRoot, 'src/cli.ts'), 'token', 'create', '--name', name, '--roles', 'ci', '--data-dir', dataDir];
  const { stdout } = await run(process.execPath, args, { cwd: repoRoot, env: { PATH: process.env.PATH ?? '' } });
  const token = /^(gate_\S+)$/m.exec(stdout)?.[1];
  if (!token) throw new Error(`token create printed no token:\n${stdout}`);
  return token;
}

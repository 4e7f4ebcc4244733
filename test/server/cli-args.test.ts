import { existsSync } from 'node:fs';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../../src/cli.ts';

async function cli(args: string[], env: Record<string, string | undefined> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, env, (s) => out.push(s), (s) => err.push(s));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

t.test('an empty --data-dir (an unset variable) is refused, exit 2, instead of taken as the current directory', async (t) => {
  // run from a directory of its own: a token made "in the current directory" would land here
  const cwd = await mkdtemp(join(tmpdir(), 'gate-cli-cwd-'));
  const before = process.cwd();
  process.chdir(cwd);
  t.teardown(() => process.chdir(before));
  const dataDir = await mkdtemp(join(tmpdir(), 'gate-cli-data-'));
  for (const args of [
    ['token', 'create', '--name', 'olivia', '--roles', 'caller'],
    ['token', 'revoke', '--name', 'olivia'],
    ['audit', 'verify'],
  ]) {
    const res = await cli([...args, '--data-dir', ''], { GATE_DATA_DIR: dataDir });
    t.equal(res.code, 2, args.join(' '));
    t.match(res.err, /^--data-dir: empty/, 'says so');
    t.equal(res.out, '', 'prints no token, nothing');
  }
  t.same(await readdir(cwd), [], 'nothing was written in the current directory');
  t.equal(existsSync(join(dataDir, 'tokens.json')), false, 'nor in GATE_DATA_DIR');
  const made = await cli(['token', 'create', '--name', 'olivia', '--roles', 'caller', '--data-dir', dataDir]);
  t.equal(made.code, 0, 'a data directory given works');
  t.ok(existsSync(join(dataDir, 'tokens.json')));
});

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

t.test('token create whose writer lock cannot be removed after the write: exit 1, saying the token is stored, unseen, and how to revoke it', async (t) => {
  const fs = await import('node:fs/promises');
  const dataDir = await mkdtemp(join(tmpdir(), 'gate-cli-lockrm-'));
  const eio = Object.assign(new Error('EIO: i/o error, unlink'), { code: 'EIO' });
  // rm (the lock's removal, the one rm of a create that stores) fails: as root, no permission can make it
  const { runCli: runCliRmFails } = await t.mockImport<typeof import('../../src/cli.ts')>('../../src/cli.ts', {
    'node:fs/promises': { ...fs, rm: async () => Promise.reject(eio) },
  });
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCliRmFails(['token', 'create', '--name', 'olivia', '--roles', 'caller', '--data-dir', dataDir], {}, (s) => out.push(s), (s) => err.push(s));
  t.equal(code, 1);
  t.equal(out.join('\n'), '', 'the token was not printed');
  t.match(err.join('\n'), /^gate: the token "olivia" is stored but could not be printed \(EIO: i\/o error, unlink\): nobody has seen it\. Revoke it with `npm run gate -- token revoke --name olivia` and create it again\.$/);
  const { readTokenFile, tokenFilePath } = await import('../../src/auth/local-tokens.ts');
  t.same(((await readTokenFile(tokenFilePath(dataDir))) ?? []).map((e) => e.name), ['olivia'], 'stored');
  // and the revoke it names works (the lock left behind is this process's own here, which would be
  // waited out as fresh: a CLI process that has exited leaves one that is taken over at once)
  await fs.rm(`${tokenFilePath(dataDir)}.lock`);
  const revoked = await cli(['token', 'revoke', '--name', 'olivia', '--data-dir', dataDir]);
  t.equal(revoked.code, 0, revoked.err);
});

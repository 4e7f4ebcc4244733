import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../../src/cli.ts';
import { tempDir } from '../helpers/temp-dir.ts';

async function cli(args: string[], env: Record<string, string | undefined> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, env, (s) => out.push(s), (s) => err.push(s));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

t.test('an empty --data-dir (an unset variable) is refused, exit 2, instead of taken as the current directory', async (t) => {
  // run from a directory of its own: a token made "in the current directory" would land here
  const cwd = await tempDir(t, 'gate-cli-cwd-');
  const before = process.cwd();
  process.chdir(cwd);
  t.teardown(() => process.chdir(before));
  const dataDir = await tempDir(t, 'gate-cli-data-');
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
  const dataDir = await tempDir(t, 'gate-cli-lockrm-');
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

t.test('exit codes: input that can never work is 2 (usage), like a missing option; a create that fails on what the file holds is 1', async (t) => {
  const dataDir = await tempDir(t, 'gate-cli-exit-');
  const create = (name: string, roles: string) => ['token', 'create', '--name', name, '--roles', roles, '--data-dir', dataDir];
  for (const [args, why, says] of [
    [create('olivia', 'root'), 'an unknown role', /^gate: --roles: unknown role "root"/],
    [create('olivia', ' , '), 'no role at all', /^gate: --roles: give at least one of/],
    [create('olivia smith', 'caller'), 'a malformed name', /^gate: --name: "olivia smith" must be 1-63 letters/],
    [create('.olivia', 'caller'), 'a name starting with a dot', /^gate: --name: ".olivia" must be/],
    [create('Anonymous', 'caller'), 'a reserved name', /^gate: --name: "Anonymous" is reserved/],
    [['token', 'create', '--name', 'olivia', '--data-dir', dataDir], '--roles missing', /^token create needs --name and --roles/],
    [['token', 'create', '--roles', 'caller', '--data-dir', dataDir], '--name missing', /^token create needs --name and --roles/],
    [['token', 'revoke', '--data-dir', dataDir], 'token revoke without --name', /^token revoke needs --name/],
    [['token', 'create', '--name', 'olivia', '--roles', 'caller', '--colour', 'red', '--data-dir', dataDir], 'an unknown option', /Unknown option '--colour'/],
    [['token', 'list', '--data-dir', dataDir], 'an unknown command', /^unknown command "token list"/],
    [['market', '--at', '2026-11-27T17:59:59'], 'an --at without offset', /^--at: "2026-11-27T17:59:59" is not an ISO-8601 instant/],
    [[...create('olivia', 'caller'), '--at', 'foo'], 'token create --at', /^token create does not take --at/],
    [['token', 'revoke', '--name', 'olivia', '--roles', 'ci', '--data-dir', dataDir], 'token revoke --roles', /^token revoke does not take --roles/],
    [['audit', 'verify', '--name', 'x', '--data-dir', dataDir], 'audit verify --name', /^audit verify does not take --name/],
    [['market', '--name', 'x'], 'market --name', /^market does not take --name/],
    [['proxy-secret', 'hash', '--name', 'x'], 'proxy-secret hash --name', /^proxy-secret hash does not take --name/],
    [['token', 'create', '--name', 'olivia', '--roles', 'caller', '--roles', 'admin', '--data-dir', dataDir], '--roles twice', /^--roles: given more than once/],
    [['token', 'create', '--name', 'olivia', '--name', 'mallory', '--roles', 'caller', '--data-dir', dataDir], '--name twice', /^--name: given more than once/],
    [['token', 'revoke', '--name', 'dave', '--name', 'olivia', '--data-dir', dataDir], 'token revoke --name twice', /^--name: given more than once/],
    [['market', '--data-dir', dataDir, '--data-dir=/elsewhere'], '--data-dir twice', /^--data-dir: given more than once/],
  ] as const) {
    const res = await cli([...args]);
    t.equal(res.code, 2, `${why}: exit 2`);
    t.match(res.err, says, `${why}: said`);
    t.equal(res.out, '', `${why}: nothing printed`);
  }
  t.equal(existsSync(join(dataDir, 'tokens.json')), false, 'nothing written');
  t.equal((await cli(create('olivia', 'caller'))).code, 0, 'created');
  const taken = await cli(create('Olivia', 'caller'));
  t.equal(taken.code, 1, 'a name taken (what the file holds): exit 1');
  t.match(taken.err, /^gate: --name: "Olivia" is taken/);
  const market = await cli(['market', '--at', '2026-11-27T18:00:00Z', '--data-dir', dataDir]);
  t.equal(market.code, 0, `--data-dir goes with any command, as a wrapper may pass it to all (${market.err})`);
  const help = await cli(['market', '--help']);
  t.equal(help.code, 0, '--help: exit 0');
  t.match(help.out, /^usage: npm run gate -- <command>/, '--help: the usage, on stdout');
});

t.test('token revoke whose writer lock cannot be removed after the write: says the token is revoked, exit 0, naming the lock left behind', async (t) => {
  const fs = await import('node:fs/promises');
  const dataDir = await tempDir(t, 'gate-cli-revoke-lockrm-');
  const made = await cli(['token', 'create', '--name', 'olivia', '--roles', 'caller,approver', '--data-dir', dataDir]);
  t.equal(made.code, 0, made.err);
  const eio = Object.assign(new Error('EIO: i/o error, unlink'), { code: 'EIO' });
  // rm (the lock's removal, the one rm of a revoke that writes) fails
  const { runCli: runCliRmFails } = await t.mockImport<typeof import('../../src/cli.ts')>('../../src/cli.ts', {
    'node:fs/promises': { ...fs, rm: async () => Promise.reject(eio) },
  });
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCliRmFails(['token', 'revoke', '--name', 'olivia', '--data-dir', dataDir], {}, (s) => out.push(s), (s) => err.push(s));
  const { readTokenFile, tokenFilePath } = await import('../../src/auth/local-tokens.ts');
  t.same((await readTokenFile(tokenFilePath(dataDir))) ?? [], [], 'revoked');
  t.equal(code, 0, 'the revoke took effect');
  t.match(out.join('\n'), /^revoked token "olivia" \(roles caller,approver, created [^)]+\) from .*tokens\.json\nthe running gate refuses it within a second$/);
  t.equal(
    err.join('\n'),
    `gate: the token is revoked; then its writer lock ${tokenFilePath(dataDir)}.lock could not be removed (EIO: i/o error, unlink): the next writer takes it over as one left by a writer that is gone (at once on this host, after 5 s elsewhere)`,
  );
  // a retry is not needed, and would be told the name is gone
  await fs.rm(`${tokenFilePath(dataDir)}.lock`);
  const again = await cli(['token', 'revoke', '--name', 'olivia', '--data-dir', dataDir]);
  t.equal(again.code, 1);
  t.match(again.err, /no token named "olivia"/);
});

t.test('token create --roles auditor: a local token that may read the audit log and do nothing else', async (t) => {
  const dataDir = await tempDir(t, 'gate-cli-auditor-');
  const made = await cli(['token', 'create', '--name', 'carol', '--roles', 'auditor', '--data-dir', dataDir]);
  t.equal(made.code, 0, made.err);
  const token = made.out.split('\n').at(-1) as string;
  const { createLocalAuthenticator, tokenFilePath } = await import('../../src/auth/local-tokens.ts');
  const { RESOURCES } = await import('../../src/auth/identity.ts');
  const auth = createLocalAuthenticator(tokenFilePath(dataDir));
  const who = await auth.authenticate({ headers: { authorization: `Bearer ${token}` }, remoteAddress: '127.0.0.1' });
  if (!who.ok) throw new Error(`not authenticated: ${who.message}`);
  t.same(who.identity, { name: 'carol', groups: ['auditor'], via: 'local-token' });
  for (const resource of RESOURCES) {
    const verb = resource === 'auditrecords' ? 'get' : 'create';
    t.equal((await auth.authorize(who.identity, { resource, verb }, 'stonks-pipeline')).ok, resource === 'auditrecords', `${verb} ${resource}`);
  }
});

t.test('token create that starts a token file says so on stderr (a mistyped --data-dir gets a gate with no first-start tokens); the token stays the last line of stdout', async (t) => {
  const dataDir = join(await tempDir(t, 'gate-cli-fresh-'), 'typo', 'data');
  const first = await cli(['token', 'create', '--name', 'olivia', '--roles', 'operator', '--data-dir', dataDir]);
  t.equal(first.code, 0, first.err);
  t.match(first.err, new RegExp(`^gate: note: ${join(dataDir, 'tokens.json')} did not exist; this token starts it\\. A gate's first start makes its admin and kargo tokens only where there is no token file`), 'the note');
  t.match(first.out.split('\n').at(-1), /^gate_[A-Za-z0-9_-]{43}$/, 'the token is the last line of stdout');
  const second = await cli(['token', 'create', '--name', 'alice', '--roles', 'approver', '--data-dir', dataDir]);
  t.equal(second.code, 0);
  t.equal(second.err, '', 'a token file that exists: nothing to say');
});

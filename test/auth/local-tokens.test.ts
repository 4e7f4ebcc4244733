// Local-mode token file: only a missing file means "no tokens" (401 for every token). Any other
// failure to look at it (here a real one: tokens.json turned into a symlink loop, so stat and read
// fail with ELOOP, as a flaky NFS mount fails with EIO) means the identity cannot be checked: 503,
// as when the file cannot be read, which Kargo keeps polling on, not a 401 it takes as final.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, writeSync } from 'node:fs';
import { mkdir, readFile, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { createLocalAuthenticator, createToken, readTokenFile, tokenFilePath } from '../../src/auth/local-tokens.ts';
import { runCli } from '../../src/cli.ts';
import { buildTestApp } from '../helpers/build-app.ts';
import { eventually } from '../helpers/eventually.ts';
import { tempDir } from '../helpers/temp-dir.ts';

async function tokenDir(): Promise<{ file: string; token: string }> {
  const dir = await tempDir(t, 'gate-local-tokens-');
  const file = tokenFilePath(dir);
  const { token } = await createToken(file, 'kargo', ['caller'], new Date('2026-01-01T00:00:00Z'), 'tok_kargo');
  return { file, token };
}
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` }, remoteAddress: '127.0.0.1' });
/** tokens.json becomes a symlink to itself: stat() and readFile() fail with ELOOP. */
async function breakFile(file: string): Promise<void> {
  await rename(file, `${file}.saved`);
  await symlink('tokens.json', file);
}
async function repairFile(file: string): Promise<void> {
  await rm(file);
  await rename(`${file}.saved`, file);
}

t.test('a token file that cannot be looked at (stat fails, not ENOENT): the check fails, no 401', async (t) => {
  const { file, token } = await tokenDir();
  const auth = createLocalAuthenticator(file);
  t.match(await auth.authenticate(bearer(token)), { ok: true, identity: { name: 'kargo' } }, 'the control: the token is known');
  await breakFile(file);
  await t.rejects(createLocalAuthenticator(file).authenticate(bearer(token)), { code: 'ELOOP' }, 'a fresh authenticator: the stat error is thrown, not taken for "no file"');
  await new Promise((r) => setTimeout(r, 1100)); // past the 1 s re-check interval
  await t.rejects(auth.authenticate(bearer(token)), { code: 'ELOOP' }, 'the authenticator that knew the token: the check fails, the token is not refused');
  await repairFile(file);
  await new Promise((r) => setTimeout(r, 1100));
  t.match(await auth.authenticate(bearer(token)), { ok: true, identity: { name: 'kargo' } }, 'the file is back: the token works again');
});

t.test('only a missing token file means no tokens: 401', async (t) => {
  const { file, token } = await tokenDir();
  await rm(file);
  t.match(await createLocalAuthenticator(file).authenticate(bearer(token)), { ok: false, status: 401, error: 'unauthorized' });
});

t.test('through the app: a stat failure answers 503 auth_unavailable, the same as a read failure', async (t) => {
  const answers: Record<string, { status: number; error: string }> = {};
  for (const [name, breakIt] of [
    ['stat fails (ELOOP)', breakFile],
    // a directory in its place: stat succeeds, readFile fails with EISDIR
    ['read fails (EISDIR)', async (file: string) => void (await rename(file, `${file}.saved`), await mkdir(file))],
    ['no file (ENOENT)', (file: string) => rm(file)],
  ] as const) {
    const { file, token } = await tokenDir();
    await breakIt(file);
    const g = await buildTestApp(t, { auth: createLocalAuthenticator(file) });
    const res = await g.app.inject({ method: 'GET', url: '/v1/whoami', headers: { authorization: `Bearer ${token}` } });
    answers[name] = { status: res.statusCode, error: res.json().error };
  }
  t.same(answers, {
    'stat fails (ELOOP)': { status: 503, error: 'auth_unavailable' },
    'read fails (EISDIR)': { status: 503, error: 'auth_unavailable' },
    'no file (ENOENT)': { status: 401, error: 'unauthorized' },
  });
});

t.test('token create refuses a name that is an existing name under another case', async (t) => {
  const { file } = await tokenDir(); // holds "kargo"
  await createToken(file, 'olivia', ['operator'], new Date(), 'tok_olivia');
  for (const clash of ['Olivia', 'OLIVIA', 'olivia', 'Kargo']) {
    await t.rejects(createToken(file, clash, ['approver'], new Date(), 'tok_x'), { message: new RegExp(`^--name: "${clash}" .*"${clash.toLowerCase()}" already exists`) }, clash);
  }
  for (const other of ['olivia.2', 'olivia@corp', 'alice']) {
    t.ok(await createToken(file, other, ['approver'], new Date(), `tok_${other}`), `${other}: another name`);
  }
  t.same(((await readTokenFile(file)) ?? []).map((e) => e.name), ['kargo', 'olivia', 'olivia.2', 'olivia@corp', 'alice'], 'nothing written for a clash');

  // the CLI: exit 1 and the clash named on stderr, as for the exact duplicate
  const dir = await tempDir(t, 'gate-cli-clash-');
  const run = async (name: string) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(['token', 'create', '--name', name, '--roles', 'approver', '--data-dir', dir], {}, (s) => out.push(s), (s) => err.push(s));
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  t.equal((await run('olivia')).code, 0);
  const clash = await run('Olivia');
  t.equal(clash.code, 1);
  t.equal(clash.out, '', 'no token printed');
  t.match(clash.err, /^gate: --name: "Olivia" .*"olivia" already exists/);
});

t.test('a token file that is not valid (torn, hand-edited): every reader names the file and what is wrong, never a TypeError', async (t) => {
  const { bootstrapLocalTokens } = await import('../../src/bootstrap-tokens.ts');
  const { writeFile } = await import('node:fs/promises');
  const hash = 'a'.repeat(64);
  const cases: [string, string, RegExp][] = [
    ['empty', '', /not valid JSON/],
    ['torn', '{"version": 1, "tokens": [', /not valid JSON/],
    ['null', 'null', /expected a JSON object/],
    ['no tokens list', '{"version": 1}', /tokens is not a list/],
    ['an entry without its hash', JSON.stringify({ version: 1, tokens: [{ name: 'kargo', roles: ['caller'] }] }), /tokens\[0\]\.sha256 \(token "kargo"\) is not a SHA-256/],
    // a string: "includes" would search it as a substring ("caller,operator" holds both)
    ['roles as a string', JSON.stringify({ version: 1, tokens: [{ name: 'kargo', roles: ['caller'], sha256: hash }, { name: 'ops', roles: 'admin', sha256: hash }] }), /tokens\[1\]\.roles \(token "ops"\) is not a list of caller/],
    ['an unknown role', JSON.stringify({ version: 1, tokens: [{ name: 'ops', roles: ['root'], sha256: hash }] }), /tokens\[0\]\.roles/],
  ];
  for (const [name, text, why] of cases) {
    const { file, token } = await tokenDir();
    await writeFile(file, text);
    const named = new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not a gate token file: ${why.source}`);
    await t.rejects(readTokenFile(file), { message: named }, `${name}: readTokenFile`);
    // a gate's start-up (server.ts prints the message and exits 1)
    await t.rejects(bootstrapLocalTokens(file, new Date(), () => 'tok_x'), { message: named }, `${name}: a gate's start`);
    // the running gate: the check fails (503), its error names the file
    await t.rejects(createLocalAuthenticator(file).authenticate(bearer(token)), { message: named }, `${name}: authentication`);
    // gate token create: exit 1, the file named, nothing written
    const err: string[] = [];
    const code = await runCli(['token', 'create', '--name', 'alice', '--roles', 'caller', '--data-dir', join(file, '..')], {}, () => undefined, (s) => err.push(s));
    t.equal(code, 1, `${name}: token create exits 1`);
    t.match(err.join('\n'), new RegExp(`^gate: ${named.source.slice(1)}`), `${name}: token create names the file`);
  }
});

t.test('gate token create on a gate whose auth is Kubernetes: refused, nothing printed or written', async (t) => {
  const dir = await tempDir(t, 'gate-cli-k8s-');
  for (const [how, env, configYaml] of [
    ['GATE_AUTH', { GATE_AUTH: 'kubernetes' }, null],
    ['the config file', {}, 'auth: kubernetes\n'],
  ] as const) {
    const extra: Record<string, string> = { ...env };
    if (configYaml) {
      const { writeFile } = await import('node:fs/promises');
      extra['GATE_CONFIG'] = join(dir, 'gate.yaml');
      await writeFile(extra['GATE_CONFIG'], configYaml);
    }
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(['token', 'create', '--name', 'alice', '--roles', 'caller', '--data-dir', dir], extra, (s) => out.push(s), (s) => err.push(s));
    t.equal(code, 2, `${how}: exit 2`);
    t.same(out, [], `${how}: no token printed`);
    t.match(err.join('\n'), /token create makes local tokens, and this gate's auth is kubernetes/, `${how}: says why`);
    t.equal(await readTokenFile(tokenFilePath(dir)), null, `${how}: no token file written`);
  }
});

t.test('gate token revoke: the token is removed and the running gate stops taking it; others keep working', async (t) => {
  const { app, dataDir, tokens } = await buildTestApp(t);
  const whoami = (token: string) => app.inject({ method: 'GET', url: '/v1/whoami', headers: { authorization: `Bearer ${token}` } });
  t.equal((await whoami(tokens['operator']!)).statusCode, 200, 'the operator token works');
  const run = async (...args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(['token', 'revoke', ...args, '--data-dir', dataDir], {}, (s) => out.push(s), (s) => err.push(s));
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  const done = await run('--name', 'operator');
  t.equal(done.code, 0, done.err);
  t.match(done.out, /^revoked token "operator" \(roles operator, created 2026-01-01T00:00:00\.000Z\)/);
  t.notOk(((await readTokenFile(tokenFilePath(dataDir))) ?? []).some((e) => e.name === 'operator'), 'gone from the file');
  // the gate re-reads the file at most once a second
  await new Promise((r) => setTimeout(r, 1100));
  t.equal((await whoami(tokens['operator']!)).statusCode, 401, 'the revoked token is refused');
  t.equal((await whoami(tokens['operator2']!)).statusCode, 200, 'another token still works');

  const missing = await run('--name', 'Operator2');
  t.equal(missing.code, 1, 'a name that is not there exactly: exit 1');
  t.match(missing.err, /no token named "Operator2" .*tokens there: .*operator2/);
  t.equal((await run()).code, 2, 'no --name: usage, exit 2');
  // on a Kubernetes-auth gate too (a leaked local token must not come back with local auth), saying what it does not do
  const k8sOut: string[] = [];
  t.equal(await runCli(['token', 'revoke', '--name', 'operator2', '--data-dir', dataDir], { GATE_AUTH: 'kubernetes' }, (s) => k8sOut.push(s), () => undefined), 0, 'on a Kubernetes-auth gate too');
  t.match(k8sOut.join('\n'), /revoked token "operator2"[^]*auth is kubernetes, which never reads local tokens/);

  // a hand edit can leave two entries of one name: both go
  const { writeFile } = await import('node:fs/promises');
  const file = tokenFilePath(dataDir);
  const before = (await readTokenFile(file)) ?? [];
  const admin = before.find((e) => e.name === 'admin')!;
  await writeFile(file, JSON.stringify({ version: 1, tokens: [...before, { ...admin, id: 'tok_copy', sha256: 'b'.repeat(64) }] }));
  const both = await run('--name', 'admin');
  t.equal(both.code, 0, both.err);
  t.equal(both.out.split('\n').filter((l) => l.startsWith('revoked token "admin"')).length, 2, 'both entries reported');
  t.notOk(((await readTokenFile(file)) ?? []).some((e) => e.name === 'admin'), 'and both removed');
});

t.test('a token file that turns unreadable stops every token at once, not only the first request of each second', async (t) => {
  const { writeFile } = await import('node:fs/promises');
  const { file, token } = await tokenDir();
  const auth = createLocalAuthenticator(file);
  t.match(await auth.authenticate(bearer(token)), { ok: true }, 'the token works');
  // a hand edit that meant to remove the token, gone wrong
  await writeFile(file, '{"version": 1, "tokens": [');
  await new Promise((r) => setTimeout(r, 1100));
  for (let i = 0; i < 5; i++) await t.rejects(auth.authenticate(bearer(token)), { message: /not a gate token file/ }, `request ${i + 1}: refused (503), not let in by the copy before the edit`);
});

t.test('token names the audit log uses for others are refused: anonymous (no valid token) and gate (its own records)', async (t) => {
  const { file } = await tokenDir();
  for (const name of ['anonymous', 'Anonymous', 'gate', 'GATE']) {
    await t.rejects(createToken(file, name, ['caller'], new Date(), 'tok_x'), { message: new RegExp(`^--name: "${name}" is reserved`) }, name);
  }
  t.same(((await readTokenFile(file)) ?? []).map((e) => e.name), ['kargo'], 'nothing written');
  await createToken(file, 'gatekeeper', ['caller'], new Date(), 'tok_y');
  t.pass('a name that only starts like one is fine');
});

t.test('a token file whose stat fails (not ENOENT) stops every token at once too, not only the first request of each second', async (t) => {
  const { rm, symlink } = await import('node:fs/promises');
  const { file, token } = await tokenDir();
  const auth = createLocalAuthenticator(file);
  t.match(await auth.authenticate(bearer(token)), { ok: true }, 'the token works');
  // the path turns into a symlink loop: stat fails with ELOOP (a stand-in for EIO or EACCES, which root never gets)
  await rm(file);
  await symlink(file, file);
  await new Promise((r) => setTimeout(r, 1100));
  for (let i = 0; i < 5; i++) await t.rejects(auth.authenticate(bearer(token)), { code: 'ELOOP' }, `request ${i + 1}: refused (503), not let in by the copy read before`);
});

t.test('gate token create whose output never reached a reader: exit 1, and stderr says the token is stored and how to revoke it', async (t) => {
  const dir = await tempDir(t, 'gate-cli-lost-');
  const out: string[] = [];
  const err: string[] = [];
  const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
  const code = await runCli(['token', 'create', '--name', 'alice', '--roles', 'caller', '--data-dir', dir], {}, (s) => out.push(s), (s) => err.push(s), async () => epipe);
  t.equal(code, 1);
  t.match(err.join('\n'), /(^|\n)gate: the token "alice" is stored but could not be printed \(write EPIPE\): nobody has seen it\. Revoke it with `npm run gate -- token revoke --name alice`/);
  t.same(((await readTokenFile(tokenFilePath(dir))) ?? []).map((e) => e.name), ['alice'], 'stored all the same');
  // delivered: exit 0, nothing on stderr
  const ok: string[] = [];
  t.equal(await runCli(['token', 'create', '--name', 'bob', '--roles', 'caller', '--data-dir', dir], {}, () => undefined, (s) => ok.push(s), async () => null), 0);
  t.same(ok, []);
});

t.test('the CLI as a process, its stdout a pipe whose reader is gone: that message and exit 1, not an EPIPE stack', async (t) => {
  const { spawn } = await import('node:child_process');
  const { REPO_ROOT } = await import('../helpers/spawn-gate.ts');
  const dir = await tempDir(t, 'gate-cli-pipe-');
  const child = spawn(process.execPath, [join(REPO_ROOT, 'src', 'cli.ts'), 'token', 'create', '--name', 'alice', '--roles', 'caller', '--data-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  // the reader goes away before the CLI has started: its every write to stdout is an EPIPE
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.equal(code, 1, stderr);
  t.match(stderr, /(^|\n)gate: the token "alice" is stored but could not be printed \(write EPIPE\): nobody has seen it/);
  t.notMatch(stderr, /Unhandled|at .*cli\.ts/, 'no stack');
  t.same(((await readTokenFile(tokenFilePath(dir))) ?? []).map((e) => e.name), ['alice']);
});

t.test('a wall clock set back (an NTP step) does not keep a revoked token working past the 1 s re-read', async (t) => {
  const { file, token } = await tokenDir();
  const auth = createLocalAuthenticator(file);
  t.match(await auth.authenticate(bearer(token)), { ok: true }, 'the token works');
  const realNow = Date.now;
  const setBack = realNow() - 3_600_000;
  Date.now = () => setBack;
  t.teardown(() => {
    Date.now = realNow;
  });
  const { revokeToken } = await import('../../src/auth/local-tokens.ts');
  await revokeToken(file, 'kargo');
  await new Promise((r) => setTimeout(r, 1100));
  t.match(await auth.authenticate(bearer(token)), { ok: false, status: 401 }, 'refused within a second, as documented, not an hour later');
});

t.test('a token file on a volume that hangs: one check at a time, and every request answered within the read timeout', async (t) => {
  // A FIFO stands for a hung volume: stat() answers, read() blocks in one of libuv's four pool
  // threads until a writer comes (as a read blocks on a hard-mounted NFS volume whose server is gone).
  const { file, token } = await tokenDir();
  await rename(file, `${file}.saved`);
  execFileSync('mkfifo', [file]);
  let released = false;
  // whatever happens, the blocked reads get their end of file, so the pool and the test can end
  const release = async () => {
    if (released) return;
    released = true;
    await rename(`${file}.saved`, `${file}.real`);
    // a writer opens and closes: the reads blocked in open() go on, read what it wrote, then end of
    // file (non-blocking: with no read blocked, there is nothing to release)
    let fd: number | undefined;
    try {
      fd = openSync(file, constants.O_WRONLY | constants.O_NONBLOCK);
      writeSync(fd, readFileSync(`${file}.real`));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw err;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    await rename(`${file}.real`, file); // the next check reads a file again
  };
  t.teardown(release);

  const auth = createLocalAuthenticator(file, { readTimeoutMs: 300 });
  const started = performance.now();
  const answers = await Promise.race([
    Promise.allSettled(Array.from({ length: 8 }, () => auth.authenticate(bearer(token)))),
    new Promise<'held'>((r) => setTimeout(() => r('held'), 5000)),
  ]);
  const waited = performance.now() - started;
  t.ok(
    answers !== 'held' && answers.every((a) => a.status === 'rejected' && /no answer from the data volume within 300 ms/.test(String(a.reason))),
    'each request fails (a 503 from the guard) instead of waiting for the volume',
  );
  t.ok(waited < 2000, `all 8 answered within the timeout, not held (${Math.round(waited)} ms)`);
  // eight hung reads would hold all four pool threads, and with them every file operation of the
  // process (the audit log's writes and fsyncs): one hung check leaves three
  const other = await Promise.race([
    readFile(`${file}.saved`, 'utf8').then(() => 'read'),
    new Promise((r) => setTimeout(() => r('stuck'), 1500)),
  ]);
  t.equal(other, 'read', 'another file can still be read while the token file hangs');

  await release();
  const back = await eventually(async () => (await auth.authenticate(bearer(token)).catch(() => ({ ok: false }))).ok);
  t.ok(back, 'the token is taken again once the volume answers');
});

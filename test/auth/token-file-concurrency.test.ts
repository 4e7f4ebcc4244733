// Writers of tokens.json (`gate token create`, a gate's first start) run as separate processes on
// one data directory: each read-modify-write must see the last one's result. Without a lock two
// creates read the same file and the second rename drops the first one's token, which was printed
// all the same and then gets 401 for good.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createLocalAuthenticator, createToken, readTokenFile, tokenFilePath, updateTokenFile } from '../../src/auth/local-tokens.ts';
import { bootstrapLocalTokens } from '../../src/bootstrap-tokens.ts';
import { REPO_ROOT } from '../helpers/spawn-gate.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const N = 12;

/** A temp dir removed when the file's tests end. */
const dataDir = () => tempDir(t, 'gate-token-race-');

function cliCreate(dir: string, name: string): Promise<{ code: number | null; token: string | null; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'src', 'cli.ts'), 'token', 'create', '--name', name, '--roles', 'operator', '--data-dir', dir], {
      cwd: REPO_ROOT,
      env: { PATH: process.env['PATH'] ?? '' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('close', (code) => resolve({ code, token: /^(gate_\S+)$/m.exec(out)?.[1] ?? null, err }));
  });
}

/** The names the tokens authenticate as, through a fresh authenticator on the file (null: refused). */
async function whoAre(file: string, tokens: string[]): Promise<(string | null)[]> {
  const auth = createLocalAuthenticator(file);
  const names = [];
  for (const token of tokens) {
    const r = await auth.authenticate({ headers: { authorization: `Bearer ${token}` }, remoteAddress: '127.0.0.1' });
    names.push(r.ok ? r.identity.name : null);
  }
  return names;
}

const oldStamp = (ms: number) => new Date(Date.now() - ms).toISOString();

t.test(`${N} concurrent token creates of distinct names: every printed token works, the file holds all ${N}`, async (t) => {
  const dir = await dataDir();
  const file = tokenFilePath(dir);
  const names = Array.from({ length: N }, (_, i) => `u${i}`);
  const runs = await Promise.all(names.map((n) => cliCreate(dir, n)));
  t.same(
    runs.map((r) => r.code),
    names.map(() => 0),
    'every create exits 0',
  );
  t.same(await whoAre(file, runs.map((r) => r.token ?? 'none')), names, 'every printed token authenticates as its own name');
  t.same(((await readTokenFile(file)) ?? []).map((e) => e.name).sort(), [...names].sort(), `the file holds exactly the ${N} entries`);
  t.same((await readdir(dir)).sort(), ['tokens.json'], 'no lock or temp file left behind');
});

t.test(`${N} concurrent creates of one name: exactly one succeeds, the others say the name is taken`, async (t) => {
  const dir = await dataDir();
  const file = tokenFilePath(dir);
  const runs = await Promise.all(Array.from({ length: N }, () => cliCreate(dir, 'olivia')));
  const won = runs.filter((r) => r.code === 0);
  t.equal(won.length, 1, 'one create succeeds');
  t.same(
    runs.filter((r) => r.code !== 0).map((r) => [r.code, r.token, /"olivia" is taken/.test(r.err)]),
    Array.from({ length: N - 1 }, () => [1, null, true]),
    'the others exit 1, print no token and name the clash',
  );
  t.same(((await readTokenFile(file)) ?? []).map((e) => e.name), ['olivia'], 'one entry');
  t.same(await whoAre(file, won.map((r) => r.token ?? 'none')), ['olivia'], 'the printed token works');
});

t.test('in one process too: concurrent creates of one name (and its case variants) give it once', async (t) => {
  for (const names of [Array.from({ length: N }, () => 'olivia'), ['olivia', 'Olivia', 'OLIVIA', 'olivia', 'Olivia', 'OLIVIA']]) {
    const dir = await dataDir();
    const file = tokenFilePath(dir);
    const runs = await Promise.all(names.map((n, i) => createToken(file, n, ['operator'], new Date(), `tok_${i}`).then(() => 'created', (e: Error) => e.message)));
    t.equal(runs.filter((r) => r === 'created').length, 1, `${names.join(',')}: one create gets the name`);
    t.same(
      runs.filter((r) => r !== 'created').map((r) => /^--name: "\w+" is taken: a token named "\w+" already exists/.test(r)),
      names.slice(1).map(() => true),
      'the others are refused as a clash',
    );
    t.equal(((await readTokenFile(file)) ?? []).length, 1, 'one entry');
  }
});

t.test('a lock held by a live writer: create waits a bounded time, then says which file to remove', async (t) => {
  const dir = await dataDir();
  const file = tokenFilePath(dir);
  await writeFile(`${file}.lock`, JSON.stringify({ owner: 'other', host: 'other-host', pid: 4242, at: new Date().toISOString() }));
  const started = performance.now();
  await t.rejects(createToken(file, 'olivia', ['operator'], new Date(), 'tok_o', { waitMs: 400 }), {
    message: new RegExp(`locked by another writer \\(host other-host, pid 4242.*remove ${file.replace(/[.]/g, '\\.')}\\.lock`),
  });
  t.ok(performance.now() - started >= 400, 'it waited');
  t.equal(await readTokenFile(file), null, 'nothing written');
});

t.test('a lock made after a wait is stamped when it is made, so the next writer does not take it for stale while it is held', async (t) => {
  const dir = await dataDir();
  const file = tokenFilePath(dir);
  await writeFile(`${file}.lock`, JSON.stringify({ owner: 'other', host: 'other-host', pid: 4242, at: new Date().toISOString() }));
  let releasedAt = 0;
  setTimeout(() => {
    releasedAt = Date.now();
    void rm(`${file}.lock`, { force: true });
  }, 700).unref();
  let stampedAt = 0;
  await updateTokenFile(
    file,
    () => {
      stampedAt = Date.parse((JSON.parse(readFileSync(`${file}.lock`, 'utf8')) as { at: string }).at);
      return null;
    },
    { waitMs: 5000, staleMs: 5000 },
  );
  t.ok(releasedAt > 0, 'it waited for the other writer');
  t.ok(stampedAt >= releasedAt - 5, `stamped after the wait (${stampedAt - releasedAt} ms after the release), not when the wait began`);
});

t.test('a lock left by a crashed writer on another host is taken over once stale', async (t) => {
  const dir = await dataDir();
  const file = tokenFilePath(dir);
  // fresh when the create starts, stale 1 s later
  await writeFile(`${file}.lock`, JSON.stringify({ owner: 'crashed', host: 'other-host', pid: 4242, at: new Date().toISOString() }));
  const started = performance.now();
  const { token } = await createToken(file, 'olivia', ['operator'], new Date(), 'tok_o', { staleMs: 1000, waitMs: 5000 });
  t.ok(performance.now() - started >= 900, 'not before it is stale');
  t.same(await whoAre(file, [token]), ['olivia']);
  t.same((await readdir(dir)).sort(), ['tokens.json'], 'the stale lock is gone');
});

t.test('a lock of another host is aged on the data volume\'s clock, never by its stamp: hosts whose clocks disagree neither take a live one over nor wait out a crashed one', async (t) => {
  // a writer on a host whose clock is a minute behind, at work right now: its stamp says a minute ago
  const live = await dataDir();
  const liveFile = tokenFilePath(live);
  await writeFile(`${liveFile}.lock`, JSON.stringify({ owner: 'behind', host: 'other-host', pid: 4242, at: oldStamp(60_000) }));
  await t.rejects(createToken(liveFile, 'olivia', ['operator'], new Date(), 'tok_o', { waitMs: 400, staleMs: 5000 }), { message: /locked by another writer \(host other-host, pid 4242/ }, 'a live writer\'s lock is waited for, not taken over');
  t.equal(await readTokenFile(liveFile), null, 'nothing written');
  // a writer on a host whose clock is a minute ahead, crashed a minute ago: its stamp says now
  const crashed = await dataDir();
  const crashedFile = tokenFilePath(crashed);
  const lock = `${crashedFile}.lock`;
  await writeFile(lock, JSON.stringify({ owner: 'ahead', host: 'other-host', pid: 4242, at: new Date().toISOString() }));
  const old = new Date(Date.now() - 60_000);
  await utimes(lock, old, old);
  const started = performance.now();
  const { token } = await createToken(crashedFile, 'olivia', ['operator'], new Date(), 'tok_o', { waitMs: 5000, staleMs: 5000 });
  t.ok(performance.now() - started < 4000, 'taken over at once: written a minute ago by the volume\'s clock');
  t.same(await whoAre(crashedFile, [token]), ['olivia']);
  t.same((await readdir(crashed)).sort(), ['tokens.json'], 'no lock or probe file left');
});

t.test('the CLI takes over a long-stale lock (old stamp and mtime) and a torn one', async (t) => {
  for (const text of [JSON.stringify({ owner: 'crashed', host: 'other-host', pid: 4242, at: oldStamp(60_000) }), '{"own']) {
    const dir = await dataDir();
    const lock = `${tokenFilePath(dir)}.lock`;
    await writeFile(lock, text);
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    const run = await cliCreate(dir, 'olivia');
    t.equal(run.code, 0, `${text}: created (${run.err.trim()})`);
    t.same(await whoAre(tokenFilePath(dir), [run.token ?? 'none']), ['olivia']);
    await t.rejects(stat(lock), { code: 'ENOENT' }, 'lock released');
  }
});

t.test('a fresh lock of a dead process on this host is taken over at once', async (t) => {
  const dir = await dataDir();
  const file = tokenFilePath(dir);
  const child = spawn(process.execPath, ['-e', '0']);
  const pid = child.pid as number;
  await new Promise((r) => child.on('exit', r));
  await writeFile(`${file}.lock`, JSON.stringify({ owner: 'crashed', host: hostname(), pid, at: new Date().toISOString() }));
  const started = performance.now();
  const { token } = await createToken(file, 'olivia', ['operator'], new Date(), 'tok_o', { waitMs: 3000 });
  t.ok(performance.now() - started < 2000, 'no wait for the staleness');
  t.same(await whoAre(file, [token]), ['olivia']);
});

t.test('first start racing token creates: neither the bootstrap tokens nor the created ones are lost', async (t) => {
  // the in-process creates start at once or a little after the first start, so that it wins
  // some rounds and loses others
  for (const [round, delayMs] of [0, 2, 4, 6, 8, 10, 15, 20].entries()) {
    const dir = await dataDir();
    const file = tokenFilePath(dir);
    let n = 0;
    const after = <T>(f: () => Promise<T>) => new Promise((r) => setTimeout(r, delayMs)).then(f);
    const [made, ...created] = await Promise.all([
      bootstrapLocalTokens(file, new Date(), (kind) => `${kind}_${round}_${n++}`),
      ...['olivia', 'alice', 'bob'].map((name) => after(() => createToken(file, name, ['operator'], new Date(), `tok_${name}`))),
      // and a real process, as an operator's `token create` during the first start
      cliCreate(dir, 'carol').then((r) => (r.code === 0 && r.token ? { token: r.token, entry: { name: 'carol' } } : Promise.reject(new Error(r.err)))),
    ]);
    const printed = [...made.map((m) => ({ name: m.name, token: m.token })), ...created.map((c) => ({ name: c.entry.name, token: c.token }))];
    t.ok(made.length === 0 || made.length === 2, `round ${round}: the first start makes both its tokens or none (${made.length})`);
    t.same(await whoAre(file, printed.map((p) => p.token)), printed.map((p) => p.name), `round ${round}: every printed token works`);
    t.equal(((await readTokenFile(file)) ?? []).length, printed.length, `round ${round}: one entry per printed token`);
  }
});

t.test('a running gate sees a token written within the same mtime tick as the one it has cached', async (t) => {
  // two serialised writes can land within one mtime tick (a coarse-grained file system: NFS
  // servers, ext3): both files are given the same mtime, as such a file system would
  const dir = await dataDir();
  const file = tokenFilePath(dir);
  const tick = new Date(Math.floor(Date.now() / 1000) * 1000);
  const { token: first } = await createToken(file, 'kargo', ['caller'], new Date(), 'tok_k');
  await utimes(file, tick, tick);
  const auth = createLocalAuthenticator(file);
  const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` }, remoteAddress: '127.0.0.1' });
  t.match(await auth.authenticate(bearer(first)), { ok: true }, 'the first token, now cached');
  const { token: second } = await createToken(file, 'olivia', ['operator'], new Date(), 'tok_o');
  await utimes(file, tick, tick);
  await new Promise((r) => setTimeout(r, 1100)); // past the 1 s re-check interval
  t.match(await auth.authenticate(bearer(second)), { ok: true, identity: { name: 'olivia' } }, 'the second token works without a restart');
});

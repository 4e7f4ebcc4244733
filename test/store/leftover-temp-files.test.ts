// A crash between writing a temp file and renaming it over its file leaves the temp file in the
// data directory: the state checkpoint's (one name) and the token file's (a name per writer, so
// they pile up). Start-up removes them, and only them, holding the locks that keep a writer at
// work from losing its own.
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { removeLeftoverTokenTemps, tokenFilePath } from '../../src/auth/local-tokens.ts';
import { removeLeftoverTemp } from '../../src/store/durable-json-file.ts';
import { spawnGate } from '../helpers/spawn-gate.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const scratch = (t: Test) => tempDir(t, 'gate-leftover-');

/** names that look like the gate's temp files but are not ones it makes: never removed */
const NOT_OURS = ['state.json.tmp.bak', 'state.json.tmp2', 'tokens.json.tmp-1-xyz', 'tokens.json.tmp-12-abcdef0123456', 'tokens.json.tmp-x-abcdef012345', 'other.json.tmp-12-abcdef012345', 'tokens.json.tmp'];

t.test('removeLeftoverTemp removes the state checkpoint\'s temp file only', async (t) => {
  const dir = await scratch(t);
  const state = join(dir, 'state.json');
  t.equal(await removeLeftoverTemp(state), null, 'none there: nothing to do');
  await writeFile(state, '{}');
  await writeFile(`${state}.tmp`, '{"half":');
  for (const name of NOT_OURS) await writeFile(join(dir, name), 'x');
  t.equal(await removeLeftoverTemp(state), `${state}.tmp`);
  t.same((await readdir(dir)).sort(), ['state.json', ...NOT_OURS].sort(), 'the checkpoint and every other file stay');
});

t.test('removeLeftoverTokenTemps removes every temp file a token writer left, and nothing else', async (t) => {
  const dir = await scratch(t);
  const file = tokenFilePath(dir);
  t.same(await removeLeftoverTokenTemps(file), [], 'none there');
  t.notOk(existsSync(`${file}.lock`), 'and no lock was taken for nothing');
  await writeFile(file, '{"version":1,"tokens":[]}\n');
  const ours = ['tokens.json.tmp-4242-0123456789ab', 'tokens.json.tmp-7-ffffffffffff', 'tokens.json.tmp-31337-a1b2c3d4e5f6'];
  for (const name of [...ours, ...NOT_OURS]) await writeFile(join(dir, name), 'x');
  t.same((await removeLeftoverTokenTemps(file)).sort(), ours.map((n) => join(dir, n)).sort());
  t.same((await readdir(dir)).sort(), ['tokens.json', ...NOT_OURS].sort(), 'the token file and every other file stay; the lock is released');
});

t.test('a writer holding the token file\'s lock keeps its temp file: the removal waits, then gives up', async (t) => {
  const dir = await scratch(t);
  const file = tokenFilePath(dir);
  const tmp = join(dir, `tokens.json.tmp-${process.pid}-0123456789ab`);
  await writeFile(tmp, 'being written');
  await writeFile(`${file}.lock`, JSON.stringify({ owner: 'writer', host: hostname(), pid: process.pid, at: new Date().toISOString() }));
  await t.rejects(removeLeftoverTokenTemps(file, { waitMs: 200 }), /is locked by another writer/);
  t.ok(existsSync(tmp), 'its temp file is still there');
});

t.test('start-up removes the temp files a crash left, logs them, and starts as usual', async (t) => {
  const dataDir = await scratch(t);
  const left = ['state.json.tmp', 'tokens.json.tmp-4242-0123456789ab', 'tokens.json.tmp-77-a1b2c3d4e5f6'];
  for (const name of [...left, ...NOT_OURS]) await writeFile(join(dataDir, name), '{"half":');
  const gate = await spawnGate({ t, dataDir });
  t.teardown(() => gate.stop('SIGKILL'));
  for (const name of left) t.notOk(existsSync(join(dataDir, name)), `${name} removed`);
  for (const name of NOT_OURS) t.ok(existsSync(join(dataDir, name)), `${name} kept`);
  t.match(gate.stdout(), /"removed":\["[^"]*state\.json\.tmp"\].*removed temp files of state checkpoint writes/, 'the log names the checkpoint\'s');
  t.match(gate.stdout(), /"removed":\[[^\]]*tokens\.json\.tmp-4242-0123456789ab[^\]]*\].*removed temp files of token file writes/, 'and the token file\'s');
  t.notOk(existsSync(join(dataDir, 'tokens.json.lock')), 'the token file\'s lock is released');
  const res = await fetch(`${gate.url}/v1/decisions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gate.tokens['kargo']}`, 'content-type': 'application/json' },
    body: JSON.stringify({ project: 'stonks-pipeline', stage: 'beta', imageTag: 'abc123', promotion: 'p1' }),
  });
  t.equal(res.status, 200, 'and the gate answers');
  t.equal((await gate.stop()).code, 0);
});

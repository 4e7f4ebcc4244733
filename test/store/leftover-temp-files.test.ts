// A crash between writing a temp file and renaming it over its file leaves the temp file in the
// data directory: the state checkpoint's and the token file's (a name per write, so they pile
// up; the checkpoint's had one name before). Start-up removes them, and only them, holding the locks that keep a writer at
// work from losing its own.
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { removeLeftoverTokenTemps, tokenFilePath } from '../../src/auth/local-tokens.ts';
import { DurableJsonFile, removeLeftoverTemps } from '../../src/store/durable-json-file.ts';
import { spawnGate } from '../helpers/spawn-gate.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const scratch = (t: Test) => tempDir(t, 'gate-leftover-');

/** names that look like the gate's temp files but are not ones it makes: never removed */
const NOT_OURS = ['state.json.tmp.bak', 'state.json.tmp2', 'state.json.tmp-1-xyz', 'state.json.tmp-12-ABCDEF012345', 'tokens.json.tmp-1-xyz', 'tokens.json.tmp-12-abcdef0123456', 'tokens.json.tmp-x-abcdef012345', 'other.json.tmp-12-abcdef012345', 'tokens.json.tmp'];

t.test('removeLeftoverTemps removes the state checkpoint\'s temp files only', async (t) => {
  const dir = await scratch(t);
  const state = join(dir, 'state.json');
  t.same(await removeLeftoverTemps(state), [], 'none there: nothing to do');
  t.same(await removeLeftoverTemps(join(dir, 'missing', 'state.json')), [], 'nor without a directory');
  await writeFile(state, '{}');
  const ours = ['state.json.tmp', 'state.json.tmp-4242-0123456789ab', 'state.json.tmp-7-ffffffffffff'];
  for (const name of [...ours, ...NOT_OURS]) await writeFile(join(dir, name), '{"half":');
  t.same((await removeLeftoverTemps(state)).sort(), ours.map((n) => join(dir, n)).sort());
  t.same((await readdir(dir)).sort(), ['state.json', ...NOT_OURS].sort(), 'the checkpoint and every other file stay');
});

t.test('two writers of one checkpoint (a gate that lost the directory and the one that took it) never leave a mixed file', async (t) => {
  const dir = await scratch(t);
  const file = join(dir, 'state.json');
  const stale = new DurableJsonFile<{ by: string; pad: string }>(file);
  const holder = new DurableJsonFile<{ by: string; pad: string }>(file);
  // large enough that each write takes several system calls, so the two interleave
  const a = { by: 'stale', pad: 'a'.repeat(4 << 20) };
  const b = { by: 'holder', pad: 'b'.repeat(1 << 20) };
  for (let round = 0; round < 20; round++) {
    // either may lose its rename (the other renamed first); neither may spoil the other's file
    await Promise.allSettled([stale.write(a), holder.write(b)]);
    const read = await holder.read();
    t.ok(read !== null && (read.by === 'stale' ? read.pad === a.pad : read.by === 'holder' && read.pad === b.pad), `round ${round}: the checkpoint is one writer's whole`);
    if (t.passing() === false) break;
  }
  t.same((await readdir(dir)).sort(), ['state.json'], 'and no temp file is left');
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
  const left = ['state.json.tmp', 'state.json.tmp-4242-0123456789ab', 'tokens.json.tmp-4242-0123456789ab', 'tokens.json.tmp-77-a1b2c3d4e5f6'];
  for (const name of [...left, ...NOT_OURS]) await writeFile(join(dataDir, name), '{"half":');
  const gate = await spawnGate({ t, dataDir });
  t.teardown(() => gate.stop('SIGKILL'));
  for (const name of left) t.notOk(existsSync(join(dataDir, name)), `${name} removed`);
  for (const name of NOT_OURS) t.ok(existsSync(join(dataDir, name)), `${name} kept`);
  t.match(gate.stdout(), /"removed":\[[^\]]*state\.json\.tmp-4242-0123456789ab[^\]]*\].*removed temp files of state checkpoint writes/, 'the log names the checkpoint\'s');
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

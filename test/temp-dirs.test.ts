// The test helpers leave nothing in the OS temp dir: what they make for a test goes when the test
// ends, and a gate they started is stopped before its directory goes.
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { buildTestApp } from './helpers/build-app.ts';
import { eventually } from './helpers/eventually.ts';
import { type SpawnedGate, spawnGate, startServer } from './helpers/spawn-gate.ts';
import { tempDir, tempDirSync } from './helpers/temp-dir.ts';

const exited = (child: ChildProcess | undefined) => child !== undefined && (child.exitCode !== null || child.signalCode !== null);

t.test('tempDir and tempDirSync: there while the test runs, gone with all in it once it ends', async (t) => {
  const made: string[] = [];
  await t.test('a test that makes two', async (tt) => {
    made.push(await tempDir(tt, 'temp-dirs-'), tempDirSync(tt, 'temp-dirs-sync-'));
    for (const dir of made) await writeFile(join(dir, 'file'), 'x');
    tt.ok(made.every((dir) => existsSync(join(dir, 'file'))), 'both there, with a file in each');
  });
  t.equal(made.length, 2);
  t.same(made.filter((dir) => existsSync(dir)), [], 'both removed');
});

t.test('buildTestApp: its data directory goes with the test', async (t) => {
  let dataDir = '';
  await t.test('an app', async (tt) => {
    dataDir = (await buildTestApp(tt)).dataDir;
    tt.ok(existsSync(dataDir));
  });
  t.notOk(existsSync(dataDir), 'removed');
});

t.test('spawnGate without a data directory: the gate is stopped and its temp data directory removed when the test ends', async (t) => {
  let gate: SpawnedGate | undefined;
  await t.test('a gate left running', async (tt) => {
    gate = await spawnGate({ t: tt });
    tt.ok(existsSync(join(gate.dataDir, 'gate.lock')), 'it runs on its data directory');
  });
  t.ok(exited(gate?.child), 'stopped');
  t.notOk(existsSync(gate?.dataDir ?? ''), 'its data directory removed');
});

t.test('startServer: the gate has exited before a data directory made earlier in the test is removed', async (t) => {
  let dataDir = '';
  let exitedFirst: boolean | null = null;
  await t.test('a server left running', async (tt) => {
    dataDir = await tempDir(tt, 'temp-dirs-server-');
    let child: ChildProcess | undefined;
    // registered before startServer's teardown, so it runs after it, just before the directory goes
    tt.teardown(() => void (exitedFirst = exited(child)));
    child = startServer(tt, { GATE_DATA_DIR: dataDir }).child;
    tt.ok(await eventually(() => existsSync(join(dataDir, 'gate.lock')), 20_000, 20), 'it runs on the directory');
  });
  t.equal(exitedFirst, true, 'exited by then');
  t.notOk(existsSync(dataDir), 'and the directory removed');
});

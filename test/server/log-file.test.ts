import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { eventually } from '../helpers/eventually.ts';
import { spawnGate } from '../helpers/spawn-gate.ts';
import { tempDir } from '../helpers/temp-dir.ts';

// the benchmark's set-up (bench/run.ts): the gate's log goes to a file, not through a pipe into
// the process that runs the load generator
t.test('spawnGate with a log file: the gate starts, its tokens are known, and its log lines go to the file', async (t) => {
  const dir = await tempDir(t, 'gate-log-file-');
  const logFile = join(dir, 'gate.log');
  const gate = await spawnGate({ t, dataDir: join(dir, 'data'), env: { GATE_NOW: '2026-11-25T22:00:00Z' }, logFile });
  t.teardown(() => gate.stop('SIGKILL'));
  t.ok(gate.tokens['kargo'], 'the caller token printed at first start is read from stderr');
  const res = await fetch(`${gate.url}/v1/decisions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gate.tokens['kargo']}`, 'content-type': 'application/json' },
    body: JSON.stringify({ project: 'stonks-pipeline', stage: 'beta', imageTag: 'abc123', promotion: 'log-file-1' }),
  });
  t.equal(res.status, 200);
  const { id } = (await res.json()) as { id: string };
  t.ok(await eventually(async () => (await readFile(logFile, 'utf8')).includes(`"decisionId":"${id}"`)), 'the request line is in the log file');
  t.equal(gate.stdout(), '', 'nothing is read through a pipe');
  t.match(await readFile(logFile, 'utf8'), /"address":"http:\/\/127\.0\.0\.1:\d+"/, 'the file holds the whole log, from start-up on');
});

t.test('spawnGate with a log file: a gate that cannot start is reported, and the file is no longer watched', async (t) => {
  const dir = await tempDir(t, 'gate-log-file-');
  const err = await spawnGate({ t, dataDir: join(dir, 'data'), env: { GATE_PORT: 'not-a-port' }, logFile: join(dir, 'gate.log') }).catch((e: Error) => e);
  t.match(err, { message: /gate exited with 2 before listening/ }, "the start-up error, and the test ends: no poll of the file is left running");
});

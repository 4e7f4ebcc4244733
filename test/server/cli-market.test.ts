import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../../src/cli.ts';
import { tempDir } from '../helpers/temp-dir.ts';

async function market(args: string[], env: Record<string, string | undefined> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['market', ...args], { GATE_DATA_DIR: t.testdirName, ...env }, (s) => out.push(s), (s) => err.push(s));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

t.test('gate market --at takes exactly the instants GET /v1/market takes', async (t) => {
  const closed = await market(['--at', '2026-11-27T18:00:00Z']);
  t.equal(closed.code, 0);
  t.match(JSON.parse(closed.out), { at: '2026-11-27T18:00:00Z', open: false, nextOpen: '2026-11-30T14:30:00Z' });
  const offset = await market(['--at', '2026-11-27T12:59:59-05:00']);
  t.match(JSON.parse(offset.out), { at: '2026-11-27T17:59:59Z', open: true });
  // without an offset the instant depends on this machine's zone; a date is no instant
  for (const at of ['2026-11-25T10:00', '2026-11-27', 'tomorrow']) {
    const res = await market(['--at', at]);
    t.equal(res.code, 2, at);
    t.equal(res.out, '');
    t.match(res.err, /^--at: ".*" is not an ISO-8601 instant with offset/);
  }
});

t.test('without --at, gate market answers for the system clock, and under GATE_NOW says the gate runs its own', async (t) => {
  for (const env of [{ GATE_NOW: '2026-11-25T15:00:00Z' }, {}]) {
    const res = await market([], env);
    t.equal(res.code, 0);
    t.ok(Math.abs(Date.parse(JSON.parse(res.out).at) - Date.now()) < 60_000, 'the system clock');
    if (env.GATE_NOW) t.match(res.err, /GATE_NOW=2026-11-25T15:00:00Z runs its own clock from there: ask its GET \/v1\/market/);
    else t.equal(res.err, '');
  }
});

t.test('gate market with bad market extras, or a GATE_CONFIG it cannot read: exit 2 naming the key or GATE_CONFIG', async (t) => {
  const dir = await tempDir(t, 'gate-cfg-');
  const cfg = join(dir, 'gate.yaml');
  await writeFile(cfg, 'market:\n  extraEarlyCloses: [{ date: "2027-11-26", close: "25:00" }]\n');
  const bad = await market(['--at', '2026-11-27T18:00:00Z'], { GATE_CONFIG: cfg });
  t.equal(bad.code, 2);
  t.match(bad.err, /market\.extraEarlyCloses\[0\]: close must be HH:mm/, 'the same check and message as the server');
  const isDir = await market([], { GATE_CONFIG: dir });
  t.equal(isDir.code, 2);
  t.match(isDir.err, new RegExp(`GATE_CONFIG=${dir}: `));
});

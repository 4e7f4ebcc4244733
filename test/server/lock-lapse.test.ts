import { mkdir, readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { eventually } from '../helpers/eventually.ts';
import { spawnGate } from '../helpers/spawn-gate.ts';

// A real gate whose data volume refuses the lock's renewals for more than a whole lease (30 s):
// about a minute, every second of it needed (the lease is the gate's own, not configurable).

const decide = (url: string, token: string, promotion: string) =>
  fetch(`${url}/v1/decisions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ project: 'stonks-pipeline', stage: 'beta', imageTag: 'abc123', promotion }),
  });

t.test('a lock lapsed on a volume that refuses writes: the gate answers 503 (alive, not ready) until the volume takes a write again, then exits 1; the restart serves on the same log', async (t) => {
  const gate = await spawnGate({ t, env: { GATE_NOW: '2026-11-25T22:00:00Z' } });
  t.teardown(() => gate.stop('SIGKILL'));
  const token = gate.tokens['kargo']!;
  t.equal((await decide(gate.url, token, 'p-1')).status, 200, 'serving while it holds the lock');

  // every write of the lock's renewals goes through its temp file, and the volume probe writes a
  // file of its own, both named for the gate's owner id: a directory in each one's place makes
  // each write fail (EISDIR), as a volume that refuses writes would
  const { owner } = JSON.parse(await readFile(join(gate.dataDir, 'gate.lock'), 'utf8')) as { owner: string };
  const blockers = [join(gate.dataDir, `gate.lock.${owner}.tmp`), join(gate.dataDir, `gate.lock.${owner}.probe`)];
  for (const b of blockers) await mkdir(b);
  t.ok(await eventually(() => /lost the data directory lock/.test(gate.stdout()), 45_000, 200), 'the lease lapses');
  t.match(gate.stdout(), /answers 503 until the data volume takes a write again/, 'the log says what it does now');

  const refused = await decide(gate.url, token, 'p-2');
  t.equal(refused.status, 503, 'a decision is refused, not answered unrecorded');
  t.equal(((await refused.json()) as { decision?: string }).decision, undefined, 'without a decision: Kargo polls it');
  t.equal((await fetch(`${gate.url}/healthz`)).status, 200, 'alive: no liveness restart into the same outage');
  t.equal((await fetch(`${gate.url}/readyz`)).status, 503, 'not ready');
  // a few probes fail meanwhile: it stays up
  await new Promise((r) => setTimeout(r, 5_000));
  t.equal(await Promise.race([gate.exited.then(() => 'exited'), Promise.resolve('running')]), 'running', 'still up while the volume refuses');
  t.match(gate.stdout(), /the data volume still refuses writes/, 'each failed probe is logged');
  t.equal((await decide(gate.url, token, 'p-3')).status, 503);

  for (const b of blockers) await rmdir(b);
  const exit = await Promise.race([gate.exited, new Promise<null>((r) => setTimeout(() => r(null), 15_000))]);
  t.same(exit, { code: 1, signal: null }, 'once the volume takes a write, it exits 1 for a fresh start');
  t.match(gate.stdout(), /the data volume takes writes again/);

  const again = await spawnGate({ t, dataDir: gate.dataDir, env: { GATE_NOW: '2026-11-25T22:00:00Z' } });
  t.teardown(() => again.stop('SIGKILL'));
  t.equal((await decide(again.url, token, 'p-4')).status, 200, 'the restart takes the lock and serves');
  const audit = (await (await fetch(`${again.url}/v1/audit?type=decision&limit=10`, { headers: { authorization: `Bearer ${again.tokens['admin'] ?? gate.tokens['admin']}` } })).json()) as { records: { promotion?: string; data?: { promotion?: string } }[] };
  t.same(
    audit.records.map((r) => r.data?.promotion ?? r.promotion),
    ['p-4', 'p-1'],
    'the log holds exactly the decisions answered 200',
  );
  t.equal((await again.stop()).code, 0);
});

// What answers on the gate's port while it cannot start yet (its data volume refuses the lock's
// write): /healthz 200, everything else the 503 JSON Kargo polls on. Real HTTP on loopback.
import { createServer } from 'node:net';
import t from 'tap';
import { listenWhileStarting, stopListeningWhileStarting } from '../../src/http/listen-while-starting.ts';
import { freePort } from '../helpers/spawn-gate.ts';

t.test('while starting: /healthz 200, a decision 503 with retry-after, each naming why; closed, the port is free again', async (t) => {
  const port = await freePort();
  const server = await listenWhileStarting('127.0.0.1', port, () => 'its data volume refuses writes (ENOSPC)');
  const base = `http://127.0.0.1:${port}`;
  const health = await fetch(`${base}/healthz?x=1`);
  t.equal(health.status, 200, '/healthz: alive, so the orchestrator does not restart it');
  t.same(await health.json(), { status: 'starting', message: 'its data volume refuses writes (ENOSPC)' });
  for (const [method, path] of [['POST', '/v1/decisions'], ['GET', '/readyz'], ['GET', '/v1/status']] as const) {
    const res = await fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json' }, body: method === 'POST' ? '{"stage":"beta"}' : undefined });
    t.equal(res.status, 503, `${method} ${path}: 503`);
    t.equal(res.headers.get('retry-after'), '2');
    t.equal(res.headers.get('cache-control'), 'no-store');
    t.match(res.headers.get('content-type'), /^application\/json/);
    t.same(await res.json(), {
      error: 'starting',
      message: 'The gate has not started yet: its data volume refuses writes (ENOSPC). It tries again by itself; ask again in a moment.',
      retryable: true,
    });
  }
  await stopListeningWhileStarting(server);
  const again = createServer();
  await new Promise<void>((resolve, reject) => {
    again.once('error', reject);
    again.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve());
  });
  t.pass('the gate can listen there next');
  await new Promise<void>((resolve) => again.close(() => resolve()));
});

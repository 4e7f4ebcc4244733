import { connect } from 'node:net';
import t from 'tap';
import { buildTestApp } from '../helpers/build-app.ts';

/** Opens a connection, writes `text` and then nothing more; resolves with what the gate sent back and when it closed. */
function stall(port: number, text: string): Promise<{ reply: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let reply = '';
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (reply += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve({ reply, closedAfterMs: performance.now() - started }));
    setTimeout(() => {
      socket.destroy();
      reject(new Error(`still open after 10 s; got ${JSON.stringify(reply)}`));
    }, 10_000).unref();
  });
}

t.test('a request that does not arrive whole within the limit gets 408 and its connection closed', async (t) => {
  const g = await buildTestApp(t, { deps: { requestTimeoutMs: 400 } });
  await g.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = g.app.server.address() as { port: number };

  const cases = [
    ['headers never finished', 'POST /v1/decisions HTTP/1.1\r\nHost: gate\r\nContent-Type: application/json\r\n'],
    ['body stops short', `POST /v1/decisions HTTP/1.1\r\nHost: gate\r\nAuthorization: Bearer ${g.tokens['caller']}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"project":`],
  ] as const;
  const results = await Promise.allSettled(cases.map(([, text]) => stall(port, text)));
  cases.forEach(([label], i) => {
    const result = results[i]!;
    if (result.status === 'rejected') return void t.fail(`${label}: ${(result.reason as Error).message}`);
    const { reply, closedAfterMs } = result.value;
    t.match(reply, /^HTTP\/1\.1 408 /, `${label}: 408`);
    t.ok(closedAfterMs >= 400 && closedAfterMs < 3000, `${label}: closed after ${Math.round(closedAfterMs)} ms (limit 400 ms, checked every 40 ms)`);
  });

  // a request that arrives in time is answered as usual on the same server
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  t.equal(res.status, 200);
});

t.test('by default the limit is 30 s for headers and body alike, looked for every 3 s', async (t) => {
  const g = await buildTestApp(t);
  const server = g.app.server as typeof g.app.server & { connectionsCheckingInterval: number };
  t.equal(server.requestTimeout, 30_000);
  t.equal(server.headersTimeout, 30_000, 'not Node’s 60 s, with which a body that stops short is never timed out');
  t.equal(server.connectionsCheckingInterval, 3_000);
});

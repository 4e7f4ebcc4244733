import { createServer, type Server } from 'node:http';
import { errorBody } from './errors.ts';

/**
 * Answers on host:port while the gate cannot start yet (its data volume refuses the write that
 * takes the data directory's lock): `/healthz` 200, so the orchestrator does not restart a gate
 * that keeps trying by itself, and every other request 503 JSON with `retry-after`, on which
 * Kargo's gate step keeps polling. Without it Kargo meets a refused connection, a transport error
 * that counts toward the step's errorThreshold and ends in an Errored promotion. Nothing is read,
 * decided or recorded; each connection is closed after its answer. `why` says what holds the
 * start back.
 */
export function listenWhileStarting(host: string, port: number, why: () => string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const alive = path === '/healthz';
    const body = alive
      ? { status: 'starting', message: why() }
      : errorBody('starting', `The gate has not started yet: ${why()}. It tries again by itself; ask again in a moment.`, { retryable: true });
    res.writeHead(alive ? 200 : 503, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      ...(alive ? {} : { 'retry-after': '2' }),
      connection: 'close',
    });
    res.end(JSON.stringify(body));
    req.resume(); // a body is not read, only let through
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => resolve(server));
  });
}

/** Closes what listenWhileStarting opened, its connections too: the gate listens there next. */
export function stopListeningWhileStarting(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

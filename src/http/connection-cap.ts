import type { FastifyInstance } from 'fastify';

/**
 * Caps the open connections of the app's server at `max`: a client holding thousands of idle
 * keep-alive sockets would use up the process's file descriptors, and the audit log could then
 * not open its next file. Past the cap Node closes a new connection at once. The first refusal
 * is logged at once; those after it are counted and logged together `reportMs` after the last
 * telling (or at the close), so a burst that stops is still reported whole. `onDrop` is told of
 * each one at once (gate_connections_dropped_total).
 */
export function capConnections(app: FastifyInstance, max: number, reportMs: number, onDrop: () => void = () => {}): void {
  app.server.maxConnections = max;
  let dropped = 0;
  let quietUntil = -Infinity;
  let later: NodeJS.Timeout | null = null;
  let laterAddress: string | undefined;
  const tellDropped = (remoteAddress: string | undefined) => {
    app.log.warn({ maxConnections: max, dropped, remoteAddress }, 'connections refused: http.maxConnections are open');
    dropped = 0;
    quietUntil = performance.now() + reportMs;
  };
  app.server.on('drop', (data) => {
    onDrop();
    dropped++;
    if (performance.now() >= quietUntil) return tellDropped(data?.remoteAddress);
    if (later) return;
    laterAddress = data?.remoteAddress;
    later = setTimeout(() => {
      later = null;
      tellDropped(laterAddress);
    }, quietUntil - performance.now()).unref();
  });
  // refusals still being counted are told at the close, not lost with the timer
  app.addHook('onClose', (_app, done) => {
    if (later) {
      clearTimeout(later);
      later = null;
      tellDropped(laterAddress);
    }
    done();
  });
}

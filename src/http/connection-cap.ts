import type { FastifyInstance } from 'fastify';

/** The per-client cap of capConnections: at most `max` open connections from one peer address, save those `exempt` (proxies). */
export interface PerClientCap {
  max: number;
  exempt: (address: string) => boolean;
}

/**
 * Caps the open connections of the app's server at `max`: a client holding thousands of idle
 * keep-alive sockets would use up the process's file descriptors, and the audit log could then
 * not open its next file. Past the cap Node closes a new connection at once. And at
 * `perClient.max` from one peer address: without it one client holding `max` connections (and
 * opening each again as it closes) kept every other client, Kargo too, from connecting at all.
 * Peers `perClient.exempt` (the proxies in front, which carry many clients) are held only to
 * `max`. The first refusal of each kind is logged at once; those after it are counted and logged
 * together `reportMs` after the last telling (or at the close), so a burst that stops is still
 * reported whole. `onDrop` is told of each one at once (gate_connections_dropped_total).
 */
export function capConnections(app: FastifyInstance, max: number, reportMs: number, onDrop: () => void = () => {}, perClient?: PerClientCap): void {
  app.server.maxConnections = max;
  const allOpen = refusalReporter(app, reportMs, onDrop, (dropped, remoteAddress) =>
    app.log.warn({ maxConnections: max, dropped, remoteAddress }, 'connections refused: http.maxConnections are open'),
  );
  app.server.on('drop', (data) => allOpen(data?.remoteAddress));
  if (perClient === undefined) return;
  const oneClient = refusalReporter(app, reportMs, onDrop, (dropped, remoteAddress) =>
    app.log.warn({ maxConnectionsPerClient: perClient.max, dropped, remoteAddress }, 'connections refused: one client has http.maxConnectionsPerClient open'),
  );
  const byPeer = new Map<string, number>();
  app.server.on('connection', (socket) => {
    const peer = socket.remoteAddress;
    if (peer === undefined || perClient.exempt(peer)) return;
    const open = byPeer.get(peer) ?? 0;
    if (open >= perClient.max) {
      socket.destroy();
      oneClient(peer);
      return;
    }
    byPeer.set(peer, open + 1);
    socket.once('close', () => {
      const left = (byPeer.get(peer) ?? 1) - 1;
      if (left > 0) byPeer.set(peer, left);
      else byPeer.delete(peer);
    });
  });
}

/** Counts refused connections and tells them: the first at once, the rest together `reportMs` after the last telling, or at the close. */
function refusalReporter(app: FastifyInstance, reportMs: number, onDrop: () => void, tell: (dropped: number, remoteAddress: string | undefined) => void) {
  let dropped = 0;
  let quietUntil = -Infinity;
  let later: NodeJS.Timeout | null = null;
  let laterAddress: string | undefined;
  const tellDropped = (remoteAddress: string | undefined) => {
    tell(dropped, remoteAddress);
    dropped = 0;
    quietUntil = performance.now() + reportMs;
  };
  // refusals still being counted are told at the close, not lost with the timer
  app.addHook('onClose', (_app, done) => {
    if (later) {
      clearTimeout(later);
      later = null;
      tellDropped(laterAddress);
    }
    done();
  });
  return (remoteAddress: string | undefined) => {
    onDrop();
    dropped++;
    if (performance.now() >= quietUntil) return tellDropped(remoteAddress);
    if (later) return;
    laterAddress = remoteAddress;
    later = setTimeout(() => {
      later = null;
      tellDropped(laterAddress);
    }, quietUntil - performance.now()).unref();
  };
}

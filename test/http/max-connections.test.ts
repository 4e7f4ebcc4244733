import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import t from 'tap';
import { ConfigError, parseConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { buildTestApp } from '../helpers/build-app.ts';
import { eventually } from '../helpers/eventually.ts';

/** An open connection that sends nothing (an idle keep-alive socket, as far as the server knows), from `from` (a loopback address). */
function idle(port: number, from = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress: from }, () => resolve(s));
    s.on('error', reject);
  });
}

/** GET /healthz on a new connection (from `from`): the status, or null when the connection was closed without an answer. */
function healthz(port: number, from = '127.0.0.1'): Promise<number | null> {
  return new Promise((resolve) => {
    let reply = '';
    const s = connect({ port, host: '127.0.0.1', localAddress: from }, () => s.write('GET /healthz HTTP/1.1\r\nHost: gate\r\nConnection: close\r\n\r\n'));
    s.setEncoding('utf8');
    s.on('data', (c: string) => (reply += c));
    s.on('error', () => undefined);
    s.on('close', () => resolve(/^HTTP\/1\.1 (\d{3})/.exec(reply) ? Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)![1]) : null));
  });
}

/**
 * A gate listening on a free port with http.maxConnections 16 and its log lines captured: its
 * port, its open connections, the sockets a test holds (destroyed at teardown), and the log's
 * "connections refused" lines.
 */
async function cappedGate(t: Parameters<typeof buildTestApp>[0], dropReportMs?: number, configYaml = 'http: { maxConnections: 16 }\n') {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk, _enc, cb) => void (lines.push(String(chunk)), cb()) });
  const g = await buildTestApp(t, { configYaml, deps: { logger: createLogger('info', sink), ...(dropReportMs === undefined ? {} : { dropReportMs }) } });
  await g.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = g.app.server.address() as AddressInfo;
  const open = () => new Promise<number>((resolve, reject) => g.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
  const held: Socket[] = [];
  t.teardown(() => held.forEach((s) => s.destroy()));
  const told = () => lines.filter((l) => l.includes('connections refused: http.maxConnections are open')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const toldPerClient = () => lines.filter((l) => l.includes('connections refused: one client has http.maxConnectionsPerClient open')).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { g, port, open, held, told, toldPerClient };
}

for (const { key, fallback, min, good, bad } of [
  { key: 'maxConnections', fallback: 1024, min: 16, good: 64, bad: ['0', '8', '1.5', '"many"', '100000'] },
  { key: 'maxConnectionsPerClient', fallback: 256, min: 4, good: 8, bad: ['0', '3', '1.5', '"many"', '100000'] },
] as const) {
  t.test(`http.${key}: default ${fallback}, a whole number from ${min} to 65536`, async (t) => {
    t.equal(parseConfig({}, null).http[key], fallback);
    t.equal(parseConfig({}, `http: { ${key}: ${good} }\n`).http[key], good);
    for (const b of bad) {
      t.throws(() => parseConfig({}, `http: { ${key}: ${b} }\n`), { constructor: ConfigError, message: new RegExp(`http\\.${key}\\b`) }, b);
    }
  });
}

t.test('past http.maxConnections open connections, a new one is closed at once and logged; one freed lets the next in', async (t) => {
  const { port, open, held, told } = await cappedGate(t);

  t.equal(await healthz(port), 200, 'answered below the cap');
  for (let i = 0; i < 16; i++) held.push(await idle(port));
  t.ok(await eventually(async () => (await open()) === 16), 'the server holds the 16 idle connections');
  t.equal(await healthz(port), null, 'the 17th connection is closed without an answer');
  t.ok(await eventually(() => told().length > 0), 'and the log says why');
  t.match(told()[0], { level: 40, maxConnections: 16, dropped: 1 });

  held.pop()!.destroy();
  t.ok(await eventually(async () => (await open()) === 15), 'one idle connection closed');
  t.equal(await healthz(port), 200, 'a new connection is answered again');
});

t.test('refused connections are counted in gate_connections_dropped_total, which a scraper on its kept-alive connection sees', async (t) => {
  const { g, port, open, held } = await cappedGate(t, 2000);
  // the scraper keeps one connection, as Prometheus does between scrapes: its `up` stays 1
  const scraper = await idle(port);
  held.push(scraper);
  const scrape = () =>
    new Promise<number>((resolve) => {
      let reply = '';
      const onData = (c: Buffer) => {
        reply += c.toString('utf8');
        // the gate's own metrics end with gate_audit_writable (registered last)
        if (!/^gate_audit_writable \d/m.test(reply)) return;
        scraper.off('data', onData);
        resolve(Number(/^gate_connections_dropped_total (\d+)$/m.exec(reply)?.[1] ?? Number.NaN));
      };
      scraper.on('data', onData);
      scraper.write('GET /metrics HTTP/1.1\r\nHost: gate\r\n\r\n');
    });
  t.equal(await scrape(), 0, 'none refused yet');
  for (let i = 0; i < 15; i++) held.push(await idle(port));
  t.ok(await eventually(async () => (await open()) === 16), 'the cap is reached: the scraper and 15 idle connections');
  for (let i = 0; i < 5; i++) t.equal(await healthz(port), null, `a new connection is closed without an answer ${i + 1}`);
  t.equal(await scrape(), 5, 'each counted at once, whatever the log waits for');
  t.ok(g.app.server.listening);
});

t.test('a burst of refused connections that then stops is reported whole: the first at once, the rest together when the quiet time ends', async (t) => {
  const { port, open, held, told } = await cappedGate(t, 2000);
  for (let i = 0; i < 16; i++) held.push(await idle(port));
  t.ok(await eventually(async () => (await open()) === 16), 'the server holds 16 idle connections');
  for (let i = 0; i < 5; i++) t.equal(await healthz(port), null, `refused ${i + 1}`);
  t.same(told().map((l) => l.dropped), [1], 'the first is told at once, the next four are counted');
  t.ok(await eventually(() => told().length === 2, 10_000), 'and told when the quiet time ends, with no further refusal to prompt it');
  t.same(told().map((l) => l.dropped), [1, 4], 'all five refusals are in the log');
});

t.test('refused connections still being counted when the gate closes are told then, not lost', async (t) => {
  const { g, port, open, held, told } = await cappedGate(t, 60_000);
  for (let i = 0; i < 16; i++) held.push(await idle(port));
  t.ok(await eventually(async () => (await open()) === 16), 'the server holds 16 idle connections');
  for (let i = 0; i < 3; i++) t.equal(await healthz(port), null, `refused ${i + 1}`);
  t.same(told().map((l) => l.dropped), [1], 'the first is told at once, the next two are counted');
  held.forEach((s) => s.destroy());
  await g.app.close();
  t.same(told().map((l) => l.dropped), [1, 2], 'the two counted are told at the close');
});

t.test('one client holding http.maxConnectionsPerClient connections has its next one closed at once and logged; another client still connects; one freed lets the next in', async (t) => {
  const { port, open, held, toldPerClient, told } = await cappedGate(t, undefined, 'http: { maxConnections: 64, maxConnectionsPerClient: 4 }\n');
  for (let i = 0; i < 4; i++) held.push(await idle(port));
  t.ok(await eventually(async () => (await open()) === 4), 'the server holds the 4 idle connections');
  t.equal(await healthz(port), null, 'the client\'s 5th connection is closed without an answer');
  t.equal(await healthz(port, '127.0.0.2'), 200, 'another client (another address) is answered');
  t.ok(await eventually(() => toldPerClient().length > 0), 'the log says why');
  t.match(toldPerClient()[0], { level: 40, maxConnectionsPerClient: 4, dropped: 1, remoteAddress: '127.0.0.1' });
  t.same(told(), [], 'not as the cap of all connections');
  held.pop()!.destroy();
  t.ok(await eventually(async () => (await open()) === 3), 'one closed');
  t.equal(await healthz(port), 200, 'the client connects again');
});

t.test('a trusted proxy is held only to http.maxConnections; the peers of proxyAuth.trustedCidrs are not (the README sets them to the pod network)', async (t) => {
  {
    const { port, open, held, toldPerClient } = await cappedGate(t, undefined, 'http: { maxConnections: 64, maxConnectionsPerClient: 4, trustedProxies: ["127.0.0.1"] }\n');
    for (let i = 0; i < 6; i++) held.push(await idle(port));
    t.ok(await eventually(async () => (await open()) === 6), 'a trusted proxy: 6 connections held');
    t.equal(await healthz(port), 200, 'and a 7th answered');
    t.same(toldPerClient(), []);
  }
  {
    const { port, open, held } = await cappedGate(t, undefined, 'http: { maxConnections: 64, maxConnectionsPerClient: 4 }\nproxyAuth: { trustedCidrs: ["127.0.0.0/8"] }\n');
    for (let i = 0; i < 4; i++) held.push(await idle(port));
    t.ok(await eventually(async () => (await open()) === 4), 'a peer in proxyAuth.trustedCidrs: 4 held');
    t.equal(await healthz(port), null, 'its 5th closed, as any client\'s');
    t.equal(await healthz(port, '127.0.0.2'), 200, 'another answered');
  }
});

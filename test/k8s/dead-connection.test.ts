// A kept-alive connection to an API server instance that dies silently (no FIN or RST: a node's
// power lost, a partition, conntrack still sending the Service IP to the dead endpoint) while new
// connections reach a live instance (kube-proxy picks a live endpoint): one call may fail, not
// every call until undici gives up on the connection (over HTTP/2, about two minutes).
import { readFileSync } from 'node:fs';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { createSecureServer } from 'node:http2';
import t, { type Test } from 'tap';

import { KubeConfig } from '@kubernetes/client-node';
import { createKubernetesAuthenticator } from '../../src/k8s/kubernetes-auth.ts';
import { GATE_SA_TOKEN, TEST_CA, startFakeKube } from '../helpers/fake-kube-api.ts';

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);
const KARGO_SA = 'system:serviceaccount:stonks-pipeline:gate-caller';
const req = (token: string) => ({ headers: { authorization: `Bearer ${token}` }, remoteAddress: '127.0.0.1', client: 'kargo' });

/** TCP forwarder: blackhole() makes every connection open so far silently drop traffic both ways (never closed); new ones forward. */
async function blackholeProxy(upstreamPort: number) {
  const pairs: { a: Socket; b: Socket; dead: boolean }[] = [];
  let accepted = 0;
  const server = createNetServer((a) => {
    accepted++;
    const b = netConnect(upstreamPort, '127.0.0.1');
    const pair = { a, b, dead: false };
    pairs.push(pair);
    a.on('data', (d) => { if (!pair.dead) b.write(d); });
    b.on('data', (d) => { if (!pair.dead) a.write(d); });
    a.on('error', () => {}); b.on('error', () => {});
    a.on('close', () => { if (!pair.dead) b.destroy(); });
    b.on('close', () => { if (!pair.dead) a.destroy(); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    accepted: () => accepted,
    blackhole: () => pairs.forEach((p) => (p.dead = true)),
    close: () => { pairs.forEach((p) => { p.a.destroy(); p.b.destroy(); }); server.close(); },
  };
}

function kubeConfigFor(port: number): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: `https://127.0.0.1:${port}`, caData: readFileSync(TEST_CA).toString('base64') }],
    users: [{ name: 'gate', token: GATE_SA_TOKEN }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'gate' }],
    currentContext: 'fake',
  });
  return kc;
}

async function run(t: Test, port: number, label: string, limit: number) {
  const proxy = await blackholeProxy(port);
  t.teardown(() => proxy.close());
  const auth = createKubernetesAuthenticator({ kubeConfig: kubeConfigFor(proxy.port), cacheSeconds: 0, timeoutMs: 500 });
  t.match(await auth.authenticate(req('kargo-token')), { ok: true }, 'healthy first');
  // a burst (64 TokenReviews may run at once by default) leaves that many kept connections
  const burst = await Promise.all(Array.from({ length: 16 }, () => auth.authenticate(req('kargo-token'))));
  t.ok(burst.every((r) => r.ok), 'burst answered');
  await new Promise((r) => setTimeout(r, 50));
  proxy.blackhole();
  const outcomes: string[] = [];
  const started = Date.now();
  for (let i = 0; i < 8; i++) {
    const r = await auth.authenticate(req('kargo-token'));
    outcomes.push(r.ok ? 'ok' : `503`);
  }
  t.comment(`${label}: after the kept connection went dead: ${outcomes.join(' ')} in ${Date.now() - started} ms; proxy accepted ${proxy.accepted()} connections`);
  // the first call on the dead connection gets no answer within its deadline; the gate then stops
  // using the kept connections (h1: undici would destroy only the one socket, leaving the burst's
  // other dead ones for the next calls; h2: an aborted call resets its stream, the session stays)
  const failed = outcomes.filter((o) => o !== 'ok').length;
  t.ok(failed <= limit, `${label}: at most ${limit} failed reviews once the kept connection is dead (a new connection works): ${outcomes.join(' ')}`);
}

t.test('HTTP/1.1 API server: dead kept connection', async (t) => {
  const fake = await startFakeKube({ tls: true });
  t.teardown(() => fake.close());
  fake.users.set('kargo-token', { username: KARGO_SA, groups: [] });
  await run(t, Number(new URL(fake.url).port), 'h1', 1);
});

t.test('HTTP/2 API server (what kube-apiserver negotiates by ALPN): dead kept session', async (t) => {
  const server = createSecureServer({ key: readFileSync(fixture('api-server.key')), cert: readFileSync(fixture('api-server.crt')) });
  let sessions = 0;
  server.on('session', () => sessions++);
  server.on('stream', (stream, headers) => {
    let body = '';
    stream.on('data', (c) => (body += c));
    stream.on('end', () => {
      const token = (JSON.parse(body || '{}') as { spec?: { token?: string } }).spec?.token;
      stream.respond({ ':status': 201, 'content-type': 'application/json' });
      stream.end(JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token }, status: token === 'kargo-token' ? { authenticated: true, user: { username: KARGO_SA, groups: [] } } : { user: {} } }));
    });
    void headers;
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  await run(t, (server.address() as AddressInfo).port, 'h2', 1);
  t.comment(`h2 sessions opened on the server: ${sessions}`);
});

t.test('an error status is an answer: the kept connection stays in use', async (t) => {
  const fake = await startFakeKube({ tls: true });
  t.teardown(() => fake.close());
  fake.behaviour.tokenreviews = { kind: 'status', code: 500 };
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig(), cacheSeconds: 0 });
  for (let i = 0; i < 8; i++) {
    t.match(await auth.authenticate(req('kargo-token')), { ok: false, status: 503 }, `review ${i + 1}: HTTP 500 is a 503`);
    // undici frees a connection a turn after its answer was read
    await new Promise((r) => setImmediate(r));
  }
  t.equal(fake.requests.length, 8);
  t.ok(fake.connections <= 2, `8 reviews answered 500 went over ${fake.connections} connection(s)`);
});

import { join } from 'node:path';
import t, { type Test as Tap } from 'tap';
import { createLocalAuthenticator, tokenFilePath } from '../../src/auth/local-tokens.ts';
import { createProxyHeaderAuthenticator } from '../../src/auth/proxy-header.ts';
import type { AuditEventV1 } from '../../src/audit/event.ts';
import { ConfigError, parseConfig } from '../../src/config.ts';
import { clientAddress, unmappedAddress } from '../../src/http/peer-address.ts';
import { clientKey } from '../../src/http/refusal-recorder.ts';
import { buildTestApp, decisionBody } from '../helpers/build-app.ts';
import { tempDir } from '../helpers/temp-dir.ts';

// http.trustedProxies: who the client of a refusal is when the gate sits behind an ingress.
const START = '2026-11-25T22:00:00.000Z';
const BEHIND_INGRESS = 'http: { trustedProxies: ["10.42.0.0/16", "fd00:42::/64"] }\n';

const refusalsIn = (records: readonly AuditEventV1[]) => records.filter((r) => r.type === 'refusal');

async function refusedFrom(t: Tap, configYaml: string | undefined, remoteAddress: string, forwardedFor?: string) {
  const g = await buildTestApp(t, { now: START, ...(configYaml ? { configYaml } : {}) });
  const res = await g.app.inject({
    method: 'POST',
    url: '/v1/decisions',
    payload: decisionBody(),
    remoteAddress,
    headers: { authorization: 'Bearer not-a-token', ...(forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor }) },
  });
  t.equal(res.statusCode, 401, 'refused');
  const [record] = refusalsIn(g.audit.records());
  return record!.data as Record<string, unknown>;
}

t.test('who a refusal came from', async (t) => {
  const cases: { name: string; config?: string; peer: string; xff?: string; remoteAddress: string; peerAddress?: string }[] = [
    { name: 'no trusted proxies: X-Forwarded-For is ignored', peer: '10.42.0.7', xff: '203.0.113.9', remoteAddress: '10.42.0.7' },
    { name: 'a trusted proxy names the client', config: BEHIND_INGRESS, peer: '10.42.0.7', xff: '203.0.113.9', remoteAddress: '203.0.113.9', peerAddress: '10.42.0.7' },
    {
      name: 'what the client itself put in front is not believed',
      config: BEHIND_INGRESS,
      peer: '10.42.0.7',
      xff: '198.51.100.1, 203.0.113.9',
      remoteAddress: '203.0.113.9',
      peerAddress: '10.42.0.7',
    },
    {
      name: 'one hop only: an address of the trusted range written further left is the client\'s own word',
      config: BEHIND_INGRESS,
      peer: '10.42.0.7',
      xff: '198.51.100.1, 10.42.5.5',
      remoteAddress: '10.42.5.5',
      peerAddress: '10.42.0.7',
    },
    { name: 'a peer that is not a trusted proxy: its header is ignored', config: BEHIND_INGRESS, peer: '192.0.2.5', xff: '203.0.113.9', remoteAddress: '192.0.2.5' },
    { name: 'an IPv4-mapped peer counts as its IPv4 address', config: BEHIND_INGRESS, peer: '::ffff:10.42.0.7', xff: '203.0.113.9', remoteAddress: '203.0.113.9', peerAddress: '::ffff:10.42.0.7' },
    { name: 'an IPv6 proxy', config: BEHIND_INGRESS, peer: 'fd00:42::5', xff: '2001:db8::1', remoteAddress: '2001:db8::1', peerAddress: 'fd00:42::5' },
    { name: 'junk in the header: the peer it is', config: BEHIND_INGRESS, peer: '10.42.0.7', xff: 'not-an-address', remoteAddress: '10.42.0.7' },
    { name: 'a trusted proxy that forwarded nothing', config: BEHIND_INGRESS, peer: '10.42.0.7', remoteAddress: '10.42.0.7' },
  ];
  for (const c of cases) {
    const data = await refusedFrom(t, c.config, c.peer, c.xff);
    t.same({ remoteAddress: data['remoteAddress'], peerAddress: data['peerAddress'] }, { remoteAddress: c.remoteAddress, peerAddress: c.peerAddress }, c.name);
  }
});

t.test('behind the ingress, each client has its own refusal budget', async (t) => {
  const g = await buildTestApp(t, { now: START, configYaml: `${BEHIND_INGRESS}audit: { refusalRecordsPerMinute: 1 }\n` });
  const bad = (client: string) =>
    g.app.inject({ method: 'POST', url: '/v1/decisions', payload: decisionBody(), remoteAddress: '10.42.0.7', headers: { authorization: 'Bearer nope', 'x-forwarded-for': client } });
  for (const client of ['203.0.113.9', '203.0.113.9', '203.0.113.9', '198.51.100.20']) t.equal((await bad(client)).statusCode, 401);
  t.same(
    refusalsIn(g.audit.records()).map((r) => r.data?.['remoteAddress']),
    ['203.0.113.9', '198.51.100.20'],
    'one record each: the second client is not hidden behind the first one\'s budget',
  );
  g.clock.set('2026-11-25T22:01:30.000Z');
  await g.app.close();
  const summary = refusalsIn(g.audit.records()).find((r) => r.data?.['suppressed'] !== undefined);
  t.match(summary?.data, { suppressed: 2, remoteAddress: '203.0.113.9' }, 'the summary names the client, not the ingress');
});

t.test('the identity header of an authenticating proxy is still trusted by the TCP peer only', async (t) => {
  const configYaml = `${BEHIND_INGRESS}proxyAuth: { trustedCidrs: ["203.0.113.0/24"] }\n`;
  const noTokens = createLocalAuthenticator(tokenFilePath(await tempDir(t, 'gate-no-tokens-')));
  const g = await buildTestApp(t, { now: START, configYaml, auth: createProxyHeaderAuthenticator(noTokens, parseConfig({}, configYaml).proxyAuth) });
  const whoami = (remoteAddress: string, more: Record<string, string> = {}) =>
    g.app.inject({ method: 'GET', url: '/v1/whoami', remoteAddress, headers: { 'x-auth-request-user': 'mallory', 'x-auth-request-groups': 'admin', ...more } });
  const direct = await whoami('203.0.113.9');
  t.equal(direct.statusCode, 200, 'the control: from the authenticating proxy itself, the header is believed');
  t.equal(direct.json().name, 'mallory');
  const forwarded = await whoami('10.42.0.7', { 'x-forwarded-for': '203.0.113.9' });
  t.equal(forwarded.statusCode, 401, 'a forwarded address inside proxyAuth.trustedCidrs does not make the header believed');
});

t.test('clientAddress without a framework request', async (t) => {
  t.equal(clientAddress({ ip: '203.0.113.9', socket: { remoteAddress: '10.0.0.1' } } as never), '203.0.113.9');
  t.equal(clientAddress({ ip: '10.0.0.1', socket: { remoteAddress: '10.0.0.1' } } as never), '10.0.0.1');
  t.equal(clientAddress({ ip: 'x', socket: { remoteAddress: '10.0.0.1' } } as never), '10.0.0.1', 'not an address: the peer');
  t.equal(clientAddress({ ip: undefined, socket: undefined } as never), null, 'no socket (a fake request): no address');
});

t.test('IPv4-mapped IPv6 addresses, dotted or in hex, are their IPv4 address', async (t) => {
  for (const [given, want] of [
    ['::ffff:10.42.0.7', '10.42.0.7'],
    ['::FFFF:a2a:7', '10.42.0.7'],
    ['::ffff:cb00:7109', '203.0.113.9'],
    ['10.42.0.7', '10.42.0.7'],
    ['2001:db8::1', '2001:db8::1'],
  ] as const) {
    t.equal(unmappedAddress(given), want, given);
  }
  t.equal(clientKey('::ffff:a2a:7'), '10.42.0.7', 'so its refusal budget is the IPv4 client\'s, not a shared ::/64');
});

t.test('configuration', async (t) => {
  t.same(parseConfig({}, null).http.trustedProxies, [], 'default: trust no proxy');
  t.same(parseConfig({}, 'http: { trustedProxies: ["10.42.0.0/16", "::1"] }\n').http.trustedProxies, ['10.42.0.0/16', '::1']);
  for (const bad of ['10.42.0.0/33', 'traefik', '10.0.0.0/8/8']) {
    t.throws(() => parseConfig({}, `http: { trustedProxies: ["${bad}"] }\n`), { constructor: ConfigError, message: /http\.trustedProxies: "[^"]+" is not an IPv4 or IPv6 CIDR/ }, bad);
  }
  t.throws(() => parseConfig({}, 'http: { trustProxy: true }\n'), /http/, 'an unknown key under http names it');
  t.throws(
    () => parseConfig({}, 'proxyAuth: { trustedCidrs: ["10.0.0.0/8", "oauth2-proxy"] }\n'),
    { constructor: ConfigError, message: /proxyAuth\.trustedCidrs: "oauth2-proxy" is not an IPv4 or IPv6 CIDR/ },
    'the other address list too: a start-up error naming its key',
  );
});

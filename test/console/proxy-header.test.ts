import { join } from 'node:path';
import t from 'tap';
import type { AuthRequest, Authenticator, Identity, Permission } from '../../src/auth/identity.ts';
import { createLocalAuthenticator, tokenFilePath } from '../../src/auth/local-tokens.ts';
import { createProxyHeaderAuthenticator, parseGroups, parseTrustedCidrs, rolesFromGroups } from '../../src/auth/proxy-header.ts';
import { isInList } from '../../src/http/peer-address.ts';
import { buildTestApp } from '../helpers/build-app.ts';
import { tempDir } from '../helpers/temp-dir.ts';

/** An inner authenticator that knows one bearer token and records what authorize() saw. */
function fakeInner(mode: 'local' | 'kubernetes' = 'local') {
  const seen: Identity[] = [];
  const inner: Authenticator = {
    mode,
    async authenticate(req) {
      const h = req.headers['authorization'];
      if (h === 'Bearer good') return { ok: true, identity: { name: 'token-user', groups: ['operator'], via: 'local-token' } };
      return { ok: false, status: 401, error: 'unauthorized', message: 'no token', presented: { name: 'anonymous', groups: [], via: 'none' } };
    },
    async authorize(identity) {
      seen.push(identity);
      return identity.groups.includes('operator') || identity.groups.includes('admin') ? { ok: true } : { ok: false, status: 403, error: 'forbidden', message: 'no' };
    },
  };
  return { inner, seen };
}

const OPTS = { trustedCidrs: ['10.1.0.0/16', 'fd00:1::/32', '192.0.2.7'], userHeader: 'X-Auth-Request-User', groupsHeader: 'X-Auth-Request-Groups' };
const req = (remoteAddress: string, headers: AuthRequest['headers']): AuthRequest => ({ remoteAddress, headers });

t.test('who is trusted: table of peers, headers and configurations', async (t) => {
  const proxied = { 'x-auth-request-user': 'olivia@example.com', 'x-auth-request-groups': 'gate-operator, traders,,ops' };
  const cases: { name: string; trusted?: string[]; remote: string; headers: AuthRequest['headers']; expect: string | null; via?: string }[] = [
    { name: 'IPv4 peer inside the range, header set', remote: '10.1.200.3', headers: proxied, expect: 'olivia@example.com', via: 'proxy-header' },
    { name: 'IPv4-mapped IPv6 peer inside the range', remote: '::ffff:10.1.0.9', headers: proxied, expect: 'olivia@example.com', via: 'proxy-header' },
    { name: 'single-address entry', remote: '192.0.2.7', headers: proxied, expect: 'olivia@example.com', via: 'proxy-header' },
    { name: 'IPv6 peer inside the range', remote: 'fd00:1:0:1::5', headers: proxied, expect: 'olivia@example.com', via: 'proxy-header' },
    { name: 'untrusted IPv4 peer: header ignored, no token', remote: '10.2.0.1', headers: proxied, expect: null },
    { name: 'untrusted IPv6 peer: header ignored', remote: 'fd01::1', headers: proxied, expect: null },
    { name: 'loopback is not trusted unless listed', remote: '127.0.0.1', headers: proxied, expect: null },
    { name: 'untrusted peer with a token: the token counts, not the header', remote: '10.2.0.1', headers: { ...proxied, authorization: 'Bearer good' }, expect: 'token-user', via: 'local-token' },
    { name: 'trusted peer without the user header: falls through to the token', remote: '10.1.0.1', headers: { authorization: 'Bearer good' }, expect: 'token-user', via: 'local-token' },
    { name: 'trusted peer without any credential', remote: '10.1.0.1', headers: {}, expect: null },
    {
      name: 'spoofed X-Forwarded-For naming a trusted address is ignored',
      remote: '203.0.113.9',
      headers: { ...proxied, 'x-forwarded-for': '10.1.0.1', 'x-real-ip': '10.1.0.1', forwarded: 'for=10.1.0.1' },
      expect: null,
    },
    { name: 'empty configuration never trusts the header, even from loopback', trusted: [], remote: '127.0.0.1', headers: proxied, expect: null },
    { name: 'empty configuration still accepts tokens', trusted: [], remote: '127.0.0.1', headers: { ...proxied, authorization: 'Bearer good' }, expect: 'token-user', via: 'local-token' },
    { name: 'a repeated user header is refused as ambiguous (falls through)', remote: '10.1.0.1', headers: { 'x-auth-request-user': ['a', 'b'] }, expect: null },
    { name: 'garbage peer address', remote: 'not-an-ip', headers: proxied, expect: null },
  ];
  for (const c of cases) {
    const { inner } = fakeInner();
    const auth = createProxyHeaderAuthenticator(inner, { ...OPTS, trustedCidrs: c.trusted ?? OPTS.trustedCidrs });
    const res = await auth.authenticate(req(c.remote, c.headers));
    if (c.expect === null) {
      t.equal(res.ok, false, c.name);
    } else {
      t.ok(res.ok, c.name);
      if (res.ok) {
        t.equal(res.identity.name, c.expect, `${c.name}: name`);
        t.equal(res.identity.via, c.via, `${c.name}: via`);
      }
    }
  }
});

t.test('groups are split on commas and kept as sent; an unusable name is refused', async (t) => {
  const { inner } = fakeInner();
  const auth = createProxyHeaderAuthenticator(inner, OPTS);
  const res = await auth.authenticate(req('10.1.0.1', { 'x-auth-request-user': ' olivia ', 'x-auth-request-groups': 'gate-operator, traders,,ops,traders' }));
  t.same(res.ok && res.identity, { name: 'olivia', groups: ['gate-operator', 'traders', 'ops'], via: 'proxy-header' });
  const noGroups = await auth.authenticate(req('10.1.0.1', { 'x-auth-request-user': 'olivia' }));
  t.same(noGroups.ok && noGroups.identity.groups, []);
  for (const bad of ['', '   ', 'a\u0000b', 'x'.repeat(300)]) {
    const r = await auth.authenticate(req('10.1.0.1', { 'x-auth-request-user': bad }));
    t.equal(r.ok, false, JSON.stringify(bad.slice(0, 10)));
    if (!r.ok) t.equal(r.status, 401);
  }
  t.same(parseGroups('a,\u0007bell, b '), ['a', 'b'], 'control characters dropped');
  t.same(parseGroups('devs,ops\u202eslaved-nimda,x\u2066y\u2069,tra\u200bders,gate-admin\ufeff,approvers'), ['devs', 'approvers'], 'groups with a bidirectional override, an isolate, a zero-width space or a BOM dropped, as such a user name is refused');
});

t.test('a user name with an invisible (format or default-ignorable) character is refused, as one with a control character is', async (t) => {
  const { inner } = fakeInner();
  const auth = createProxyHeaderAuthenticator(inner, OPTS);
  for (const [label, bad] of [
    ['zero-width space', 'olivia\u200B'],
    ['zero-width non-joiner', 'oli\u200Cvia'],
    ['zero-width joiner', 'oli\u200Dvia'],
    ['word joiner', 'olivia\u2060'],
    ['byte-order mark', '\uFEFFolivia'],
    ['soft hyphen', 'oli\u00ADvia'],
    ['right-to-left override', 'olivia\u202E'],
    ['variation selector', 'olivia\uFE0F'],
    ['Hangul filler', 'olivia\u3164'],
    ['only a zero-width space', '\u200B'],
  ] as const) {
    const r = await auth.authenticate(req('10.1.0.1', { 'x-auth-request-user': bad }));
    t.equal(r.ok, false, label);
    if (!r.ok) t.match(r, { status: 401, error: 'unauthorized', message: /not a usable user name/ }, label);
  }
  for (const good of ['Olivia', '\uFF4Flivia', 'ren\u00E9e', 'rene\u0301e', 'olivia smith', 'olivia@example.com']) {
    const r = await auth.authenticate(req('10.1.0.1', { 'x-auth-request-user': good }));
    t.same(r.ok && r.identity.name, good, `${JSON.stringify(good)}: accepted as given (separation of duties compares its key)`);
  }
});

t.test('a proxy identity can never be a Kubernetes system user or group (system:...)', async (t) => {
  const kube = fakeInner('kubernetes');
  const auth = createProxyHeaderAuthenticator(kube.inner, OPTS);
  for (const name of ['system:admin', 'system:serviceaccount:stonks-pipeline:kargo', 'System:kube-controller-manager']) {
    const r = await auth.authenticate(req('10.1.0.1', { 'x-auth-request-user': name }));
    t.match(r, { ok: false, status: 401, error: 'unauthorized', message: /Kubernetes system user/ }, name);
  }
  const r = await auth.authenticate(req('10.1.0.1', { 'x-auth-request-user': 'olivia', 'x-auth-request-groups': 'system:masters,traders, SYSTEM:nodes,gate-operator,systems' }));
  t.same(r.ok && r.identity.groups, ['traders', 'gate-operator', 'systems'], 'system: groups dropped, the rest kept as sent');
  if (r.ok) await auth.authorize(r.identity, { resource: 'breakglassgrants', verb: 'create' }, 'stonks-pipeline');
  t.same(kube.seen.at(-1)?.groups, ['traders', 'gate-operator', 'systems'], 'so the SubjectAccessReview never names system:masters');
});

t.test('a proxy identity can never be a name the audit log uses for the gate or for anonymous callers', async (t) => {
  const auth = createProxyHeaderAuthenticator(fakeInner().inner, OPTS);
  for (const name of ['gate', 'Gate', 'anonymous', 'ANONYMOUS', '\uff47\uff41\uff54\uff45' /* fullwidth "gate" */]) {
    const r = await auth.authenticate(req('10.1.0.1', { 'x-auth-request-user': name, 'x-auth-request-groups': 'gate-operator' }));
    t.match(r, { ok: false, status: 401, error: 'unauthorized', message: /which the audit log uses for callers without a valid token and the gate's own records/ }, name);
  }
  const ok = await auth.authenticate(req('10.1.0.1', { 'x-auth-request-user': 'gatekeeper' }));
  t.ok(ok.ok, 'a name that only starts like one is fine');
});

t.test('permissions: local mode maps groups to roles, kubernetes mode passes them through', async (t) => {
  const perm: Permission = { resource: 'breakglassgrants', verb: 'create' };
  t.same(rolesFromGroups(['gate-operator', 'Approver', 'traders', 'gate-admin', 'operator', 'gate-nope']), ['operator', 'approver', 'admin']);
  t.same(rolesFromGroups(['compliance', 'gate-auditor']), ['auditor'], 'gate-auditor, the ClusterRole\'s name, gives the local auditor role');

  const local = fakeInner('local');
  const lauth = createProxyHeaderAuthenticator(local.inner, OPTS);
  const id: Identity = { name: 'olivia', groups: ['gate-operator', 'traders'], via: 'proxy-header' };
  t.same(await lauth.authorize(id, perm, 'stonks-pipeline'), { ok: true });
  t.same(local.seen.at(-1)?.groups, ['operator'], 'inner saw the mapped roles');
  const other = await lauth.authorize({ name: 'x', groups: ['traders'], via: 'proxy-header' }, perm, 'stonks-pipeline');
  t.equal(other.ok, false, 'a group that is no role gives nothing');
  // a token identity is never remapped
  await lauth.authorize({ name: 't', groups: ['operator'], via: 'local-token' }, perm, 'stonks-pipeline');
  t.same(local.seen.at(-1)?.groups, ['operator']);

  const kube = fakeInner('kubernetes');
  const kauth = createProxyHeaderAuthenticator(kube.inner, OPTS);
  t.equal(kauth.mode, 'kubernetes');
  await kauth.authorize(id, perm, 'stonks-pipeline');
  t.same(kube.seen.at(-1)?.groups, ['gate-operator', 'traders'], 'SubjectAccessReview gets the groups as sent');
});

t.test('CIDR parsing', async (t) => {
  const good = parseTrustedCidrs(['10.0.0.0/8', '::1', 'fd00::/8', '0.0.0.0/0']);
  t.ok(isInList(good, '10.9.9.9'));
  t.ok(isInList(good, '::1'));
  t.ok(isInList(good, '::ffff:8.8.8.8'), '0.0.0.0/0 covers mapped addresses');
  for (const bad of ['10.0.0.0/33', '300.1.1.1/8', 'fd00::/129', 'example.com', '10.0.0.0/8/1', '10.0.0.0/x', '']) {
    t.throws(() => parseTrustedCidrs([bad]), /proxyAuth\.trustedCidrs/, JSON.stringify(bad));
  }
});

t.test('through the app: the guard passes the socket address, not X-Forwarded-For', async (t) => {
  // inject() connects from 127.0.0.1; trust only another range, then loopback
  for (const [trusted, expectStatus] of [
    [['10.0.0.0/8'], 401],
    [['127.0.0.0/8'], 200],
  ] as const) {
    const dir = await tempDir(t, 'gate-proxy-');
    const auth = createProxyHeaderAuthenticator(createLocalAuthenticator(tokenFilePath(dir)), { ...OPTS, trustedCidrs: [...trusted] });
    const g = await buildTestApp(t, { auth });
    const res = await g.app.inject({
      url: '/v1/whoami',
      headers: { 'x-auth-request-user': 'pat', 'x-auth-request-groups': 'gate-approver', 'x-forwarded-for': '10.0.0.1' },
    });
    t.equal(res.statusCode, expectStatus, `trusted ${trusted.join(',')}`);
    if (res.statusCode === 200) t.match(res.json(), { name: 'pat', groups: ['gate-approver'], via: 'proxy-header', can: { approvals: true, breakglassgrants: false } });
  }
});

t.test('over real HTTP: a user and groups header the proxy writes in UTF-8 reads as written', async (t) => {
  // Node reads header bytes as Latin-1; oauth2-proxy and Traefik write a claim's UTF-8 bytes as
  // they are. "José" came out as "JosÃ©" in the audit log, and a name with 王 or Ł in it (a C1
  // control character after Latin-1) was refused as unusable
  const net = await import('node:net');
  const dir = await tempDir(t, 'gate-proxy-');
  const auth = createProxyHeaderAuthenticator(createLocalAuthenticator(tokenFilePath(dir)), { ...OPTS, trustedCidrs: ['127.0.0.0/8'] });
  const g = await buildTestApp(t, { auth });
  await g.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (g.app.server.address() as { port: number }).port;
  const whoami = (user: Buffer, groups: Buffer) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1', () =>
        c.write(
          Buffer.concat([
            Buffer.from('GET /v1/whoami HTTP/1.1\r\nHost: gate\r\nConnection: close\r\nX-Auth-Request-User: '),
            user,
            Buffer.from('\r\nX-Auth-Request-Groups: '),
            groups,
            Buffer.from('\r\n\r\n'),
          ]),
        ),
      );
      let got = '';
      c.setEncoding('utf8');
      c.on('data', (d) => (got += d));
      c.on('end', () => resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(got)?.[1]), body: got.slice(got.indexOf('\r\n\r\n') + 4) }));
      c.on('error', reject);
    });
  const utf8 = (s: string) => Buffer.from(s, 'utf8');
  for (const name of ['José', 'Łukasz', '王小明', 'renée@example.com']) {
    const res = await whoami(utf8(name), utf8('gate-approver,équipe'));
    t.equal(res.status, 200, name);
    t.match(JSON.parse(res.body), { name, groups: ['gate-approver', 'équipe'], via: 'proxy-header', can: { approvals: true } }, `${name}: as the proxy wrote it`);
  }
  const latin1 = await whoami(Buffer.from('renée', 'latin1'), utf8('gate-approver'));
  t.match(JSON.parse(latin1.body), { name: 'renée' }, 'bytes that are not UTF-8 are read as Latin-1, as before');
  const bom = await whoami(utf8('\uFEFFolivia'), utf8('gate-approver'));
  t.equal(bom.status, 401, 'a byte-order mark is not dropped: the name is refused as invisible-bearing');
  const zwsp = await whoami(utf8('olivia\u200B'), utf8('gate-approver'));
  t.equal(zwsp.status, 401, 'a zero-width space sent in UTF-8 is refused, as one given as a character is');
  for (const sep of ['\u2028', '\u2029']) {
    const res = await whoami(utf8(`olivia${sep}smith`), utf8('gate-approver'));
    t.equal(res.status, 401, `a line or paragraph separator (U+${sep.charCodeAt(0).toString(16).toUpperCase()}) in the name is refused`);
  }
});

t.test('whitespace other than spaces and tabs at either end of a UTF-8 name or group is refused, not trimmed into another name', async (t) => {
  // what Node hands over for a header the proxy wrote in UTF-8: its bytes as Latin-1
  const wire = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
  const { inner } = fakeInner('kubernetes');
  const auth = createProxyHeaderAuthenticator(inner, OPTS);
  for (const space of ['\u3000', '\u2003', '\u00A0', '\u2028', '\u202F']) {
    // (named by code point: a raw U+2028 would break the TAP line)
    const u = `U+${space.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
    for (const [user, label] of [[`olivia${space}`, `olivia ${u}`], [`${space}olivia`, `${u} olivia`]] as const) {
      const res = await auth.authenticate(req('10.1.0.1', { 'x-auth-request-user': wire(user), 'x-auth-request-groups': wire('traders') }));
      t.equal(res.ok, false, `${label}: not signed in as olivia`);
      if (!res.ok) t.equal(res.status, 401);
    }
    const groups = await auth.authenticate(req('10.1.0.1', { 'x-auth-request-user': 'olivia', 'x-auth-request-groups': wire(`admin${space}, ${space}gate-ci,traders`) }));
    t.match(groups, { ok: true, identity: { name: 'olivia', groups: ['traders'] } }, `${u}: such groups are dropped, not read as admin or gate-ci`);
  }
  // spaces and tabs around the name and the groups are still trimmed, and a space inside is kept
  const plain = await auth.authenticate(req('10.1.0.1', { 'x-auth-request-user': ' olivia smith\t', 'x-auth-request-groups': ' traders ,\tops' }));
  t.match(plain, { ok: true, identity: { name: 'olivia smith', groups: ['traders', 'ops'] } });
});

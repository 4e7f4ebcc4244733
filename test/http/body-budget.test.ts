// The request bodies the gate holds at once are bounded, in all and per identity: a request that
// does not fit is turned away 503 before its body is read, and its share comes back when its
// answer is done.
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import t from 'tap';
import type { Authenticator } from '../../src/auth/identity.ts';
import { createLocalAuthenticator, tokenFilePath } from '../../src/auth/local-tokens.ts';
import { BODIES_HELD_BYTES, BODIES_HELD_PER_IDENTITY_BYTES, BODY_LIMIT, SMALL_BODY_BYTES } from '../../src/app.ts';
import { createBodyBudget, declaredBodyBytes } from '../../src/http/body-budget.ts';
import { buildTestApp } from '../helpers/build-app.ts';

t.test('createBodyBudget: the total and each identity\'s share; a release gives back once', async (t) => {
  const b = createBodyBudget(100, 60);
  const a1 = b.take('a', 50);
  t.ok(a1, 'a takes 50');
  t.equal(b.take('a', 20), null, 'a may not go past its 60');
  const a2 = b.take('a', 10);
  t.ok(a2, 'a takes 10 more: 60');
  const k1 = b.take('k', 40);
  t.ok(k1, 'k takes 40: the total is full');
  t.equal(b.take('k', 1), null, 'nothing past the total, though k has room of its own');
  t.equal(b.held(), 100);
  a1!();
  a1!();
  t.equal(b.held(), 50, 'a release gives back once');
  t.ok(b.take('k', 20), 'room again');
  t.equal(b.take('a', 51), null, 'a has 10 held: 51 more is past its share');
  t.ok(b.take('a', 30), 'a: 40 held');
  a2!();
  k1!();
  t.equal(b.held(), 50);
});

t.test('declaredBodyBytes: the Content-Length up to the limit, the limit for a chunked body, 0 for none', async (t) => {
  t.equal(declaredBodyBytes({ 'content-length': '300' }, 1000), 300);
  t.equal(declaredBodyBytes({ 'content-length': '5000' }, 1000), 1000, 'a body over the limit is refused 413 anyway: counted at the limit');
  t.equal(declaredBodyBytes({ 'content-length': 'x' }, 1000), 1000, 'not a number: the limit');
  t.equal(declaredBodyBytes({ 'transfer-encoding': 'chunked' }, 1000), 1000, 'a length not known: the limit');
  t.equal(declaredBodyBytes({}, 1000), 0);
  t.equal(declaredBodyBytes({ 'content-length': '0' }, 1000), 0);
});

t.test('the defaults: a test-result upload (1 MiB) fits twice in an identity\'s share, and the total holds two identities\' shares', async (t) => {
  t.ok(BODIES_HELD_PER_IDENTITY_BYTES >= 2 * 1024 * 1024);
  t.ok(BODIES_HELD_BYTES >= 2 * BODIES_HELD_PER_IDENTITY_BYTES);
  t.ok(BODIES_HELD_BYTES <= 8 * 1024 * 1024, 'a few tens of MB of heap at worst (a body parsed takes up to ~16 times its size)');
  t.ok(BODIES_HELD_PER_IDENTITY_BYTES / BODY_LIMIT >= 32, 'one identity can have 32 decisions of the largest body in flight');
});

t.test('a request with a body over 4 KiB whose identity\'s share is full is 503 bodies_saturated with retry-after, before its body is read; another identity goes on; a small body takes no share; shares come back when answers are done', async (t) => {
  const budget = createBodyBudget(100_000, 20_000);
  const g = await buildTestApp(t, { now: '2026-11-25T22:00:00Z', deps: { bodyBudget: budget } });
  // a body over SMALL_BODY_BYTES (a test result with its log)
  const large = JSON.stringify({ exitCode: 0, passed: 1, log: 'x'.repeat(SMALL_BODY_BYTES) });
  const upload = (role: string) => g.as(role, { method: 'PUT', url: '/v1/test-results/abc123', headers: { 'content-type': 'application/json' }, payload: large });
  // the ci identity holds its share (bodies of requests under way)
  const held = budget.take('ci', 20_000);
  t.ok(held);
  const turned = await upload('ci');
  t.equal(turned.statusCode, 503);
  t.equal(turned.headers['retry-after'], '1');
  t.match(turned.json(), { error: 'bodies_saturated', retryable: true, message: /holds as many request bodies as it takes at once/ });
  t.same(g.audit.records().filter((r) => r.type === 'testresult.recorded'), [], 'not recorded');
  t.equal((await upload('admin')).statusCode, 200, 'another identity goes on');
  // a small body takes no share: a full share does not stop it
  const small = JSON.stringify({ exitCode: 0, passed: 1 });
  t.ok(small.length <= SMALL_BODY_BYTES);
  t.equal((await g.as('ci', { method: 'PUT', url: '/v1/test-results/def456', headers: { 'content-type': 'application/json' }, payload: small })).statusCode, 200, 'a small body goes through a full share');
  held!();
  t.equal((await upload('ci')).statusCode, 200, 'its share back: recorded');
  t.equal(budget.held(), 0, 'every answered request gave its share back');
  // a refused body (400) gives its share back too
  t.equal((await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: { x: 'y'.repeat(SMALL_BODY_BYTES) } })).statusCode, 400);
  t.equal(budget.held(), 0, 'still nothing held');
  t.match((await g.app.inject({ url: '/metrics' })).body, /gate_requests_shed_total\{error="bodies_saturated"\} 1/, 'counted as shed');
});

t.test('a body sent where no route takes one is answered 404 unread: not parsed, no share taken, with or without a token', async (t) => {
  const budget = createBodyBudget(100_000, 20_000);
  const g = await buildTestApp(t, { deps: { bodyBudget: budget } });
  const junk = `{not json ${'x'.repeat(64 * 1024 - 20)}`;
  for (const role of [null, 'caller'] as const) {
    const res = await g.as(role, { method: 'POST', url: '/nope', headers: { 'content-type': 'application/json' }, payload: junk });
    t.equal(res.statusCode, 404, `${role ?? 'no token'}: 404, not the 400 of a body parsed for nobody`);
    t.same(res.json(), { error: 'not_found', message: 'no route POST /nope' });
  }
  t.equal(budget.held(), 0, 'no share taken');
  t.same(g.audit.records(), [], 'not recorded, like any unknown route');
  t.equal((await g.app.inject({ method: 'GET', url: '/nope' })).statusCode, 404, 'a GET as before');
});

t.test('a client that leaves while its token is still being checked (a reset, or a FIN after the whole request) takes no share for good', async (t) => {
  const budget = createBodyBudget(10 * 1024 * 1024, 10 * 1024 * 1024);
  // token checks that take 50 ms, as a TokenReview does
  let inner!: Authenticator;
  const slow: Authenticator = {
    mode: 'local',
    authenticate: async (req) => {
      await new Promise((r) => setTimeout(r, 50));
      return inner.authenticate(req);
    },
    authorize: (identity, permission, namespace) => inner.authorize(identity, permission, namespace),
  };
  const g = await buildTestApp(t, { auth: slow, deps: { bodyBudget: budget } });
  inner = createLocalAuthenticator(tokenFilePath(g.dataDir));
  await g.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = g.app.server.address() as AddressInfo;
  const head = `POST /v1/decisions/preview HTTP/1.1\r\nHost: gate\r\nAuthorization: Bearer ${g.tokens['caller']}\r\nContent-Type: application/json\r\n`;
  const leave = (request: string, how: 'reset' | 'fin') =>
    new Promise<void>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.write(request);
        setTimeout(() => (how === 'reset' ? s.resetAndDestroy() : s.end()), 5);
      });
      s.on('error', () => undefined);
      s.on('close', () => resolve());
    });
  const body = JSON.stringify({ pad: 'x'.repeat(5000) });
  await Promise.all(Array.from({ length: 10 }, () => leave(`${head}Transfer-Encoding: chunked\r\n\r\n`, 'reset')));
  await Promise.all(Array.from({ length: 10 }, () => leave(`${head}Content-Length: ${body.length}\r\n\r\n${body}`, 'fin')));
  await new Promise((r) => setTimeout(r, 300)); // every token check over
  t.equal(budget.held(), 0, 'every share given back');
});

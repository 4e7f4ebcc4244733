import { Writable } from 'node:stream';
import t from 'tap';
import { createLogger } from '../../src/logger.ts';
import { buildTestApp, decisionBody } from '../helpers/build-app.ts';

const COMMON_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'content-type': 'application/json; charset=utf-8',
};

t.test('a valid image tag of any allowed length reaches the test-results route (fastify limits parameters to 100 characters by default)', async (t) => {
  const g = await buildTestApp(t);
  for (const length of [100, 101, 128]) {
    const tag = `a${'b'.repeat(length - 1)}`;
    const put = await g.as('ci', { method: 'PUT', url: `/v1/test-results/${tag}`, payload: { exitCode: 0 } });
    t.equal(put.statusCode, 200, `PUT of a ${length}-character tag`);
    const get = await g.app.inject({ url: `/v1/test-results/${tag}?stage=beta` });
    t.equal(get.statusCode, 200, `GET of a ${length}-character tag`);
    t.equal(get.json().imageTag, tag);
  }
  // one character over the OCI limit: the route's own schema names the field, and the refused write is audited
  const tooLong = `a${'b'.repeat(128)}`;
  const put = await g.as('ci', { method: 'PUT', url: `/v1/test-results/${tooLong}`, payload: { exitCode: 0 } });
  t.equal(put.statusCode, 400);
  t.equal(put.json().field, 'params.imageTag');
  t.equal(g.audit.records().filter((r) => r.type === 'refusal').length, 1);
  // without a token, the route's guard answers first
  const anonymous = await g.app.inject({ method: 'PUT', url: `/v1/test-results/${'c'.repeat(128)}`, payload: { exitCode: 0 } });
  t.equal(anonymous.statusCode, 401);
});

t.test('a path fastify cannot decode gets the gate JSON error, its headers and a log line, and no token is echoed', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk, _enc, cb) => void (lines.push(String(chunk)), cb()) });
  const g = await buildTestApp(t, { deps: { logger: createLogger('info', sink) } });
  const admin = g.tokens['admin']!;
  const cases = [
    { method: 'PUT' as const, url: '/v1/stages/%ZZ', payload: { enabled: false } },
    { method: 'PUT' as const, url: `/v1/stages/${admin}%ZZ`, payload: { enabled: false } },
    // a percent-encoded token in a path whose encoding is broken elsewhere
    { method: 'DELETE' as const, url: `/v1/break-glass/gate_%${admin.charCodeAt(5).toString(16)}${admin.slice(6)}/%ZZ` },
    { method: 'GET' as const, url: '/v1/test-results/%E0%A4%A' },
  ];
  for (const c of cases) {
    const res = await g.as('admin', c);
    t.equal(res.statusCode, 400, `${c.method} ${c.url.slice(0, 30)}`);
    t.same(res.json(), { error: 'invalid_request', message: 'url: the path is not valid percent-encoding', field: 'url' });
    t.match(res.headers, COMMON_HEADERS);
    t.match(res.headers['x-request-id'], /^req_/);
    t.notMatch(res.body, admin.slice(5));
  }
  const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const refused = logged.filter((l) => l['msg'] === 'request refused');
  const requests = logged.filter((l) => l['msg'] === 'request');
  t.equal(refused.length, cases.length, 'each refusal is logged');
  t.equal(requests.length, cases.length, 'with the line every request gets');
  t.notMatch(lines.join(''), admin.slice(6), 'the token is in no log line, plain or percent-encoded');
  t.match(refused[1], { status: 400, error: 'invalid_request', path: '/v1/stages/gate_[redacted]%ZZ' });
  t.match(requests[1], { method: 'PUT', status: 400, path: '/v1/stages/gate_[redacted]%ZZ' });
  t.match(requests[2], { method: 'DELETE', path: '/v1/break-glass/gate_[redacted]/%ZZ' });
  // like an unknown path, a request no route is known for is not audited; the gate goes on serving
  t.equal(g.audit.records().length, 0);
  const ok = await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody() });
  t.equal(ok.statusCode, 200);
});

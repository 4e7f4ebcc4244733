import t from 'tap';
import { buildTestApp, decisionBody } from '../helpers/build-app.ts';
import { exchange as send } from '../helpers/raw-http.ts';

t.test('an Expect other than 100-continue is ignored: the request is answered, logged and recorded like any other, not a bare 417 from Node', async (t) => {
  const g = await buildTestApp(t);
  await g.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = g.app.server.address() as { port: number };
  const body = JSON.stringify(decisionBody());
  const request = (auth: string) =>
    `POST /v1/decisions HTTP/1.1\r\nHost: gate\r\n${auth}Content-Type: application/json\r\nExpect: gate-please\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

  const decided = await send(port, request(`Authorization: Bearer ${g.tokens['caller']}\r\n`));
  t.match(decided, /^HTTP\/1\.1 200 /, 'the caller is answered');
  t.match(decided, /"decision":"wait"/);
  t.match(decided, /x-request-id: req_/i, 'with the gate headers');

  const refused = await send(port, request(''));
  t.match(refused, /^HTTP\/1\.1 401 /, 'no token: the gate JSON 401');
  t.match(refused, /"error":"unauthorized"/);

  t.same(g.audit.records().map((r) => r.type), ['decision', 'refusal'], 'both recorded');
});

t.test('an HTTP/1.1 request without Host is the gate\'s JSON 400 naming headers.host, logged and (a POST) recorded, not a bare 400 from Node', async (t) => {
  const g = await buildTestApp(t);
  await g.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = g.app.server.address() as { port: number };
  const read = await send(port, 'GET /v1/market HTTP/1.1\r\nConnection: close\r\n\r\n');
  t.match(read, /^HTTP\/1\.1 400 /);
  t.match(read, /x-request-id: req_/i, 'with the gate headers');
  t.match(read, /"field":"headers\.host"/, 'naming the header');
  const body = JSON.stringify(decisionBody());
  const post = await send(port, `POST /v1/decisions HTTP/1.1\r\nAuthorization: Bearer ${g.tokens['caller']}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  t.match(post, /^HTTP\/1\.1 400 /);
  t.match(post, /"error":"invalid_request"/);
  t.same(g.audit.records().map((r) => [r.type, r.data?.['status']]), [['refusal', 400]], 'the refused decision request is recorded, and nothing was decided');
  // HTTP/1.0 has no Host requirement
  const old = await send(port, 'GET /v1/market HTTP/1.0\r\n\r\n');
  t.match(old, /^HTTP\/1\.1 200 /, 'an HTTP/1.0 request without Host is answered');
});

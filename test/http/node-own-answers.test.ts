import t from 'tap';
import { buildTestApp, decisionBody } from '../helpers/build-app.ts';
import { exchange as send } from '../helpers/raw-http.ts';
import { connect } from 'node:net';

/** The test app, listening on a loopback port: these answers come from Node's server, which inject() bypasses. */
async function listening(t: Parameters<typeof buildTestApp>[0]) {
  const g = await buildTestApp(t);
  await g.app.listen({ port: 0, host: '127.0.0.1' });
  return { g, port: (g.app.server.address() as { port: number }).port };
}

t.test('an Expect other than 100-continue is ignored: the request is answered, logged and recorded like any other, not a bare 417 from Node', async (t) => {
  const { g, port } = await listening(t);
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
  const { g, port } = await listening(t);
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

t.test('CONNECT is the gate\'s JSON 404 with its headers and a log line, not a connection closed unanswered; a client that resets does not end the process', async (t) => {
  const { g, port } = await listening(t);
  const answer = await send(port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
  t.match(answer, /^HTTP\/1\.1 404 /);
  t.match(answer, /x-request-id: req_/i, 'with the gate headers');
  t.match(answer, /content-type: application\/json/i);
  t.match(answer, /"error":"not_found"/);
  t.notMatch(answer, /example\.com/, 'the authority is not quoted');
  t.same(g.audit.records(), [], 'not recorded, like any unknown route');
  // a client that sends CONNECT and resets at once: the socket's error must not end the process
  await new Promise<void>((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', () => s.resetAndDestroy());
    });
    s.on('close', () => resolve());
    s.on('error', () => {});
  });
  const after = await send(port, 'GET /healthz HTTP/1.1\r\nHost: gate\r\nConnection: close\r\n\r\n');
  t.match(after, /^HTTP\/1\.1 200 /, 'the gate still answers');
});

t.test('two Authorization headers are a 400 naming headers.authorization, audited on a decision: Node would keep the first, a proxy may have checked the last', async (t) => {
  const { g, port } = await listening(t);
  const body = JSON.stringify(decisionBody());
  const twice = await send(
    port,
    `POST /v1/decisions HTTP/1.1\r\nHost: gate\r\nAuthorization: Bearer ${g.tokens['caller']}\r\nauthorization: Bearer gate_other\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  t.match(twice, /^HTTP\/1\.1 400 /);
  t.match(twice, /"field":"headers\.authorization"/);
  t.same(g.audit.records().map((r) => [r.type, r.data?.['status']]), [['refusal', 400]], 'recorded as a refusal, and nothing decided');
  const once = await send(port, `GET /v1/whoami HTTP/1.1\r\nHost: gate\r\nAuthorization: Bearer ${g.tokens['caller']}\r\nConnection: close\r\n\r\n`);
  t.match(once, /^HTTP\/1\.1 200 /, 'one is answered as before');
});

t.test('a transfer coding before chunked ("gzip, chunked", which Node drops and reads on) is 400 naming headers.transfer-encoding and recorded, not read as JSON; chunked alone is read', async (t) => {
  const { g, port } = await listening(t);
  const body = JSON.stringify(decisionBody());
  const chunked = (te: string) =>
    `POST /v1/decisions HTTP/1.1\r\nHost: gate\r\nAuthorization: Bearer ${g.tokens['caller']}\r\nContent-Type: application/json\r\nTransfer-Encoding: ${te}\r\nConnection: close\r\n\r\n${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;
  const gz = await send(port, chunked('gzip, chunked'));
  t.match(gz, /^HTTP\/1\.1 400 /);
  t.match(gz, /"field":"headers\.transfer-encoding"/, 'naming the header');
  t.match(gz, /"gzip, chunked\\" is not taken; send the body chunked or with a Content-Length/);
  t.same(g.audit.records().map((r) => [r.type, r.data?.['status']]), [['refusal', 400]], 'recorded as a refusal, nothing decided');
  const plain = await send(port, chunked('chunked'));
  t.match(plain, /^HTTP\/1\.1 200 /, 'chunked alone is read');
  t.match(plain, /"decision":"wait"/);
});

import { connect } from 'node:net';
import { Writable } from 'node:stream';
import t, { type Test } from 'tap';
import { createMemoryAuditLog } from '../../src/audit/memory-log.ts';
import type { Authenticator } from '../../src/auth/identity.ts';
import { createLocalAuthenticator, tokenFilePath } from '../../src/auth/local-tokens.ts';
import type { Deps } from '../../src/deps.ts';
import { createLogger } from '../../src/logger.ts';
import { buildTestApp } from '../helpers/build-app.ts';
import { exchange } from '../helpers/raw-http.ts';

/** Status, lower-cased headers and JSON body of a raw HTTP/1.1 answer. */
function parse(reply: string): { status: number; headers: Record<string, string>; body: Record<string, unknown> } {
  const [head = '', body = ''] = reply.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
  return { status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(body) as Record<string, unknown> };
}

async function setup(t: Test, opts: { auth?: Authenticator; deps?: Partial<Deps> } = {}) {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk, _enc, cb) => void (lines.push(String(chunk)), cb()) });
  const g = await buildTestApp(t, { ...(opts.auth ? { auth: opts.auth } : {}), deps: { requestTimeoutMs: 300, logger: createLogger('info', sink), ...(opts.deps ?? {}) } });
  await g.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = g.app.server.address() as { port: number };
  const logs = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { g, port, logs, text: () => lines.join('') };
}

function checkCommonHeaders(t: Test, headers: Record<string, string>): void {
  t.match(headers['x-request-id'], /^req_/, 'a request id');
  t.equal(headers['cache-control'], 'no-store');
  t.equal(headers['x-content-type-options'], 'nosniff');
  t.equal(headers['content-type'], 'application/json; charset=utf-8');
  t.equal(headers['connection'], 'close');
}

t.test('a routed request whose body stalls is answered 408 in the gate format and recorded as the 408 it was told', async (t) => {
  const { g, port, logs } = await setup(t);
  const caller = g.tokens['caller']!;
  const reply = await exchange(
    port,
    `POST /v1/decisions HTTP/1.1\r\nHost: gate\r\nAuthorization: Bearer ${caller}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"project":`,
  );
  const { status, headers, body } = parse(reply);
  t.equal(status, 408);
  checkCommonHeaders(t, headers);
  t.same(body, { error: 'request_timeout', message: 'body: the request body did not arrive whole within 0.3 s', field: 'body' });

  // one record, of what the client was told (not a 400 "econnreset" when the body's abort follows)
  await new Promise((r) => setTimeout(r, 100));
  const refusals = g.audit.records().filter((r) => r.type === 'refusal');
  t.equal(refusals.length, 1, 'exactly one refusal recorded');
  t.match(refusals[0], { id: headers['x-request-id'], actor: { name: 'caller', via: 'local-token' }, reasons: [{ code: 'request_timeout' }], data: { status: 408, error: 'request_timeout', method: 'POST', path: '/v1/decisions' } });
  const mine = logs().filter((l) => l['reqId'] === headers['x-request-id']);
  t.match(mine, [
    { level: 30, msg: 'request refused', status: 408, error: 'request_timeout' },
    { level: 30, msg: 'request', method: 'POST', path: '/v1/decisions', status: 408 },
  ]);
  t.equal(mine.length, 2, 'its two lines, nothing about the abort that follows');
});

t.test('when the 408 of a routed request cannot be recorded, it is answered 503 and nothing is recorded', async (t) => {
  const { g, port } = await setup(t);
  const stalled = exchange(
    port,
    `POST /v1/decisions HTTP/1.1\r\nHost: gate\r\nAuthorization: Bearer ${g.tokens['caller']}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"proj`,
  );
  // the request is routed and its body awaited; then the log stops taking appends
  await new Promise((r) => setTimeout(r, 100));
  g.audit.failNextAppends(1);
  const { status, body } = parse(await stalled);
  t.equal(status, 503);
  t.equal(body['error'], 'audit_unavailable');
  await new Promise((r) => setTimeout(r, 100));
  t.same(g.audit.records(), []);
});

t.test('a request refused before its body came, whose body then never comes, gets no second answer', async (t) => {
  const { g, port } = await setup(t);
  // an operator may not decide: 403, recorded and answered at once, before the body is read
  const reply = await exchange(
    port,
    `POST /v1/decisions HTTP/1.1\r\nHost: gate\r\nAuthorization: Bearer ${g.tokens['operator']}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"proj`,
  );
  t.equal(reply.match(/HTTP\/1\.1 /g)?.length, 1, 'one answer on the connection');
  const { status, body } = parse(reply);
  t.equal(status, 403);
  t.equal(body['error'], 'forbidden');
  await new Promise((r) => setTimeout(r, 100));
  t.same(
    g.audit.records().map((r) => r.data?.['status']),
    [403],
    'only the 403 recorded',
  );
});

t.test('connection-level errors get the gate JSON error, its headers and log lines, and are not recorded (no route is known)', async (t) => {
  const { g, port, logs, text } = await setup(t);
  const admin = g.tokens['admin']!;
  const cases = [
    {
      label: 'headers that never finish',
      send: 'POST /v1/decisions HTTP/1.1\r\nHost: gate\r\nContent-Type: application/json\r\n',
      status: 408,
      body: { error: 'request_timeout', message: 'headers: the request headers did not arrive whole within 0.3 s', field: 'headers' },
    },
    {
      label: 'headers over 16 KiB (one carrying a token)',
      send: `GET /v1/status HTTP/1.1\r\nHost: gate\r\nX-Pad: ${admin}${'a'.repeat(17 * 1024)}\r\n\r\n`,
      status: 431,
      body: { error: 'headers_too_large', message: 'headers: the request headers exceed 16 KiB', field: 'headers' },
    },
    {
      label: 'bytes that are not HTTP (carrying a token)',
      send: `HELLO ${admin} \x01\x02\r\n\r\n`,
      status: 400,
      body: { error: 'invalid_request', message: 'request: not a valid HTTP/1.1 request', field: 'request' },
    },
  ];
  for (const c of cases) {
    const { status, headers, body } = parse(await exchange(port, c.send));
    t.equal(status, c.status, `${c.label}: status`);
    checkCommonHeaders(t, headers);
    t.same(body, c.body, `${c.label}: body`);
    t.match(logs().filter((l) => l['reqId'] === headers['x-request-id']), [{ level: 30, msg: 'request refused', status: c.status, error: c.body.error, remoteAddress: '127.0.0.1' }, { msg: 'request', status: c.status }], `${c.label}: logged at info`);
  }
  t.same(g.audit.records(), [], 'nothing recorded');
  t.notMatch(text(), admin, 'no token in the log');

  // the gate goes on answering
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  t.equal(res.status, 200);
});

/** The local authenticator of the test app, answering `ms` late (an API server that is slow to review a token). */
function slowAuth(ms: number): { auth: Authenticator; use(dataDir: string): void } {
  let inner: Authenticator | null = null;
  const late = <T>(f: () => Promise<T>) => new Promise<void>((r) => setTimeout(r, ms)).then(f);
  return {
    auth: { mode: 'local', authenticate: (r) => late(() => inner!.authenticate(r)), authorize: (i, p, n) => inner!.authorize(i, p, n) },
    use: (dataDir) => void (inner = createLocalAuthenticator(tokenFilePath(dataDir))),
  };
}

const stalledPost = (token: string) =>
  `POST /v1/decisions HTTP/1.1\r\nHost: gate\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"proj`;

t.test('a request still being authenticated when its limit passes gets only the refusal its hooks decide, recorded once', async (t) => {
  const slow = slowAuth(600);
  const { g, port } = await setup(t, { auth: slow.auth });
  slow.use(g.dataDir);
  const reply = await exchange(port, stalledPost(g.tokens['operator']!));
  t.equal(reply.match(/HTTP\/1\.1 /g)?.length, 1, 'one answer on the connection');
  t.equal(parse(reply).status, 403);
  await new Promise((r) => setTimeout(r, 100));
  const records = g.audit.records();
  t.same(records.map((r) => r.data?.['status']), [403], 'one record, of the answer the client got');
});

t.test('a request let through by its hooks after its limit passed is answered 408, recorded once with its caller, and closed', async (t) => {
  const slow = slowAuth(600);
  const { g, port, logs } = await setup(t, { auth: slow.auth });
  slow.use(g.dataDir);
  const { status, headers, body } = parse(await exchange(port, stalledPost(g.tokens['caller']!)));
  t.equal(status, 408);
  checkCommonHeaders(t, headers);
  t.same(body, { error: 'request_timeout', message: 'body: the request body did not arrive whole within 0.3 s', field: 'body' });
  await new Promise((r) => setTimeout(r, 100));
  const records = g.audit.records();
  t.equal(records.length, 1, 'one record');
  t.match(records[0], { id: headers['x-request-id'], actor: { name: 'caller', via: 'local-token' }, data: { status: 408, error: 'request_timeout' } });
  t.match(logs().filter((l) => l['reqId'] === headers['x-request-id'] && l['msg'] === 'request'), [{ status: 408 }]);
});

t.test('a refusal whose record is stalled when the limit passes is the only answer and the only record', async (t) => {
  // every append takes 400 ms: the 403 is still being recorded when the 408 comes
  const mem = createMemoryAuditLog();
  const audit = { ...mem, append: (e: Parameters<typeof mem.append>[0]) => new Promise<void>((r) => setTimeout(r, 400)).then(() => mem.append(e)) };
  const { g, port } = await setup(t, { deps: { audit } });
  const reply = await exchange(port, stalledPost(g.tokens['operator']!));
  t.equal(reply.match(/HTTP\/1\.1 /g)?.length, 1, 'one answer on the connection');
  t.equal(parse(reply).status, 403);
  await new Promise((r) => setTimeout(r, 600));
  t.same(mem.records().map((r) => [r.id, r.data?.['status']]), [[parse(reply).headers['x-request-id'], 403]], 'one record, of the 403');
});

t.test('a routed state-changing request whose body turns out not to be HTTP is answered 400 and recorded, like any 4xx of its route', async (t) => {
  const { g, port } = await setup(t);
  const head = `POST /v1/decisions HTTP/1.1\r\nHost: gate\r\nAuthorization: Bearer ${g.tokens['caller']}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"pro\r\n`;
  const reply = await new Promise<string>((resolve, reject) => {
    let text = '';
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(head);
      // once the request is routed and its body being read: a chunk size that is not hex
      setTimeout(() => socket.write('zz\r\n'), 100);
    });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(text));
  });
  const { status, headers, body } = parse(reply);
  t.equal(status, 400);
  t.same(body, { error: 'invalid_request', message: 'request: not a valid HTTP/1.1 request', field: 'request' });
  await new Promise((r) => setTimeout(r, 100));
  t.match(g.audit.records(), [{ id: headers['x-request-id'], actor: { name: 'caller' }, data: { status: 400, error: 'invalid_request', path: '/v1/decisions' } }]);
  t.equal(g.audit.records().length, 1);
});

/** The in-memory audit log with appends acknowledged `ms` late, as an fsync on a slow volume. */
function slowAudit(ms: number) {
  const inner = createMemoryAuditLog();
  const audit = {
    ...inner,
    append: async (e: Parameters<typeof inner.append>[0]) => {
      const records = await inner.append(e);
      await new Promise((r) => setTimeout(r, ms));
      return records;
    },
  };
  return { inner, audit };
}

t.test('a pipelined request that is not HTTP, after one the gate is still recording, does not take that one\'s answer', async (t) => {
  // the garbage after the toggle is parsed while the toggle's record is on its way
  const { inner, audit } = slowAudit(150);
  const { g, port, logs } = await setup(t, { deps: { audit } });
  const admin = g.tokens['admin']!;
  const body = '{"enabled":false,"note":"pipelined toggle"}';
  const reply = await exchange(
    port,
    `PUT /v1/stages/beta HTTP/1.1\r\nHost: gate\r\nAuthorization: Bearer ${admin}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}` + 'GARBAGE\r\n\r\n',
  );
  t.match(reply, /^HTTP\/1\.1 200 /, `the toggle's own answer comes first (got ${JSON.stringify(reply.slice(0, 60))})`);
  t.match(reply, /"note":"pipelined toggle"/, 'with the change it made');
  t.match(reply.slice(0, reply.indexOf('\r\n\r\n')), /connection: close/i, 'and closes the connection');
  t.equal(inner.records().filter((r) => r.type === 'stage.toggled').length, 1, 'the toggle recorded once');
  t.equal(g.store.read().stages.beta.enabled, false, 'and made');
  const statuses = logs().filter((l) => l['msg'] === 'request').map((l) => l['status']);
  t.same(statuses.sort(), [200, 400], "both requests have their log line: the toggle's 200 and the garbage's 400");
});

t.test("... nor the answers of two before it, the later one answered but held behind the earlier one's", async (t) => {
  const { audit } = slowAudit(150);
  const { g, port } = await setup(t, { deps: { audit } });
  const body = '{"enabled":false,"note":"pipelined toggle"}';
  const reply = await new Promise<string>((resolve, reject) => {
    let got = '';
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`PUT /v1/stages/beta HTTP/1.1\r\nHost: gate\r\nAuthorization: Bearer ${g.tokens['admin']}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      socket.write('GET /v1/market HTTP/1.1\r\nHost: gate\r\n\r\n');
      // the market's answer is made by now, and held behind the toggle's
      setTimeout(() => socket.write('GARBAGE\r\n\r\n'), 50);
    });
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (got += c));
    socket.on('error', reject);
    socket.on('close', () => resolve(got));
  });
  const statuses = [...reply.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
  t.same(statuses.slice(0, 2), [200, 200], `the toggle's answer, then the market's (got ${statuses.join(', ')})`);
  t.match(reply, /"note":"pipelined toggle"/);
  t.equal(g.store.read().stages.beta.enabled, false, 'the toggle made');
});

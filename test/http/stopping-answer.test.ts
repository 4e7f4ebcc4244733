// A request that reaches the gate while it stops (on a keep-alive connection still open for a
// request in flight) is answered with the gate's own 503: its JSON error shape, its headers, a log
// line, `connection: close`, and nothing decided or recorded. Real HTTP on a raw socket: the
// second request is pipelined behind a first whose body is held back until the stop has begun.
import { connect } from 'node:net';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { buildTestApp } from '../helpers/build-app.ts';
import { createLogger } from '../../src/logger.ts';

const decision = (promotion: string) => JSON.stringify({ project: 'stonks-pipeline', stage: 'beta', imageTag: 'abc1234', promotion, actor: 'kargo' });
const post = (token: string, body: string) =>
  `POST /v1/decisions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

/**
 * Sends a decision (promotion "in-flight") whose body is held back half-way, stops the app, then
 * sends the rest of it followed by `late` on the same connection; resolves with the raw answers.
 */
async function duringStop(app: FastifyInstance, token: string, late: string): Promise<string[]> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => void (received += d));
  const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  // the first request's headers and half its body: it is routed and in flight
  const first = post(token, decision('in-flight'));
  const cut = first.length - 40;
  socket.write(first.slice(0, cut));
  await new Promise((r) => setTimeout(r, 100));
  const closed = app.close();
  await new Promise((r) => setTimeout(r, 50));
  // the rest of the first body, and another request on the same connection
  socket.write(first.slice(cut) + late);
  await ended;
  await closed;
  return received.split(/(?=HTTP\/1\.1 )/);
}

t.test('a request that arrives while the gate stops: the gate\'s 503, not decided, not recorded', async (t) => {
  const lines: string[] = [];
  const logger = createLogger('info', { write: (l: string) => void lines.push(l) });
  // after the close (beta waits for its test results: decided and recorded all the same)
  const { app, audit, tokens } = await buildTestApp(t, { now: '2026-11-25T22:00:00Z', deps: { logger } });
  const answers = await duringStop(app, tokens['caller']!, post(tokens['caller']!, decision('too-late')));

  t.equal(answers.length, 2, 'two answers on the connection');
  t.match(answers[0], /^HTTP\/1\.1 200 /, 'the request in flight is decided and answered');
  t.match(answers[0], /"decision":"(allow|wait|deny)".*"promotion":"in-flight"/);
  const [rawHead, rawBody] = answers[1]!.split('\r\n\r\n');
  t.match(rawHead, /^HTTP\/1\.1 503 /, 'the request that came during the stop: 503');
  t.match(rawHead, /\r\nconnection: close/i, 'and the connection is closed after it');
  t.match(rawHead, /\r\nretry-after: 1/i, 'ask again soon');
  t.match(rawHead, /\r\nx-request-id: req_/i, 'the gate\'s headers');
  t.match(rawHead, /\r\ncache-control: no-store/i);
  t.match(rawHead, /\r\ncontent-type: application\/json/i);
  t.same(JSON.parse(rawBody!), { error: 'shutting_down', message: 'The gate is stopping and decides nothing more; ask again in a moment.', retryable: true }, 'the gate\'s JSON error');
  const records = audit.records();
  t.equal(records.length, 1, 'one record: the decision in flight');
  t.notMatch(JSON.stringify(records), /too-late/, 'the late request is neither decided nor recorded');
  t.ok(lines.some((l) => /"status":503/.test(l) && /\/v1\/decisions/.test(l)), 'its log line is written');
});

t.test('/readyz asked on a connection still open while the gate stops: the same 503, not a 500 from its health schema', async (t) => {
  const { app, tokens } = await buildTestApp(t, { now: '2026-11-25T22:00:00Z' });
  const answers = await duringStop(app, tokens['caller']!, 'GET /readyz HTTP/1.1\r\nhost: x\r\n\r\n');
  t.equal(answers.length, 2);
  t.match(answers[1], /^HTTP\/1\.1 503 /, '503');
  t.match(answers[1], /"error":"shutting_down"/, 'the gate\'s error');
});

t.test('the answer to a request already under way when the stop begins says connection: close, so its client does not send the next one on a connection being closed', async (t) => {
  const { app, tokens } = await buildTestApp(t, { now: '2026-11-25T22:00:00Z' });
  // nothing pipelined behind it: a client (Kargo's Go client) would reuse the connection for its
  // next request, and get a reset instead of an answer (Go sends no POST again after one)
  const answers = await duringStop(app, tokens['caller']!, '');
  t.equal(answers.length, 1);
  t.match(answers[0], /^HTTP\/1\.1 200 /, 'decided and answered');
  t.match(answers[0]!.split('\r\n\r\n')[0], /\r\nconnection: close/i, 'connection: close');
  t.notMatch(answers[0]!.split('\r\n\r\n')[0], /keep-alive/i, 'no keep-alive offered');
});

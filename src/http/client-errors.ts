import type { Socket } from 'node:net';
import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { auditUnavailable, errorBody } from './errors.ts';
import { pathOf } from './refusals.ts';

/** What Node reports on a connection: a request not whole in time, headers too large, bytes that are not HTTP. */
interface ClientError extends Error {
  code?: string;
}

/** The gate's answer to a connection-level error, and whether it refuses a request fastify had routed. */
interface ConnectionFault {
  status: number;
  code: string;
  message: string;
  field: string;
}

export interface ClientErrorDeps {
  log: FastifyBaseLogger;
  newId: (kind: string) => string;
  /** records the refusal of a routed request when the gate's rules say so; rejects when the audit log cannot take it */
  refuse: (req: FastifyRequest, status: number, code: string, message: string) => Promise<void>;
  /** writes a routed request's one log line, with the status it was answered */
  logRequest: (req: FastifyRequest, reply: FastifyReply, status: number) => void;
  /** the limit Node enforces for a whole request, for the message */
  requestTimeoutMs: number;
}

/**
 * Where a routed request is, for a connection error on its socket (no entry: its hooks are still
 * deciding). `body`: every hook passed and fastify reads the body, so a 408 is the client-error
 * handler's to answer; `answering`: the gate's error handler answers it (it may be awaiting the
 * refusal's record), so a 408 leaves that answer to be the only one; `answered`: the client-error
 * handler answered it on its socket; a ConnectionFault: its limit passed while its hooks were
 * deciding, and this is the 408 it is owed if they let it through.
 */
type Phase = 'body' | 'answering' | 'answered' | ConnectionFault;

function faultOf(err: ClientError, routed: boolean, limitS: number): ConnectionFault {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return routed
      ? { status: 408, code: 'request_timeout', message: `body: the request body did not arrive whole within ${limitS} s`, field: 'body' }
      : { status: 408, code: 'request_timeout', message: `headers: the request headers did not arrive whole within ${limitS} s`, field: 'headers' };
  }
  if (err.code === 'HPE_HEADER_OVERFLOW') return { status: 431, code: 'headers_too_large', message: 'headers: the request headers exceed 16 KiB', field: 'headers' };
  return { status: 400, code: 'invalid_request', message: 'request: not a valid HTTP/1.1 request', field: 'request' };
}

/** The raw answer: the gate's JSON error with the headers every answer carries, closing the connection. */
function rawAnswer(status: number, requestId: string, body: Record<string, unknown>): string {
  const text = JSON.stringify(body);
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
    `x-request-id: ${requestId}\r\n` +
    'cache-control: no-store\r\n' +
    'x-content-type-options: nosniff\r\n' +
    "content-security-policy: default-src 'none'; frame-ancestors 'none'\r\n" +
    'content-type: application/json; charset=utf-8\r\n' +
    `content-length: ${Buffer.byteLength(text)}\r\n` +
    'connection: close\r\n\r\n' +
    text
  );
}

/**
 * Sends a raw answer and closes the connection once it is handed to the kernel (the socket reads
 * nothing more, so it would never see the client's end); one that cannot even take the answer is
 * closed after a second.
 */
function send(socket: Socket, status: number, requestId: string, body: Record<string, unknown>): void {
  if (socket.writable) socket.end(rawAnswer(status, requestId, body), () => socket.destroy());
  else socket.destroy();
  setTimeout(() => socket.destroy(), 1000).unref();
}

/**
 * The gate's handling of what Node reports on a connection. Node reports there what happens
 * before a request reaches a route or while its body is read: a request that does not arrive
 * whole within the limit (408), headers over 16 KiB (431), bytes that are not HTTP (400).
 * fastify's own handler answered those in its own JSON, logged them only at trace level and
 * recorded nothing, and a routed request whose body stalled was then recorded as a 400
 * `econnreset` refusal though the client had been told 408. Here each gets the gate's JSON error
 * and headers and its log lines, and a routed request's 408 is recorded as what it is, by the
 * gate's rules for refusals (a state-changing request to a known route: audited; no route known:
 * logged only, like a 404); if it cannot be recorded the answer is 503. The raw bytes Node saw are
 * never logged: they may hold a token.
 *
 * `handler` is fastify's clientErrorHandler; the app calls `track` from its first hook,
 * `startBody` from its preParsing hook and `startAnswer` from its error handler, so the handler
 * knows which request of a socket is where.
 */
export function createClientErrors(deps: ClientErrorDeps) {
  const limitS = Math.round(deps.requestTimeoutMs / 100) / 10;
  /** the last request whose headers each connection sent: a client error on it may be that request's */
  const bySocket = new WeakMap<Socket, { req: FastifyRequest; reply: FastifyReply }>();
  const phases = new WeakMap<FastifyRequest, Phase>();

  /**
   * Runs `answer` once the answers owed to earlier requests of the socket have gone. A pipelined
   * request before this one arrived whole and is not answered yet (its record waits for the
   * fsync): its answer goes first, as HTTP/1.1 orders them, closing the connection; written now,
   * this one would take its place, and a change the gate made and recorded would reach its client
   * as this error (also one answered whose answer Node still holds behind an earlier one's: not
   * finished).
   */
  const afterEarlierAnswers = (socket: Socket, answer: () => void): void => {
    const on = bySocket.get(socket);
    const pending = on && !on.reply.raw.writableFinished && phases.get(on.req) !== 'answered' ? on : undefined;
    if (pending) {
      if (!pending.reply.sent) pending.reply.raw.shouldKeepAlive = false;
      pending.reply.raw.once('finish', answer);
      pending.reply.raw.once('close', () => setTimeout(() => socket.destroy(), 1000).unref());
      return;
    }
    answer();
  };

  const handler = (err: ClientError, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    // nothing more is read: a body completing now must not start a second answer on this socket
    socket.pause();
    const on = bySocket.get(socket);
    const phase = on && phases.get(on.req);
    // a request of this socket still being read (an earlier one that arrived whole is not this error's)
    const reading = on && !on.req.raw.complete && phase !== 'answered' ? on : undefined;
    if (reading?.reply.sent) {
      // already answered before its body came (a refusal by a hook): a second answer would be
      // read as the next request's; the connection is closed
      socket.destroy();
      return;
    }
    const fault = faultOf(err, reading !== undefined, limitS);
    if (reading && phase !== 'body') {
      // its hooks are still deciding or the gate is already answering it (a 401 or 403 being
      // recorded, a stalled audit log): that answer is the only one, with the one record; an
      // answer and a record from here would be a second of each. Once it has gone the
      // connection is closed (the body never came); a request its hooks let through is answered
      // this 408 at preParsing (startBody)
      if (phase === undefined) phases.set(reading.req, fault);
      reading.reply.raw.shouldKeepAlive = false;
      return;
    }
    const routed = reading;
    if (routed === undefined) {
      const reqId = deps.newId('req');
      const remoteAddress = socket.remoteAddress ?? null;
      deps.log.info({ reqId, status: fault.status, error: fault.code, remoteAddress }, 'request refused');
      deps.log.info({ reqId, status: fault.status, remoteAddress, ms: null }, 'request');
      afterEarlierAnswers(socket, () => send(socket, fault.status, reqId, errorBody(fault.code, fault.message, { field: fault.field })));
      return;
    }
    const { req, reply } = routed;
    phases.set(req, 'answered');
    const line = (status: number) => deps.logRequest(req, reply, status);
    req.log.info({ status: fault.status, error: fault.code, path: pathOf(req) }, 'request refused');
    deps.refuse(req, fault.status, fault.code, fault.message).then(
      () => {
        line(fault.status);
        send(socket, fault.status, req.id, errorBody(fault.code, fault.message, { field: fault.field }));
      },
      (auditErr: unknown) => {
        req.log.error({ err: auditErr }, 'refusal could not be recorded');
        const e = auditUnavailable();
        line(e.status);
        send(socket, e.status, req.id, errorBody(e.code, e.message, e.extra));
      },
    );
  };

  return {
    handler,
    /**
     * A CONNECT request (Node's server 'connect' event): the gate is no proxy, so it is answered
     * like any method no route takes, 404 JSON with the gate's headers and its log line, and the
     * connection is closed. Without this Node closed the connection with no answer and no log
     * line. The authority it names is not quoted (it is the client's text). Node has taken the
     * socket from the HTTP server, error listener and all: one is added, or a reset client's
     * error would end the process.
     */
    connect(req: IncomingMessage, socket: Socket): void {
      socket.on('error', () => {});
      const reqId = deps.newId('req');
      deps.log.info({ reqId, method: req.method, status: 404, remoteAddress: socket.remoteAddress ?? null, ms: null }, 'request');
      afterEarlierAnswers(socket, () => send(socket, 404, reqId, errorBody('not_found', 'no route CONNECT: the gate is not a proxy')));
    },
    /** Notes a request whose headers have arrived as its socket's current one (the first hook). */
    track(req: FastifyRequest, reply: FastifyReply): void {
      const socket = req.raw.socket;
      const current = { req, reply };
      bySocket.set(socket, current);
      // answered and read whole, it is no longer anything a client error on the socket could be
      // (nor anything an answer waits for): forgotten, or a keep-alive connection would keep it,
      // and its parsed body (up to ~1 MB for 64 KiB of JSON), alive for as long as it stays open.
      // One answered before its body came (a refusal by a hook) is kept: a timeout of that body
      // must close the connection, not be answered as a new request's
      reply.raw.once('close', () => {
        if (bySocket.get(socket) === current && req.raw.complete) bySocket.delete(socket);
      });
    },
    /** Whether `req` is the newest request its socket has brought: none is pipelined behind it. */
    isNewest(req: FastifyRequest): boolean {
      return bySocket.get(req.raw.socket)?.req === req;
    },
    /**
     * Every hook has passed and fastify reads the body now (the preParsing hook): returns the 408
     * owed to a request whose limit passed while its hooks were deciding (its body is not read: the
     * connection reads nothing more), or undefined and notes that a 408 from now is the handler's.
     */
    startBody(req: FastifyRequest): ConnectionFault | undefined {
      const phase = phases.get(req);
      if (typeof phase === 'object') return phase;
      phases.set(req, 'body');
      return undefined;
    },
    /**
     * The gate's error handler starts answering the request: false when the handler already
     * answered (and recorded) it on its socket, and the error is only its body's abort, which must
     * be neither answered nor recorded again; otherwise notes that a 408 from now leaves this answer
     * (and its record) to be the only one.
     */
    startAnswer(req: FastifyRequest): boolean {
      if (phases.get(req) === 'answered') return false;
      phases.set(req, 'answering');
      return true;
    },
  };
}

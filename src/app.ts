import type { Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { statfs } from 'node:fs/promises';
import { finished } from 'node:stream';
import fastifySwagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifySchema } from 'fastify';
import { hasZodFastifySchemaValidationErrors, jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { AuditUnavailableError } from './audit/log.ts';
import { redactedExcerpt, redactTokensInJson } from './auth/redact-tokens.ts';
import type { Deps } from './deps.ts';
import { createDecisionService } from './gate/decision-service.ts';
import { createRecorder } from './gate/recorder.ts';
import { createClientErrors } from './http/client-errors.ts';
import { createBodyBudget, declaredBodyBytes } from './http/body-budget.ts';
import { capConnections } from './http/connection-cap.ts';
import { jsonBodyParser } from './http/json-body.ts';
import { HttpError, ShedError, auditUnavailable, clockOutsideCalendar, errorBody } from './http/errors.ts';
import { asksForIdentity, createGuard, setCommonHeaders } from './http/guard.ts';
import { createRefusalRecorder } from './http/refusal-recorder.ts';
import { isRefusalAudited, pathOf } from './http/refusals.ts';
import { identityOf } from './http/request-identity.ts';
import { logFieldsOf } from './http/log-fields.ts';
import { isInList, parseCidrs } from './http/peer-address.ts';
import { createMetrics } from './metrics.ts';
import type { RouteContext } from './routes/context.ts';
import { ErrorSchema } from './routes/common-schemas.ts';
import { AUDIT_READS_WAITING, auditRoutes } from './routes/audit.ts';
import { decisionRoutes } from './routes/decisions.ts';
import { healthRoutes } from './routes/health.ts';
import { marketRoutes } from './routes/market.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { openapiRoutes } from './routes/openapi.ts';
import { statusRoutes } from './routes/status.ts';
import { approvalRoutes } from './routes/approvals.ts';
import { grantRoutes } from './routes/grants.ts';
import { stageRoutes } from './routes/stages.ts';
import { testResultRoutes } from './routes/test-results.ts';
import { auditVerifyRoutes } from './routes/audit-verify.ts';
import { consoleRoutes } from './routes/console.ts';
import { whoamiRoutes } from './routes/whoami.ts';
import { boundedTurns } from './bounded-turns.ts';

export const BODY_LIMIT = 64 * 1024;
/**
 * Request bodies held at once (bodyBudget), in bytes: all clients together, and one identity. A
 * few tens of MB of heap at worst (a body parsed takes up to ~16 times its size); a test-result
 * upload (up to 1 MiB) fits twice in one identity's share.
 */
export const BODIES_HELD_BYTES = 4 * 1024 * 1024;
export const BODIES_HELD_PER_IDENTITY_BYTES = 2 * 1024 * 1024;
/**
 * A body of at most this many bytes takes no share: decisions, grants, approvals and toggles are a
 * few hundred bytes. They are bounded by the connections instead (http.maxConnections of them at
 * most, a few tens of MB parsed at the default 1024), and a client holding large bodies' shares
 * (slowly sent ones keep theirs until the request's 30 s run out) cannot turn Kargo's away.
 */
export const SMALL_BODY_BYTES = 4 * 1024;
/** Node's default limit of a request's headers, the request line included (--max-http-header-size). */
const MAX_PARAM_LENGTH = 16 * 1024;

interface Fault {
  status: number;
  body: Record<string, unknown>;
}

/** Bytes an unprivileged writer may still use on the volume holding `dir`. */
async function volumeFreeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/** Unknown keys an answer names at most, and the characters of each it shows. */
const UNKNOWN_KEYS_NAMED = 10;
const KEY_SHOWN = 200;

/** Maps anything thrown while handling a request to a status and a JSON body naming the field at fault. */
function toFault(err: FastifyError | Error): Fault {
  if (err instanceof HttpError) return { status: err.status, body: errorBody(err.code, err.message, err.extra) };
  if (hasZodFastifySchemaValidationErrors(err)) {
    const context = (err as FastifyError).validationContext ?? 'body';
    const issues = err.validation.map((v) => {
      // unknown keys are the client's own text: named cut to length and a few at most, or a 60 KB
      // key (or thousands of keys) would be copied into the answer and, twice, into the record
      const keys = (v.params as { keys?: string[] }).keys?.map((key) => redactedExcerpt(key, KEY_SHOWN));
      const path = v.instancePath.split('/').filter(Boolean);
      const field = [context, ...path, ...(keys && keys.length ? [keys[0]] : [])].join('.');
      const named = (keys ?? []).slice(0, UNKNOWN_KEYS_NAMED);
      const more = (keys?.length ?? 0) - named.length;
      const message =
        v.keyword === 'unrecognized_keys' ? `unknown field${keys && keys.length > 1 ? 's' : ''} ${named.join(', ')}${more > 0 ? ` and ${more} more` : ''}` : v.message;
      return { field, message };
    });
    const first = issues[0] ?? { field: context, message: 'invalid' };
    return { status: 400, body: errorBody('invalid_request', `${first.field}: ${first.message}`, { field: first.field, issues }) };
  }
  const fe = err as FastifyError;
  const status = fe.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    switch (fe.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return { status: 413, body: errorBody('payload_too_large', `request body exceeds the limit for this endpoint`, { field: 'body' }) };
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return { status: 415, body: errorBody('unsupported_media_type', 'send the body as application/json', { field: 'headers.content-type' }) };
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return { status: 400, body: errorBody('invalid_request', 'body: a JSON body is required', { field: 'body' }) };
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return { status: 400, body: errorBody('invalid_request', 'headers.content-length does not match the body', { field: 'headers.content-length' }) };
      default:
        if (err instanceof SyntaxError || fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
          // never echo the parser's message: it quotes the body, which may hold a token
          return { status: 400, body: errorBody('invalid_json', 'body: not valid JSON', { field: 'body' }) };
        }
        return { status, body: errorBody(fe.code ? fe.code.toLowerCase() : 'bad_request', err.message) };
    }
  }
  if (err instanceof AuditUnavailableError) {
    const e = auditUnavailable();
    return { status: e.status, body: errorBody(e.code, e.message, e.extra) };
  }
  return { status: 500, body: errorBody('internal_error', 'The gate failed to handle this request; it has been logged.') };
}

/** The fault with any token a client put where it does not belong (a JSON key, a path) blanked out: the body is audited and logged. */
function withoutTokens(fault: Fault): Fault {
  return { status: fault.status, body: redactTokensInJson(fault.body) };
}

/** The one log line of a request, with the fields its handler added (`status`: when it was answered without the reply). */
function logRequest(req: FastifyRequest, reply: FastifyReply, status = reply.statusCode): void {
  req.log.info({ method: req.method, path: pathOf(req), status, ms: Math.round(reply.elapsedTime * 10) / 10, ...logFieldsOf(req) }, 'request');
}

/**
 * The answer to a request fastify refuses before routing it: no route is known, so like an
 * unknown path (404) it is logged but not audited, and no hook has run, so the common headers are
 * set here. The message never quotes the path, which may hold a token.
 */
function answerUnroutable(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  setCommonHeaders(req, reply);
  const fault: Fault =
    err.code === 'FST_ERR_BAD_URL'
      ? { status: 400, body: errorBody('invalid_request', 'url: the path is not valid percent-encoding', { field: 'url' }) }
      : err.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? { status: 414, body: errorBody('uri_too_long', 'url: a path segment is too long', { field: 'url' }) }
        : { status: 400, body: errorBody('invalid_request', 'url: the request cannot be routed', { field: 'url' }) };
  req.log.info({ status: fault.status, error: fault.body['error'], path: pathOf(req) }, 'request refused');
  reply.code(fault.status);
  // and the line every request gets (no onResponse hook runs for it)
  logRequest(req, reply);
  reply.type('application/json; charset=utf-8').serializer(JSON.stringify).send(fault.body);
}

/**
 * Which refusals are audited: every 401, 403 and 429, and every 4xx of a POST, PUT or DELETE to a
 * known route (the decision preview included), and the 507 of a test-result upload refused while
 * the data volume is nearly full (a refusal too: the reserve it keeps is for records like this).
 * GETs that fail validation and requests for unknown paths are not.
 */
function isAuditedRefusal(req: FastifyRequest, status: number): boolean {
  if (status === 401 || status === 403 || status === 429) return true;
  const knownRoute = req.routeOptions.url !== undefined;
  return isRefusal(status) && knownRoute && req.method !== 'GET' && req.method !== 'HEAD';
}

/** An answer that says no, not a failure of the gate: any 4xx, and the 507 of an upload refused on a nearly full volume. */
function isRefusal(status: number): boolean {
  return (status >= 400 && status < 500) || status === 507;
}

/**
 * The errors every route can answer, which its own schema does not list: a token in the query
 * string (400 credentials_in_url), a request not whole in time (408), headers over 16 KiB (431),
 * a request that comes while the gate stops (503 shutting_down); and for a route that takes a
 * body, one over 64 KiB (413) or not JSON (415). The document lists them; a route's own entry for
 * a status wins.
 */
const ANY_ROUTE_ERRORS = { 400: ErrorSchema, 408: ErrorSchema, 431: ErrorSchema, 503: ErrorSchema };
const BODY_ERRORS = { 413: ErrorSchema, 415: ErrorSchema };
function withCommonErrors<R extends { schema: FastifySchema; route: { method: string | string[] } }>(route: R): R {
  const schema = route.schema as FastifySchema & { hide?: boolean };
  if (!schema || schema.hide) return route;
  const own = (schema.response ?? {}) as Record<string, unknown>;
  // a route that takes no body still parses one it is sent (a DELETE: 413, 415) before refusing it (400)
  const body = canCarryBody(route.route.method) ? BODY_ERRORS : {};
  return { ...route, schema: { ...schema, response: { ...ANY_ROUTE_ERRORS, ...body, ...own } } };
}

/** Whether requests of the method may carry a body the gate parses (all but GET and HEAD). */
function canCarryBody(method: string | string[]): boolean {
  return [method].flat().some((m) => m !== 'GET' && m !== 'HEAD');
}

/**
 * preValidation of a route that can be sent a body but takes none (the revokes, DELETE): a body
 * is a 400 naming it, never ignored while the change is made (`{"dryRun": true}` must not revoke).
 */
function refuseBody(req: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void {
  if (req.body === undefined) return done();
  done(new HttpError(400, 'invalid_request', 'body: this route takes no body', { field: 'body' }));
}

/**
 * Builds the gate's HTTP application from its dependencies. Never listens and never reads the
 * environment: server.ts does that. Close the app to stop its background sweep.
 */
export async function buildApp(deps: Deps): Promise<FastifyInstance> {
  const { config, clock, audit, store, calendar } = deps;
  const proxies = parseCidrs(config.http.trustedProxies, 'http.trustedProxies');
  const requestTimeoutMs = deps.requestTimeoutMs ?? 30_000;
  let onClientError: (err: Error & { code?: string }, socket: Socket) => void = () => {};
  const app = Fastify({
    // req.ip: when the TCP peer is a trusted proxy, the address it appended to X-Forwarded-For
    // (one hop only: entries further left were written by the client, see clientAddress)
    trustProxy: config.http.trustedProxies.length > 0 ? (address: string, hop: number) => hop === 0 && isInList(proxies, address) : false,
    loggerInstance: deps.logger || undefined,
    logger: deps.logger ? undefined : false,
    bodyLimit: BODY_LIMIT,
    // a request must arrive whole, headers and body, within 30 s: a client that trickles or stalls
    // cannot hold a connection open for ever. Given to Node's server when fastify creates it, with
    // the headers' limit equal to it: fastify sets requestTimeout only after creation, which
    // leaves Node's headersTimeout at 60 s, and with that Node never times out a body that stops
    // short (measured on Node 24; test/http/request-timeout.test.ts). Node looks for expired
    // requests every connectionsCheckingInterval (default 30 s, up to twice the limit): a tenth.
    requestTimeout: requestTimeoutMs,
    // requireHostHeader off: Node answered an HTTP/1.1 request without Host a bare 400 by itself
    // (not JSON, no gate headers, no log line, no record); the first hook refuses it instead
    http: {
      requestTimeout: requestTimeoutMs,
      headersTimeout: requestTimeoutMs,
      connectionsCheckingInterval: Math.max(10, Math.round(requestTimeoutMs / 10)),
      requireHostHeader: false,
    },
    // the gate's own ids (they become audit record ids), never a client's x-request-id
    genReqId: () => deps.newId('req'),
    requestIdHeader: false,
    // one log line per request (onResponse below) instead of fastify's two
    logController: new LogController({ disableRequestLogging: true }),
    // a request that arrives while the gate stops gets the gate's own 503 (onRequest below), not
    // fastify's, which has another shape, none of the gate's headers and no log line
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // a path parameter of any length a request line can carry reaches its route, whose schema
    // names the field (fastify's default of 100 answered a valid 101–128 character image tag
    // with its own 414, before the gate's hooks); Node refuses request lines over 16 KiB itself
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // what fastify refuses before routing (a path with bad percent-encoding) is answered like any
    // other refusal: the gate's JSON error, its headers, a log line, no token echoed
    frameworkErrors: (err, req, reply) => answerUnroutable(err, req, reply),
    // what Node reports on a connection (a request not whole in time, oversized headers, bytes
    // that are not HTTP): the gate's answer, log lines and refusal record (http/client-errors.ts)
    clientErrorHandler: (err, socket) => onClientError(err, socket as Socket),
  });
  // a request with an Expect other than 100-continue: Node answers it a bare 417 by itself (not
  // JSON, none of the gate's headers, no log line, and no record of a refused decision request);
  // the gate ignores the expectation, as RFC 9110 lets it, and handles the request like any other
  app.server.on('checkExpectation', (req, res) => app.server.emit('request', req, res));
  // JSON only: any other content type is 415
  app.removeContentTypeParser('text/plain');
  // fastify's JSON parser, its refusal of a prototype key in valid JSON answered naming the key
  const parseJson = jsonBodyParser(app);
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJson);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const metrics = createMetrics({
    isMarketOpen: () => {
      try {
        return calendar.state(clock.now()).open;
      } catch (err) {
        // a GATE_NOW clock run past the calendar: not known (NaN), and the rest of the scrape answered
        if (err instanceof RangeError) return null;
        throw err;
      }
    },
    isAuditWritable: () => audit.writable(),
    clockSimulated: config.now !== null,
    tokenReviewsShed: deps.tokenReviewsShed ?? null,
    proxySecretMatches: deps.proxySecretMatches ?? null,
    dataVolumeFreeBytes: () => (deps.freeBytes ?? volumeFreeBytes)(deps.dataDir),
    processMetrics: deps.processMetrics ?? true,
  });
  // the proxies in front carry many clients each: held only to maxConnections. Not the sign-in
  // proxy's proxyAuth.trustedCidrs: the README sets them to the pod network, which would exempt
  // every pod (what singles that proxy out is its secret, checked per request)
  capConnections(app, config.http.maxConnections, deps.dropReportMs ?? 60_000, () => metrics.connectionsDropped.inc(), {
    max: config.http.maxConnectionsPerClient,
    exempt: (address) => isInList(proxies, address),
  });
  const recorder = createRecorder(audit, store, metrics);
  const bodies = deps.bodyBudget ?? createBodyBudget(BODIES_HELD_BYTES, BODIES_HELD_PER_IDENTITY_BYTES);
  const reserved = new Set<string>();
  const decisions = createDecisionService({ config, clock, newId: deps.newId, store, recorder, calendar, reserved, writable: () => audit.writable() });
  const refusals = createRefusalRecorder({
    recorder,
    metrics,
    clock,
    newId: deps.newId,
    project: config.project,
    writable: () => audit.writable(),
    perWindow: config.audit.refusalRecordsPerMinute,
  });
  const guards = createGuard({ auth: deps.auth, refusals, project: config.project });
  const connections = createClientErrors({
    log: app.log,
    newId: deps.newId,
    requestTimeoutMs,
    logRequest,
    refuse: async (req, status, code, message) => {
      if (isAuditedRefusal(req, status)) await refusals.refuse(req, identityOf(req), status, code, message);
    },
  });
  onClientError = connections.handler;
  // CONNECT: Node hands it to 'connect' listeners and, with none, closed the connection unanswered
  app.server.on('connect', (req: IncomingMessage, socket: Socket) => connections.connect(req, socket));

  const ctx: RouteContext = {
    config,
    clock,
    dataDir: deps.dataDir,
    freeBytes: deps.freeBytes ?? volumeFreeBytes,
    newId: deps.newId,
    store,
    audit,
    auth: deps.auth,
    recorder,
    metrics,
    calendar,
    decisions,
    reserved,
    auditReads: boundedTurns(AUDIT_READS_WAITING),
    guard: guards.guard,
    refuse: guards.refuse,
    deployedTags: deps.deployedTags ?? null,
    kargoHealth: deps.kargoHealth ?? null,
    calendarGuard: (fn, field) => {
      try {
        return fn();
      } catch (err) {
        if (err instanceof RangeError) {
          throw field === null ? clockOutsideCalendar(err, config.now) : new HttpError(400, 'invalid_request', `${field}: ${err.message}`, { field });
        }
        throw err;
      }
    },
  };

  // set as the stop begins: a request that comes on a connection still open is answered 503
  // without being decided or recorded
  let stopping = false;
  app.addHook('preClose', (done) => {
    stopping = true;
    done();
  });
  // a request already under way when the stop began is answered as usual, with `connection:
  // close`: offered keep-alive, its client sends the next request on a connection the stop is
  // closing, and gets a reset instead of the 503 below (Kargo's Go client sends no POST again).
  // Not when a request is pipelined behind it on that connection: that one gets the 503, and
  // closes the connection
  app.addHook('onSend', (req, reply, payload, done) => {
    if (stopping && connections.isNewest(req)) reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('onRequest', (req, reply, done) => {
    connections.track(req, reply);
    if (stopping) {
      setCommonHeaders(req, reply);
      // not the route's serializer: /readyz's 503 schema is its health report, not this error
      reply
        .code(503)
        .header('retry-after', '1')
        .type('application/json; charset=utf-8')
        .serializer(JSON.stringify)
        .send(errorBody('shutting_down', 'The gate is stopping and decides nothing more; ask again in a moment.', { retryable: true }));
      return;
    }
    guards.firstHook(req, reply, done);
  });
  // every hook has passed: fastify reads the body now. One whose limit passed while its hooks
  // were deciding is not read (its connection reads nothing more): it is answered the 408
  app.addHook('preParsing', (req, reply, payload, done) => {
    const late = connections.startBody(req);
    if (late) return done(new HttpError(late.status, late.code, late.message, { field: late.field }));
    const bytes = declaredBodyBytes(req.headers, req.routeOptions.bodyLimit ?? BODY_LIMIT);
    // no route takes it: answered 404 as it is, its body never read. fastify would parse it for
    // the not-found handler, which let anyone without a token make the gate parse (and hold, for
    // a slow body) 64 KiB bodies that answer nobody
    if (bytes > 0 && req.routeOptions.url === undefined) return done(new HttpError(404, 'not_found', `no route ${req.method} ${pathOf(req)}`));
    // its share of the bodies held, until its answer is done or its connection closes; a small
    // body (every decision Kargo sends) takes none, so clients holding large ones cannot starve it
    if (bytes > SMALL_BODY_BYTES) {
      const release = bodies.take(identityOf(req).name, bytes);
      if (release === null) {
        reply.header('retry-after', '1');
        return done(
          new ShedError(503, 'bodies_saturated', 'The gate holds as many request bodies as it takes at once (from you, or from all clients); retry shortly.', { retryable: true }),
        );
      }
      // given back when the answer is done or the connection goes: also when that was before
      // now (the client left while the hooks awaited a token check), which a 'close' listener
      // added now would never hear of, leaking the share for good
      finished(reply.raw, release);
    }
    // fastify does not decode a content coding: a gzip body would be read as JSON and called
    // "not valid JSON"; RFC 9110 §15.5.16 answers a coding the server does not take with 415
    const coding = req.headers['content-encoding'];
    if (coding !== undefined && !/^\s*(identity)?\s*$/i.test(coding)) {
      const field = 'headers.content-encoding';
      return done(new HttpError(415, 'unsupported_media_type', `${field}: "${redactedExcerpt(coding, 40)}" is not taken; send the body without a content coding`, { field }));
    }
    // Node reads a body whose last transfer coding is chunked and drops the codings before it
    // ("gzip, chunked"): the gate would read gzip as JSON. Only chunked alone is taken
    const transfer = req.headers['transfer-encoding'];
    if (transfer !== undefined && !/^\s*chunked\s*$/i.test(transfer)) {
      const field = 'headers.transfer-encoding';
      return done(new HttpError(400, 'invalid_request', `${field}: "${redactedExcerpt(transfer, 40)}" is not taken; send the body chunked or with a Content-Length`, { field }));
    }
    done(null, payload);
  });
  // one log line per request, written when the answer has gone
  app.addHook('onResponse', (req, reply, done) => {
    logRequest(req, reply);
    done();
  });

  app.setErrorHandler(async (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    // the body's abort after the client-error handler answered (and recorded) the request on its socket
    if (!connections.startAnswer(req)) return reply.code(408).send();
    let fault = withoutTokens(toFault(err));
    if (err instanceof ShedError) {
      metrics.shed.inc({ error: err.code });
      req.log.warn({ status: fault.status, error: err.code, path: pathOf(req) }, 'request shed');
    } else if (fault.status >= 500 && !isRefusal(fault.status)) req.log.error({ err, path: pathOf(req) }, 'request failed');
    else req.log.info({ status: fault.status, error: fault.body['error'], path: pathOf(req) }, 'request refused');
    if (isAuditedRefusal(req, fault.status) && !isRefusalAudited(req)) {
      try {
        await refusals.refuse(req, identityOf(req), fault.status, String(fault.body['error']), String(fault.body['message']));
      } catch (auditErr) {
        req.log.error({ err: auditErr }, 'refusal could not be recorded');
        const e = auditUnavailable();
        fault = { status: e.status, body: errorBody(e.code, e.message, e.extra) };
      }
    }
    // RFC 9110 §15.5.2: a 401 names the scheme that would be accepted
    if (fault.status === 401) reply.header('www-authenticate', 'Bearer realm="stonks-gate"');
    return reply.code(fault.status).type('application/json; charset=utf-8').serializer(JSON.stringify).send(fault.body);
  });
  app.setNotFoundHandler(async (req, reply) =>
    reply.code(404).send(errorBody('not_found', `no route ${req.method} ${pathOf(req)}`)),
  );

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Stonks Oracle promotion gate', version: '1.0.0', description: 'May this promotion proceed? allow | wait | deny, with a durable audit log.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    // an operation whose route asks for an identity says so: without `security` an OpenAPI
    // operation needs no credentials, and a client built from the document would send none
    transform: (route) => {
      const out = jsonSchemaTransform(withCommonErrors(route));
      return asksForIdentity(route.route.onRequest) ? { ...out, schema: { ...out.schema, security: [{ bearer: [] }] } } : out;
    },
  });

  app.addHook('onRoute', (route) => {
    if (route.schema?.body !== undefined || !canCarryBody(route.method)) return;
    route.preValidation = [refuseBody, ...[route.preValidation ?? []].flat()];
  });

  await app.register(decisionRoutes(ctx));
  await app.register(marketRoutes(ctx));
  await app.register(statusRoutes(ctx));
  await app.register(auditRoutes(ctx));
  await app.register(healthRoutes(ctx));
  await app.register(metricsRoutes(ctx));
  await app.register(grantRoutes(ctx));
  await app.register(approvalRoutes(ctx));
  await app.register(stageRoutes(ctx));
  await app.register(testResultRoutes(ctx));
  await app.register(whoamiRoutes(ctx));
  await app.register(auditVerifyRoutes(ctx));
  await app.register(consoleRoutes(ctx));
  await app.register(openapiRoutes());

  // once a minute: record expiries of grants and approvals nobody asked about, and the summaries
  // of refusals counted over an address's budget whose minute is over
  let sweep: NodeJS.Timeout | null = null;
  app.addHook('onReady', async () => {
    sweep = setInterval(() => {
      decisions.sweepExpired().catch((err) => app.log.warn({ err }, 'expiry sweep could not be recorded'));
      refusals.flush().catch((err) => app.log.warn({ err }, 'refusal summaries could not be recorded yet'));
    }, deps.sweepIntervalMs ?? 60_000);
    sweep.unref();
  });
  app.addHook('onClose', async () => {
    if (sweep) clearInterval(sweep);
    // the counts of refusals not recorded one by one go into the log before it closes
    await refusals.flush(true).catch((err) => app.log.error({ err }, 'refusal summaries could not be recorded at shutdown'));
  });
  return app;
}

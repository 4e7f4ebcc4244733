import { createHash } from 'node:crypto';
import fc from 'fast-check';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import t from 'tap';
import { BODY_LIMIT } from '../../src/app.ts';
import { canonicalJson } from '../../src/audit/canonical-json.ts';
import { GENESIS_HASH, type AuditEventV1 } from '../../src/audit/event.ts';
import { checkRecordLine } from '../../src/audit/verify.ts';
import { applyRecord } from '../../src/policy/apply-record.ts';
import type { GateState } from '../../src/policy/state.ts';
import { verifyRun } from '../../src/routes/audit-verify.ts';
import { RESULTS_BODY_LIMIT } from '../../src/routes/test-results.ts';
import { STAGES } from '../../src/stages.ts';
import { buildTestApp, type TestApp } from '../helpers/build-app.ts';

/*
 * Every operation of the app's own GET /openapi.json, driven through app.inject as each role and
 * anonymously, with generated path parameters, query strings, headers and bodies, valid-looking
 * and hostile. After each request:
 *  - no 5xx (a 503 only while the test makes the audit log fail, or it has not been written since);
 *  - every 4xx is JSON {error, message}, and a 400 invalid_request names its field;
 *  - no answer and no audit record holds a gate or break-glass token the request sent (nor 16
 *    characters in a row of one's secret part: a cut token leaks too);
 *  - the audit log is a valid chain (each new record checked as `audit verify` checks a line);
 *  - the state is the state before with the request's records folded in (the recorder's rule),
 *    and a refused request (4xx, 5xx) added only refusal records, or the expiry of a grant or
 *    approval whose time had passed (DELETE /v1/break-glass/{id} of an expired grant records the
 *    expiry, then answers 409): a refusal record moves only auditSeq and prunedAt (and prunes).
 * Each run is a fresh app and a short sequence of requests. FUZZ_SEED and FUZZ_RUNS override
 * the fixed seed and the number of runs (FUZZ_VERBOSE=1 prints every request and its answer); a
 * failure prints the seed and the path to replay it, and the requests of the failing run.
 */

const SEED = Number(process.env['FUZZ_SEED'] ?? 424242);
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 300);

const TOKEN = /(gate|gbg)_[A-Za-z0-9_-]{43}/g;
/** a secret's run of this many characters in an answer or record counts as a leak */
const WINDOW = 16;

const ROLES = ['caller', 'operator', 'operator2', 'approver', 'approver2', 'admin', 'ci', 'auditor'] as const;

// ---------------------------------------------------------------------------------------------
// the operations, from the app's own document

interface SchemaLike {
  type?: string | string[];
  enum?: unknown[];
  anyOf?: SchemaLike[];
  properties?: Record<string, SchemaLike>;
  required?: string[];
  additionalProperties?: unknown;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  pattern?: string;
}

interface Op {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  pathParams: { name: string; schema: SchemaLike }[];
  query: { name: string; schema: SchemaLike }[];
  body: SchemaLike | null;
}

async function loadOps(): Promise<Op[]> {
  const teardowns: (() => unknown)[] = [];
  const g = await buildTestApp({ teardown: (fn) => teardowns.push(fn) });
  try {
    const doc = (await g.app.inject({ url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, { parameters?: { in: string; name: string; schema: SchemaLike }[]; requestBody?: { content: Record<string, { schema: SchemaLike }> } }>>;
    };
    const ops: Op[] = [];
    for (const [path, byMethod] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(byMethod)) {
        const params = op.parameters ?? [];
        ops.push({
          method: method.toUpperCase() as Op['method'],
          path,
          pathParams: params.filter((p) => p.in === 'path').map((p) => ({ name: p.name, schema: p.schema })),
          query: params.filter((p) => p.in === 'query').map((p) => ({ name: p.name, schema: p.schema })),
          body: op.requestBody?.content['application/json']?.schema ?? null,
        });
      }
    }
    return ops;
  } finally {
    for (const fn of teardowns) await fn();
  }
}

// ---------------------------------------------------------------------------------------------
// values

/** A token of the gate's shape, different for each seed (sha256 in base64url is 43 characters). */
const tokenOf = (prefix: 'gate_' | 'gbg_', n: number) => `${prefix}${createHash('sha256').update(`fuzz-${n}`).digest('base64url')}`;
const randomToken = fc.tuple(fc.constantFrom('gate_' as const, 'gbg_' as const), fc.integer({ min: 0, max: 50 })).map(([p, n]) => tokenOf(p, n));
/** the break-glass token the gate issued in this run (the k-th, cycling), filled in when the request is sent */
const ISSUED_TOKEN = (k: number) => `@@issued-token-${k}@@`;
/** a grant or approval id the gate issued in this run */
const ISSUED_ID = (k: number) => `@@issued-id-${k}@@`;

const invisible = fc.constantFrom('\u200b', '\u200d', '\ufeff', '\u0000', '\u0007', '\u2800', '\ufe0f', '\u3164', '\u202e');
const unicodeText = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.array(invisible, { maxLength: 30 }).map((a) => a.join('')),
  fc.constantFrom('Ünïcödé ✓', '日本語のテキスト', '🚀🚀🚀', 'a\u0301\u0301', '\ud800', 'x\r\ny', '../../etc/passwd', '<script>alert(1)</script>'),
);
/** text with a token somewhere in it */
const withToken = fc.tuple(fc.string({ maxLength: 8 }), randomToken, fc.string({ maxLength: 8 })).map(([a, tok, b]) => `${a}${tok}${b}`);
/** strings of a length at or just past a limit */
const nearLimit = (limits: number[]) =>
  fc.tuple(fc.constantFrom(...limits), fc.integer({ min: -1, max: 1 }), fc.constantFrom('x', 'é', '\u200b', '9')).map(([n, d, c]) => c.repeat(Math.max(0, n + d)));
const hostileString = fc.oneof(
  fc.string({ maxLength: 40 }),
  unicodeText,
  randomToken,
  withToken,
  nearLimit([20, 63, 64, 128, 129, 253, 256, 1000, 2000, 4000]),
  fc.constantFrom('', ' ', '-', '.', '_', 'null', 'true', '0', '-1', '1e999', '__proto__', 'constructor'),
);
const anyScalar = fc.oneof(hostileString, fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
const oddValue = fc.oneof(anyScalar, fc.array(anyScalar, { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 6 }), anyScalar, { maxKeys: 3 }));

const isoInstant = fc.oneof(
  fc.constantFrom('2026-11-25T15:00:00Z', '2026-11-27T17:59:59Z', '2026-11-28T12:00:00-05:00', '2026-12-25T15:00:00Z', '2026-07-03T13:00:00.123Z'),
  fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('2026-02-30T00:00:00Z', '2026-11-27T17:59:59', '1999-06-01T15:00:00Z', '2100-06-01T15:00:00Z', 'yesterday', '2026-11-27T24:00:00Z'),
  // the calendar's edges, offsets far out, fractions of any length
  fc.constantFrom(
    '1999-12-31T23:59:59-05:00',
    '2000-01-03T14:30:00Z',
    '2099-12-31T20:59:59Z',
    '2000-01-01T00:00:00+14:00',
    '0000-01-01T00:00:00+23:59',
    '9999-12-31T23:59:59-23:59',
    '2026-11-27T17:59:59.9999999999Z',
    `2026-11-27T17:59:59.${'1'.repeat(60)}Z`,
    '2026-11-27T17:59:60Z',
    '2026-11-27t17:59:59z',
  ),
);
const imageTags = ['abc123', 'v1.2.3', '0123456789abcdef0123456789abcdef01234567', `A${'b'.repeat(127)}`, '_tag', '42'];
const kubeNames = ['promo-1', 'promo-2', 'a', 'x'.repeat(253), 'freight.abc'];

/** Good values by field name: most requests should get past validation and reach the handlers. */
function goodValue(name: string): fc.Arbitrary<unknown> | null {
  switch (name) {
    case 'project':
      return fc.constantFrom('stonks-pipeline', 'stonks-pipeline', 'stonks-pipeline', 'stonks-pipeline', 'other-project');
    case 'stage':
      return fc.constantFrom(...STAGES, 'prod');
    case 'imageTag':
      return fc.constantFrom(...imageTags);
    case 'promotion':
    case 'freight':
      return fc.constantFrom(...kubeNames, null);
    case 'actor':
      return fc.constantFrom('alice', 'kargo', '', null);
    case 'rollback':
      return fc.constantFrom(true, false, null);
    case 'enabled':
      return fc.boolean();
    case 'breakGlassToken':
      return fc.oneof(fc.nat(3).map(ISSUED_TOKEN), fc.nat(3).map(ISSUED_TOKEN), randomToken, fc.constant(null));
    case 'justification':
      return fc.constantFrom('The hotfix for the pricing outage cannot wait for the close', `${'Urgent fix. '.repeat(166)}abcdefgh`);
    case 'ttlMinutes':
      return fc.constantFrom(1, 30, 240, 241, 0);
    case 'notes':
      return fc.constantFrom('Checked the dashboards and the canary', 'Reviewed.  ');
    case 'note':
      return fc.constantFrom('maintenance window', 'ok!');
    case 'exitCode':
      return fc.constantFrom(0, 0, 1, -1, 137, 2 ** 53 - 1);
    case 'passed':
    case 'failed':
    case 'skipped':
    case 'total':
      return fc.oneof(fc.nat(1000), fc.constant(0));
    case 'error':
      return fc.constantFrom('results file missing', '', '   ');
    case 'tests':
      return fc.record({ passed: fc.nat(10), failed: fc.nat(2), extra: fc.string({ maxLength: 5 }) }, { requiredKeys: [] });
    case 'at':
      return isoInstant;
    default:
      return null;
  }
}

/** Random values of the schema's type, at and around its bounds. */
function typedValue(schema: SchemaLike): fc.Arbitrary<unknown> {
  if (schema.enum) return fc.constantFrom(...schema.enum);
  if (schema.anyOf) return fc.oneof(...schema.anyOf.map(typedValue));
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'string': {
      const limits = [schema.minLength, schema.maxLength].filter((n): n is number => typeof n === 'number');
      return limits.length ? fc.oneof(hostileString, nearLimit(limits)) : hostileString;
    }
    case 'integer':
    case 'number':
      return fc.oneof(
        fc.integer(),
        fc.constantFrom(schema.minimum ?? 0, (schema.minimum ?? 0) - 1, schema.maximum ?? 2 ** 53, (schema.maximum ?? 2 ** 53) + 1, 0.5, -0, 1e308, 2 ** 53 + 1),
      );
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'object':
      return schema.properties ? shapedBody(schema) : fc.dictionary(fc.string({ maxLength: 8 }), anyScalar, { maxKeys: 4 });
    default:
      return oddValue;
  }
}

function fieldValue(name: string, schema: SchemaLike): fc.Arbitrary<unknown> {
  const good = goodValue(name);
  const arbs: fc.WeightedArbitrary<unknown>[] = [
    { arbitrary: typedValue(schema), weight: 2 },
    { arbitrary: oddValue, weight: 1 },
  ];
  if (good) arbs.push({ arbitrary: good, weight: 24 });
  return fc.oneof(...arbs);
}

/** An object of the schema's shape: required members mostly there, optional ones sometimes, now and then an unknown one. */
function shapedBody(schema: SchemaLike): fc.Arbitrary<Record<string, unknown>> {
  const props = Object.entries(schema.properties ?? {});
  const required = new Set(schema.required ?? []);
  const members = props.map(([name, s]) =>
    fc
      .tuple(fc.integer({ min: 0, max: 99 }), fieldValue(name, s))
      .map(([roll, value]) => ((required.has(name) ? roll < 95 : roll < 40) ? ([[name, value]] as [string, unknown][]) : [])),
  );
  const extra = fc.oneof(
    { arbitrary: fc.constant(null), weight: 10 },
    { arbitrary: fc.tuple(fc.constantFrom('decision', 'seq', 'hash', 'extra', '__proto__', 'x'), oddValue), weight: 1 },
  );
  return fc.tuple(fc.tuple(...members), extra).map(([chosen, more]) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of chosen.flat()) out[k] = v;
    if (more) Object.defineProperty(out, more[0], { value: more[1], enumerable: true, configurable: true, writable: true });
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// requests

type Body =
  | { kind: 'none' }
  | { kind: 'json'; value: unknown }
  | { kind: 'text'; text: string }
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'padded'; value: Record<string, unknown>; delta: number };

interface RequestSpec {
  op: number;
  /** the raw value and how it goes into the path */
  params: { value: string; encoding: 'component' | 'raw' | 'every' | 'underscore' }[];
  query: { key: string; value: string; encoding: 'component' | 'raw' | 'every' }[];
  auth: { kind: 'none' } | { kind: 'role'; role: string; style: 'bearer' | 'lower' | 'spaces' | 'trailing' | 'basic' | 'bare' } | { kind: 'twice'; roles: [string, string] } | { kind: 'token'; token: string } | { kind: 'odd'; value: string };
  contentType: string | null;
  accept: string | null;
  extraHeaders: [string, string][];
  body: Body;
  /** appends made to fail during this request */
  failAppends: number;
  /** minutes the clock moves before the request */
  tick: number;
}

const hostileParam = fc.oneof(
  hostileString,
  nearLimit([127, 128, 129, 1000, 16 * 1024, 16 * 1024 + 1]),
  fc.constantFrom('%', '%zz', '%E0%A4%A', '..', '.', '%2F', 'a/b', 'a?b', 'a#b', ' ', '+', '%00', 'bg_', 'bg_0001', 'gate_', 'gbg_x'),
);

function paramValue(name: string, schema: SchemaLike): fc.Arbitrary<string> {
  const good: fc.Arbitrary<string>[] = [];
  if (schema.enum) good.push(fc.constantFrom(...(schema.enum as string[])));
  if (name === 'imageTag') good.push(fc.constantFrom(...imageTags));
  if (name === 'id') good.push(fc.nat(3).map(ISSUED_ID), fc.nat(3).map(ISSUED_ID), fc.constantFrom('bg_0001', 'bg_9999', 'ap_0001'));
  if (name === 'stage') good.push(fc.constantFrom(...STAGES));
  return fc.oneof({ arbitrary: good.length ? fc.oneof(...good) : hostileString, weight: 4 }, { arbitrary: hostileParam, weight: 1 });
}

const queryValueFor = (schema: SchemaLike | undefined): fc.Arbitrary<string> =>
  fc.oneof(
    { arbitrary: schema?.enum ? fc.constantFrom(...(schema.enum as string[])) : fc.constantFrom('beta', 'live', '5', '50'), weight: 3 },
    { arbitrary: isoInstant, weight: 1 },
    { arbitrary: fc.constantFrom('', '0', '-1', '501', '1.5', '1e3', ' 5', '0x10', '9007199254740993', 'NaN', 'Infinity', 'true', '[]', '{}'), weight: 2 },
    { arbitrary: hostileString, weight: 2 },
  );

function queryArb(op: Op) {
  const known = op.query.map((q) => q.name);
  const key = fc.oneof(
    { arbitrary: known.length ? fc.constantFrom(...known) : fc.constant('stage'), weight: 4 },
    { arbitrary: fc.constantFrom('foo', 'token', 'access_token', 'api-key', 'BreakGlassToken', '__proto__', 'constructor', 'limit[]', 'a.b', '', 'ünï'), weight: 1 },
    { arbitrary: randomToken, weight: 1 },
  );
  const pair = key.chain((k) => queryValueFor(op.query.find((q) => q.name === k)?.schema).map((v) => [k, v] as const));
  return fc
    .array(
      fc.tuple(pair, fc.constantFrom('component' as const, 'component' as const, 'raw' as const, 'every' as const)).map(([[k, value], encoding]) => ({ key: k, value, encoding })),
      { maxLength: 4 },
    )
    .chain((pairs) =>
      // a repeated key now and then
      pairs.length > 0 ? fc.boolean().map((dup) => (dup ? [...pairs, { ...pairs[0]!, value: `${pairs[0]!.value}2` }] : pairs)) : fc.constant(pairs),
    );
}

/** the roles that may call an operation that changes something or reads the audit log (any role may read the rest) */
function rightRoles(op: Op): string[] {
  if (op.path.startsWith('/v1/audit')) return ['operator', 'operator2', 'approver', 'approver2', 'auditor', 'admin'];
  if (op.method === 'GET') return [...ROLES];
  if (op.path.startsWith('/v1/decisions')) return ['caller', 'admin'];
  if (op.path.startsWith('/v1/break-glass')) return ['operator', 'operator2', 'admin'];
  if (op.path.startsWith('/v1/approvals')) return ['approver', 'approver2', 'admin'];
  if (op.path.startsWith('/v1/stages')) return ['admin'];
  if (op.path.startsWith('/v1/test-results')) return ['ci', 'admin'];
  return [...ROLES];
}

const authArb = (op: Op): fc.Arbitrary<RequestSpec['auth']> => fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('role' as const), role: fc.constantFrom(...rightRoles(op)), style: fc.constant('bearer' as const) }), weight: 12 },
  { arbitrary: fc.record({ kind: fc.constant('role' as const), role: fc.constantFrom(...ROLES), style: fc.constant('bearer' as const) }), weight: 4 },
  {
    arbitrary: fc.record({ kind: fc.constant('role' as const), role: fc.constantFrom(...ROLES), style: fc.constantFrom('lower' as const, 'spaces' as const, 'trailing' as const, 'basic' as const, 'bare' as const) }),
    weight: 1,
  },
  { arbitrary: fc.constant({ kind: 'none' as const }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('twice' as const), roles: fc.tuple(fc.constantFrom(...ROLES), fc.constantFrom(...ROLES)) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('token' as const), token: randomToken }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('odd' as const), value: fc.constantFrom('Bearer', 'Bearer ', 'Bearer a b', 'Token x', 'Bearer \u00e9', 'Bearer gate_') }), weight: 1 },
);

const contentTypes = [
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/json;charset=UTF-8',
  'application/json; charset=latin1',
  'application/vnd.api+json',
  'application/json-patch+json',
  'text/plain',
  'text/json',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  '',
  ';',
  'application/json, text/plain',
];
const accepts = ['*/*', 'application/json', 'text/html', 'application/xml', 'text/event-stream', 'application/json;q=0', '', 'garbage/'];

/** nested arrays or objects, deeper than any parser recursion ought to go */
const deepNesting = fc.tuple(fc.constantFrom(10, 100, 1000, 5000), fc.constantFrom('array', 'object', 'tests'), fc.boolean()).map(([depth, shape, closed]) => {
  const open = shape === 'array' ? '['.repeat(depth) : '{"a":'.repeat(depth);
  const close = shape === 'array' ? ']'.repeat(depth) : '}'.repeat(depth);
  const inner = `${open}1${closed ? close : ''}`;
  // 'tests': inside a test-results body, where every member but the counts is kept as sent
  return shape === 'tests' ? `{"exitCode":0,"tests":${inner}}` : inner;
});

function bodyArb(op: Op): fc.Arbitrary<Body> {
  const shaped = op.body ? shapedBody(op.body) : fc.dictionary(fc.string({ maxLength: 6 }), anyScalar, { maxKeys: 3 });
  const arbs: fc.WeightedArbitrary<Body>[] = [
    { arbitrary: shaped.map((value) => ({ kind: 'json' as const, value })), weight: op.body ? 14 : 1 },
    { arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => ({ kind: 'json' as const, value })), weight: 2 },
    { arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ kind: 'bytes' as const, bytes })), weight: 1 },
    { arbitrary: deepNesting.map((text) => ({ kind: 'text' as const, text })), weight: 1 },
    {
      arbitrary: fc
        .constantFrom(
          '',
          ' ',
          'null',
          '"a string"',
          '{"__proto__":{"polluted":true}}',
          '{"constructor":{"prototype":{"polluted":true}}}',
          '{"exitCode":0,"exitCode":1}',
          '{"exitCode":0,"tests":{"failed":0,"failed":3}}',
          '{"project":"stonks-pipeline",',
          '\ufeff{}',
          '{"a":1}garbage',
        )
        .map((text) => ({ kind: 'text' as const, text })),
      weight: 2,
    },
    { arbitrary: fc.tuple(shaped, fc.integer({ min: -2, max: 2 })).map(([value, delta]) => ({ kind: 'padded' as const, value, delta })), weight: 1 },
    { arbitrary: fc.constant({ kind: 'none' as const }), weight: op.body ? 1 : 8 },
  ];
  return fc.oneof(...arbs);
}

function requestArb(ops: Op[]): fc.Arbitrary<RequestSpec> {
  return fc.nat(ops.length - 1).chain((i) => {
    const op = ops[i]!;
    return fc.record({
      op: fc.constant(i),
      params: fc.tuple(
        ...op.pathParams.map((p) =>
          fc.record({ value: paramValue(p.name, p.schema), encoding: fc.constantFrom('component' as const, 'component' as const, 'raw' as const, 'every' as const, 'underscore' as const) }),
        ),
      ),
      query: fc.oneof({ arbitrary: fc.constant<RequestSpec['query']>([]), weight: 3 }, { arbitrary: queryArb(op), weight: 1 }),
      auth: authArb(op),
      contentType: fc.oneof({ arbitrary: fc.constant('application/json'), weight: 16 }, { arbitrary: fc.constantFrom(...contentTypes), weight: 2 }, { arbitrary: fc.constant(null), weight: 1 }),
      accept: fc.oneof({ arbitrary: fc.constant(null), weight: 4 }, { arbitrary: fc.constantFrom(...accepts), weight: 1 }),
      extraHeaders: fc.array(
        fc.tuple(
          fc.constantFrom('x-request-id', 'x-forwarded-for', 'cookie', 'x-auth-request-user', 'x-gate-token', 'user-agent'),
          fc.oneof(randomToken, fc.constantFrom('dec_0001', '1.2.3.4, gate_x', 'alice', ''), withToken),
        ),
        { maxLength: 2 },
      ),
      body: bodyArb(op),
      failAppends: fc.oneof({ arbitrary: fc.constant(0), weight: 12 }, { arbitrary: fc.integer({ min: 1, max: 3 }), weight: 1 }),
      tick: fc.oneof({ arbitrary: fc.constant(0), weight: 10 }, { arbitrary: fc.constantFrom(1, 2, 30, 241, 600, 60 * 24 * 8), weight: 1 }),
    });
  });
}

/**
 * Requests that succeed, some of which a run may begin with: a grant to revoke or use, an
 * approval, a toggle, a test result, so that the generated requests after them meet state.
 */
function preludeArb(ops: Op[]): fc.Arbitrary<RequestSpec[]> {
  const spec = (method: string, path: string, role: string, body: Record<string, unknown>, params: string[] = []): RequestSpec => ({
    op: ops.findIndex((o) => o.method === method && o.path === path),
    params: params.map((value) => ({ value, encoding: 'component' as const })),
    query: [],
    auth: { kind: 'role', role, style: 'bearer' },
    contentType: 'application/json',
    accept: null,
    extraHeaders: [],
    body: { kind: 'json', value: body },
    failAppends: 0,
    tick: 0,
  });
  const good = [
    spec('POST', '/v1/break-glass', 'operator', { project: 'stonks-pipeline', stage: 'live', imageTag: 'abc123', justification: 'The pricing outage cannot wait for the close' }),
    spec('POST', '/v1/break-glass', 'operator2', { project: 'stonks-pipeline', stage: 'paper', imageTag: '42', justification: 'The pricing outage cannot wait for the close', ttlMinutes: 5 }),
    spec('POST', '/v1/approvals', 'approver', { project: 'stonks-pipeline', stage: 'live', imageTag: 'abc123', notes: 'Checked the dashboards and the canary' }),
    spec('PUT', '/v1/stages/{stage}', 'admin', { enabled: false, note: 'maintenance window' }, ['beta']),
    spec('PUT', '/v1/test-results/{imageTag}', 'ci', { exitCode: 0, passed: 10, failed: 0 }, ['abc123']),
  ].filter((s) => s.op >= 0);
  return fc.subarray(good);
}

// ---------------------------------------------------------------------------------------------
// sending

/** Lenient percent-decoding, once (as the server decodes): a bad escape stays as it is. */
function decodeOnce(text: string): string {
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => new TextDecoder().decode(Uint8Array.from(run.slice(1).split('%'), (h) => parseInt(h, 16))));
}

const everyByte = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');

function encodePart(raw: string, encoding: 'component' | 'raw' | 'every' | 'underscore'): string {
  // a lone surrogate has no UTF-8 form: a client sends U+FFFD's bytes (or nothing) in its place
  const value = raw.toWellFormed();
  switch (encoding) {
    case 'component':
      return encodeURIComponent(value);
    case 'raw':
      // as typed; what cannot stand in a URL at all is escaped by the URL parser
      return value;
    case 'every':
      return everyByte(value);
    case 'underscore':
      return encodeURIComponent(value).replaceAll('_', '%5F');
  }
}

interface RunCtx {
  g: TestApp;
  /** break-glass tokens, and grant and approval ids, the gate issued in this run */
  issuedTokens: string[];
  issuedIds: string[];
  /** every token any request of this run sent */
  sent: Set<string>;
  /** the chain as checked so far */
  head: { seq: number; hash: string };
  nowMs: number;
  log: string[];
}

function fillIssued(text: string, ctx: RunCtx): string {
  return text
    .replace(/@@issued-token-(\d+)@@/g, (_m, k: string) => (ctx.issuedTokens.length ? ctx.issuedTokens[Number(k) % ctx.issuedTokens.length]! : tokenOf('gbg_', 999)))
    .replace(/@@issued-id-(\d+)@@/g, (_m, k: string) => (ctx.issuedIds.length ? ctx.issuedIds[Number(k) % ctx.issuedIds.length]! : 'bg_0001'));
}

function bodyPayload(body: Body, op: Op, ctx: RunCtx): string | Buffer | undefined {
  switch (body.kind) {
    case 'none':
      return undefined;
    case 'json':
      return fillIssued(JSON.stringify(body.value) ?? 'null', ctx);
    case 'text':
      return body.text;
    case 'bytes':
      return Buffer.from(body.bytes);
    case 'padded': {
      // one string member grown until the body is `delta` bytes off the route's limit
      const limit = op.path.startsWith('/v1/test-results') ? RESULTS_BODY_LIMIT : BODY_LIMIT;
      const base = fillIssued(JSON.stringify({ ...body.value, pad: '' }), ctx);
      const fill = Math.max(0, limit + body.delta - Buffer.byteLength(base));
      return base.replace('"pad":""', `"pad":"${'p'.repeat(fill)}"`);
    }
  }
}

function authHeader(auth: RequestSpec['auth'], tokens: Record<string, string>): string | string[] | undefined {
  switch (auth.kind) {
    case 'none':
      return undefined;
    case 'twice':
      return [`Bearer ${tokens[auth.roles[0]]}`, `Bearer ${tokens[auth.roles[1]]}`];
    case 'token':
      return `Bearer ${auth.token}`;
    case 'odd':
      return auth.value;
    case 'role': {
      const tok = tokens[auth.role]!;
      return { bearer: `Bearer ${tok}`, lower: `bearer ${tok}`, spaces: `Bearer    ${tok}  `, trailing: `Bearer ${tok} x`, basic: `Basic ${tok}`, bare: tok }[auth.style];
    }
  }
}

/** The tokens a request holds, where the gate can see them: as sent, and percent-decoded once. */
function tokensIn(texts: string[]): string[] {
  const out = new Set<string>();
  for (const text of texts) {
    for (const form of [text, decodeOnce(text), decodeOnce(text.replaceAll('+', ' '))]) for (const m of form.matchAll(TOKEN)) out.add(m[0]);
    try {
      // a JSON text's strings with their escapes undone (\u0067ate_…)
      const parsed: unknown = JSON.parse(text);
      for (const m of JSON.stringify(parsed).matchAll(TOKEN)) out.add(m[0]);
    } catch {
      // not JSON
    }
  }
  return [...out];
}

/** the first run of WINDOW characters of a sent token's secret found in `text`, or null */
function leak(text: string, sent: Iterable<string>): string | null {
  for (const tok of sent) {
    const secret = tok.slice(tok.indexOf('_') + 1);
    for (let i = 0; i + WINDOW <= secret.length; i++) if (text.includes(secret.slice(i, i + WINDOW))) return tok;
  }
  return null;
}

function stateCopy(state: GateState): GateState {
  return structuredClone(state);
}

class PropertyFailure extends Error {}

function fail(ctx: RunCtx, what: string): never {
  throw new PropertyFailure(`${what}\nrequests so far:\n  ${ctx.log.join('\n  ')}`);
}

async function send(ctx: RunCtx, ops: Op[], spec: RequestSpec): Promise<number> {
  const { g } = ctx;
  const op = ops[spec.op]!;
  if (spec.tick > 0) {
    ctx.nowMs += spec.tick * 60_000;
    g.clock.set(new Date(ctx.nowMs).toISOString());
  }
  let path = op.path;
  op.pathParams.forEach((p, i) => {
    const { value, encoding } = spec.params[i]!;
    path = path.replace(`{${p.name}}`, encodePart(fillIssued(value, ctx), encoding));
  });
  const qs = spec.query.map((q) => `${encodePart(q.key, q.encoding)}=${encodePart(q.value, q.encoding)}`).join('&');
  const url = qs ? `${path}?${qs}` : path;
  const headers: Record<string, string | string[]> = {};
  const auth = authHeader(spec.auth, g.tokens);
  if (auth !== undefined) headers['authorization'] = auth;
  const payload = bodyPayload(spec.body, op, ctx);
  if (spec.contentType !== null && (payload !== undefined || spec.contentType !== 'application/json')) headers['content-type'] = spec.contentType;
  if (spec.accept !== null) headers['accept'] = spec.accept;
  for (const [k, v] of spec.extraHeaders) headers[k] = v;

  const sentNow = tokensIn([url, ...Object.values(headers).flat(), typeof payload === 'string' ? payload : payload ? payload.toString('utf8') : '']);
  for (const tok of sentNow) ctx.sent.add(tok);
  const before = stateCopy(g.store.read());
  const writableBefore = g.audit.writable();
  if (spec.failAppends > 0) g.audit.failNextAppends(spec.failAppends);
  const opts: InjectOptions = { method: op.method, url, headers };
  if (payload !== undefined) opts.payload = payload;
  const desc = `${op.method} ${url.length > 160 ? `${url.slice(0, 160)}…(${url.length})` : url} as ${JSON.stringify(spec.auth).slice(0, 80)} ct=${JSON.stringify(headers['content-type'] ?? null)} body=${spec.body.kind}${typeof payload === 'string' ? `:${payload.slice(0, 120)}${payload.length > 120 ? `…(${payload.length})` : ''}` : ''} fail=${spec.failAppends} tick=${spec.tick}`;
  let res: LightMyRequestResponse;
  try {
    res = await g.app.inject(opts);
  } finally {
    g.audit.failNextAppends(0);
  }
  ctx.log.push(`${desc} -> ${res.statusCode} ${res.body.slice(0, 200)}`);
  if (process.env['FUZZ_VERBOSE']) console.error(ctx.log.at(-1));

  // no 5xx, but the 503 of an audit log made to fail (or not written since it failed)
  const failing = spec.failAppends > 0 || !writableBefore;
  if (res.statusCode >= 500 && !(res.statusCode === 503 && failing)) fail(ctx, `${res.statusCode} answered`);
  const type = String(res.headers['content-type'] ?? '');
  let json: Record<string, unknown> | null = null;
  if (/application\/json/.test(type)) {
    try {
      json = JSON.parse(res.body) as Record<string, unknown>;
    } catch {
      fail(ctx, 'a JSON answer that does not parse');
    }
  }
  if (res.statusCode >= 400 && res.statusCode < 500) {
    if (!json || typeof json['error'] !== 'string' || typeof json['message'] !== 'string') fail(ctx, `a ${res.statusCode} that is not JSON {error, message}`);
    if (res.statusCode === 400 && json['error'] === 'invalid_request' && (typeof json['field'] !== 'string' || json['field'] === '')) fail(ctx, 'a 400 invalid_request naming no field');
  }
  if (res.statusCode === 503 && op.path !== '/readyz' && (!json || typeof json['error'] !== 'string')) fail(ctx, 'a 503 that is not the gate error');

  // no token it was sent, in the answer or in any record
  const inAnswer = leak(res.body, ctx.sent);
  if (inAnswer) fail(ctx, `the answer holds (part of) the sent token ${inAnswer}`);
  const records = g.audit.records();
  const fresh = records.slice(ctx.head.seq);
  const inRecords = leak(JSON.stringify(fresh), ctx.sent);
  if (inRecords) fail(ctx, `an audit record holds (part of) the sent token ${inRecords}`);

  // the chain goes on from where it was, each record as `audit verify` checks a line
  for (const rec of fresh) {
    const checked = checkRecordLine({ text: canonicalJson(rec), terminated: true }, { seq: ctx.head.seq, hash: ctx.head.hash, firstSeq: null });
    if (!checked.ok) fail(ctx, `audit record ${rec.seq} breaks the chain: ${checked.reason}`);
    ctx.head = { seq: rec.seq, hash: rec.hash };
  }
  if (g.audit.head().seq !== ctx.head.seq || g.audit.head().hash !== ctx.head.hash) fail(ctx, 'the log head is not its last record');

  // the state is the state before with this request's records folded in; a refused request
  // added only refusals, or the expiry of what had run out
  const expected = stateCopy(before);
  for (const rec of fresh) applyRecord(expected, rec);
  const after = g.store.read();
  if (JSON.stringify(expected) !== JSON.stringify(after)) fail(ctx, `the state is not the state before with the new records folded in:\n${JSON.stringify(before)}\n${JSON.stringify(after)}`);
  if (res.statusCode >= 400) {
    const changing = fresh.filter((r: AuditEventV1) => !['refusal', 'breakglass.expired', 'approval.expired'].includes(r.type));
    if (changing.length) fail(ctx, `a refused request (${res.statusCode}) recorded ${changing.map((r) => r.type).join(', ')}`);
    for (const r of fresh.filter((x) => x.type.endsWith('.expired'))) {
      const expiresAt = String((r.breakGlass ?? r.approval)?.['expiresAt'] ?? '');
      if (!(Date.parse(expiresAt) <= ctx.nowMs)) fail(ctx, `a refused request recorded the expiry of ${r.id}, which runs until ${expiresAt}`);
    }
  }

  // what later requests of the run may use
  if (res.statusCode === 201 && json && typeof json['token'] === 'string' && typeof json['id'] === 'string') {
    ctx.issuedTokens.push(json['token']);
    ctx.issuedIds.push(json['id']);
  }
  if (res.statusCode === 201 && json && typeof json['approvedBy'] === 'string' && typeof json['id'] === 'string') ctx.issuedIds.push(json['id']);
  return res.statusCode;
}

// ---------------------------------------------------------------------------------------------

t.test('property: every documented operation, any caller, any input: no 5xx, JSON errors naming the field, no token echoed or recorded, an intact chain, no state changed by a refusal', async (t) => {
  const ops = await loadOps();
  t.ok(ops.length >= 15, `the document lists ${ops.length} operations`);
  t.ok(ops.some((o) => o.method === 'DELETE') && ops.some((o) => o.method === 'PUT') && ops.some((o) => o.pathParams.length > 0), 'with every kind of operation');
  const hits = new Map<string, Map<number, number>>();
  const started = performance.now();
  t.comment(`fast-check seed ${SEED}, ${RUNS} runs (FUZZ_SEED / FUZZ_RUNS override)`);
  await fc.assert(
    fc.asyncProperty(preludeArb(ops), fc.array(requestArb(ops), { minLength: 1, maxLength: 8 }), async (prelude, generated) => {
      const specs = [...prelude, ...generated];
      const teardowns: (() => unknown)[] = [];
      const g = await buildTestApp(
        { teardown: (fn) => teardowns.push(fn) },
        // two unauthenticated refusals a minute per client are recorded one by one: the rest are summarised
        { configYaml: 'audit:\n  refusalRecordsPerMinute: 2\n' },
      );
      const ctx: RunCtx = { g, issuedTokens: [], issuedIds: [], sent: new Set(Object.values(g.tokens)), head: { seq: 0, hash: GENESIS_HASH }, nowMs: g.clock.now().toMillis(), log: [] };
      try {
        for (const spec of specs) {
          const status = await send(ctx, ops, spec);
          const op = ops[spec.op]!;
          const key = `${op.method} ${op.path}`;
          const byStatus = hits.get(key) ?? new Map<number, number>();
          byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
          hits.set(key, byStatus);
        }
        // closing the app records the summaries of refusals still counted: they too hold no token
        await g.app.close();
        const records = g.audit.records();
        const broken = verifyRun(records);
        if (broken) fail(ctx, `verifyRun: ${broken.reason}`);
        if (records.some((r, i) => r.seq !== i + 1)) fail(ctx, 'seqs are not 1..n');
        if (records.length && records[0]!.prev !== GENESIS_HASH) fail(ctx, 'the first record does not follow the genesis hash');
        const tok = leak(JSON.stringify(records), ctx.sent);
        if (tok) fail(ctx, `an audit record holds (part of) the sent token ${tok}`);
      } finally {
        for (const fn of teardowns) await fn();
      }
    }),
    { seed: SEED, numRuns: RUNS },
  );
  const seconds = (performance.now() - started) / 1000;
  t.comment(`${RUNS} runs in ${seconds.toFixed(1)} s`);
  for (const [key, byStatus] of [...hits].sort()) t.comment(`${key}: ${[...byStatus].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(' ')}`);
  // every documented operation was sent, and each at least once got past validation to its handler
  for (const op of ops) {
    const byStatus = hits.get(`${op.method} ${op.path}`);
    t.ok(byStatus, `${op.method} ${op.path} was sent`);
    t.ok([...(byStatus ?? [])].some(([s]) => s >= 200 && s < 300), `${op.method} ${op.path} was answered 2xx at least once`);
  }
});

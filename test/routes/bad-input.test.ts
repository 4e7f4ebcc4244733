import fc from 'fast-check';
import t from 'tap';
import { newBreakGlassToken } from '../../src/routes/grants.ts';
import { buildTestApp, decisionBody } from '../helpers/build-app.ts';

interface BadCase {
  name: string;
  payload?: unknown;
  raw?: string;
  contentType?: string;
  headers?: Record<string, string>;
  status: number;
  error: string;
  field: string;
}

const long = (n: number) => 'x'.repeat(n);

const cases: BadCase[] = [
  { name: 'malformed JSON', raw: '{"project": "stonks-pipeline",', status: 400, error: 'invalid_json', field: 'body' },
  { name: 'JSON that is not an object', raw: '[1,2,3]', status: 400, error: 'invalid_request', field: 'body' },
  { name: 'empty body', raw: '', status: 400, error: 'invalid_request', field: 'body' },
  { name: 'missing imageTag', payload: { project: 'stonks-pipeline', stage: 'beta' }, status: 400, error: 'invalid_request', field: 'body.imageTag' },
  { name: 'wrong type: stage is a number', payload: decisionBody({ stage: 5 }), status: 400, error: 'invalid_request', field: 'body.stage' },
  { name: 'wrong type: rollback is a string', payload: decisionBody({ rollback: 'yes' }), status: 400, error: 'invalid_request', field: 'body.rollback' },
  { name: 'unknown field', payload: decisionBody({ decision: 'allow' }), status: 400, error: 'invalid_request', field: 'body.decision' },
  { name: 'empty project', payload: decisionBody({ project: '' }), status: 400, error: 'invalid_request', field: 'body.project' },
  { name: 'over-long stage', payload: decisionBody({ stage: long(64) }), status: 400, error: 'invalid_request', field: 'body.stage' },
  { name: 'over-long actor', payload: decisionBody({ actor: long(1025) }), status: 400, error: 'invalid_request', field: 'body.actor' },
  { name: 'imageTag with a leading dash', payload: decisionBody({ imageTag: '-abc' }), status: 400, error: 'invalid_request', field: 'body.imageTag' },
  { name: 'imageTag with a slash', payload: decisionBody({ imageTag: 'a/b' }), status: 400, error: 'invalid_request', field: 'body.imageTag' },
  { name: 'imageTag of 129 characters', payload: decisionBody({ imageTag: long(129) }), status: 400, error: 'invalid_request', field: 'body.imageTag' },
  { name: 'empty imageTag', payload: decisionBody({ imageTag: '' }), status: 400, error: 'invalid_request', field: 'body.imageTag' },
  { name: 'empty breakGlassToken', payload: decisionBody({ breakGlassToken: '' }), status: 400, error: 'invalid_request', field: 'body.breakGlassToken' },
  { name: 'gzip content coding', payload: decisionBody(), headers: { 'content-encoding': 'gzip' }, status: 415, error: 'unsupported_media_type', field: 'headers.content-encoding' },
  { name: 'two content codings', payload: decisionBody(), headers: { 'content-encoding': 'identity, br' }, status: 415, error: 'unsupported_media_type', field: 'headers.content-encoding' },
  { name: 'body over 64 KiB', payload: decisionBody({ actor: long(70 * 1024) }), status: 413, error: 'payload_too_large', field: 'body' },
  { name: 'text/plain', raw: 'allow please', contentType: 'text/plain', status: 415, error: 'unsupported_media_type', field: 'headers.content-type' },
  { name: 'form encoded', raw: 'project=x', contentType: 'application/x-www-form-urlencoded', status: 415, error: 'unsupported_media_type', field: 'headers.content-type' },
];

t.test('each malformed decision request is a 4xx JSON error naming the field, audited, nothing decided', async (t) => {
  const g = await buildTestApp(t);
  for (const c of cases) {
    const res = await g.as('caller', {
      method: 'POST',
      url: '/v1/decisions',
      headers: { 'content-type': c.contentType ?? 'application/json', ...c.headers },
      payload: c.raw ?? JSON.stringify(c.payload),
    });
    t.equal(res.statusCode, c.status, `${c.name}: status`);
    t.match(res.headers['content-type'], /application\/json/, `${c.name}: JSON`);
    const body = res.json();
    t.equal(body.error, c.error, `${c.name}: error code`);
    t.equal(body.field, c.field, `${c.name}: names the field`);
    t.type(body.message, 'string');
  }
  const records = g.audit.records();
  t.equal(records.filter((r) => r.type === 'decision').length, 0, 'no decision recorded');
  t.equal(records.filter((r) => r.type === 'refusal').length, cases.length, 'every refusal recorded');
});

t.test('a body without a content coding is taken, whether or not it says so', async (t) => {
  const g = await buildTestApp(t);
  for (const coding of ['identity', 'IDENTITY', '']) {
    const res = await g.as('caller', { method: 'POST', url: '/v1/decisions', headers: { 'content-type': 'application/json', 'content-encoding': coding }, payload: JSON.stringify(decisionBody()) });
    t.equal(res.statusCode, 200, `content-encoding "${coding}": ${res.body}`);
  }
});

t.test('GET with bad query values: 400 naming the field', async (t) => {
  const g = await buildTestApp(t);
  const checks: [string, string][] = [
    ['/v1/market?at=yesterday', 'querystring.at'],
    ['/v1/market?at=2026-13-01T00:00:00Z', 'querystring.at'],
    ['/v1/market?at=2026-11-27T17:59:59', 'querystring.at'],
    ['/v1/market?at=1999-06-01T15:00:00Z', 'querystring.at'],
    ['/v1/market?at=2100-06-01T15:00:00Z', 'querystring.at'],
    ['/v1/market?when=now', 'querystring.when'],
  ];
  for (const [url, field] of checks) {
    const res = await g.app.inject({ url });
    t.equal(res.statusCode, 400, url);
    t.equal(res.json().field, field, `${url} names ${field}`);
  }
  const audit = await g.as('admin', { url: '/v1/audit?limit=0' });
  t.equal(audit.statusCode, 400);
  t.equal(audit.json().field, 'querystring.limit');
});

t.test('a token in the query string is refused with 400 and audited, never logged', async (t) => {
  const g = await buildTestApp(t);
  for (const url of ['/v1/market?token=abc', '/v1/audit?access_token=abc', '/v1/status?api_key=x']) {
    const res = await g.app.inject({ url });
    t.equal(res.statusCode, 400, url);
    t.equal(res.json().error, 'credentials_in_url');
  }
  const refusals = g.audit.records().filter((r) => r.type === 'refusal');
  t.equal(refusals.length, 3);
  t.notMatch(JSON.stringify(refusals), /abc/, 'the value is not recorded');
});

t.test('a gate or break-glass token as any query parameter, name or value, is refused with 400 and audited without it', async (t) => {
  const g = await buildTestApp(t);
  const admin = g.tokens['admin']!;
  const bg = newBreakGlassToken();
  const cases = [
    { url: `/v1/whoami?t=${admin}`, field: 'querystring.t' },
    { url: `/v1/status?x=prefix-${bg}`, field: 'querystring.x' },
    { url: `/v1/audit?stage=${encodeURIComponent(admin)}`, field: 'querystring.stage' },
    { url: `/v1/market?${admin}=1`, field: 'querystring.gate_[redacted]' },
    { url: `/v1/market?at=2026-11-27T15:00:00Z&note=${admin.replace('_', '%5F')}`, field: 'querystring.note' },
  ];
  for (const { url, field } of cases) {
    const res = await g.app.inject({ url, headers: { authorization: `Bearer ${admin}` } });
    t.equal(res.statusCode, 400, url.slice(0, 20));
    t.match(res.json(), { error: 'credentials_in_url', field });
    t.notMatch(res.body, admin.slice(5));
  }
  const refusals = g.audit.records().filter((r) => r.type === 'refusal');
  t.equal(refusals.length, cases.length);
  t.notMatch(JSON.stringify(refusals), admin.slice(5), 'no token in the records');
  t.notMatch(JSON.stringify(refusals), bg.slice(4));
  // a value that merely starts like one is not a token
  const fine = await g.app.inject({ url: '/v1/audit?stage=gate_short', headers: { authorization: `Bearer ${admin}` } });
  t.equal(fine.statusCode, 200);
});

t.test('unknown routes are 404 JSON', async (t) => {
  const g = await buildTestApp(t);
  for (const [method, url] of [
    ['GET', '/nope'],
    ['POST', '/v1/decision'],
    ['DELETE', '/v1/decisions'],
  ] as const) {
    const res = await g.app.inject({ method, url });
    t.equal(res.statusCode, 404);
    t.equal(res.json().error, 'not_found');
  }
});

t.test('property: no JSON body of any shape produces a 5xx, and the log stays consistent', async (t) => {
  const g = await buildTestApp(t);
  const field = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }), fc.object({ maxDepth: 1 }));
  const body = fc.oneof(
    fc.record({ project: field, stage: field, imageTag: field, promotion: field, actor: field, rollback: field }, { requiredKeys: [] }),
    fc.jsonValue({ maxDepth: 3 }),
    fc.record({ project: fc.constant('stonks-pipeline'), stage: fc.constantFrom('ci', 'beta', 'paper', 'live', 'prod'), imageTag: fc.string({ maxLength: 130 }) }),
  );
  await fc.assert(
    fc.asyncProperty(body, async (payload) => {
      const res = await g.as('caller', { method: 'POST', url: '/v1/decisions', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
      if (res.statusCode >= 500) return false;
      const b = res.json();
      return res.statusCode === 200 ? ['allow', 'wait', 'deny'].includes(b.decision) : typeof b.error === 'string' && typeof b.message === 'string';
    }),
    { numRuns: 300 },
  );
  const seqs = g.audit.records().map((r) => r.seq);
  t.same(seqs, seqs.map((_, i) => i + 1), 'audit seqs contiguous');
});

t.test('property: random bytes as a body never produce a 5xx', async (t) => {
  const g = await buildTestApp(t);
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (bytes) => {
      const res = await g.as('caller', { method: 'POST', url: '/v1/decisions', headers: { 'content-type': 'application/json' }, payload: Buffer.from(bytes) });
      return res.statusCode >= 200 && res.statusCode < 500;
    }),
    { numRuns: 200 },
  );
});

t.test('a malformed body is never echoed (it may hold a token), in the answer or the audit log', async (t) => {
  const g = await buildTestApp(t);
  const secret = 'gbg_SECRETSECRETSECRET';
  const res = await g.as('caller', { method: 'POST', url: '/v1/decisions', headers: { 'content-type': 'application/json' }, payload: `{"breakGlassToken": "${secret}" oops}` });
  t.equal(res.statusCode, 400);
  t.equal(res.json().message, 'body: not valid JSON');
  t.notMatch(res.body, /SECRET/);
  t.notMatch(JSON.stringify(g.audit.records()), /SECRET/);
});

t.test('request ids are the gate\'s own, whatever the client sends', async (t) => {
  const g = await buildTestApp(t);
  const res = await g.as(null, { method: 'POST', url: '/v1/decisions', headers: { 'x-request-id': 'dec_0001' }, payload: decisionBody() });
  t.match(res.headers['x-request-id'], /^req_\d{4}$/);
  t.equal(g.audit.records().at(-1)?.id, res.headers['x-request-id'], 'the refusal record carries the gate id');
});

t.test('unknown keys are named cut to length and a few at most: a huge key or thousands of keys are not copied into the answer and the record', async (t) => {
  const g = await buildTestApp(t);
  const key = `k${'x'.repeat(60_000)}`;
  const huge = await g.as('caller', { method: 'POST', url: '/v1/decisions', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ ...decisionBody(), [key]: 1 }) });
  t.equal(huge.statusCode, 400);
  t.equal(huge.json().field, `body.${key.slice(0, 200)}…`, 'the field names the key, cut to 200 characters');
  t.ok(huge.body.length < 2000, `the answer stays small (${huge.body.length} bytes)`);
  const many = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`e${i}`, 1]));
  const lots = await g.as('caller', { method: 'POST', url: '/v1/decisions', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ ...decisionBody(), ...many }) });
  t.equal(lots.statusCode, 400);
  t.equal(lots.json().message, 'body.e0: unknown fields e0, e1, e2, e3, e4, e5, e6, e7, e8, e9 and 4990 more');
  const query = await g.as('auditor', { method: 'GET', url: `/v1/audit?${'q'.repeat(15_000)}=1` });
  t.equal(query.statusCode, 400);
  t.ok(query.body.length < 2000, `a query key too (${query.body.length} bytes)`);
  const records = g.audit.records();
  t.equal(records.length, 2, 'both refused decisions recorded');
  for (const r of records) t.ok(JSON.stringify(r).length < 2000, `record ${r.seq} stays small (${JSON.stringify(r).length} bytes)`);
});

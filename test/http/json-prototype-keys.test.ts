import t from 'tap';
import { prototypeKeyPath } from '../../src/http/json-body.ts';
import { buildTestApp } from '../helpers/build-app.ts';

const CLOSED = '2026-11-28T15:00:00Z';

/** Every route that takes a JSON body, with a body it would take and the role that may send it. */
const routes: { method: 'POST' | 'PUT'; url: string; role: string; body: string }[] = [
  { method: 'POST', url: '/v1/decisions', role: 'caller', body: '"project":"stonks-pipeline","stage":"beta","imageTag":"abc123"' },
  { method: 'POST', url: '/v1/decisions/preview', role: 'caller', body: '"project":"stonks-pipeline","stage":"beta","imageTag":"abc123"' },
  {
    method: 'POST',
    url: '/v1/break-glass',
    role: 'operator',
    body: '"project":"stonks-pipeline","stage":"live","imageTag":"abc123","justification":"hotfix for the order router, cannot wait"',
  },
  { method: 'POST', url: '/v1/approvals', role: 'approver', body: '"project":"stonks-pipeline","stage":"live","imageTag":"abc123","notes":"checked the canary dashboards"' },
  { method: 'PUT', url: '/v1/stages/paper', role: 'admin', body: '"enabled":false,"note":"maintenance"' },
  { method: 'PUT', url: '/v1/test-results/abc123', role: 'ci', body: '"exitCode":0' },
];

const poisons: { json: (body: string) => string; field: string }[] = [
  { json: (body) => `{${body},"__proto__":{"admin":true}}`, field: 'body.__proto__' },
  { json: (body) => `{"constructor":{"prototype":{"admin":true}},${body}}`, field: 'body.constructor.prototype' },
  { json: (body) => `\ufeff{${body},"\\u005f_proto__":{}}`, field: 'body.__proto__' },
];

t.test('a prototype key in valid JSON is refused, 400 naming the field, on every route that takes a body', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  for (const route of routes) {
    for (const poison of poisons) {
      const res = await g.as(route.role, { method: route.method, url: route.url, headers: { 'content-type': 'application/json' }, payload: poison.json(route.body) });
      const label = `${route.method} ${route.url} ${poison.field}`;
      t.equal(res.statusCode, 400, `${label}: 400`);
      t.equal(res.json().error, 'invalid_request', `${label}: not called invalid JSON`);
      t.equal(res.json().field, poison.field, `${label}: names the field`);
      t.match(res.json().message, new RegExp(`^${poison.field.replace(/\./g, '\\.')}: not allowed`), `${label}: says it is refused`);
    }
    // the same body without the key is taken: the key is what was refused
    const ok = await g.as(route.role, { method: route.method, url: route.url, headers: { 'content-type': 'application/json' }, payload: `{${route.body}}` });
    t.ok(ok.statusCode < 300, `${route.method} ${route.url}: taken without the key (${ok.statusCode} ${ok.body})`);
  }
  const refusals = g.audit.records().filter((r) => r.type === 'refusal');
  t.equal(refusals.length, routes.length * poisons.length, 'every refusal recorded');
  t.equal(g.audit.records().filter((r) => r.type === 'testresult.recorded').length, 1, 'only the clean results body stored');
});

t.test('a key repeated in one object is refused, 400 naming it, on every route that takes a body', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  for (const route of routes) {
    const key = /^"([^"]+)"/.exec(route.body)![1]!;
    // the repeat spelled with an escape is the same key as JSON reads it
    const spelled = `${key.slice(0, -1)}\\u${key.charCodeAt(key.length - 1).toString(16).padStart(4, '0')}`;
    for (const repeat of [`"${key}":1`, `"${spelled}":1`]) {
      const res = await g.as(route.role, { method: route.method, url: route.url, headers: { 'content-type': 'application/json' }, payload: `{${route.body},${repeat}}` });
      const label = `${route.method} ${route.url} ${repeat}`;
      t.equal(res.statusCode, 400, `${label}: 400`);
      t.equal(res.json().field, `body.${key}`, `${label}: names the field`);
      t.equal(res.json().message, `body.${key}: appears more than once in its object`, `${label}: says why`);
    }
  }
  t.equal(g.audit.records().filter((r) => r.type === 'refusal').length, routes.length * 2, 'every refusal recorded');
  t.equal(g.audit.records().filter((r) => r.type !== 'refusal').length, 0, 'nothing else recorded: no decision, grant, approval, toggle or result');
  // a long repeated key is named cut, never through the middle of a surrogate pair
  for (const key of ['🚀'.repeat(150), `x${'🚀'.repeat(150)}`]) {
    const res = await g.as('caller', { method: 'POST', url: '/v1/decisions', headers: { 'content-type': 'application/json' }, payload: `{"${key}":1,"${key}":2}` });
    t.equal(res.statusCode, 400);
    t.ok((res.json().message as string).isWellFormed() && (res.json().field as string).isWellFormed(), `${key.length} units: the answer holds no half of a pair`);
    t.ok(JSON.stringify(g.audit.records().at(-1)).isWellFormed() && !/\\ud8[0-9a-f]{2}(?!\\ud[c-f])/i.test(JSON.stringify(g.audit.records().at(-1))), 'nor the refusal record');
  }
  // the same name in two different objects is not a repeat
  const nested = await g.as('ci', { method: 'PUT', url: '/v1/test-results/nest', headers: { 'content-type': 'application/json' }, payload: '{"exitCode":0,"a":{"exitCode":1},"b":[{"x":1},{"x":2}]}' });
  t.equal(nested.statusCode, 200, nested.body);
});

t.test('a nested prototype key is named by its path; a deep or long one by its end', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  const put = (payload: string) => g.as('ci', { method: 'PUT', url: '/v1/test-results/nested', headers: { 'content-type': 'application/json' }, payload });
  const nested = await put('{"exitCode":0,"tests":{"cases":[{"name":"a"},{"meta":{"__proto__":{"failed":3}}}]}}');
  t.equal(nested.statusCode, 400);
  t.equal(nested.json().field, 'body.tests.cases[1].meta.__proto__');
  const deep = await put(`{"exitCode":0,"x":${'{"a":'.repeat(5000)}{"__proto__":1}${'}'.repeat(5000)}}`);
  t.equal(deep.statusCode, 400);
  t.ok((deep.json().field as string).endsWith('.a.a.__proto__'), 'the refused key is named');
  t.ok((deep.json().field as string).length < 300, 'cut to length');
  t.equal((await g.app.inject({ url: '/v1/test-results/nested' })).json().found, false, 'nothing stored');
});

t.test('JSON that is not valid is still called so; the keys themselves are fine where they cannot touch a prototype', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  const bad = await g.as('caller', { method: 'POST', url: '/v1/decisions', headers: { 'content-type': 'application/json' }, payload: '{"__proto__":{},' });
  t.equal(bad.statusCode, 400);
  t.equal(bad.json().error, 'invalid_json');
  t.equal(bad.json().message, 'body: not valid JSON');
  // a "constructor" member that is not an object with a prototype key is not refused by the parser
  const stored = await g.as('ci', { method: 'PUT', url: '/v1/test-results/ctor', headers: { 'content-type': 'application/json' }, payload: '{"exitCode":0,"constructor":{"name":"x"},"proto":1}' });
  t.equal(stored.statusCode, 200);
});

t.test('prototypeKeyPath', async (t) => {
  t.equal(prototypeKeyPath(JSON.parse('{"a":1,"b":[1,{"c":null}]}')), null);
  t.equal(prototypeKeyPath(JSON.parse('[{"a":{"__proto__":null}}]')), '[0].a.__proto__');
  t.equal(prototypeKeyPath(JSON.parse('{"constructor":{"prototype":null}}')), '.constructor.prototype');
  t.equal(prototypeKeyPath(JSON.parse('{"constructor":[{"prototype":1}]}')), null, 'a constructor array is not what the parser refuses');
  t.equal(prototypeKeyPath(JSON.parse('{"x":{"__proto__":1},"__proto__":2}')), '.__proto__', "an object's own keys before its members'");
  t.equal(prototypeKeyPath(7), null);
});

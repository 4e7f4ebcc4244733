// A route that takes no body (the revokes, DELETE) refuses one with a 400 naming it: a
// `{"dryRun": true}` must not be ignored while the grant is revoked (design §3: unknown fields are
// never ignored). A body that is not JSON is a 415 there too, and /openapi.json lists both.
import t from 'tap';
import { buildTestApp } from '../helpers/build-app.ts';

const OPEN = '2026-11-25T15:00:00Z';
const GRANT = { project: 'stonks-pipeline', stage: 'live', imageTag: 'abc123', justification: 'The hotfix for the pricing outage cannot wait' };
const APPROVAL = { project: 'stonks-pipeline', stage: 'live', imageTag: 'abc123', notes: 'checked the dashboards and the canary' };

const REVOKES = [
  { what: 'break-glass grant', role: 'operator', create: '/v1/break-glass', payload: GRANT, path: '/v1/break-glass', kept: 'grants', openapi: '/v1/break-glass/{id}' },
  { what: 'approval', role: 'approver', create: '/v1/approvals', payload: APPROVAL, path: '/v1/approvals', kept: 'approvals', openapi: '/v1/approvals/{id}' },
] as const;

for (const c of REVOKES) {
  t.test(`a revoke of a ${c.what} with a body is refused, naming it, and revokes nothing`, async (t) => {
    const g = await buildTestApp(t, { now: OPEN });
    const id = (await g.as(c.role, { method: 'POST', url: c.create, payload: c.payload })).json().id as string;
    for (const payload of [{ dryRun: true }, [], null, 'yes']) {
      const res = await g.as(c.role, { method: 'DELETE', url: `${c.path}/${id}`, payload: JSON.stringify(payload), headers: { 'content-type': 'application/json' } });
      t.match({ status: res.statusCode, body: res.json() }, { status: 400, body: { error: 'invalid_request', field: 'body', message: 'body: this route takes no body' } }, `${JSON.stringify(payload)}: 400`);
      t.equal((g.store.read()[c.kept] as Record<string, { status: string }>)[id]?.status, 'open', `${JSON.stringify(payload)}: still open`);
    }
    const text = await g.as(c.role, { method: 'DELETE', url: `${c.path}/${id}`, headers: { 'content-type': 'text/plain' }, payload: 'x' });
    t.equal(text.statusCode, 415, 'a body that is not JSON: 415');
    const doc = (await g.app.inject({ url: '/openapi.json' })).json();
    t.ok(doc.paths[c.openapi].delete.responses['415'] && doc.paths[c.openapi].delete.responses['413'], '/openapi.json lists 413 and 415 for it');
    const res = await g.as(c.role, { method: 'DELETE', url: `${c.path}/${id}`, headers: { 'content-type': 'application/json' } });
    t.equal(res.statusCode, 200, `labelled JSON with no body: revoked (${res.body})`);
    t.equal((g.store.read()[c.kept] as Record<string, { status: string }>)[id]?.status, 'revoked');
    const again = await g.as(c.role, { method: 'POST', url: c.create, payload: c.payload });
    const plain = await g.as(c.role, { method: 'DELETE', url: `${c.path}/${again.json().id}` });
    t.equal(plain.statusCode, 200, 'without a body or a content type: revoked');
  });
}

t.test('a route that takes a body still says so when a JSON-labelled request has none', async (t) => {
  const g = await buildTestApp(t, { now: OPEN });
  const res = await g.as('caller', { method: 'POST', url: '/v1/decisions', headers: { 'content-type': 'application/json' } });
  t.match({ status: res.statusCode, body: res.json() }, { status: 400, body: { field: 'body' } });
});

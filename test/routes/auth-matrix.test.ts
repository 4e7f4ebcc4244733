import t from 'tap';
import { buildTestApp } from '../helpers/build-app.ts';

interface Endpoint {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  payload?: unknown;
  /** a role that may call it */
  allowed: string;
  /** a role that may not (none for "any authenticated identity") */
  wrong: string | null;
}

const endpoints: Endpoint[] = [
  { method: 'POST', url: '/v1/decisions', payload: { project: 'stonks-pipeline', stage: 'beta', imageTag: 'abc' }, allowed: 'caller', wrong: 'ci' },
  { method: 'POST', url: '/v1/decisions/preview', payload: { project: 'stonks-pipeline', stage: 'beta', imageTag: 'abc' }, allowed: 'ci', wrong: null },
  { method: 'POST', url: '/v1/break-glass', payload: { project: 'stonks-pipeline', stage: 'paper', imageTag: 'abc', justification: 'broken order router, fix now' }, allowed: 'operator', wrong: 'approver' },
  { method: 'DELETE', url: '/v1/break-glass/bg_0001', allowed: 'operator', wrong: 'caller' },
  { method: 'GET', url: '/v1/break-glass', allowed: 'caller', wrong: null },
  { method: 'POST', url: '/v1/approvals', payload: { project: 'stonks-pipeline', stage: 'live', imageTag: 'abc', notes: 'looked at paper P&L' }, allowed: 'approver', wrong: 'operator' },
  { method: 'DELETE', url: '/v1/approvals/ap_0001', allowed: 'approver', wrong: 'operator' },
  { method: 'GET', url: '/v1/approvals', allowed: 'caller', wrong: null },
  { method: 'PUT', url: '/v1/stages/beta', payload: { enabled: true, note: 'back on' }, allowed: 'admin', wrong: 'operator' },
  { method: 'PUT', url: '/v1/test-results/abc', payload: { exitCode: 0 }, allowed: 'ci', wrong: 'caller' },
  { method: 'GET', url: '/v1/audit', allowed: 'auditor', wrong: 'caller' },
  { method: 'GET', url: '/v1/audit/verify', allowed: 'operator', wrong: 'ci' },
];

t.test('every protected endpoint: no token 401, wrong role 403, token in the query 400, right role passes; every refusal audited', async (t) => {
  const g = await buildTestApp(t, { now: '2026-11-25T15:00:00Z' });
  let refusals = 0;
  for (const e of endpoints) {
    const name = `${e.method} ${e.url}`;
    const none = await g.as(null, { method: e.method, url: e.url, payload: e.payload as object });
    t.equal(none.statusCode, 401, `${name}: no token`);
    t.equal(none.json().error, 'unauthorized');
    t.equal(none.headers['www-authenticate'], 'Bearer realm="stonks-gate"', `${name}: the 401 names the scheme (RFC 9110 §15.5.2)`);
    refusals++;
    const garbage = await g.as('gate_forged', { method: e.method, url: e.url, payload: e.payload as object });
    t.equal(garbage.statusCode, 401, `${name}: unknown token`);
    t.equal(garbage.headers['www-authenticate'], 'Bearer realm="stonks-gate"');
    refusals++;
    if (e.wrong) {
      const wrong = await g.as(e.wrong, { method: e.method, url: e.url, payload: e.payload as object });
      t.equal(wrong.statusCode, 403, `${name}: role ${e.wrong}`);
      t.equal(wrong.json().error, 'forbidden');
      t.equal(wrong.headers['www-authenticate'], undefined, 'a 403 has no challenge');
      refusals++;
    }
    const sep = e.url.includes('?') ? '&' : '?';
    const inUrl = await g.as(e.allowed, { method: e.method, url: `${e.url}${sep}access_token=${g.tokens[e.allowed]}`, payload: e.payload as object });
    t.equal(inUrl.statusCode, 400, `${name}: token in the query string`);
    t.equal(inUrl.json().error, 'credentials_in_url');
    refusals++;
    const ok = await g.as(e.allowed, { method: e.method, url: e.url, payload: e.payload as object });
    t.ok(ok.statusCode < 400 || ok.statusCode === 404, `${name}: role ${e.allowed} passes the guard (${ok.statusCode})`);
    if (ok.statusCode === 404) refusals++; // DELETE of an unknown grant or approval: a 4xx on a mutation is recorded too
  }
  const recorded = g.audit.records().filter((r) => r.type === 'refusal');
  t.equal(recorded.length, refusals, 'every refusal is in the audit log');
  for (const token of Object.values(g.tokens)) t.notMatch(JSON.stringify(g.audit.records()), token, 'no token value is ever recorded');
});

t.test('reading the audit log takes get auditrecords: operator, approver, auditor and admin read it; Kargo\'s caller and CI\'s ci tokens get 403, each audited', async (t) => {
  const g = await buildTestApp(t, { now: '2026-11-25T15:00:00Z' });
  const roles = { caller: 403, ci: 403, operator: 200, approver: 200, auditor: 200, admin: 200 } as const;
  for (const url of ['/v1/audit', '/v1/audit/verify']) {
    for (const [role, status] of Object.entries(roles)) {
      const before = g.audit.records().length;
      const res = await g.as(role, { url });
      t.equal(res.statusCode, status, `${url}: ${role} gets ${status}`);
      if (status === 200) continue;
      t.match(res.json(), { error: 'forbidden', message: `${role} may not get auditrecords: role "operator", "approver" or "auditor" required` }, `${url}: ${role}: says which roles may`);
      const recorded = g.audit.records().slice(before);
      t.equal(recorded.length, 1, `${url}: ${role}: one record`);
      t.match(recorded, [{ type: 'refusal', actor: { name: role, groups: [role], via: 'local-token' }, data: { status: 403, error: 'forbidden', method: 'GET', path: url } }], `${url}: ${role}'s 403 is one audit record naming who and what`);
    }
  }
  // what the refused were shown: nothing of the log
  const refused = await g.as('caller', { url: '/v1/audit' });
  t.notOk('records' in refused.json(), 'a 403 carries no records');
});

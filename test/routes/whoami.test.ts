// GET /v1/whoami: what the console enables its forms, buttons and audit view by. The revokes are asked for
// with their own verb (delete): with Kubernetes RBAC an identity may create grants or approvals and
// not revoke them, or the other way round, and the console must not offer a button the gate refuses.
import t from 'tap';
import type { Authenticator, Permission } from '../../src/auth/identity.ts';
import { buildTestApp } from '../helpers/build-app.ts';

t.test('local roles: each role may use its resource, the revokes included', async (t) => {
  const g = await buildTestApp(t);
  const can = async (role: string) => (await g.as(role, { url: '/v1/whoami' })).json().can;
  t.same(await can('operator'), { decisions: false, breakglassgrants: true, 'breakglassgrants.delete': true, approvals: false, 'approvals.delete': false, stagetoggles: false, testresults: false, auditrecords: true });
  t.same(await can('approver'), { decisions: false, breakglassgrants: false, 'breakglassgrants.delete': false, approvals: true, 'approvals.delete': true, stagetoggles: false, testresults: false, auditrecords: true });
  t.same(await can('auditor'), { decisions: false, breakglassgrants: false, 'breakglassgrants.delete': false, approvals: false, 'approvals.delete': false, stagetoggles: false, testresults: false, auditrecords: true });
  t.match(await can('caller'), { decisions: true, auditrecords: false });
  t.match(await can('ci'), { testresults: true, auditrecords: false });
  t.match(await can('admin'), { breakglassgrants: true, 'breakglassgrants.delete': true, approvals: true, 'approvals.delete': true, auditrecords: true });
});

t.test('RBAC that grants create and not delete (or delete and not create): whoami says each apart', async (t) => {
  const granted = new Set<string>();
  const auth: Authenticator = {
    mode: 'kubernetes',
    async authenticate() {
      return { ok: true, identity: { name: 'system:serviceaccount:ops:pat', groups: [], via: 'kubernetes' } };
    },
    async authorize(_identity, p: Permission) {
      return granted.has(`${p.resource}/${p.verb}`) ? { ok: true } : { ok: false, status: 403, error: 'forbidden', message: 'no' };
    },
  };
  const g = await buildTestApp(t, { auth });
  const can = async () => (await g.app.inject({ url: '/v1/whoami', headers: { authorization: 'Bearer x' } })).json().can;
  granted.add('breakglassgrants/create').add('approvals/create');
  t.match(await can(), { breakglassgrants: true, 'breakglassgrants.delete': false, approvals: true, 'approvals.delete': false }, 'create only');
  granted.clear();
  granted.add('breakglassgrants/delete').add('approvals/delete');
  t.match(await can(), { breakglassgrants: false, 'breakglassgrants.delete': true, approvals: false, 'approvals.delete': true }, 'delete only');
  t.match(await can(), { auditrecords: false }, 'no get on auditrecords: may not read the audit log');
  granted.add('auditrecords/get');
  t.match(await can(), { auditrecords: true }, 'get on auditrecords: may read it');
});

t.test('a permission that cannot be checked makes whoami a 503, not a "may not"', async (t) => {
  // the identity is established (a cached TokenReview), but a SubjectAccessReview gets no answer
  let down = '';
  let throws = '';
  const auth: Authenticator = {
    mode: 'kubernetes',
    async authenticate() {
      return { ok: true, identity: { name: 'system:serviceaccount:ops:pat', groups: [], via: 'kubernetes' } };
    },
    async authorize(_identity, p: Permission) {
      if (p.resource === throws) throw new Error('authorizer bug');
      if (p.resource === down) return { ok: false, status: 503, error: 'auth_unavailable', message: 'permission could not be checked: SubjectAccessReview: HTTP 500' };
      return p.resource === 'auditrecords' ? { ok: true } : { ok: false, status: 403, error: 'forbidden', message: 'no' };
    },
  };
  const g = await buildTestApp(t, { auth });
  const whoami = () => g.app.inject({ url: '/v1/whoami', headers: { authorization: 'Bearer x' } });

  down = 'auditrecords';
  let res = await whoami();
  t.equal(res.statusCode, 503);
  t.same(res.json(), { error: 'auth_unavailable', message: 'permission could not be checked: SubjectAccessReview: HTTP 500 (asked for auditrecords)' });

  down = '';
  throws = 'testresults';
  res = await whoami();
  t.equal(res.statusCode, 503, 'an authorizer that throws is no answer either');
  t.match(res.json(), { error: 'auth_unavailable', message: 'permission could not be checked (asked for testresults)' });
  t.notMatch(res.body, /authorizer bug/, 'the internal error stays in the log');

  const refusals = g.audit.records().filter((r) => r.type === 'refusal');
  t.same(
    refusals.map((r) => [r.actor.name, r.data?.['status'], r.data?.['error']]),
    [['system:serviceaccount:ops:pat', 503, 'auth_unavailable'], ['system:serviceaccount:ops:pat', 503, 'auth_unavailable']],
    'each 503 is a refusal record, as the guard makes for a permission it cannot check',
  );
  t.match((await g.app.inject({ url: '/metrics' })).body, /^gate_refusals_total\{status="503",error="auth_unavailable"\} 2$/m, 'and counted');

  throws = '';
  res = await whoami();
  t.equal(res.statusCode, 200, 'answers again once the API server does');
  t.same(res.json().can, { decisions: false, breakglassgrants: false, 'breakglassgrants.delete': false, approvals: false, 'approvals.delete': false, stagetoggles: false, testresults: false, auditrecords: true });
});

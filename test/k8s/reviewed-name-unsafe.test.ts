// The sign-in proxy's user header with a control character or a bidirectional override is refused
// (401) and such a group dropped: "a name must read the same in the audit log as it is". A user a
// TokenReview names (an OIDC claim, a webhook authenticator's answer: the API server checks
// neither) reaches the same audit records and console, and is held to the same rule; a group left
// out of the record still counts for the permission check, where RBAC binds it by its exact name.
import t from 'tap';
import { createKubernetesAuthenticator } from '../../src/k8s/kubernetes-auth.ts';
import { buildTestApp } from '../helpers/build-app.ts';
import { startFakeKube } from '../helpers/fake-kube-api.ts';

const UNSAFE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u;
const GRANT = { project: 'stonks-pipeline', stage: 'paper', imageTag: 'abc123', justification: 'production fix for the fill router' };

t.test('a reviewed user name with a bidirectional override or a control character is refused (401), its characters never recorded', async (t) => {
  const fake = await startFakeKube();
  t.teardown(() => fake.close());
  fake.users.set('bidi-token', { username: 'oidc:mallory\u202Eevil', groups: ['oncall'] });
  fake.users.set('esc-token', { username: 'oidc:\u001b[2Jolivia', groups: ['oncall'] });
  // as the sign-in proxy's names: nothing invisible, no line separator, no space at an end
  fake.users.set('zwsp-token', { username: 'oidc:olivia\u200B', groups: ['oncall'] });
  fake.users.set('ls-token', { username: 'oidc:olivia\u2028approved by risk', groups: ['oncall'] });
  fake.users.set('nbsp-token', { username: 'oidc:olivia\u00A0', groups: ['oncall'] });
  fake.users.set('long-token', { username: `oidc:${'o'.repeat(300)}`, groups: ['oncall'] });
  fake.allow = () => ({ allowed: true });
  const g = await buildTestApp(t, { now: '2026-11-25T22:00:00Z', auth: createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig() }) });
  const cases = [['bidi-token', ': U\\+202E at character 13'], ['esc-token', ': U\\+001B at character 6'], ['zwsp-token', ''], ['ls-token', ''], ['nbsp-token', ''], ['long-token', '']] as const;
  for (const [token, code] of cases) {
    const res = await g.as(token, { method: 'POST', url: '/v1/break-glass', payload: GRANT });
    t.match({ status: res.statusCode, body: res.json() }, { status: 401, body: { error: 'unauthorized', message: new RegExp(`names this token's user with a character that does not read as it is \\([^)]*${code}\\) or at more than 256 characters`) } }, `${token}: 401`);
  }
  t.same(Object.keys(g.store.read().grants), [], 'no grant');
  t.notOk(JSON.stringify(g.audit.records()).match(UNSAFE) || JSON.stringify(g.audit.records()).includes('\\u202e') || JSON.stringify(g.audit.records()).includes('\\u001b'), 'no record holds the characters');
});

t.test('a reviewed group with one is left out of the record and the answer, and still counts for the permission check', async (t) => {
  const fake = await startFakeKube();
  t.teardown(() => fake.close());
  fake.users.set('oidc-token', { username: 'oidc:olivia', groups: ['oncall', 'ops\u001b[2Jteam', 'risk\u200B'] });
  // RBAC binds the group by its exact name: only with it is the request allowed
  fake.allow = (spec) => ({ allowed: spec.groups?.includes('ops\u001b[2Jteam') === true && spec.groups.includes('risk\u200B') });
  const g = await buildTestApp(t, { now: '2026-11-25T22:00:00Z', auth: createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig() }) });
  const res = await g.as('oidc-token', { method: 'POST', url: '/v1/break-glass', payload: GRANT });
  t.equal(res.statusCode, 201, 'allowed: the permission check had every group');
  t.equal(res.json().requestedBy, 'oidc:olivia');
  const rec = g.audit.records().at(-1);
  t.same(rec?.actor.groups, ['oncall'], 'the record names the groups that read as they are');
  const who = await g.as('oidc-token', { url: '/v1/whoami' });
  t.notOk(UNSAFE.test(who.body) || who.body.includes('\\u001b'), 'nor does any answer show it');
});

t.test("a reviewed user named as the gate's own records name the gate or anonymous callers is refused (401)", async (t) => {
  const fake = await startFakeKube();
  t.teardown(() => fake.close());
  fake.users.set('gate-token', { username: 'gate', groups: ['oncall'] });
  fake.users.set('anon-token', { username: 'Anonymous', groups: ['oncall'] });
  fake.users.set('keeper-token', { username: 'gatekeeper', groups: ['oncall'] });
  fake.allow = () => ({ allowed: true });
  const g = await buildTestApp(t, { now: '2026-11-25T22:00:00Z', auth: createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig() }) });
  for (const token of ['gate-token', 'anon-token']) {
    const res = await g.as(token, { method: 'POST', url: '/v1/break-glass', payload: GRANT });
    t.match({ status: res.statusCode, body: res.json() }, { status: 401, body: { message: /which the audit log uses for callers without a valid token/ } }, `${token}: 401`);
  }
  t.equal((await g.as('keeper-token', { method: 'POST', url: '/v1/break-glass', payload: GRANT })).statusCode, 201, 'a name that only starts like one is fine');
  t.same(Object.values(g.store.read().grants).map((gr) => gr.requestedBy), ['gatekeeper']);
});

// Refusals of an authenticated caller have a budget per identity. In Kubernetes mode any
// ServiceAccount of any pod authenticates (a CI runner running pull-request code, with no gate RBAC
// at all), and each of its 403s used to be one fsynced audit record (~836 B) without bound: a
// loop of them filled the audit volume, and then every decision was a 503. Now the first
// `audit.refusalRecordsPerMinute` of one identity a minute are recorded one by one and the rest
// counted into one summary record naming it.
import t from 'tap';
import type { AuditEventV1 } from '../../src/audit/event.ts';
import { createKubernetesAuthenticator } from '../../src/k8s/kubernetes-auth.ts';
import { createRefusalRecorder } from '../../src/http/refusal-recorder.ts';
import { buildTestApp, decisionBody } from '../helpers/build-app.ts';
import { startFakeKube } from '../helpers/fake-kube-api.ts';

const BUDGET = 'audit: { refusalRecordsPerMinute: 3 }\nstages:\n  beta: { requireIntegrationTests: false }\n';
const START = '2026-11-25T15:00:00.000Z';
const RUNNER = 'system:serviceaccount:arc-runners:default';
const OTHER = 'system:serviceaccount:arc-runners:other';
const KARGO = 'system:serviceaccount:kargo:kargo-controller';

const refusalsIn = (records: readonly AuditEventV1[]) => records.filter((r) => r.type === 'refusal');
const summaries = (records: readonly AuditEventV1[]) => refusalsIn(records).filter((r) => r.data?.['suppressed'] !== undefined);
const refusalsOf = (records: readonly AuditEventV1[], name: string) => refusalsIn(records).filter((r) => r.actor.name === name);

t.test('Kubernetes mode: a pod with no gate permission flooding 403s is held to its budget, and a summary names it', async (t) => {
  const fake = await startFakeKube();
  t.teardown(() => fake.close());
  const groups = ['system:serviceaccounts', 'system:authenticated'];
  fake.users.set('runner-token', { username: RUNNER, groups });
  fake.users.set('other-token', { username: OTHER, groups });
  fake.users.set('kargo-token', { username: KARGO, groups });
  fake.allow = (spec) => (spec.user === KARGO ? { allowed: true } : { allowed: false, reason: 'no RBAC rule' });
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig() });
  const g = await buildTestApp(t, { now: START, auth, configYaml: BUDGET });
  const post = (token: string, promotion: string) =>
    g.app.inject({ method: 'POST', url: '/v1/decisions', remoteAddress: '10.42.3.7', headers: { authorization: `Bearer ${token}` }, payload: decisionBody({ promotion }) });

  const N = 40;
  const before = g.audit.records().length;
  for (let i = 0; i < N; i++) {
    const r = await post('runner-token', `p-${i}`);
    if (r.statusCode !== 403) t.fail(`request ${i}: ${r.statusCode}`);
  }
  t.equal(refusalsOf(g.audit.records(), RUNNER).length, 3, `${N} refused requests: the first 3 recorded one by one`);
  t.equal(g.audit.records().length - before, 3, 'and nothing else written for the rest');
  t.match((await g.app.inject({ method: 'GET', url: '/metrics' })).body, new RegExp(`gate_refusals_summarised_total ${N - 3}\\b`), 'the rest counted in the metric');

  // another identity from the same address has a budget of its own, and decisions go on
  for (let i = 0; i < 2; i++) t.equal((await post('other-token', `o-${i}`)).statusCode, 403);
  t.equal(refusalsOf(g.audit.records(), OTHER).length, 2, 'a second identity is recorded one by one, unaffected');
  const decided = await post('kargo-token', 'p-kargo');
  t.equal(decided.statusCode, 200, 'a permitted caller gets its decision');
  t.ok(
    g.audit.records().some((r) => r.type === 'decision' && r.actor.name === KARGO),
    'and the decision is recorded',
  );

  await g.app.close();
  const all = summaries(g.audit.records());
  t.equal(all.length, 1, 'one summary, at shutdown');
  const summary = all[0];
  t.equal(summary?.actor.via, 'system', 'written by the gate');
  t.match(summary?.data, {
    suppressed: N - 3,
    byError: { '403 forbidden': N - 3 },
    identity: { name: RUNNER, via: 'kubernetes' },
    remoteAddresses: ['10.42.3.7'],
    from: START,
    to: START,
  });
  t.match(summary?.reasons[0], { code: 'refusals_summarised', message: `${N - 3} more refusals of ${RUNNER} (kubernetes) between ${START} and ${START} were answered without a record each (over 3 in 60 s)` });
});

t.test('local mode: one budget per identity a minute, across its errors and apart from its address', async (t) => {
  const g = await buildTestApp(t, { now: START, configYaml: BUDGET });
  const wrongRole = () => g.as('caller', { method: 'POST', url: '/v1/approvals', payload: {}, remoteAddress: '10.0.0.7' });
  const badBody = () => g.as('caller', { method: 'POST', url: '/v1/decisions', payload: { stage: 'beta' }, remoteAddress: '10.0.0.8' });
  const badToken = () => g.app.inject({ method: 'POST', url: '/v1/decisions', payload: decisionBody(), remoteAddress: '10.0.0.7', headers: { authorization: 'Bearer not-a-token' } });

  for (let i = 0; i < 3; i++) t.equal((await wrongRole()).statusCode, 403);
  for (let i = 0; i < 2; i++) t.equal((await badBody()).statusCode, 400, 'over the budget: answered the same');
  t.equal((await wrongRole()).statusCode, 403, 'over the budget: answered the same');
  t.equal(refusalsOf(g.audit.records(), 'caller').length, 3, 'the identity\'s first 3 refusals recorded, whatever the error or address');
  for (let i = 0; i < 3; i++) t.equal((await badToken()).statusCode, 401);
  t.equal(refusalsIn(g.audit.records()).length, 6, 'the address\'s budget for bad tokens is its own');

  // the next minute: a new budget, and the summary of the last one goes in with the first refusal
  g.clock.set('2026-11-25T15:01:00.001Z');
  t.equal((await wrongRole()).statusCode, 403);
  const [summary] = summaries(g.audit.records());
  t.match(summary?.data, { suppressed: 3, byError: { '400 invalid_request': 2, '403 forbidden': 1 }, identity: { name: 'caller', via: 'local-token' }, remoteAddresses: ['10.0.0.8', '10.0.0.7'] });
  const last = g.audit.records().at(-1)!;
  t.same([last.type, last.actor.name, last.data?.['status']], ['refusal', 'caller', 403], 'then the refusal itself, recorded');
});

/** A refusal recorder on its own (perWindow records one by one per budget), with what it recorded. */
function recorderAlone(clock: { now: () => import('luxon').DateTime }, perWindow: number, maxWindows?: number) {
  const records: (readonly AuditEventV1[])[] = [];
  const r = createRefusalRecorder({
    recorder: { record: async (e) => (records.push(e as never), []) },
    metrics: { refusals: { inc() {} }, refusalsSummarised: { inc() {} } } as never,
    clock: clock as never,
    newId: (k) => `${k}_x`,
    project: 'p',
    writable: () => true,
    perWindow,
    ...(maxWindows === undefined ? {} : { maxWindows }),
  });
  return { r, records };
}
const requestFrom = (remoteAddress: string) => ({ id: 'req_1', method: 'POST', url: '/', params: {}, socket: { remoteAddress } }) as never;

t.test('identities: ten budgets a minute together; past them, or past the number told apart, new ones share one window', async (t) => {
  const g = await buildTestApp(t, { now: START });
  const { r, records } = recorderAlone(g.clock, 1, 12);
  const refuse = (name: string) => r.refuse(requestFrom('10.0.0.1'), { name, groups: [], via: 'kubernetes' }, 403, 'forbidden', 'no');
  for (let i = 1; i <= 10; i++) await refuse(`sa-${i}`);
  await refuse('sa-1'); // over its own budget: counted in its window
  t.equal(records.length, 10, 'ten identities: ten records one by one, the all-identities budget used up');
  for (let i = 11; i <= 14; i++) await refuse(`sa-${i}`);
  t.equal(r.size(), 11, 'the ten told apart, and the rest, new after the budget was used up, in one shared window');
  await r.flush(true);
  const data = records.flat().map((e) => e.data);
  t.match(
    data.filter((d) => d?.['suppressed'] !== undefined),
    [
      { suppressed: 1, identity: { name: 'sa-1', via: 'kubernetes' } },
      { suppressed: 4, identity: null, presented: ['sa-11', 'sa-12', 'sa-13', 'sa-14'] },
    ],
    'each summary names who: the identity, or the names in the shared window',
  );
});

t.test('identities or addresses made up per request (ServiceAccounts, IPv6 /64s) cost no record each once the budgets are used up', async (t) => {
  const g = await buildTestApp(t, { now: START });
  const perWindow = 120; // the default audit.refusalRecordsPerMinute
  const n = 9000;
  const byIdentity = recorderAlone(g.clock, perWindow);
  for (let i = 0; i < n; i++) await byIdentity.r.refuse(requestFrom('10.42.3.7'), { name: `system:serviceaccount:tenant-a:sa-${i}`, groups: [], via: 'kubernetes' }, 403, 'forbidden', 'no RBAC rule');
  await byIdentity.r.flush(true);
  const identityRecords = byIdentity.records.flat().length;
  t.ok(identityRecords <= perWindow * 10 + 1, `${n} identities in a minute: ${identityRecords} records (at most the ten budgets and one summary)`);
  const byAddress = recorderAlone(g.clock, perWindow);
  for (let i = 0; i < n; i++) await byAddress.r.refuse(requestFrom(`2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`), { name: 'anonymous', groups: [], via: 'none' }, 401, 'unauthorized', 'no token');
  await byAddress.r.flush(true);
  const addressRecords = byAddress.records.flat().length;
  t.ok(addressRecords <= perWindow * 10 + 1, `${n} IPv6 /64s in a minute: ${addressRecords} records (at most the ten budgets and one summary)`);
});

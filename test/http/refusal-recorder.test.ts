import t from 'tap';
import type { AuditEventV1 } from '../../src/audit/event.ts';
import { parseConfig } from '../../src/config.ts';
import { buildTestApp, decisionBody } from '../helpers/build-app.ts';

// A budget of 3 refusal records per client address and minute, then counting.
const BUDGET = 'audit: { refusalRecordsPerMinute: 3 }\nstages:\n  beta: { requireIntegrationTests: false }\n';
const START = '2026-11-25T22:00:00.000Z';

const refusalsIn = (records: readonly AuditEventV1[]) => records.filter((r) => r.type === 'refusal');
const summaries = (records: readonly AuditEventV1[]) => refusalsIn(records).filter((r) => r.data?.['suppressed'] !== undefined);

function badToken(g: Awaited<ReturnType<typeof buildTestApp>>, remoteAddress = '10.0.0.7') {
  return g.app.inject({ method: 'POST', url: '/v1/decisions', payload: decisionBody(), remoteAddress, headers: { authorization: 'Bearer not-a-token' } });
}

t.test('over the budget: answered the same, counted, and summarised once the minute is over', async (t) => {
  const g = await buildTestApp(t, { now: START, configYaml: BUDGET });
  for (let i = 0; i < 3; i++) t.equal((await badToken(g)).statusCode, 401, `refusal ${i + 1} answered`);
  t.equal(refusalsIn(g.audit.records()).length, 3, 'the first 3 are recorded one by one');

  const over = [];
  for (let i = 0; i < 4; i++) over.push(await badToken(g));
  for (const r of over) t.same({ status: r.statusCode, error: r.json().error }, { status: 401, error: 'unauthorized' }, 'over the budget: the same answer');
  t.equal(refusalsIn(g.audit.records()).length, 3, 'no record each for the 4 over the budget');
  const metrics = (await g.app.inject({ method: 'GET', url: '/metrics' })).body;
  t.match(metrics, /gate_refusals_summarised_total 4/, 'counted in a metric');
  t.match(metrics, /gate_refusals_total\{status="401",error="unauthorized"\} 7/, 'every refusal in the refusal metric');

  // a valid caller from the same address is not affected by the budget
  const ok = await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ promotion: 'p-1' }), remoteAddress: '10.0.0.7' });
  t.equal(ok.json().decision, 'allow', 'decisions go on');

  g.clock.set('2026-11-25T22:01:00.001Z');
  t.equal((await badToken(g)).statusCode, 401);
  const [summary, ...more] = summaries(g.audit.records());
  t.equal(more.length, 0, 'one summary');
  t.ok(summary, 'the next refusal after the minute records the summary');
  t.equal(summary!.actor.via, 'system', 'written by the gate');
  t.same(summary!.data, { suppressed: 4, byError: { '401 unauthorized': 4 }, remoteAddress: '10.0.0.7', from: START, to: START });
  t.match(summary!.reasons[0]!, { code: 'refusals_summarised', message: /^4 more refusals from 10\.0\.0\.7 between .* \(over 3 in 60 s\)$/ });
  const last = g.audit.records().at(-1)!;
  t.same([last.type, last.data?.['status']], ['refusal', 401], 'and the refusal itself, recorded: a new minute, a new budget');
  t.equal(refusalsIn(g.audit.records()).length, 5, '3 + the summary + 1');
});

t.test('addresses have budgets of their own', async (t) => {
  const g = await buildTestApp(t, { now: START, configYaml: BUDGET });
  for (let i = 0; i < 5; i++) await badToken(g, '10.0.0.1');
  for (let i = 0; i < 2; i++) await badToken(g, '10.0.0.2');
  const byAddress = (a: string) => refusalsIn(g.audit.records()).filter((r) => r.data?.['remoteAddress'] === a).length;
  t.equal(byAddress('10.0.0.1'), 3, 'the noisy address is held to its budget');
  t.equal(byAddress('10.0.0.2'), 2, 'the other one is recorded in full');
});

t.test('403s and audited 4xx count against the same budget, each by status and error', async (t) => {
  const g = await buildTestApp(t, { now: START, configYaml: BUDGET });
  for (let i = 0; i < 3; i++) await badToken(g);
  const wrongRole = await g.as('ci', { method: 'POST', url: '/v1/decisions', payload: decisionBody(), remoteAddress: '10.0.0.7' });
  t.equal(wrongRole.statusCode, 403);
  const badBody = await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: { stage: 'beta' }, remoteAddress: '10.0.0.7' });
  t.equal(badBody.statusCode, 400);
  t.match(badBody.json(), { error: 'invalid_request', field: 'body.project' }, 'the answer still names the field');
  await g.app.close();
  const [summary] = summaries(g.audit.records());
  t.same(summary?.data?.['byError'], { '403 forbidden': 1, '400 invalid_request': 1 }, 'recorded at shutdown, by status and error');
});

t.test('the sweep records a summary when the address has gone quiet', async (t) => {
  const g = await buildTestApp(t, { now: START, configYaml: BUDGET, deps: { sweepIntervalMs: 20 } });
  for (let i = 0; i < 5; i++) await badToken(g);
  await new Promise((r) => setTimeout(r, 60));
  t.equal(summaries(g.audit.records()).length, 0, 'not before the minute is over');
  g.clock.set('2026-11-25T22:01:30.000Z');
  const until = Date.now() + 2000;
  while (summaries(g.audit.records()).length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  const [summary] = summaries(g.audit.records());
  t.equal(summary?.data?.['suppressed'], 2, 'the sweep wrote it');
  await g.app.close();
  t.equal(summaries(g.audit.records()).length, 1, 'nothing counted twice at shutdown');
});

t.test('when the audit log cannot take a refusal: 503, and counts already taken are kept for later', async (t) => {
  const g = await buildTestApp(t, { now: START, configYaml: BUDGET });
  for (let i = 0; i < 5; i++) await badToken(g);
  g.clock.set('2026-11-25T22:01:00.001Z');
  g.audit.failNextAppends(1);
  const refused = await badToken(g);
  t.equal(refused.statusCode, 503, 'fail closed: not answered unrecorded');
  t.equal(summaries(g.audit.records()).length, 0, 'the summary did not go in');
  t.equal((await badToken(g)).statusCode, 401, 'writable again');
  const [summary] = summaries(g.audit.records());
  t.equal(summary?.data?.['suppressed'], 2, 'the kept counts went in with the next refusal');
  t.equal(summary?.data?.['from'], START);
});

t.test('configuration: 120 a minute by default, a bad value named', async (t) => {
  t.equal(parseConfig({}).audit.refusalRecordsPerMinute, 120);
  t.equal(parseConfig({}, 'audit: { refusalRecordsPerMinute: 5 }\n').audit.refusalRecordsPerMinute, 5);
  t.throws(() => parseConfig({}, 'audit: { refusalRecordsPerMinute: 0 }\n'), { name: 'ConfigError', message: /audit\.refusalRecordsPerMinute/ });
});

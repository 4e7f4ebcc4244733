import t from 'tap';
import type { AuditEventV1 } from '../../src/audit/event.ts';
import { parseConfig } from '../../src/config.ts';
import { SUMMARIES_PER_APPEND, clientKey } from '../../src/http/refusal-recorder.ts';
import { buildTestApp, decisionBody } from '../helpers/build-app.ts';
import { eventually } from '../helpers/eventually.ts';

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
  t.match(summary!.data, { suppressed: 4, byError: { '401 unauthorized': 4 }, remoteAddress: '10.0.0.7', from: START, to: START });
  t.match(summary!.data?.['presented'], [/^unknown-token:[0-9a-f]{8}$/], 'the name the bad token presented (a hash prefix, never the token)');
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

t.test('authenticated callers are not held to their address\'s budget; anonymous refusals of any kind are', async (t) => {
  const g = await buildTestApp(t, { now: START, configYaml: BUDGET });
  for (let i = 0; i < 3; i++) await badToken(g);
  const before = refusalsIn(g.audit.records()).length;
  const wrongRole = await g.as('ci', { method: 'POST', url: '/v1/decisions', payload: decisionBody(), remoteAddress: '10.0.0.7' });
  t.equal(wrongRole.statusCode, 403);
  const badBody = await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: { stage: 'beta' }, remoteAddress: '10.0.0.7' });
  t.equal(badBody.statusCode, 400);
  t.match(badBody.json(), { error: 'invalid_request', field: 'body.project' }, 'the answer still names the field');
  const named = refusalsIn(g.audit.records()).slice(before);
  t.same(
    named.map((r) => [r.actor.name, r.data?.['status']]),
    [
      ['ci', 403],
      ['caller', 400],
    ],
    'over the address budget, a 403 and a 400 of authenticated callers are still recorded one by one, with who (their budget is their identity\'s)',
  );
  const inUrl = await g.app.inject({ method: 'GET', url: '/v1/status?token=abc', remoteAddress: '10.0.0.7' });
  t.equal(inUrl.statusCode, 400, 'a credential in the URL, anonymous');
  t.equal(refusalsIn(g.audit.records()).length, before + 2, 'counted against the budget');
  await g.app.close();
  const [summary] = summaries(g.audit.records());
  t.same(summary?.data?.['byError'], { '400 credentials_in_url': 1 }, 'recorded at shutdown, by status and error');
});

t.test('a token the API server could not check (TokenReview fails: 503) is budgeted like a bad token, not recorded one by one', async (t) => {
  const { authenticatorWithTokenReviewDown } = await import('../helpers/fake-kube-api.ts');
  const auth = await authenticatorWithTokenReviewDown(t);
  const g = await buildTestApp(t, { now: START, configYaml: BUDGET, auth });
  const answers = [];
  for (let i = 0; i < 7; i++) answers.push(await g.app.inject({ method: 'POST', url: '/v1/decisions', payload: decisionBody(), remoteAddress: '10.0.0.9', headers: { authorization: `Bearer junk-${i}` } }));
  for (const a of answers) t.same({ status: a.statusCode, error: a.json().error }, { status: 503, error: 'auth_unavailable' }, 'every request: 503, the identity could not be checked');
  const one = refusalsIn(g.audit.records());
  t.equal(one.length, 3, 'only the budget of 3 recorded one by one');
  t.match(one[0]!.actor, { name: /^token:[0-9a-f]{8}$/, via: 'kubernetes' }, 'naming what was presented');
  await g.app.close();
  const [summary] = summaries(g.audit.records());
  t.match(summary?.data, { suppressed: 4, byError: { '503 auth_unavailable': 4 }, remoteAddress: '10.0.0.9' }, 'the other 4 counted in the summary');
});

t.test('all clients together: ten budgets a minute; IPv6 clients by /64', async (t) => {
  const g = await buildTestApp(t, { now: START, configYaml: BUDGET });
  for (let a = 1; a <= 11; a++) for (let i = 0; i < 3; i++) await badToken(g, `10.0.1.${a}`);
  t.equal(refusalsIn(g.audit.records()).length, 30, 'at most 10 × 3 records one by one a minute, whatever the number of addresses');
  const v6 = (host: string) => badToken(g, `2001:db8:0:1::${host}`);
  g.clock.set('2026-11-25T22:01:00.001Z');
  const n0 = refusalsIn(g.audit.records()).length;
  for (const host of ['1', '2', 'a:b', 'ffff']) await v6(host);
  t.equal(refusalsIn(g.audit.records()).length - n0, 3, 'four addresses in one /64 share a budget of 3');
  await g.app.close();
  t.same(
    summaries(g.audit.records()).map((r) => [r.data?.['remoteAddress'], r.data?.['suppressed']]),
    [
      ['other addresses', 3],
      ['2001:db8:0:1::/64', 1],
    ],
    'the 11th address, new once the all-clients budget was used up, shares the others\' window; the /64 is summarised',
  );
});

t.test('clientKey', async (t) => {
  const cases: [string | undefined, string][] = [
    ['10.1.2.3', '10.1.2.3'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['2001:db8:0:1::5', '2001:db8:0:1::/64'],
    ['2001:0db8:0000:0001:aaaa:bbbb:cccc:dddd', '2001:db8:0:1::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    [undefined, 'unknown'],
  ];
  for (const [address, want] of cases) t.equal(clientKey(address), want, String(address));
});

t.test('past the number of clients told apart, the rest share one window', async (t) => {
  const g = await buildTestApp(t, { now: START, configYaml: BUDGET });
  const { createRefusalRecorder } = await import('../../src/http/refusal-recorder.ts');
  const records: (readonly unknown[])[] = [];
  const metrics = { refusals: { inc() {} }, refusalsSummarised: { inc() {} } };
  const r = createRefusalRecorder({
    recorder: { record: async (e) => (records.push(e), []) },
    metrics: metrics as never,
    clock: g.clock,
    newId: (k) => `${k}_x`,
    project: 'p',
    writable: () => true,
    perWindow: 1,
    maxWindows: 2,
  });
  const req = (remoteAddress: string) => ({ id: 'req_1', method: 'GET', url: '/', params: {}, socket: { remoteAddress } }) as never;
  for (const a of ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']) await r.refuse(req(a), { name: 'anonymous', groups: [], via: 'none' }, 401, 'unauthorized', 'no');
  t.equal(r.size(), 3, 'two clients and the shared window');
  t.equal(records.length, 3, 'the 4th client shares the 3rd one\'s budget');
  await r.flush(true);
  t.match(records.at(-1), [{ data: { suppressed: 1, remoteAddress: 'other addresses' } }]);
});

t.test('the sweep records a summary when the address has gone quiet', async (t) => {
  const g = await buildTestApp(t, { now: START, configYaml: BUDGET, deps: { sweepIntervalMs: 20 } });
  for (let i = 0; i < 5; i++) await badToken(g);
  await new Promise((r) => setTimeout(r, 60));
  t.equal(summaries(g.audit.records()).length, 0, 'not before the minute is over');
  g.clock.set('2026-11-25T22:01:30.000Z');
  await eventually(() => summaries(g.audit.records()).length > 0, 2000);
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

t.test('over the budget while the audit log is down: 503 and not counted', async (t) => {
  const g = await buildTestApp(t, { now: START, configYaml: BUDGET });
  for (let i = 0; i < 4; i++) await badToken(g);
  g.audit.failNextAppends(1);
  t.equal((await badToken(g)).statusCode, 401, 'over the budget, nothing to append: answered');
  // a failed append (a decision here) leaves the log not writable until one succeeds
  t.equal((await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ promotion: 'p-x' }) })).statusCode, 503);
  t.equal((await badToken(g)).statusCode, 503, 'over the budget with the log down: 503, as any refusal would be');
  t.equal((await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ promotion: 'p-y' }) })).statusCode, 200, 'the log takes appends again');
  await g.app.close();
  t.equal(summaries(g.audit.records())[0]?.data?.['suppressed'], 2, 'the 503 was not counted as a 401');
});

t.test('the sweep records many summaries in appends of at most SUMMARIES_PER_APPEND; a failed one keeps the rest for the next', async (t) => {
  // ten records one by one per client, a hundred for all: every client is seen (and told apart)
  // before the all-clients budget is used up, and each then goes over its own
  const g = await buildTestApp(t, { now: START, configYaml: 'audit: { refusalRecordsPerMinute: 10 }\n', deps: { sweepIntervalMs: 20 } });
  const clients = 2 * SUMMARIES_PER_APPEND + 5;
  const address = (i: number) => `10.1.${i >> 8}.${i & 255}`;
  for (let i = 0; i < clients; i++) await badToken(g, address(i));
  for (let i = 0; i < clients; i++) for (let k = 0; k < 11; k++) await badToken(g, address(i));
  const batches = g.audit.stats().batches;
  // the sweep's first append fails: it and the parts after it are kept for the next sweep
  g.audit.failNextAppends(1);
  g.clock.set('2026-11-25T22:01:00.001Z');
  t.ok(await eventually(() => summaries(g.audit.records()).length >= clients, 5000), 'every summary recorded');
  const all = summaries(g.audit.records());
  t.equal(all.length, clients, 'each once');
  t.equal(new Set(all.map((s) => s.data?.['remoteAddress'])).size, clients, 'one per client');
  t.equal(g.audit.stats().batches - batches, Math.ceil(clients / SUMMARIES_PER_APPEND), `in appends of at most ${SUMMARIES_PER_APPEND}`);
  await g.app.close();
});

t.test('a summary due when its client is refused over the all-clients budget with the audit log down is kept, and recorded once the log is back', async (t) => {
  const g = await buildTestApp(t, { now: START, configYaml: BUDGET });
  // minute 1: 10.0.0.7 goes over its budget (3 recorded, 2 counted)
  for (let i = 0; i < 5; i++) await badToken(g);
  g.clock.set('2026-11-25T22:01:00.001Z');
  // minute 2: ten other clients use up the all-clients budget (ten budgets of 3)
  for (let c = 0; c < 10; c++) for (let i = 0; i < 3; i++) await badToken(g, `10.0.1.${c}`);
  // the log goes down (a failed append leaves it not writable until one succeeds)
  g.audit.failNextAppends(1);
  t.equal((await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ promotion: 'p-down' }) })).statusCode, 503);
  t.equal((await badToken(g)).statusCode, 503, '10.0.0.7 again, over the all-clients budget, with the log down: 503');
  t.equal((await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ promotion: 'p-up' }) })).statusCode, 200, 'the log takes appends again');
  await g.app.close();
  const of7 = summaries(g.audit.records()).filter((r) => r.data?.['remoteAddress'] === '10.0.0.7');
  t.match(of7, [{ data: { suppressed: 2, from: START } }], 'minute 1\'s summary of 10.0.0.7 is in the log');
});

import t from 'tap';
import { buildTestApp, decisionBody } from '../helpers/build-app.ts';
import { DecisionResponse } from '../../src/routes/decisions.ts';

const OPEN = '2026-11-25T15:00:00Z';
const CLOSED = '2026-11-25T22:00:00Z';
const NO_TESTS_CONFIG = 'stages:\n  beta: { requireIntegrationTests: false }\n  paper: { requireIntegrationTests: false }\n  live: { requireIntegrationTests: false, requireApproval: false }\n';

t.test('inside a session: paper waits naming 16:00 ET, live is denied, beta allowed; after the close all allowed', async (t) => {
  const g = await buildTestApp(t, { now: OPEN, configYaml: NO_TESTS_CONFIG });
  const ask = (stage: string, promotion: string) => g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage, promotion }) });

  const paper = await ask('paper', 'p1');
  t.equal(paper.statusCode, 200);
  const pb = paper.json();
  t.equal(pb.decision, 'wait');
  t.equal(pb.allowed, false);
  t.match(pb.message, /closes 16:00 ET \(in 6h 0m\)/);
  t.equal(pb.reasons[0].code, 'market_open');
  t.equal(pb.market.open, true);
  t.same(pb.audit, { seq: 1, hash: g.audit.records()[0]?.hash });

  const live = (await ask('live', 'l1')).json();
  t.equal(live.decision, 'deny');
  t.match(live.message, /live promotions are refused during market hours/);

  const beta = (await ask('beta', 'b1')).json();
  t.equal(beta.decision, 'allow');
  t.equal(beta.allowed, true);
  t.equal(beta.skip, false);

  g.clock.set(CLOSED);
  for (const stage of ['beta', 'paper', 'live']) {
    const after = (await ask(stage, `${stage}-after`)).json();
    t.equal(after.decision, 'allow', `${stage} allowed after the close`);
    t.equal(after.market.open, false);
  }
  // every answered decision is in the audit log, in order
  const records = g.audit.records();
  t.same(
    records.map((r) => [r.type, r.stage, r.decision]),
    [
      ['decision', 'paper', 'wait'],
      ['decision', 'live', 'deny'],
      ['decision', 'beta', 'allow'],
      ['decision', 'beta', 'allow'],
      ['decision', 'paper', 'allow'],
      ['decision', 'live', 'allow'],
    ],
  );
  t.equal(records[0]?.actor.name, 'caller', 'the authenticated identity is the actor');
});

t.test('a disabled stage is allow with skip: true', async (t) => {
  const g = await buildTestApp(t, { now: OPEN, configYaml: 'stages:\n  paper: { enabled: false }\n' });
  const res = await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'paper' }) });
  const b = res.json();
  t.equal(b.decision, 'allow');
  t.equal(b.skip, true);
  t.equal(b.reasons[0].code, 'stage_disabled');
});

t.test("Kargo's longest actor, a service account with the longest namespace and name, is taken and recorded", async (t) => {
  const g = await buildTestApp(t, { now: CLOSED, configYaml: NO_TESTS_CONFIG });
  const actor = `kubernetes:system:serviceaccount:${'n'.repeat(63)}:${'s'.repeat(253)}`;
  t.equal(actor.length, 350);
  const res = await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ promotion: 'long-actor', actor }) });
  t.equal(res.statusCode, 200, 'not a 400, which Kargo would take as final');
  t.equal(g.audit.records().at(-1)?.requestedBy, actor, 'recorded whole');
});

t.test('replay: the same allowed promotion gets the same allow back; actor and requestedBy recorded apart', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED, configYaml: NO_TESTS_CONFIG });
  const body = decisionBody({ stage: 'paper', promotion: 'paper.01abc', actor: 'admin@example.com', freight: 'f00d', rollback: false });
  const first = (await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: body })).json();
  g.clock.set(OPEN); // even when the market has opened since
  const again = (await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: body })).json();
  t.equal(first.decision, 'allow');
  t.equal(again.decision, 'allow');
  t.equal(again.id, first.id, 'same decision id');
  t.equal(again.replayed, true);
  t.equal(first.replayed, false);
  t.not(again.audit.seq, first.audit.seq, 'the replay is recorded too');
  const rec = g.audit.records()[0];
  t.equal(rec?.requestedBy, 'admin@example.com');
  t.equal(rec?.actor.name, 'caller');
  t.equal(rec?.data?.['freight'], 'f00d');
});

t.test('concurrent repeats of one promotion: one evaluation, the rest replays', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED, configYaml: NO_TESTS_CONFIG });
  const body = decisionBody({ stage: 'paper', promotion: 'p-concurrent' });
  const answers = await Promise.all(Array.from({ length: 20 }, () => g.as('caller', { method: 'POST', url: '/v1/decisions', payload: body })));
  const bodies = answers.map((a) => a.json());
  t.equal(new Set(bodies.map((b) => b.id)).size, 1, 'one decision id');
  t.equal(bodies.filter((b) => !b.replayed).length, 1, 'exactly one original');
});

t.test('preview evaluates at any instant and records nothing', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED, configYaml: NO_TESTS_CONFIG });
  const res = await g.as('admin', { method: 'POST', url: '/v1/decisions/preview', payload: decisionBody({ stage: 'paper', at: '2026-11-27T17:59:59Z' }) });
  t.equal(res.statusCode, 200);
  const b = res.json();
  t.equal(b.preview, true);
  t.equal(b.decision, 'wait');
  t.match(b.message, /closes 13:00 ET \(early close, in 1s\)/);
  t.equal(b.audit, null);
  t.equal(g.audit.records().length, 0, 'nothing recorded');
  const unauth = await g.as(null, { method: 'POST', url: '/v1/decisions/preview', payload: decisionBody() });
  t.equal(unauth.statusCode, 401);
});

t.test('auth: no token 401, wrong role 403, both audited as refusals', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  const none = await g.as(null, { method: 'POST', url: '/v1/decisions', payload: decisionBody() });
  t.equal(none.statusCode, 401);
  t.equal(none.json().error, 'unauthorized');
  const bad = await g.as('not-a-token', { method: 'POST', url: '/v1/decisions', payload: decisionBody() });
  t.equal(bad.statusCode, 401);
  const wrong = await g.as('operator', { method: 'POST', url: '/v1/decisions', payload: decisionBody() });
  t.equal(wrong.statusCode, 403);
  t.match(wrong.json().message, /role "caller" required/);
  const admin = await g.as('admin', { method: 'POST', url: '/v1/decisions', payload: decisionBody() });
  t.equal(admin.statusCode, 200, 'admin holds every permission');
  const refusals = g.audit.records().filter((r) => r.type === 'refusal');
  t.same(
    refusals.map((r) => [r.data?.['status'], r.actor.name]),
    [
      [401, 'anonymous'],
      [401, refusals[1]?.actor.name],
      [403, 'operator'],
    ],
  );
  t.match(refusals[1]?.actor.name, /^unknown-token:[0-9a-f]{8}$/);
  t.notMatch(JSON.stringify(g.audit.records()), /gate_/, 'no token in the audit log');
});

t.test('fail closed: when the audit log cannot be written the decision is a 503 JSON error, not an answer', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED, configYaml: NO_TESTS_CONFIG });
  g.audit.failNextAppends(1);
  const res = await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ promotion: 'p-fail' }) });
  t.equal(res.statusCode, 503);
  t.equal(res.json().error, 'audit_unavailable');
  t.notOk('decision' in res.json(), 'no decision field');
  const ready = await g.app.inject({ url: '/readyz' });
  t.equal(ready.statusCode, 503, 'readyz false while the log cannot be written');
  // recovers by itself: the next append succeeds
  const retry = await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ promotion: 'p-fail' }) });
  t.equal(retry.statusCode, 200);
  t.equal(retry.json().replayed, false, 'the failed attempt left no trace in the state');
  t.equal((await g.app.inject({ url: '/readyz' })).statusCode, 200);
  // the failed append is a failure, not a (near-zero) durable write in the latency histogram
  const metrics = (await g.app.inject({ url: '/metrics' })).body;
  t.match(metrics, /^gate_audit_failures_total 1$/m, 'one record could not be made durable');
  t.match(metrics, /^gate_audit_append_seconds_count 1$/m, 'one durable append timed: the retry');
});

t.test('replay of a pass-through (skip) keeps skip: true, even after the stage is enabled again', async (t) => {
  const g = await buildTestApp(t, { now: OPEN, configYaml: 'stages:\n  live: { enabled: false }\n' });
  const ask = () => g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'live', promotion: 'live.001' }) });
  const first = (await ask()).json();
  t.equal(first.decision, 'allow');
  t.equal(first.skip, true, 'the disabled stage is passed through');
  const again = (await ask()).json();
  t.equal(again.replayed, true);
  t.equal(again.skip, true, 'the replay is the same answer: skip, not a deploy');
  const on = await g.as('admin', { method: 'PUT', url: '/v1/stages/live', payload: { enabled: true, note: 'live back on' } });
  t.equal(on.statusCode, 200);
  const later = (await ask()).json();
  t.equal(later.decision, 'allow');
  t.equal(later.replayed, true);
  t.equal(later.skip, true, 'a skip never turns into a deploy of live during market hours without an approval');
  t.notOk(g.store.read().allowedTags.live, 'a replayed skip does not mark the tag as deployed');
});

t.test('null means absent for every optional field (Kargo renders missing values as null)', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED, configYaml: NO_TESTS_CONFIG });
  const res = await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ promotion: null, freight: null, actor: null, rollback: null, breakGlassToken: null }) });
  t.equal(res.statusCode, 200, res.body);
  t.equal(res.json().decision, 'allow');
  t.equal(res.json().promotion, null);
  t.equal(g.audit.records().at(-1)?.requestedBy, null);
});

t.test('every answer of both decision routes is exactly the documented DecisionResponse (they serialise without the schema)', async (t) => {
  const g = await buildTestApp(t, { now: OPEN });
  await g.as('ci', { method: 'PUT', url: '/v1/test-results/abc123', payload: { exitCode: 0, passed: 3, failed: 0 } });
  const approval = await g.as('approver', { method: 'POST', url: '/v1/approvals', payload: { project: 'stonks-pipeline', stage: 'live', imageTag: 'abc123', notes: 'paper P&L reviewed' } });
  t.equal(approval.statusCode, 201);
  const decide = (body: Record<string, unknown>) => g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ imageTag: 'abc123', ...body }) });
  const preview = (body: Record<string, unknown>) => g.as('caller', { method: 'POST', url: '/v1/decisions/preview', payload: decisionBody({ imageTag: 'abc123', ...body }) });
  const answers = {
    wait: await decide({ stage: 'paper', promotion: 'p1' }),
    deny: await decide({ stage: 'live', promotion: 'l1' }),
    allow: await decide({ stage: 'beta', promotion: 'b1' }),
    replay: await decide({ stage: 'beta', promotion: 'b1' }),
    noPromotion: await decide({ stage: 'beta', promotion: null }),
    preview: await preview({ stage: 'live', at: '2026-11-25T22:00:00Z' }),
    previewWait: await preview({ stage: 'paper' }),
    previewDeny: await preview({ stage: 'live' }),
    previewAllow: await preview({ stage: 'beta', promotion: 'b1' }),
    previewNoTests: await preview({ stage: 'beta', imageTag: 'untested' }),
  };
  // issued after the paper wait above: an open grant for the tag covers the stage's next promotion
  const grant = (
    await g.as('operator', {
      method: 'POST',
      url: '/v1/break-glass',
      payload: { project: 'stonks-pipeline', stage: 'paper', imageTag: 'abc123', justification: 'order router drops fills; hotfix cannot wait' },
    })
  ).json();
  const previewBreakGlass = await preview({ stage: 'paper', promotion: 'p2', breakGlassToken: grant.token });
  const breakGlass = await decide({ stage: 'paper', promotion: 'p2', breakGlassToken: grant.token });
  g.clock.set('2026-11-25T22:00:00Z');
  const approved = await decide({ stage: 'live', promotion: 'l2' });
  for (const [name, res] of Object.entries({ ...answers, previewBreakGlass, breakGlass, approved })) {
    t.equal(res.statusCode, 200, `${name}: 200`);
    const body = res.json();
    // parse() drops members the schema does not name: equal means none is missing, extra or of another type
    t.same(DecisionResponse.parse(body), body, `${name}: exactly the documented shape`);
  }
  t.equal(answers.replay.json().replayed, true);
  t.equal(breakGlass.json().breakGlass?.consumed, true, 'a consumed grant is in the answer');
  t.equal(approved.json().approval?.consumed, true, 'a consumed approval is in the answer');
  t.same(
    [answers.preview, answers.previewWait, answers.previewDeny, answers.previewAllow, answers.previewNoTests].map((r) => [r.json().preview, r.json().decision]),
    [
      [true, 'allow'],
      [true, 'wait'],
      [true, 'deny'],
      [true, 'allow'],
      [true, 'wait'],
    ],
    'previews of each answer',
  );
  t.equal(previewBreakGlass.json().breakGlass?.consumed, false, 'a preview names the grant that would apply without consuming it');
});

t.test('a query parameter on the decision routes is a 400 naming it: ?dryRun=true never decides (or spends a grant) for real', async (t) => {
  const g = await buildTestApp(t, { now: OPEN, configYaml: NO_TESTS_CONFIG });
  const before = g.audit.records().filter((r) => r.type === 'decision').length;
  for (const url of ['/v1/decisions?dryRun=true', '/v1/decisions/preview?at=2026-11-25T22:00:00Z']) {
    const res = await g.as('caller', { method: 'POST', url, payload: decisionBody({ stage: 'beta' }) });
    t.equal(res.statusCode, 400, url);
    t.equal(res.json().field, `querystring.${url.slice(url.indexOf('?') + 1).split('=')[0]}`, `${url}: names the parameter`);
  }
  t.equal(g.audit.records().filter((r) => r.type === 'decision').length, before, 'no decision recorded');
  t.equal((await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'beta' }) })).statusCode, 200, 'without it: decided');
});

t.test('the newest audit file removed by another hand: /readyz says it needs a restart, not that it will recover by itself', async (t) => {
  const { openFileAuditLog } = await import('../../src/audit/file-log.ts');
  const { readdirSync, unlinkSync } = await import('node:fs');
  const { join } = await import('node:path');
  const dir = t.testdir();
  const audit = await openFileAuditLog({ dir, recoveryProbeMs: 20 });
  t.teardown(() => audit.close());
  const g = await buildTestApp(t, { now: '2026-11-25T22:00:00Z', deps: { audit } });
  t.equal((await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ promotion: 'p-1' }) })).statusCode, 200);
  unlinkSync(join(dir, readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort().at(-1)!));
  t.equal((await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ promotion: 'p-2' }) })).statusCode, 503);
  const ready = await g.app.inject({ url: '/readyz' });
  t.equal(ready.statusCode, 503);
  t.match(ready.json().checks.audit, {
    ok: false,
    message: /^audit log changed under the gate: audit-\S+\.jsonl has been removed; restart the gate: decisions are refused \(503\) until then$/,
  });
  await new Promise((r) => setTimeout(r, 100)); // five probe periods: still so
  t.match((await g.app.inject({ url: '/readyz' })).json().checks.audit.message, /restart the gate/);
});

t.test('a log that cannot be written for a while (a full volume): /readyz does not ask for a restart', async (t) => {
  const g = await buildTestApp(t, { now: '2026-11-25T22:00:00Z' });
  g.audit.failNextAppends(1);
  t.equal((await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ promotion: 'p-1' }) })).statusCode, 503);
  const ready = (await g.app.inject({ url: '/readyz' })).json();
  t.same(ready.checks.audit, { ok: false, message: 'audit log cannot be written: decisions are refused (503)' });
});

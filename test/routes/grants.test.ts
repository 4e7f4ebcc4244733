import t from 'tap';
import { buildTestApp, decisionBody, type TestApp } from '../helpers/build-app.ts';
import { OPEN_GRANTS_PER_REQUESTER } from '../../src/routes/grants.ts';
import { slowAuditLog } from '../helpers/slow-audit-log.ts';

const OPEN = '2026-11-25T15:00:00Z';
const JUSTIFY = 'order router drops fills; hotfix cannot wait for the close';

async function passTests(g: TestApp, imageTag = 'abc123') {
  const res = await g.as('ci', { method: 'PUT', url: `/v1/test-results/${imageTag}`, payload: { exitCode: 0, passed: 10, failed: 0 } });
  if (res.statusCode !== 200) throw new Error(res.body);
}

async function requestGrant(g: TestApp, over: Record<string, unknown> = {}, role = 'operator') {
  return g.as(role, { method: 'POST', url: '/v1/break-glass', payload: { project: 'stonks-pipeline', stage: 'paper', imageTag: 'abc123', justification: JUSTIFY, ...over } });
}

t.test('issue a grant: 201 with a one-time token, stored only as a hash, audited with who and why', async (t) => {
  const g = await buildTestApp(t, { now: OPEN });
  const res = await requestGrant(g, { ttlMinutes: 45 });
  t.equal(res.statusCode, 201);
  const b = res.json();
  t.match(b.token, /^gbg_[A-Za-z0-9_-]{43}$/);
  t.equal(b.expiresAt, '2026-11-25T15:45:00.000Z');
  t.equal(b.requestedBy, 'operator');
  const state = JSON.stringify(g.store.read());
  t.notMatch(state, new RegExp(b.token), 'the token is not in the state');
  t.notMatch(JSON.stringify(g.audit.records()), new RegExp(b.token), 'nor in the audit log');
  const rec = g.audit.records().at(-1);
  t.equal(rec?.type, 'breakglass.issued');
  t.equal(rec?.actor.name, 'operator');
  t.equal(rec?.breakGlass?.['justification'], JUSTIFY);
  t.equal(rec?.stage, 'paper');
  const listed = (await g.as('approver', { url: '/v1/break-glass' })).json();
  t.equal(listed.grants.length, 1);
  t.notOk('tokenHash' in listed.grants[0], 'lists never show the hash');
  const status = await g.app.inject({ url: '/v1/status' });
  t.equal(status.json().grants.length, 1);
  t.notMatch(status.body, /tokenHash/);
});

t.test('grant validation: justification, ttl, stage, project, role', async (t) => {
  const g = await buildTestApp(t, { now: OPEN });
  const cases: [Record<string, unknown>, number, string][] = [
    [{ justification: 'too short' }, 400, 'body.justification'],
    [{ ttlMinutes: 241 }, 400, 'body.ttlMinutes'],
    [{ ttlMinutes: 0 }, 400, 'body.ttlMinutes'],
    [{ ttlMinutes: 1.5 }, 400, 'body.ttlMinutes'],
    [{ stage: 'beta' }, 400, 'body.stage'],
    [{ stage: 'prod' }, 400, 'body.stage'],
    [{ project: 'other' }, 400, 'body.project'],
    [{ token: 'x' }, 400, 'body.token'],
  ];
  for (const [over, status, field] of cases) {
    const res = await requestGrant(g, over);
    t.equal(res.statusCode, status, JSON.stringify(over));
    t.equal(res.json().field, field, `${JSON.stringify(over)} names ${field}`);
  }
  t.equal((await requestGrant(g, {}, 'approver')).statusCode, 403);
  t.equal((await g.as(null, { method: 'POST', url: '/v1/break-glass', payload: {} })).statusCode, 401);
  t.equal((await requestGrant(g, { ttlMinutes: 240 })).statusCode, 201, '4 h is the maximum');
  t.equal((await requestGrant(g, { stage: 'live' })).statusCode, 201, 'live has market hours too');
});

t.test('a grant lets exactly one promotion through, replay gets the same allow, a second promotion waits again', async (t) => {
  const g = await buildTestApp(t, { now: OPEN });
  await passTests(g);
  const grant = (await requestGrant(g)).json();
  const ask = (promotion: string) => g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'paper', promotion }) });
  const first = (await ask('paper.001')).json();
  t.equal(first.decision, 'allow');
  t.equal(first.breakGlass.id, grant.id);
  t.equal(first.breakGlass.consumed, true);
  const replay = (await ask('paper.001')).json();
  t.equal(replay.decision, 'allow');
  t.equal(replay.id, first.id);
  t.equal(replay.replayed, true);
  const second = (await ask('paper.002')).json();
  t.equal(second.decision, 'wait', 'another promotion finds the grant spent');
  t.equal(g.store.read().grants[grant.id]?.status, 'consumed');
  t.same(g.store.read().grants[grant.id]?.consumedBy, { decisionId: first.id, promotion: 'paper.001' });
  const types = g.audit.records().map((r) => r.type);
  t.same(types.slice(-4), ['decision', 'breakglass.consumed', 'decision', 'decision']);
});

t.test('exactly once under concurrency: 100 promotions against one grant → one allow', async (t) => {
  // each append acknowledged 20 ms after it took its place, as the file log's fsync does: the
  // other 99 are decided while the winner's record is on its way (the in-memory log alone
  // commits at once, and a grant not held meanwhile went unnoticed)
  const { audit, inner } = slowAuditLog(20);
  const g = await buildTestApp(t, { now: OPEN, deps: { audit } });
  await passTests(g);
  const grant = (await requestGrant(g)).json();
  const answers = await Promise.all(
    Array.from({ length: 100 }, (_, i) => g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'paper', promotion: `paper.${i}` }) })),
  );
  const bodies = answers.map((a) => a.json());
  const allowed = bodies.filter((b) => b.decision === 'allow');
  t.equal(allowed.length, 1, 'exactly one allow');
  t.equal(bodies.filter((b) => b.decision === 'wait').length, 99);
  t.equal(allowed[0].breakGlass.id, grant.id);
  const winner = allowed[0].promotion;
  const again = (await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'paper', promotion: winner }) })).json();
  t.equal(again.decision, 'allow');
  t.equal(again.replayed, true);
  t.equal(inner.records().filter((r) => r.type === 'breakglass.consumed').length, 1, 'one consumption recorded');
});

t.test('a grant for another stage, another tag, expired or revoked never applies', async (t) => {
  const g = await buildTestApp(t, { now: OPEN });
  await passTests(g);
  await passTests(g, 'def456');
  await requestGrant(g, { stage: 'live' });
  await requestGrant(g, { imageTag: 'def456' });
  const short = (await requestGrant(g, { ttlMinutes: 1 })).json();
  const ask = (promotion: string) => g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'paper', promotion }) });
  g.clock.set('2026-11-25T15:01:00Z');
  const expired = (await ask('p-expired')).json();
  t.equal(expired.decision, 'wait', 'expired grant does not apply');
  t.equal(g.store.read().grants[short.id]?.status, 'expired', 'expiry recorded the first time it is noticed');
  const expiryRecords = g.audit.records().filter((r) => r.type === 'breakglass.expired');
  t.equal(expiryRecords.length, 1);
  t.equal(expiryRecords[0]?.id, short.id);
  const revocable = (await requestGrant(g)).json();
  const del = await g.as('operator2', { method: 'DELETE', url: `/v1/break-glass/${revocable.id}` });
  t.equal(del.statusCode, 200);
  t.equal(del.json().status, 'revoked');
  t.equal((await ask('p-revoked')).json().decision, 'wait', 'revoked grant does not apply');
  const revoked = g.audit.records().find((r) => r.type === 'breakglass.revoked');
  t.equal(revoked?.actor.name, 'operator2', 'revocation records who');
  t.equal((await g.as('operator', { method: 'DELETE', url: `/v1/break-glass/${revocable.id}` })).statusCode, 409, 'revoking twice is a conflict');
  t.equal((await g.as('operator', { method: 'DELETE', url: '/v1/break-glass/bg_nope' })).statusCode, 404);
  t.equal((await g.as('operator', { method: 'DELETE', url: '/v1/break-glass/..%2F..' })).statusCode, 400);
});

t.test('an expiry noticed by a revoke is recorded once, even when revokes and a decision notice it at the same moment', async (t) => {
  const g = await buildTestApp(t, { now: OPEN });
  const short = (await requestGrant(g, { ttlMinutes: 1 })).json();
  g.clock.set('2026-11-25T15:01:00Z');
  const answers = await Promise.all([
    g.as('operator', { method: 'DELETE', url: `/v1/break-glass/${short.id}` }),
    g.as('operator2', { method: 'DELETE', url: `/v1/break-glass/${short.id}` }),
    g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'paper', promotion: 'p-at-expiry' }) }),
  ]);
  t.same(answers.slice(0, 2).map((a) => a.statusCode), [409, 409], 'neither revoke revokes an expired grant');
  t.equal(answers[2]!.json().decision, 'wait', 'nor does the decision use it');
  const expiries = g.audit.records().filter((r) => r.type === 'breakglass.expired');
  t.same(expiries.map((r) => r.id), [short.id], 'one expiry record');
  t.equal(g.store.read().grants[short.id]?.status, 'expired');
});

t.test('presenting the token selects the grant', async (t) => {
  const g = await buildTestApp(t, { now: OPEN });
  await passTests(g);
  const grant = (await requestGrant(g)).json();
  const res = (await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'paper', promotion: 'p1', breakGlassToken: grant.token }) })).json();
  t.equal(res.decision, 'allow');
  t.equal(res.breakGlass.id, grant.id);
  const wrong = (await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'paper', promotion: 'p2', breakGlassToken: grant.token }) })).json();
  t.equal(wrong.decision, 'wait');
  t.match(wrong.message, /is consumed/);
});

t.test('the sweep records expiries nobody asked about (grants and approvals)', async (t) => {
  const g = await buildTestApp(t, { now: OPEN, deps: { sweepIntervalMs: 20 } });
  await g.app.ready();
  const grant = (await requestGrant(g, { ttlMinutes: 5 })).json();
  const approval = (await g.as('approver', { method: 'POST', url: '/v1/approvals', payload: { project: 'stonks-pipeline', stage: 'live', imageTag: 'abc123', notes: 'checked the paper P&L' } })).json();
  await new Promise((r) => setTimeout(r, 100));
  t.equal(g.store.read().grants[grant.id]?.status, 'open', 'nothing expires early');
  g.clock.set('2026-11-26T15:00:01Z');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(g.store.read().grants[grant.id]?.status, 'expired');
  t.equal(g.store.read().approvals[approval.id]?.status, 'expired', 'approvals expire after 24 h');
  const records = g.audit.records().filter((r) => r.type.endsWith('.expired'));
  t.same(records.map((r) => [r.type, r.id, r.actor.name]), [
    ['breakglass.expired', grant.id, 'gate'],
    ['approval.expired', approval.id, 'gate'],
  ], 'recorded once each, by the gate');
});

t.test('break-glass requests are limited per identity (429, audited)', async (t) => {
  const g = await buildTestApp(t, { now: OPEN });
  for (let i = 0; i < 10; i++) t.equal((await requestGrant(g)).statusCode, 201);
  const limited = await requestGrant(g);
  t.equal(limited.statusCode, 429);
  t.equal(limited.json().error, 'rate_limited');
  t.ok(Number(limited.headers['retry-after']) > 0);
  t.equal((await requestGrant(g, {}, 'operator2')).statusCode, 201, 'another identity has its own budget');
  const refusal = g.audit.records().find((r) => r.type === 'refusal' && r.data?.['status'] === 429);
  t.equal(refusal?.actor.name, 'operator');
  g.clock.set('2026-11-25T15:01:01Z');
  t.equal((await requestGrant(g)).statusCode, 201, 'the window moves on');
});

t.test('one person holds at most OPEN_GRANTS_PER_REQUESTER open grants: 409 past it, audited; one closed or expired frees a place', async (t) => {
  const g = await buildTestApp(t, { now: OPEN });
  const ids: string[] = [];
  for (let i = 0; i < OPEN_GRANTS_PER_REQUESTER; i++) {
    if (i > 0 && i % 10 === 0) g.clock.set(`2026-11-25T15:0${i / 10}:01Z`); // past the rate limit's minute
    const res = await requestGrant(g, { ttlMinutes: 60 });
    t.equal(res.statusCode, 201, `grant ${i + 1}`);
    ids.push(res.json().id);
  }
  g.clock.set('2026-11-25T15:05:01Z');
  const refused = await requestGrant(g, { ttlMinutes: 60 });
  t.match({ status: refused.statusCode, body: refused.json() }, { status: 409, body: { error: 'too_many_open', message: /operator has 20 open break-glass grants/ } });
  t.ok(g.audit.records().some((r) => r.type === 'refusal' && r.data?.['status'] === 409 && r.actor.name === 'operator'), 'the refusal is audited');
  t.equal((await requestGrant(g, {}, 'operator2')).statusCode, 201, 'another person has their own');
  t.equal((await g.as('operator', { method: 'DELETE', url: `/v1/break-glass/${ids[0]}` })).statusCode, 200);
  t.equal((await requestGrant(g, { ttlMinutes: 60 })).statusCode, 201, 'a revoked one frees a place');
  g.clock.set('2026-11-25T16:05:00Z'); // the first twenty have expired (their expiry not recorded yet)
  t.equal((await requestGrant(g)).statusCode, 201, 'expired ones do not count');
});

t.test('the open-grant cap holds for requests sent at the same moment: those being recorded count', async (t) => {
  const { audit, inner } = slowAuditLog(20); // appends acknowledged 20 ms late, as an fsync
  const g = await buildTestApp(t, { now: OPEN, deps: { audit } });
  for (let i = 0; i < OPEN_GRANTS_PER_REQUESTER - 1; i++) {
    if (i > 0 && i % 10 === 0) g.clock.set(`2026-11-25T15:0${i / 10}:01Z`);
    t.equal((await requestGrant(g, { ttlMinutes: 60 })).statusCode, 201);
  }
  g.clock.set('2026-11-25T15:05:01Z');
  const answers = await Promise.all(Array.from({ length: 8 }, () => requestGrant(g, { ttlMinutes: 60 })));
  t.same(answers.map((a) => a.statusCode).sort(), [201, 409, 409, 409, 409, 409, 409, 409], 'one more, then the cap');
  t.equal(inner.records().filter((r) => r.type === 'breakglass.issued').length, OPEN_GRANTS_PER_REQUESTER);
  t.equal((await requestGrant(g)).statusCode, 409, 'and after they settled');
});

t.test('break-glass requests refused for their input do not count against the identity: a mistyping operator is not locked out', async (t) => {
  const g = await buildTestApp(t, { now: OPEN });
  const bad: [string, () => ReturnType<typeof requestGrant>][] = [
    ['short justification', () => requestGrant(g, { justification: 'urgent' })],
    ['unknown stage', () => requestGrant(g, { stage: 'prod' })],
    ['ttl over the maximum', () => requestGrant(g, { ttlMinutes: 241 })],
    ['a stage market hours do not hold', () => requestGrant(g, { stage: 'beta' })],
    ['a query parameter', () => g.as('operator', { method: 'POST', url: '/v1/break-glass?ttl=5', payload: { project: 'stonks-pipeline', stage: 'paper', imageTag: 'abc123', justification: JUSTIFY } })],
  ];
  for (let i = 0; i < 3; i++) {
    for (const [name, send] of bad) {
      const res = await send();
      t.equal(res.statusCode, 400, `${name}: 400 (${res.body.slice(0, 100)})`);
    }
  }
  // forbidden and unauthenticated requests are refused before anything is counted, as before
  t.equal((await requestGrant(g, {}, 'caller')).statusCode, 403);
  t.equal((await g.as(null, { method: 'POST', url: '/v1/break-glass', payload: { project: 'stonks-pipeline', stage: 'paper', imageTag: 'abc123', justification: JUSTIFY } })).statusCode, 401);
  for (let i = 0; i < 10; i++) t.equal((await requestGrant(g)).statusCode, 201, `grant ${i + 1} of 10 after 15 bad requests`);
  const limited = await requestGrant(g);
  t.equal(limited.statusCode, 429, 'the 11th grant in the minute is refused');
  t.equal((await requestGrant(g, { justification: 'urgent' })).statusCode, 400, 'over the budget, bad input is still named as such');
  t.equal(g.audit.records().filter((r) => r.type === 'breakglass.issued').length, 10);
});

t.test('a query parameter the operator routes do not take is a 400 naming it: never a filter silently ignored, nor a change made anyway', async (t) => {
  const g = await buildTestApp(t, { now: OPEN });
  const paper = (await requestGrant(g)).json();
  await requestGrant(g, { stage: 'live' });
  const approval = { project: 'stonks-pipeline', stage: 'live', imageTag: 'abc123', notes: 'paper P&L reviewed, diff read' };
  const cases: [string | null, string, string, unknown][] = [
    ['caller', 'GET', '/v1/break-glass?stage=paper', undefined],
    ['caller', 'GET', '/v1/approvals?imageTag=abc123', undefined],
    ['operator', 'DELETE', `/v1/break-glass/${paper.id}?dryRun=true`, undefined],
    ['operator', 'POST', '/v1/break-glass?ttl=5', { project: 'stonks-pipeline', stage: 'paper', imageTag: 'abc123', justification: JUSTIFY }],
    ['approver', 'POST', '/v1/approvals?stage=live', approval],
    ['admin', 'PUT', '/v1/stages/paper?dryRun=1', { enabled: false, note: 'broker maintenance' }],
    ['ci', 'PUT', '/v1/test-results/abc123?stage=beta', { exitCode: 0 }],
  ];
  const before = g.audit.records().filter((r) => r.type !== 'refusal').length;
  for (const [role, method, url, payload] of cases) {
    const res = await g.as(role, { method: method as 'GET', url, ...(payload === undefined ? {} : { payload: payload as object }) });
    const name = url.slice(url.indexOf('?') + 1).split('=')[0];
    t.equal(res.statusCode, 400, `${method} ${url}`);
    t.equal(res.json().field, `querystring.${name}`, `${method} ${url} names the parameter`);
  }
  t.equal(g.audit.records().filter((r) => r.type !== 'refusal').length, before, 'nothing was changed');
  t.equal(g.store.read().grants[paper.id]?.status, 'open', 'the grant is not revoked');
  t.equal(g.store.read().stages.paper.enabled, true, 'the stage is not switched off');
  t.equal((await g.as('caller', { url: '/v1/break-glass' })).json().grants.length, 2, 'without the parameter: every open grant');
});

import { writeFile } from 'node:fs/promises';
import type { InjectOptions } from 'fastify';
import t from 'tap';
import { buildTestApp, decisionBody } from '../helpers/build-app.ts';
import { APPROVALS_PER_MINUTE, OPEN_APPROVALS_PER_APPROVER } from '../../src/routes/approvals.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { slowAuditLog } from '../helpers/slow-audit-log.ts';

const CLOSED = '2026-11-25T22:00:00Z';
const OPEN = '2026-11-25T15:00:00Z';
const approve = (over: Record<string, unknown> = {}) => ({ project: 'stonks-pipeline', stage: 'live', imageTag: 'abc123', notes: 'paper P&L reviewed, diff read', ...over });

/** The test app behind the authenticating proxy (loopback trusted), and a request as `user` in `group` through it. */
async function behindProxy(t: Parameters<typeof buildTestApp>[0], opts: { now: string; configYaml?: string }) {
  const { createLocalAuthenticator, tokenFilePath } = await import('../../src/auth/local-tokens.ts');
  const { createProxyHeaderAuthenticator } = await import('../../src/auth/proxy-header.ts');
  const auth = createProxyHeaderAuthenticator(createLocalAuthenticator(tokenFilePath(await tempDir(t, 'gate-proxy-'))), {
    trustedCidrs: ['127.0.0.1/32'],
    userHeader: 'X-Auth-Request-User',
    groupsHeader: 'X-Auth-Request-Groups',
  });
  const g = await buildTestApp(t, { ...opts, auth });
  const as = (user: string, group: string, req: InjectOptions) => g.app.inject({ ...req, headers: { 'x-auth-request-user': user, 'x-auth-request-groups': group } });
  return { g, as };
}

t.test('live waits for an approval with notes, then the allow consumes it', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  await g.as('ci', { method: 'PUT', url: '/v1/test-results/abc123', payload: { exitCode: 0 } });
  const ask = (promotion: string) => g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'live', promotion }) });
  const before = (await ask('live.1')).json();
  t.equal(before.decision, 'wait');
  t.equal(before.reasons.at(-1).code, 'awaiting_approval');
  const res = await g.as('approver', { method: 'POST', url: '/v1/approvals', payload: approve() });
  t.equal(res.statusCode, 201);
  const ap = res.json();
  t.equal(ap.approvedBy, 'approver');
  t.equal(ap.expiresAt, '2026-11-26T22:00:00.000Z', '24 h by default');
  const pending = (await g.as('caller', { url: '/v1/approvals' })).json();
  t.equal(pending.approvals.length, 1);
  const after = (await ask('live.1')).json();
  t.equal(after.decision, 'allow');
  t.equal(after.approval.id, ap.id);
  t.equal(after.approval.notes, 'paper P&L reviewed, diff read');
  t.equal((await ask('live.2')).json().decision, 'wait', 'the approval was consumed by the allow');
  t.equal((await g.as('caller', { url: '/v1/approvals' })).json().approvals.length, 0);
  const rec = g.audit.records().find((r) => r.type === 'approval.recorded');
  t.equal(rec?.actor.name, 'approver');
  t.equal(rec?.approval?.['notes'], 'paper P&L reviewed, diff read');
  t.ok(g.audit.records().some((r) => r.type === 'approval.consumed' && r.id === ap.id));
});

t.test('approval validation and roles', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  const cases: [Record<string, unknown>, string][] = [
    [{ notes: 'short' }, 'body.notes'],
    [{ notes: '          ' }, 'body.notes'],
    [{ stage: 'beta' }, 'body.stage'],
    [{ imageTag: 'a b' }, 'body.imageTag'],
    [{ project: 'nope' }, 'body.project'],
  ];
  for (const [over, field] of cases) {
    const res = await g.as('approver', { method: 'POST', url: '/v1/approvals', payload: approve(over) });
    t.equal(res.statusCode, 400, JSON.stringify(over));
    t.equal(res.json().field, field);
  }
  t.equal((await g.as('operator', { method: 'POST', url: '/v1/approvals', payload: approve() })).statusCode, 403);
  t.equal((await g.as(null, { method: 'POST', url: '/v1/approvals', payload: approve() })).statusCode, 401);
});

t.test('approvals refused for their input do not count against the identity: an approver who mistypes is not locked out', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  const bad: Record<string, unknown>[] = [{ notes: 'short' }, { stage: 'beta' }, { imageTag: 'a b' }, { project: 'nope' }];
  for (let i = 0; i < 10; i++) {
    for (const over of bad) t.equal((await g.as('approver', { method: 'POST', url: '/v1/approvals', payload: approve(over) })).statusCode, 400, JSON.stringify(over));
  }
  for (let i = 0; i < APPROVALS_PER_MINUTE; i++) {
    t.equal((await g.as('approver', { method: 'POST', url: '/v1/approvals', payload: approve({ imageTag: `tag-${i}` }) })).statusCode, 201, `approval ${i + 1} after 40 bad requests`);
  }
  t.equal((await g.as('approver', { method: 'POST', url: '/v1/approvals', payload: approve({ imageTag: 'one-more' }) })).statusCode, 429, 'the budget still holds for approvals');
  t.equal((await g.as('approver', { method: 'POST', url: '/v1/approvals', payload: approve({ notes: 'short' }) })).statusCode, 400, 'over the budget, bad input is still named as such');
});

t.test('one person holds at most OPEN_APPROVALS_PER_APPROVER open approvals: 409 past it, audited; one revoked frees a place', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  let first = '';
  for (let i = 0; i < OPEN_APPROVALS_PER_APPROVER; i++) {
    if (i > 0 && i % APPROVALS_PER_MINUTE === 0) g.clock.set(`2026-11-25T22:0${i / APPROVALS_PER_MINUTE}:01Z`);
    const res = await g.as('approver', { method: 'POST', url: '/v1/approvals', payload: approve({ imageTag: `tag-${i}` }) });
    t.equal(res.statusCode, 201);
    first ||= res.json().id;
  }
  g.clock.set('2026-11-25T22:05:01Z');
  const refused = await g.as('approver', { method: 'POST', url: '/v1/approvals', payload: approve({ imageTag: 'one-more' }) });
  t.match({ status: refused.statusCode, body: refused.json() }, { status: 409, body: { error: 'too_many_open', message: /approver has 100 open approvals/ } });
  t.ok(g.audit.records().some((r) => r.type === 'refusal' && r.data?.['status'] === 409 && r.actor.name === 'approver'), 'the refusal is audited');
  t.equal((await g.as('approver2', { method: 'POST', url: '/v1/approvals', payload: approve() })).statusCode, 201, 'another person has their own');
  t.equal((await g.as('approver', { method: 'DELETE', url: `/v1/approvals/${first}` })).statusCode, 200);
  t.equal((await g.as('approver', { method: 'POST', url: '/v1/approvals', payload: approve({ imageTag: 'one-more' }) })).statusCode, 201, 'a revoked one frees a place');
});

t.test('the open-approval cap holds for requests sent at the same moment: those being recorded count', async (t) => {
  const { audit, inner } = slowAuditLog(20); // appends acknowledged 20 ms late, as an fsync
  const g = await buildTestApp(t, { now: CLOSED, deps: { audit } });
  let made = 0;
  for (let minute = 0; made < OPEN_APPROVALS_PER_APPROVER + 20; minute++) {
    g.clock.set(`2026-11-25T22:0${minute}:01Z`);
    const burst = await Promise.all(Array.from({ length: APPROVALS_PER_MINUTE }, (_, i) => g.as('approver', { method: 'POST', url: '/v1/approvals', payload: approve({ imageTag: `t-${minute}-${i}` }) })));
    made += burst.length;
  }
  t.equal(inner.records().filter((r) => r.type === 'approval.recorded').length, OPEN_APPROVALS_PER_APPROVER, 'bursts of the rate limit stop at the cap');
});

t.test('approvals are limited per identity (429, audited): a leaked approver token cannot grow the state without bound', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  for (let i = 0; i < APPROVALS_PER_MINUTE; i++) {
    t.equal((await g.as('approver', { method: 'POST', url: '/v1/approvals', payload: approve({ imageTag: `tag-${i}` }) })).statusCode, 201);
  }
  const limited = await g.as('approver', { method: 'POST', url: '/v1/approvals', payload: approve({ imageTag: 'one-more' }) });
  t.match({ status: limited.statusCode, body: limited.json() }, { status: 429, body: { error: 'rate_limited', message: /at most 30 approvals a minute/ } });
  t.ok(Number(limited.headers['retry-after']) > 0, 'retry-after');
  t.equal(g.audit.records().filter((r) => r.type === 'approval.recorded').length, APPROVALS_PER_MINUTE, 'the refused one is not recorded as an approval');
  t.ok(g.audit.records().some((r) => r.type === 'refusal' && r.data?.['status'] === 429 && r.actor.name === 'approver'), 'the refusal is audited');
  t.equal((await g.as('approver2', { method: 'POST', url: '/v1/approvals', payload: approve() })).statusCode, 201, 'another identity has its own budget');
  g.clock.set('2026-11-25T22:01:01Z');
  t.equal((await g.as('approver', { method: 'POST', url: '/v1/approvals', payload: approve({ imageTag: 'later' }) })).statusCode, 201, 'the window moves on');
});

t.test('separation of duties: the grant requester alone cannot approve the promotion', async (t) => {
  const g = await buildTestApp(t, { now: OPEN, configYaml: 'approvals: { separationOfDuties: true }\n' });
  // one person holding both roles
  const { createToken, tokenFilePath } = await import('../../src/auth/local-tokens.ts');
  const { token } = await createToken(tokenFilePath(g.dataDir), 'dana', ['operator', 'approver'], new Date(), 'tok_dana');
  await g.as('ci', { method: 'PUT', url: '/v1/test-results/abc123', payload: { exitCode: 0 } });
  await g.as(token, { method: 'POST', url: '/v1/break-glass', payload: { project: 'stonks-pipeline', stage: 'live', imageTag: 'abc123', justification: 'margin call logic broken, must ship now' } });
  await g.as(token, { method: 'POST', url: '/v1/approvals', payload: approve() });
  const ask = () => g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'live', promotion: 'live.sod' }) });
  const held = (await ask()).json();
  t.equal(held.decision, 'wait');
  t.match(held.message, /separation of duties/);
  await g.as('approver2', { method: 'POST', url: '/v1/approvals', payload: approve({ notes: 'second pair of eyes on the fix' }) });
  const through = (await ask()).json();
  t.equal(through.decision, 'allow');
  t.equal(through.approval.approvedBy, 'approver2');
});

t.test('separation of duties compares people, not spellings: olivia requests, Olivia approves, live still waits', async (t) => {
  const g = await buildTestApp(t, { now: OPEN, configYaml: 'approvals: { separationOfDuties: true }\n' });
  // a token file written before names were compared by their key: it may hold both spellings
  const { createToken, hashToken, readTokenFile, tokenFilePath } = await import('../../src/auth/local-tokens.ts');
  const file = tokenFilePath(g.dataDir);
  const { token: olivia } = await createToken(file, 'olivia', ['operator'], new Date(), 'tok_olivia');
  const upper = 'gate_' + 'O'.repeat(43);
  const tokens = [...((await readTokenFile(file)) ?? []), { id: 'tok_Olivia', name: 'Olivia', roles: ['approver' as const], sha256: hashToken(upper), createdAt: '2026-01-01T00:00:00.000Z' }];
  await writeFile(file, `${JSON.stringify({ version: 1, tokens }, null, 2)}\n`);
  await new Promise((r) => setTimeout(r, 1100)); // past the token file's 1 s re-check interval

  await g.as('ci', { method: 'PUT', url: '/v1/test-results/abc123', payload: { exitCode: 0 } });
  const grant = await g.as(olivia, { method: 'POST', url: '/v1/break-glass', payload: { project: 'stonks-pipeline', stage: 'live', imageTag: 'abc123', justification: 'fill-router hotfix, orders rejected' } });
  t.equal(grant.statusCode, 201);
  t.equal(grant.json().requestedBy, 'olivia');
  const own = await g.as(upper, { method: 'POST', url: '/v1/approvals', payload: approve({ notes: 'checked paper P&L, fine' }) });
  t.equal(own.statusCode, 201, 'the approval itself is recorded');
  t.equal(own.json().approvedBy, 'Olivia', 'and keeps the name as given');
  const ask = () => g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'live', promotion: 'live.sod-case' }) });
  const held = (await ask()).json();
  t.equal(held.decision, 'wait');
  t.same(held.reasons.map((r: { code: string }) => r.code), ['tests_passed', 'break_glass_applied', 'awaiting_approval']);
  t.equal(held.approval, null);
  t.match(held.message, /approval by Olivia does not count: .*requested by olivia.*separation of duties/);
  await g.as('approver2', { method: 'POST', url: '/v1/approvals', payload: approve({ notes: 'second pair of eyes on the fix' }) });
  const through = (await ask()).json();
  t.equal(through.decision, 'allow');
  t.equal(through.breakGlass.requestedBy, 'olivia');
  t.equal(through.approval.approvedBy, 'approver2');
});

t.test('separation of duties behind an authenticating proxy: case and width variants are the requester, invisible characters are refused', async (t) => {
  const { g, as } = await behindProxy(t, { now: OPEN, configYaml: 'approvals: { separationOfDuties: true }\n' });
  for (const [label, approver] of [
    ['upper case', 'Olivia'],
    ['fullwidth o', '\uFF4Flivia'],
    ['padded', '  OLIVIA  '],
  ] as const) {
    const imageTag = `px-${label.replace(/\W/g, '')}`;
    await as('ci-bot', 'gate-ci', { method: 'PUT', url: `/v1/test-results/${imageTag}`, payload: { exitCode: 0 } });
    const grant = await as('olivia', 'gate-operator', { method: 'POST', url: '/v1/break-glass', payload: { project: 'stonks-pipeline', stage: 'live', imageTag, justification: 'fill-router hotfix, orders rejected' } });
    t.equal(grant.statusCode, 201, label);
    const own = await as(approver, 'gate-approver', { method: 'POST', url: '/v1/approvals', payload: approve({ imageTag, notes: 'checked paper P&L, fine' }) });
    t.equal(own.statusCode, 201, `${label}: recorded`);
    const d = (await as('kargo', 'gate-caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'live', imageTag, promotion: `live.${imageTag}` }) })).json();
    t.equal(d.decision, 'wait', `${label}: waits`);
    t.equal(d.reasons.at(-1).code, 'awaiting_approval', label);
  }
  for (const [label, approver] of [
    ['zero-width space', 'olivia\u200B'],
    ['zero-width joiner', 'oli\u200Dvia'],
    ['soft hyphen', 'oli\u00ADvia'],
    ['byte-order mark', '\uFEFFolivia'],
  ] as const) {
    const res = await as(approver, 'gate-approver', { method: 'POST', url: '/v1/approvals', payload: approve({ imageTag: 'pxzwsp', notes: 'checked paper P&L, fine' }) });
    t.equal(res.statusCode, 401, `${label}: refused`);
    t.equal(res.json().error, 'unauthorized', label);
  }
  t.notOk(
    g.audit.records().some((r) => r.type === 'approval.recorded' && r.imageTag === 'pxzwsp'),
    'no approval recorded under an invisible spelling',
  );
});

t.test('the open caps count a person as separation of duties does: behind a proxy, case and width variants of one name share one cap', async (t) => {
  const { OPEN_GRANTS_PER_REQUESTER } = await import('../../src/routes/grants.ts');
  const { g, as } = await behindProxy(t, { now: CLOSED });
  let minute = 0;
  const nextMinute = () => g.clock.set(new Date(Date.parse(CLOSED) + ++minute * 60_000 + 1000).toISOString());
  const grant = (user: string, i: number) =>
    as(user, 'gate-operator', { method: 'POST', url: '/v1/break-glass', payload: { project: 'stonks-pipeline', stage: 'paper', imageTag: `cap-${i}`, justification: 'fill-router hotfix, orders rejected', ttlMinutes: 240 } });
  for (let i = 0; i < OPEN_GRANTS_PER_REQUESTER; i++) {
    if (i % 5 === 0) nextMinute(); // within the rate limit
    t.equal((await grant(['olivia', 'Olivia', '\uFF4Flivia', '  OLIVIA  '][i % 4]!, i)).statusCode, 201, `grant ${i + 1}, under one of four spellings`);
  }
  nextMinute();
  for (const spelling of ['olivia', 'OLIVIA', '\uFF4F\uFF4C\uFF49\uFF56\uFF49\uFF41']) {
    const res = await grant(spelling, 99);
    t.equal(res.statusCode, 409, `${JSON.stringify(spelling)}: the same person's cap`);
    t.equal(res.json().error, 'too_many_open');
  }
  t.equal((await grant('oliver', 99)).statusCode, 201, 'another person has their own');

  const approval = (user: string, i: number) => as(user, 'gate-approver', { method: 'POST', url: '/v1/approvals', payload: approve({ imageTag: `cap-${i}` }) });
  for (let i = 0; i < OPEN_APPROVALS_PER_APPROVER; i++) {
    if (i % APPROVALS_PER_MINUTE === 0) nextMinute();
    t.equal((await approval(['amir', 'Amir', '\uFF41mir'][i % 3]!, i)).statusCode, 201, `approval ${i + 1}`);
  }
  nextMinute();
  for (const spelling of ['amir', 'AMIR', '\uFF41\uFF4D\uFF49\uFF52']) {
    const res = await approval(spelling, 999);
    t.equal(res.statusCode, 409, `${JSON.stringify(spelling)}: the same person's cap`);
    t.equal(res.json().error, 'too_many_open');
  }
});

t.test('stage toggles: admin only, persisted, audited, read by anyone; disabled integration lifts the test requirement', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  const all = (await g.app.inject({ url: '/v1/stages' })).json();
  t.same(all.stages.map((s: { stage: string }) => s.stage), ['ci', 'integration', 'beta', 'paper', 'live']);
  t.ok(all.stages.every((s: { enabled: boolean }) => s.enabled));
  t.equal((await g.as('operator', { method: 'PUT', url: '/v1/stages/paper', payload: { enabled: false, note: 'broker maintenance' } })).statusCode, 403);
  const res = await g.as('admin', { method: 'PUT', url: '/v1/stages/paper', payload: { enabled: false, note: 'broker maintenance' } });
  t.equal(res.statusCode, 200);
  t.match(res.json(), { stage: 'paper', enabled: false, note: 'broker maintenance', changedBy: 'admin' });
  const rec = g.audit.records().find((r) => r.type === 'stage.toggled');
  t.same(rec?.data, { enabled: false, note: 'broker maintenance', previous: { enabled: true, note: null } });
  const d = (await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'paper' }) })).json();
  t.equal(d.skip, true);
  t.match(d.message, /broker maintenance/);

  // tests pending holds beta, until the integration stage is switched off
  t.equal((await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'beta', imageTag: 'feed01' }) })).json().decision, 'wait');
  await g.as('admin', { method: 'PUT', url: '/v1/stages/integration', payload: { enabled: false, note: 'sandbox down' } });
  const lifted = (await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'beta', imageTag: 'feed01' }) })).json();
  t.equal(lifted.decision, 'allow');
  t.equal(lifted.reasons[0].code, 'tests_not_required');

  for (const [url, payload, field] of [
    ['/v1/stages/prod', { enabled: true, note: 'x' }, 'params.stage'],
    ['/v1/stages/beta', { enabled: 'no', note: 'why not' }, 'body.enabled'],
    ['/v1/stages/beta', { enabled: true }, 'body.note'],
    ['/v1/stages/beta', { enabled: true, note: 'ok!', extra: 1 }, 'body.extra'],
  ] as const) {
    const r = await g.as('admin', { method: 'PUT', url, payload });
    t.equal(r.statusCode, 400, url);
    t.equal(r.json().field, field);
  }
  t.equal(g.store.read().stages.paper.enabled, false, 'still off');
});

t.test('two admins toggle one stage at the same moment: each answer is its own change, each record names the toggle it replaced', async (t) => {
  const { createMemoryAuditLog } = await import('../../src/audit/memory-log.ts');
  // an audit write that takes a while (an fsync on NFS): both requests are in flight together
  const inner = createMemoryAuditLog();
  const audit = {
    ...inner,
    append: async (entries: Parameters<typeof inner.append>[0]) => {
      await new Promise((r) => setTimeout(r, 30));
      return inner.append(entries);
    },
  };
  const g = await buildTestApp(t, { now: CLOSED, deps: { audit } });
  const put = (enabled: boolean, note: string) =>
    g.app.inject({ method: 'PUT', url: '/v1/stages/paper', headers: { authorization: `Bearer ${g.tokens['admin']}` }, payload: { enabled, note } });
  const [off, on] = await Promise.all([put(false, 'broker maintenance'), put(true, 'maintenance cancelled')]);
  t.equal(off.statusCode, 200);
  t.equal(on.statusCode, 200);
  t.match(off.json(), { stage: 'paper', enabled: false, note: 'broker maintenance' }, 'the first answer is the first change');
  t.match(on.json(), { stage: 'paper', enabled: true, note: 'maintenance cancelled' }, 'the second answer is the second change');
  // which of the two is recorded first is up to the event loop: whichever it is, the other names it
  const toggled = inner.records().filter((r) => r.type === 'stage.toggled');
  t.equal(toggled.length, 2);
  const [first, second] = toggled.map((r) => r.data as { enabled: boolean; note: string; previous: unknown });
  t.same(first!.previous, { enabled: true, note: null }, 'the first record replaced the configured toggle');
  t.same(second!.previous, { enabled: first!.enabled, note: first!.note }, 'the second record replaced the first toggle, not the state before both');
  t.match(g.store.read().stages.paper, { enabled: second!.enabled, note: second!.note }, 'the state holds the later record');
  // a toggle that fails (audit log down) does not stop the next one
  inner.failNextAppends(1);
  t.equal((await put(false, 'disk trouble')).statusCode, 503);
  t.equal((await put(false, 'disk back')).statusCode, 200, 'the next toggle takes its turn');
});

t.test('the lists show live items only: an approval or grant past its expiry, before the gate has recorded that, is neither pending nor open', async (t) => {
  const g = await buildTestApp(t, { now: OPEN });
  t.equal((await g.as('approver', { method: 'POST', url: '/v1/approvals', payload: approve() })).statusCode, 201);
  const grant = await g.as('operator', {
    method: 'POST',
    url: '/v1/break-glass',
    payload: { project: 'stonks-pipeline', stage: 'paper', imageTag: 'abc123', justification: 'hotfix for a broken order router, cannot wait', ttlMinutes: 5 },
  });
  t.equal(grant.statusCode, 201);
  const lists = async () => {
    const status = (await g.as(null, { url: '/v1/status' })).json();
    return {
      approvals: (await g.as('caller', { url: '/v1/approvals' })).json().approvals.length,
      grants: (await g.as('operator', { url: '/v1/break-glass' })).json().grants.length,
      statusApprovals: status.approvals.length,
      statusGrants: status.grants.length,
    };
  };
  t.same(await lists(), { approvals: 1, grants: 1, statusApprovals: 1, statusGrants: 1 }, 'both live');
  g.clock.set('2026-11-25T15:05:00Z');
  t.same(await lists(), { approvals: 1, grants: 0, statusApprovals: 1, statusGrants: 0 }, 'the grant at its expiry instant is gone');
  g.clock.set('2026-11-26T15:00:01Z');
  t.same(await lists(), { approvals: 0, grants: 0, statusApprovals: 0, statusGrants: 0 }, 'the approval a second past its 24 h too');
  t.same(g.audit.records().filter((r) => r.type.endsWith('.expired')), [], 'while neither expiry is recorded yet');
});

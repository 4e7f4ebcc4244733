import t, { type Test } from 'tap';
import type { AuditEntry } from '../../src/audit/event.ts';
import { createMemoryAuditLog } from '../../src/audit/memory-log.ts';
import { replayAuditTail } from '../../src/gate/recorder.ts';
import { emptyState } from '../../src/policy/state.ts';
import { createMemoryStore } from '../../src/store/memory-store.ts';
import { buildTestApp, decisionBody, type TestApp } from '../helpers/build-app.ts';

const CLOSED = '2026-11-25T22:00:00Z';
const NOTES = 'paper P&L reviewed, diff read';

async function passTests(g: TestApp) {
  const res = await g.as('ci', { method: 'PUT', url: '/v1/test-results/abc123', payload: { exitCode: 0 } });
  if (res.statusCode !== 200) throw new Error(res.body);
}

async function approve(g: TestApp, role = 'approver') {
  const res = await g.as(role, { method: 'POST', url: '/v1/approvals', payload: { project: 'stonks-pipeline', stage: 'live', imageTag: 'abc123', notes: NOTES } });
  if (res.statusCode !== 201) throw new Error(res.body);
  return res.json() as { id: string; approvedAt: string; expiresAt: string };
}

const revoke = (g: TestApp, id: string, role = 'approver') => g.as(role, { method: 'DELETE', url: `/v1/approvals/${id}` });
const askLive = (g: TestApp, promotion: string) => g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'live', promotion }) });
const refusalsOf = (g: TestApp, status: number) => g.audit.records().filter((r) => r.type === 'refusal' && r.data?.['status'] === status);

/**
 * An app whose audit appends can be held: hold() makes the next append wait until the returned
 * release() is called (the appends after it pass), as a slow fsync would keep a change in flight.
 */
async function buildHoldableApp(t: Test) {
  const mem = createMemoryAuditLog();
  let holdNext: Promise<void> | null = null;
  let holding = 0;
  const audit = {
    ...mem,
    async append(entries: readonly AuditEntry[]) {
      const held = holdNext;
      holdNext = null;
      if (held) {
        holding += 1;
        await held;
      }
      return mem.append(entries);
    },
  };
  const g = await buildTestApp(t, { now: CLOSED, deps: { audit } });
  const hold = () => {
    let release!: () => void;
    holdNext = new Promise<void>((r) => (release = r));
    const before = holding;
    // resolves once the held append has started (its change is then in flight)
    const started = async () => {
      while (holding === before) await new Promise((r) => setTimeout(r, 5));
    };
    return { release, started };
  };
  return { g: { ...g, audit: mem }, hold };
}

t.test('an approver revokes an approval: 200 with its view, audited with who and the approval, no longer pending, and live waits again', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  await passTests(g);
  const ap = await approve(g);
  const preview = (await g.as('caller', { method: 'POST', url: '/v1/decisions/preview', payload: decisionBody({ stage: 'live', promotion: 'live.1' }) })).json();
  t.equal(preview.decision, 'allow', 'with the approval, live would go through');

  const res = await revoke(g, ap.id, 'approver2');
  t.equal(res.statusCode, 200);
  t.same(res.json(), { id: ap.id, project: 'stonks-pipeline', stage: 'live', imageTag: 'abc123', notes: NOTES, approvedBy: 'approver', approvedAt: ap.approvedAt, expiresAt: ap.expiresAt, status: 'revoked' });
  const rec = g.audit.records().at(-1);
  t.match(rec, {
    type: 'approval.revoked',
    id: ap.id,
    at: '2026-11-25T22:00:00.000Z',
    actor: { name: 'approver2', via: 'local-token' },
    project: 'stonks-pipeline',
    stage: 'live',
    imageTag: 'abc123',
    approval: { id: ap.id, approvedBy: 'approver', notes: NOTES, approvedAt: ap.approvedAt, expiresAt: ap.expiresAt },
    data: { requestId: String },
  });
  t.equal(g.store.read().approvals[ap.id]?.status, 'revoked');
  t.same((await g.as('caller', { url: '/v1/approvals' })).json().approvals, [], 'GET /v1/approvals no longer lists it');
  t.same((await g.app.inject({ url: '/v1/status' })).json().approvals, [], 'nor does /v1/status');

  const live = (await askLive(g, 'live.1')).json();
  t.equal(live.decision, 'wait', 'the live promotion waits again');
  t.equal(live.reasons.at(-1).code, 'awaiting_approval');
  t.equal(live.approval, null);
  t.notOk(g.audit.records().some((r) => r.type === 'approval.consumed'), 'the revoked approval was not consumed');

  t.equal((await approve(g, 'approver2')).id !== ap.id, true);
  t.equal((await askLive(g, 'live.1')).json().decision, 'allow', 'a new approval lets it through');
});

t.test('who may revoke: approvers and admins; caller and operator get 403, no token 401, each refusal audited', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  const ap = await approve(g);
  for (const role of ['caller', 'operator', 'ci']) {
    const res = await revoke(g, ap.id, role);
    t.equal(res.statusCode, 403, role);
    t.equal(res.json().error, 'forbidden');
  }
  t.same(refusalsOf(g, 403).map((r) => r.actor.name), ['caller', 'operator', 'ci'], 'every 403 is audited with who asked');
  t.equal((await g.as(null, { method: 'DELETE', url: `/v1/approvals/${ap.id}` })).statusCode, 401);
  t.equal(g.store.read().approvals[ap.id]?.status, 'open', 'still open');
  t.equal((await revoke(g, ap.id, 'admin')).statusCode, 200, 'an admin may');
  const other = await approve(g);
  t.equal((await revoke(g, other.id, 'approver')).statusCode, 200, 'an approver may revoke their own');
});

t.test('unknown id 404, malformed id 400, a query parameter 400: nothing revoked, each refusal audited', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  const ap = await approve(g);
  const missing = await revoke(g, 'ap_nope');
  t.match({ status: missing.statusCode, body: missing.json() }, { status: 404, body: { error: 'not_found', field: 'params.id', message: /no approval ap_nope/ } });
  t.equal(refusalsOf(g, 404).length, 1, 'the 404 is audited');
  for (const bad of ['..%2F..', 'AP_1', 'ap_', `ap_${'x'.repeat(41)}`]) {
    const res = await revoke(g, bad);
    t.equal(res.statusCode, 400, bad);
    t.equal(res.json().field, 'params.id', `${bad} names params.id`);
  }
  const query = await g.as('approver', { method: 'DELETE', url: `/v1/approvals/${ap.id}?dryRun=true` });
  t.equal(query.statusCode, 400);
  t.equal(query.json().field, 'querystring.dryRun');
  t.equal(g.store.read().approvals[ap.id]?.status, 'open', 'not revoked');
  t.notOk(g.audit.records().some((r) => r.type === 'approval.revoked'));
  t.equal(refusalsOf(g, 400).length, 5, 'every 400 is audited');
});

t.test('a consumed approval, or one revoked already, is a 409 that changes nothing', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  await passTests(g);
  const used = await approve(g);
  t.equal((await askLive(g, 'live.1')).json().decision, 'allow');
  const consumed = await revoke(g, used.id);
  t.match({ status: consumed.statusCode, body: consumed.json() }, { status: 409, body: { error: 'conflict', message: `approval ${used.id} is already consumed` } });
  t.equal(g.store.read().approvals[used.id]?.status, 'consumed');
  const ap = await approve(g);
  t.equal((await revoke(g, ap.id)).statusCode, 200);
  const twice = await revoke(g, ap.id, 'approver2');
  t.match({ status: twice.statusCode, body: twice.json() }, { status: 409, body: { message: `approval ${ap.id} is already revoked` } });
  t.equal(g.audit.records().filter((r) => r.type === 'approval.revoked').length, 1, 'one revocation recorded');
  t.equal(refusalsOf(g, 409).length, 2, 'both 409s are audited');
});

t.test('an expired approval is a 409; the expiry it noticed first is recorded once', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  const ap = await approve(g);
  g.clock.set('2026-11-26T22:00:00Z'); // 24 h later: the expiry instant
  const answers = await Promise.all([revoke(g, ap.id), revoke(g, ap.id, 'approver2')]);
  t.same(answers.map((a) => a.statusCode), [409, 409]);
  t.match(answers[0]!.json().message, `approval ${ap.id} has already expired (at ${ap.expiresAt})`);
  t.same(g.audit.records().filter((r) => r.type === 'approval.expired').map((r) => [r.id, r.actor.name]), [[ap.id, 'gate']], 'one expiry record, by the gate');
  t.equal(g.store.read().approvals[ap.id]?.status, 'expired');
  const later = await revoke(g, ap.id);
  t.match({ status: later.statusCode, body: later.json() }, { status: 409, body: { message: `approval ${ap.id} is already expired` } });
  t.notOk(g.audit.records().some((r) => r.type === 'approval.revoked'));
});

t.test('an approval a decision is consuming (its audit append in flight) is a 409; the decision keeps it', async (t) => {
  const { g, hold } = await buildHoldableApp(t);
  await passTests(g);
  const ap = await approve(g);
  const { release, started } = hold();
  const deciding = askLive(g, 'live.1');
  await started();
  const res = await revoke(g, ap.id);
  t.match({ status: res.statusCode, body: res.json() }, { status: 409, body: { error: 'conflict', message: `approval ${ap.id} is being used or closed by another request right now` } });
  release();
  const decided = (await deciding).json();
  t.equal(decided.decision, 'allow');
  t.equal(decided.approval.id, ap.id);
  t.equal(g.store.read().approvals[ap.id]?.status, 'consumed');
  t.notOk(g.audit.records().some((r) => r.type === 'approval.revoked'));
});

t.test('a decision while a revoke is in flight does not use the approval being revoked', async (t) => {
  const { g, hold } = await buildHoldableApp(t);
  await passTests(g);
  const ap = await approve(g);
  const { release, started } = hold();
  const revoking = revoke(g, ap.id);
  await started();
  const decided = (await askLive(g, 'live.1')).json();
  t.equal(decided.decision, 'wait', 'the approval is held by the revoke');
  t.equal(decided.reasons.at(-1).code, 'awaiting_approval');
  release();
  const res = await revoking;
  t.equal(res.statusCode, 200);
  t.equal(res.json().status, 'revoked');
  t.notOk(g.audit.records().some((r) => r.type === 'approval.consumed'));
  t.equal((await askLive(g, 'live.1')).json().decision, 'wait', 'and it stays unusable');
});

t.test('a restart keeps the approval revoked: the state rebuilt from the audit log has it revoked, and live still waits', async (t) => {
  const g = await buildTestApp(t, { now: CLOSED });
  await passTests(g);
  const ap = await approve(g);
  const kept = await approve(g, 'approver2');
  t.equal((await revoke(g, ap.id)).statusCode, 200);
  t.equal((await revoke(g, kept.id)).statusCode, 200);
  await g.app.close();

  const rebuilt = createMemoryStore(emptyState(g.config.stages));
  t.ok((await replayAuditTail(g.audit, rebuilt)) > 0, 'the whole log replayed');
  t.same(
    [rebuilt.read().approvals[ap.id]?.status, rebuilt.read().approvals[kept.id]?.status],
    ['revoked', 'revoked'],
    'revoked in the rebuilt state',
  );
  const again = await buildTestApp(t, { now: '2026-11-25T22:05:00Z', deps: { audit: g.audit, store: rebuilt } });
  t.same((await again.as('caller', { url: '/v1/approvals' })).json().approvals, [], 'not pending after the restart');
  const live = (await again.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'live', promotion: 'live.1' }) })).json();
  t.equal(live.decision, 'wait');
  t.equal(live.reasons.at(-1).code, 'awaiting_approval');
  t.equal((await again.as('approver', { method: 'DELETE', url: `/v1/approvals/${ap.id}` })).statusCode, 409, 'revoking it again is a conflict');
});

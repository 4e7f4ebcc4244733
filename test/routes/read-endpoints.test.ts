import t from 'tap';
import { AUDIT_TYPES } from '../../src/audit/event.ts';
import { buildTestApp, decisionBody } from '../helpers/build-app.ts';

t.test('GET /v1/market: the issue examples', async (t) => {
  const g = await buildTestApp(t);
  const open = (await g.app.inject({ url: '/v1/market?at=2026-11-27T17:59:59Z' })).json();
  t.equal(open.open, true);
  t.equal(open.session.close, '2026-11-27T18:00:00Z');
  t.equal(open.session.earlyClose, true);
  const closed = (await g.app.inject({ url: '/v1/market?at=2026-11-27T18:00:00Z' })).json();
  t.equal(closed.open, false);
  t.equal(closed.reason, 'early_close');
  t.equal(closed.nextOpen, '2026-11-30T14:30:00Z');
  const offset = (await g.app.inject({ url: '/v1/market?at=2026-11-27T12:59:59-05:00' })).json();
  t.equal(offset.open, true, 'offsets are honoured');
  t.equal(offset.at, '2026-11-27T17:59:59Z');
  const now = (await g.app.inject({ url: '/v1/market' })).json();
  t.equal(now.at, '2026-11-25T15:00:00Z', 'defaults to the gate clock');
});

t.test('GET /status and /v1/status: stages, policy, market, never secrets', async (t) => {
  const g = await buildTestApp(t, { configYaml: 'stages:\n  beta: { requireIntegrationTests: false }\n' });
  await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'beta', promotion: 'b1', imageTag: 'cafe01' }) });
  await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'paper', promotion: 'p1' }) });
  for (const url of ['/status', '/v1/status']) {
    const res = await g.app.inject({ url });
    t.equal(res.statusCode, 200, url);
    const s = res.json();
    t.same(s.stages.map((x: { name: string }) => x.name), ['ci', 'integration', 'beta', 'paper', 'live']);
    const beta = s.stages[2];
    t.equal(beta.deployed.imageTag, 'cafe01', 'local mode: the tag of the last allowed decision');
    t.equal(beta.deployed.source, 'gate');
    t.equal(beta.lastDecision.decision, 'allow');
    const paper = s.stages[3];
    t.equal(paper.blockedByMarket, true);
    t.equal(paper.lastDecision.decision, 'wait');
    t.equal(s.waiting.length, 1);
    t.equal(s.waiting[0].promotion, 'p1');
    t.equal(s.market.open, true);
    t.equal(s.audit.seq, 2);
    t.notMatch(res.body, /tokenHash|sha256|gate_/);
  }
});

t.test('/v1/status: a stage is blocked by the market from its quietBeforeOpenMinutes before the open', async (t) => {
  const yaml = 'stages:\n  paper: { quietBeforeOpenMinutes: 30 }\n';
  const blocked = async (now: string) => {
    const g = await buildTestApp(t, { configYaml: yaml, now });
    const s = (await g.app.inject({ url: '/v1/status' })).json();
    return { paper: s.stages[3], live: s.stages[4], open: s.market.open };
  };
  const early = await blocked('2026-11-25T13:59:59Z'); // 08:59:59 ET
  t.same([early.open, early.paper.blockedByMarket, early.live.blockedByMarket], [false, false, false], '08:59:59: nothing held');
  t.equal(early.paper.policy.quietBeforeOpenMinutes, 30, 'the policy shows the window');
  t.equal(early.live.policy.quietBeforeOpenMinutes, 0, 'and live its default');
  const window = await blocked('2026-11-25T14:00:00Z'); // 09:00 ET
  t.same([window.open, window.paper.blockedByMarket, window.live.blockedByMarket], [false, true, false], '09:00: paper held before the open, live (no window) not yet');
});

t.test('/healthz, /readyz, /metrics, /openapi.json', async (t) => {
  const g = await buildTestApp(t);
  t.equal((await g.app.inject({ url: '/healthz' })).statusCode, 200);
  t.equal((await g.app.inject({ url: '/readyz' })).json().status, 'ok');
  await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'paper' }) });
  const metrics = await g.app.inject({ url: '/metrics' });
  t.equal(metrics.statusCode, 200);
  t.match(metrics.headers['content-type'], /text\/plain/);
  t.match(metrics.body, /gate_decisions_total\{stage="paper",decision="wait"\} 1/);
  t.match(metrics.body, /gate_market_open 1/);
  t.match(metrics.body, /gate_audit_append_seconds_count 1/);
  t.match(metrics.body, /gate_audit_failures_total 0/);
  const doc = (await g.app.inject({ url: '/openapi.json' })).json();
  t.equal(doc.openapi, '3.1.0');
  const post = doc.paths['/v1/decisions'].post;
  const schema = post.requestBody.content['application/json'].schema;
  t.same(schema.required.sort(), ['imageTag', 'project', 'stage']);
  t.equal(schema.additionalProperties, false, 'unknown fields are rejected in the document too');
  t.equal(schema.properties.imageTag.pattern, '^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$');
  t.ok(post.responses['200'], 'response schema documented');
  t.ok(doc.paths['/v1/market'].get);
  // issuing a grant or an approval has one conflict to answer (too many open), a revoke others
  // (already closed, or in use)
  t.ok(doc.paths['/v1/break-glass'].post.responses['409'], 'POST /v1/break-glass lists its 409 (too many open)');
  t.ok(doc.paths['/v1/approvals'].post.responses['409'], 'POST /v1/approvals lists its 409 (too many open)');
  t.ok(doc.paths['/v1/break-glass/{id}'].delete.responses['409'], 'DELETE /v1/break-glass/{id} lists its 409');
  t.ok(doc.paths['/v1/approvals/{id}'].delete.responses['409'], 'DELETE /v1/approvals/{id} lists its 409');
});

t.test('/openapi.json: an operation needs the bearer token exactly when its route answers 401 without one', async (t) => {
  const g = await buildTestApp(t);
  const doc = (await g.app.inject({ url: '/openapi.json' })).json();
  const sample: Record<string, string> = { stage: 'beta', imageTag: 'abc123', id: 'bg_1' };
  let guarded = 0;
  for (const [path, ops] of Object.entries<Record<string, { security?: unknown }>>(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const url = path.replace(/\{(\w+)\}/g, (_m, name: string) => sample[name] ?? 'x');
      const hasBody = method === 'post' || method === 'put';
      const res = await g.app.inject({ method: method.toUpperCase() as 'GET', url, ...(hasBody ? { payload: {} } : {}) });
      const needsToken = res.statusCode === 401;
      if (needsToken) guarded += 1;
      t.same(op.security ?? [], needsToken ? [{ bearer: [] }] : [], `${method.toUpperCase()} ${path}: ${res.statusCode} without a token`);
    }
  }
  t.ok(guarded >= 10, `the authenticated operations were found (${guarded})`);
});

t.test('/openapi.json lists the errors every operation can answer, and the operations answer them', async (t) => {
  const g = await buildTestApp(t);
  const doc = (await g.app.inject({ url: '/openapi.json' })).json();
  const sample: Record<string, string> = { stage: 'beta', imageTag: 'abc123', id: 'bg_1' };
  let withBody = 0;
  for (const [path, ops] of Object.entries<Record<string, { responses: Record<string, unknown>; requestBody?: unknown }>>(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const what = `${method.toUpperCase()} ${path}`;
      for (const status of ['400', '408', '431', '503']) t.ok(op.responses[status], `${what}: ${status} documented`);
      const url = path.replace(/\{(\w+)\}/g, (_m, name: string) => sample[name] ?? 'x');
      // a token in the query string: 400 on every route, public ones included
      const inUrl = await g.as('admin', { method: method.toUpperCase() as 'GET', url: `${url}?access_token=x` });
      t.equal(inUrl.statusCode, 400, `${what}: a credential in the URL is a 400`);
      if (op.requestBody) {
        withBody += 1;
        t.ok(op.responses['413'] && op.responses['415'], `${what}: 413 and 415 documented`);
        const text = await g.as('admin', { method: method.toUpperCase() as 'POST', url, headers: { 'content-type': 'text/plain' }, payload: 'hello' });
        t.equal(text.statusCode, 415, `${what}: text/plain is a 415`);
        // 64 KiB, or 1 MiB for a test-results file
        const limit = path.startsWith('/v1/test-results/') ? 1024 * 1024 : 64 * 1024;
        const big = await g.as('admin', { method: method.toUpperCase() as 'POST', url, headers: { 'content-type': 'application/json' }, payload: `{"x":"${'a'.repeat(limit)}"}` });
        t.equal(big.statusCode, 413, `${what}: a body over its limit is a 413`);
      }
    }
  }
  t.ok(withBody >= 6, `the operations with a body were found (${withBody})`);
  t.ok(doc.paths['/v1/test-results/{imageTag}'].put.responses['409'], 'PUT /v1/test-results: 409 (too many results stored) documented');
  const readyz = doc.paths['/readyz'].get.responses['503'].content['application/json'].schema;
  t.ok(readyz.anyOf ?? readyz.oneOf, '/readyz 503: the health report or the gate\'s error');
});

t.test('/openapi.json lists the audit record types GET /v1/audit takes, and the route takes exactly those', async (t) => {
  const g = await buildTestApp(t);
  const doc = (await g.app.inject({ url: '/openapi.json' })).json();
  for (const path of ['/v1/audit', '/v1/audit/verify']) {
    const type = doc.paths[path].get.parameters.find((p: { name: string }) => p.name === 'type');
    t.same(type.schema.enum, [...AUDIT_TYPES, 'breakglass.', 'approval.', 'stage.', 'testresult.'], path);
    for (const value of type.schema.enum) t.equal((await g.as('auditor', { url: `${path}?type=${value}` })).statusCode, 200, `${path}?type=${value}`);
  }
  const bad = await g.as('auditor', { url: '/v1/audit?type=grant.' });
  t.equal(bad.statusCode, 400);
  t.match(bad.json(), { field: 'querystring.type', message: /^querystring\.type: must be one of decision, refusal, / });
});

t.test('GET /v1/audit: newest first, filters, paging, permission get auditrecords', async (t) => {
  const g = await buildTestApp(t, { configYaml: 'stages:\n  beta: { requireIntegrationTests: false }\n' });
  for (let i = 0; i < 5; i++) await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: i % 2 ? 'paper' : 'beta' }) });
  t.equal((await g.app.inject({ url: '/v1/audit' })).statusCode, 401);
  const page1 = (await g.as('approver', { url: '/v1/audit?limit=2' })).json();
  t.same(page1.records.map((r: { seq: number }) => r.seq), [6, 5], 'the 401 above is record 6, newest first');
  const page2 = (await g.as('approver', { url: `/v1/audit?limit=2&cursor=${page1.nextCursor}` })).json();
  t.same(page2.records.map((r: { seq: number }) => r.seq), [4, 3]);
  t.equal(page1.partial, false, 'a page filled within the scan budget is not partial');
  const paper = (await g.as('approver', { url: '/v1/audit?stage=paper&type=decision' })).json();
  t.same(paper.records.map((r: { seq: number }) => r.seq), [4, 2]);
  const refusals = (await g.as('approver', { url: '/v1/audit?type=refusal' })).json();
  t.equal(refusals.records.length, 1);
  t.equal(page1.head.seq, 6);
});

t.test('GET /v1/audit?stage= can name the stage of every refusal record', async (t) => {
  const g = await buildTestApp(t);
  const params = ['x'.repeat(64), 'y'.repeat(70), `${'a'.repeat(63)}\u{1F600}`, '\u{1F600}'.repeat(40), 'b c+d/é', ''];
  for (const p of params) {
    const res = await g.as(null, { method: 'PUT', url: `/v1/stages/${encodeURIComponent(p)}`, payload: { enabled: true, note: 'probe' } });
    t.equal(res.statusCode, 401, `PUT /v1/stages/${p.slice(0, 10)}…: refused`);
  }
  const recorded = g.audit.records().filter((r) => r.type === 'refusal');
  t.equal(recorded.length, params.length);
  t.equal(recorded[params.length - 1]!.stage, null, 'an empty path segment names no stage');
  for (const r of recorded) {
    if (r.stage === null) continue;
    t.ok(r.stage.length <= 64 && r.stage.isWellFormed(), `${r.stage.slice(0, 10)}…: at most 64 characters, no half of a character`);
    for (const path of ['/v1/audit', '/v1/audit/verify']) {
      const res = await g.as('auditor', { url: `${path}?type=refusal&stage=${encodeURIComponent(r.stage)}` });
      t.equal(res.statusCode, 200, `${path}?stage=${r.stage.slice(0, 10)}… (${r.stage.length}): taken (${res.body.slice(0, 120)})`);
      if (path === '/v1/audit') t.same(res.json().records?.map((x: { seq: number }) => x.seq), [r.seq], 'finds that record');
    }
  }
  const tooLong = await g.as('auditor', { url: `/v1/audit?stage=${'x'.repeat(65)}` });
  t.equal(tooLong.statusCode, 400, 'a stage no record can hold is still refused');
});

t.test('/metrics: a caller cannot grow the decision series with made-up stage names', async (t) => {
  const g = await buildTestApp(t);
  for (let i = 0; i < 30; i++) {
    const res = await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: `made-up-${i}` }) });
    t.equal(res.json().decision, 'deny');
  }
  const body = (await g.app.inject({ url: '/metrics' })).body;
  t.notMatch(body, /made-up/, 'no series per client-chosen stage');
  t.match(body, /gate_decisions_total\{stage="unknown",decision="deny"\} 30/, 'counted under one label');
});

t.test('a decision for an unknown project does not touch what /v1/status shows', async (t) => {
  const g = await buildTestApp(t, { configYaml: 'stages:\n  beta: { requireIntegrationTests: false }\n' });
  await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'beta', promotion: 'b1', imageTag: 'cafe01' }) });
  const denied = await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ project: 'someone-else', stage: 'beta', promotion: 'x1', imageTag: 'bad001' }) });
  t.equal(denied.json().decision, 'deny');
  const beta = (await g.app.inject({ url: '/v1/status' })).json().stages[2];
  t.equal(beta.lastDecision.imageTag, 'cafe01');
  t.equal(beta.deployed.imageTag, 'cafe01');
});

t.test('a gate on GATE_NOW says so in /v1/status and /metrics; one on the system clock says that', async (t) => {
  const real = await buildTestApp(t);
  t.same((await real.app.inject({ url: '/v1/status' })).json().clock, { source: 'system', startedAt: null });
  t.match((await real.app.inject({ url: '/metrics' })).body, /^gate_clock_simulated 0$/m);
  const demo = await buildTestApp(t, { env: { GATE_NOW: '2026-11-27T16:00:00Z' } });
  t.same((await demo.app.inject({ url: '/v1/status' })).json().clock, { source: 'GATE_NOW', startedAt: '2026-11-27T16:00:00Z' });
  t.match((await demo.app.inject({ url: '/metrics' })).body, /^gate_clock_simulated 1$/m);
});

t.test('/v1/status says where the deployed tags come from, and when the Kargo Stage list could not be read', async (t) => {
  const local = await buildTestApp(t);
  t.same((await local.app.inject({ url: '/v1/status' })).json().kargo, { source: 'local', lastReadAt: null, lastError: null, stale: false }, 'local mode: no reader');

  let health: { lastError: string | null; lastSuccess: string | null } = { lastError: null, lastSuccess: '2026-11-25T14:59:50.000Z' };
  const g = await buildTestApp(t, {
    deps: { deployedTags: () => ({ beta: { imageTag: 'cafe01', at: '2026-11-25T14:00:00Z' } }), kargoHealth: () => health },
  });
  const status = async () => (await g.app.inject({ url: '/v1/status' })).json();
  t.same((await status()).kargo, { source: 'kubernetes', lastReadAt: '2026-11-25T14:59:50.000Z', lastError: null, stale: false }, 'read');
  // RBAC removed: the list fails, the tags of the last read stay
  health = { lastError: 'list Kargo Stages: HTTP 403', lastSuccess: '2026-11-25T14:59:50.000Z' };
  const failing = await status();
  t.same(failing.kargo, { source: 'kubernetes', lastReadAt: '2026-11-25T14:59:50.000Z', lastError: 'list Kargo Stages: HTTP 403', stale: true }, 'stale, with the error');
  t.match(failing.stages[2].deployed, { imageTag: 'cafe01', source: 'kargo' }, 'the last known tag is still shown');
  // never read (the first list failed at start-up)
  health = { lastError: 'list Kargo Stages: no answer from the Kubernetes API within 2000 ms', lastSuccess: null };
  t.match((await status()).kargo, { lastReadAt: null, stale: true });

  const doc = (await g.app.inject({ url: '/openapi.json' })).json();
  const schema = doc.paths['/v1/status'].get.responses['200'].content['application/json'].schema;
  t.same(Object.keys(schema.properties.kargo.properties).sort(), ['lastError', 'lastReadAt', 'source', 'stale'], '/openapi.json documents it');
  t.ok(schema.required.includes('kargo'));
});

t.test('/metrics: gate_data_volume_free_bytes reads the data volume when scraped; NaN when it fails or does not answer within a second', async (t) => {
  let free: () => Promise<number> = async () => 5 * 2 ** 30;
  const g = await buildTestApp(t, { deps: { freeBytes: () => free() } });
  const scrape = async () => /^gate_data_volume_free_bytes (\S+)$/m.exec((await g.app.inject({ url: '/metrics' })).body)?.[1];
  t.equal(await scrape(), String(5 * 2 ** 30));
  free = async () => 100 * 2 ** 20;
  t.equal(await scrape(), String(100 * 2 ** 20), 'read again at each scrape');
  free = async () => {
    throw Object.assign(new Error('EIO'), { code: 'EIO' });
  };
  t.equal(await scrape(), 'Nan', 'an error: NaN, and the rest of the scrape answered');
  let reads = 0;
  let answer: (n: number) => void = () => undefined;
  free = () => {
    reads += 1;
    return new Promise((resolve) => (answer = resolve));
  };
  const t0 = performance.now();
  t.equal(await scrape(), 'Nan', 'a volume that does not answer: NaN');
  t.ok(performance.now() - t0 < 3000, 'after about a second, not never');
  t.equal(await scrape(), 'Nan', 'and at the next scrape');
  t.equal(reads, 1, 'which waits on the same read: one at a time, never one more thread of the pool a scrape');
  answer(6 * 2 ** 30);
  free = async () => {
    reads += 1;
    return 7 * 2 ** 30;
  };
  await new Promise((r) => setImmediate(r));
  t.equal(await scrape(), String(7 * 2 ** 30), 'once it has answered, the next scrape reads again');
  t.equal(reads, 2);
});

// A stage switched off passes promotions through (allow, skip: true) and Kargo skips their steps,
// yet counts the freight as the stage's current one: /v1/status must not show that tag as deployed
// there without saying so.
t.test('/v1/status: a tag Kargo shows as current that the gate only passed through is flagged passedThrough', async (t) => {
  const kargo: Record<string, { imageTag: string; at: string | null }> = {};
  const g = await buildTestApp(t, { now: '2026-11-25T22:00:00Z', configYaml: 'stages: { beta: { requireIntegrationTests: false } }\n', deps: { deployedTags: () => kargo } });
  const decide = (imageTag: string, promotion: string) => g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ stage: 'beta', imageTag, promotion }) });
  t.equal((await decide('aaaa01', 'p-1')).json().decision, 'allow');
  kargo['beta'] = { imageTag: 'aaaa01', at: '2026-11-25T22:00:01Z' };
  const beta = async () => (await g.app.inject({ url: '/v1/status' })).json().stages[2].deployed;
  t.same(await beta(), { imageTag: 'aaaa01', source: 'kargo', at: '2026-11-25T22:00:01Z', passedThrough: false }, 'deployed by a real allow');
  t.equal((await g.as('admin', { method: 'PUT', url: '/v1/stages/beta', payload: { enabled: false, note: 'maintenance' } })).statusCode, 200);
  t.equal((await decide('bbbb02', 'p-2')).json().skip, true);
  kargo['beta'] = { imageTag: 'bbbb02', at: '2026-11-25T22:00:05Z' };
  t.match(await beta(), { imageTag: 'bbbb02', source: 'kargo', passedThrough: true }, 'only passed through while the stage was off');
  t.equal((await g.as('admin', { method: 'PUT', url: '/v1/stages/beta', payload: { enabled: true, note: 'back' } })).statusCode, 200);
  t.match(await beta(), { imageTag: 'bbbb02', passedThrough: true }, 'still so once the stage is back on');
  t.equal((await decide('bbbb02', 'p-3')).json().skip, false);
  t.match(await beta(), { imageTag: 'bbbb02', passedThrough: false }, 'a later real promotion of it deploys it');
  kargo['beta'] = { imageTag: 'cccc03', at: null };
  t.match(await beta(), { imageTag: 'cccc03', passedThrough: false }, 'a tag the gate remembers nothing of: not flagged');
});

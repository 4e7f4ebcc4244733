// The pure half of the contract: the gate step and the verification metrics, rendered from the
// YAML in kargo/ the way Kargo and Argo Rollouts would, evaluated (with the same expr engine)
// against recorded responses shaped exactly like the gate's contract. The live half, against
// the running gate, is contract.test.ts.
import t from 'tap';
import { at, docsOfKind, loadKargoDocs } from './lib/kargo-docs.ts';
import type { KargoDoc } from './lib/kargo-docs.ts';
import { evalAll, exprcheckOrSkip } from './lib/exprcheck.ts';
import { httpOutcome, laterStepConditions, renderGateRequest, renderStepConfig, sampleEnv, stepsOf } from './lib/gate-step.ts';
import type { HttpOutcome, RecordedResponse, SamplePromotion } from './lib/gate-step.ts';
import { stepConfigValidators, validateStepConfig } from './lib/step-schemas.ts';
import { analysisArgs, measure, resolveArgs } from './lib/verification.ts';
import type { TemplateMetric } from './lib/verification.ts';
import { assessMetric } from './lib/rollouts-metric.ts';
import type { MeasurementPhase } from './lib/rollouts-metric.ts';

const docs = loadKargoDocs();
const stage = (name: string): KargoDoc => docsOfKind(docs, 'Stage').find((d) => at(d.doc, 'metadata', 'name') === name)!;
const template = (name: string): KargoDoc => docsOfKind(docs, 'AnalysisTemplate').find((d) => at(d.doc, 'metadata', 'name') === name)!;
const TAG = '3f9a1c0d5e7b2a4c6d8e0f1a3b5c7d9e1f2a4b6c';
const TOKEN = 'gate_sampleCallerToken_0123456789abcdefABCDEF';
const json = (status: number, body: unknown): RecordedResponse => ({ status, headers: { 'content-type': ['application/json; charset=utf-8'] }, body: JSON.stringify(body) });

/** A 200 decision exactly as the gate's contract describes it. */
function decision(stageName: string, d: 'allow' | 'wait' | 'deny', opts: { skip?: boolean; message?: string; reasons?: { code: string; message: string }[] } = {}): RecordedResponse {
  return json(200, {
    id: 'dec_01m8cs9k774ye71ndv33q6b1e6',
    decision: d,
    allowed: d === 'allow',
    skip: opts.skip ?? false,
    reasons: opts.reasons ?? [],
    message: opts.message ?? (d === 'allow' ? 'allowed' : ''),
    stage: stageName,
    imageTag: TAG,
    market: { open: false },
    audit: { seq: 7, hash: 'ab'.repeat(32) },
    at: '2026-11-25T15:00:03.285Z',
  });
}

const sample = (name: string, extra: Partial<SamplePromotion> = {}): SamplePromotion => ({
  stage: stage(name),
  gateURL: 'http://gate-service.stonks-gate.svc.cluster.local:8080',
  token: TOKEN,
  tag: TAG,
  ...extra,
});

t.test('the gate request rendered from each stage', async (t) => {
  const bin = exprcheckOrSkip(t);
  if (!bin) return;
  const validators = stepConfigValidators();
  for (const name of ['beta', 'paper', 'live']) {
    const p = sample(name, { actor: 'alice@example.com' });
    const req = renderGateRequest(bin, p);
    const ctx = sampleEnv(p).env.ctx;
    t.same(validateStepConfig(validators, 'http', req.config), [], `${name}: rendered config passes the http step schema (fixtures/step-config-schemas)`);
    t.equal(req.method, 'POST');
    t.equal(req.url, 'http://gate-service.stonks-gate.svc.cluster.local:8080/v1/decisions', `${name}: url`);
    t.same(req.headers, [['Authorization', `Bearer ${TOKEN}`], ['Content-Type', 'application/json']], `${name}: headers`);
    t.same(JSON.parse(req.body), {
      project: 'stonks-pipeline',
      stage: name,
      promotion: ctx.promotion,
      freight: ctx.targetFreight.name,
      actor: 'alice@example.com',
      rollback: false,
      imageTag: TAG,
    }, `${name}: body carries exactly the contract's fields`);
  }
  const edge: { name: string; extra: Partial<SamplePromotion>; check: (b: Record<string, unknown>) => unknown }[] = [
    { name: 'a tag that looks like a float stays a string', extra: { tag: '0000000000000000000000000000000000001e10' }, check: (b) => b.imageTag === '0000000000000000000000000000000000001e10' },
    { name: 'an all-digit tag stays a string', extra: { tag: '1234567890123456789012345678901234567890' }, check: (b) => b.imageTag === '1234567890123456789012345678901234567890' },
    { name: 'rollback is a JSON boolean', extra: { rollback: true }, check: (b) => b.rollback === true },
    { name: 'an auto-promotion with no actor sends ""', extra: { actor: '' }, check: (b) => b.actor === '' },
    { name: 'quotes and unicode in the actor stay valid JSON', extra: { actor: 'O"Brien \\ Zoë' }, check: (b) => b.actor === 'O"Brien \\ Zoë' },
  ];
  for (const e of edge) {
    const req = renderGateRequest(bin, sample('paper', e.extra));
    t.ok(e.check(JSON.parse(req.body) as Record<string, unknown>), `${e.name}: ${req.body.trim()}`);
  }
  // Why the quote() matters wherever the tag stands alone (yaml-update): unquoted, Kargo's
  // template engine turns a float-looking tag into a number.
  const floaty = sample('beta', { tag: '0000000000000000000000000000000000001e10' });
  const { env, data } = sampleEnv(floaty);
  const [bare, quoted] = evalAll(bin, [
    { op: 'render', value: '${{ imageFrom(vars.markerImage).Tag }}', env, data },
    { op: 'render', value: '${{ quote(imageFrom(vars.markerImage).Tag) }}', env, data },
  ]) as { value: unknown }[];
  t.equal(bare!.value, 1e10, 'unquoted, the tag would be written as the number 1e10');
  t.equal(quoted!.value, '0000000000000000000000000000000000001e10', 'quoted, it stays the tag');
  const update = renderStepConfig(bin, floaty, 'update', { gate: { decisionId: 'dec_x', skip: false } });
  t.same(update, { path: './repo/infra/helm/stonks-oracle/values-beta.yaml', updates: [{ key: 'global.image.tag', value: '0000000000000000000000000000000000001e10' }] }, 'yaml-update writes the tag as a string');
  t.same(validateStepConfig(validators, 'yaml-update', update), []);
});

t.test('recorded gate answers -> Kargo step outcome', async (t) => {
  const bin = exprcheckOrSkip(t);
  if (!bin) return;
  const marketOpenPaper = 'NYSE regular session is open; closes 16:00 ET (in 5h 59m). The promotion waits for the close. Request break-glass to override.';
  const marketOpenLive = 'NYSE regular session is open; live promotions are refused during market hours (closes 16:00 ET, in 5h 59m). Promote again after the close, or request break-glass to override.';
  const testsFailed = 'Integration tests failed for 3f9a1c0d: 3 of 120 failed (exit code 1).';
  const cases: { name: string; stage: string; response: RecordedResponse; expect: Partial<HttpOutcome> & { later?: boolean } }[] = [
    { name: 'allow', stage: 'beta', response: decision('beta', 'allow'), expect: { status: 'Succeeded', outputs: { decisionId: 'dec_01m8cs9k774ye71ndv33q6b1e6', skip: false }, later: true } },
    { name: 'market open at paper: wait', stage: 'paper', response: decision('paper', 'wait', { message: marketOpenPaper }), expect: { status: 'Running' } },
    { name: 'market open at live: deny', stage: 'live', response: decision('live', 'deny', { message: marketOpenLive }), expect: { status: 'Failed', terminal: true, message: `HTTP (200) response met failure criteria: ${JSON.stringify(marketOpenLive)}`, later: false } },
    { name: 'market closed: allow', stage: 'paper', response: decision('paper', 'allow'), expect: { status: 'Succeeded', later: true } },
    { name: 'stage disabled: allow + skip', stage: 'paper', response: decision('paper', 'allow', { skip: true, reasons: [{ code: 'stage_disabled', message: 'paper is disabled' }] }), expect: { status: 'Succeeded', outputs: { decisionId: 'dec_01m8cs9k774ye71ndv33q6b1e6', skip: true }, later: false } },
    { name: 'tests failed: deny', stage: 'beta', response: decision('beta', 'deny', { message: testsFailed }), expect: { status: 'Failed', terminal: true, message: `HTTP (200) response met failure criteria: ${JSON.stringify(testsFailed)}`, later: false } },
    { name: 'tests pending: wait', stage: 'beta', response: decision('beta', 'wait', { message: 'No integration-test result yet.' }), expect: { status: 'Running' } },
    { name: 'audit log down: 503 keeps polling', stage: 'live', response: json(503, { error: 'audit_unavailable', message: 'the audit log cannot be written' }), expect: { status: 'Running' } },
    { name: 'bad token: 401 fails loudly', stage: 'live', response: json(401, { error: 'unauthorized', message: 'the bearer token is not valid' }), expect: { status: 'Failed', message: 'HTTP (401) response met failure criteria: "the bearer token is not valid"' } },
    { name: 'no permission: 403 fails loudly', stage: 'paper', response: json(403, { error: 'forbidden', message: 'system:serviceaccount:stonks-pipeline:gate-caller may not create decisions' }), expect: { status: 'Failed', terminal: true } },
    { name: 'malformed body: 400 fails loudly', stage: 'beta', response: json(400, { error: 'invalid_request', message: 'body.bogus: unknown field bogus' }), expect: { status: 'Failed', message: 'HTTP (400) response met failure criteria: "body.bogus: unknown field bogus"' } },
    { name: 'wrong URL: 404 fails loudly', stage: 'beta', response: json(404, { error: 'not_found', message: 'no route POST /v1/decision' }), expect: { status: 'Failed' } },
    { name: 'Content-Type header lost: 415 fails loudly', stage: 'live', response: json(415, { error: 'unsupported_media_type', message: 'send the body as application/json', field: 'headers.content-type' }), expect: { status: 'Failed', terminal: true, message: 'HTTP (415) response met failure criteria: "send the body as application/json"', later: false } },
    { name: 'body over the limit: 413 fails loudly', stage: 'paper', response: json(413, { error: 'payload_too_large', message: 'request body exceeds the limit for this endpoint', field: 'body' }), expect: { status: 'Failed', terminal: true } },
    // a request that came too slowly or too often is not a misconfiguration: the next poll may pass
    { name: 'request timeout: 408 keeps polling', stage: 'beta', response: json(408, { error: 'request_timeout', message: 'body: the request body did not arrive whole within 30 s', field: 'body' }), expect: { status: 'Running' } },
    { name: 'rate limited: 429 keeps polling', stage: 'paper', response: json(429, { error: 'rate_limited', message: 'retry in 5 s' }), expect: { status: 'Running' } },
    { name: 'proxy error page (502, HTML) keeps polling', stage: 'beta', response: { status: 502, headers: { 'content-type': ['text/html'] }, body: '<html>Bad Gateway</html>' }, expect: { status: 'Running' } },
    { name: 'unknown decision value keeps polling', stage: 'beta', response: json(200, { decision: 'maybe' }), expect: { status: 'Running' } },
    { name: 'a 404 without a JSON body still names the status', stage: 'beta', response: { status: 404, headers: {}, body: '' }, expect: { status: 'Failed', message: 'HTTP (404) response met failure criteria: "gate answered HTTP 404"' } },
    // Answers that are not the gate's JSON (a proxy or ingress in front of it): response.body is
    // a string or a list, not a map; the step must still end Failed with a readable message.
    ...['beta', 'paper', 'live'].map((name) => ({
      name: `${name}: a proxy's text/plain 404 fails with its text`,
      stage: name,
      response: { status: 404, headers: { 'content-type': ['text/plain; charset=utf-8'] }, body: '404 page not found\n' },
      expect: { status: 'Failed' as const, terminal: true, message: 'HTTP (404) response met failure criteria: "gate answered HTTP 404: 404 page not found"', later: false },
    })),
    { name: 'a text/plain 401 from an auth proxy', stage: 'live', response: { status: 401, headers: { 'content-type': ['text/plain'] }, body: 'Unauthorized' }, expect: { status: 'Failed', terminal: true, message: 'HTTP (401) response met failure criteria: "gate answered HTTP 401: Unauthorized"' } },
    { name: 'a blank text/plain 403', stage: 'paper', response: { status: 403, headers: { 'content-type': ['text/plain'] }, body: ' \n' }, expect: { status: 'Failed', terminal: true, message: 'HTTP (403) response met failure criteria: "gate answered HTTP 403"' } },
    { name: 'a long text body is cut at 200 characters', stage: 'beta', response: { status: 400, headers: { 'content-type': ['text/plain'] }, body: `${'x'.repeat(200)}TAIL` }, expect: { status: 'Failed', terminal: true, message: `HTTP (400) response met failure criteria: "gate answered HTTP 400: ${'x'.repeat(200)}"` } },
    // 200 characters, not bytes: expr slices a string by byte, which cut 'é' (2 bytes) in half
    { name: 'a multibyte text body under 200 characters (301 bytes) is whole', stage: 'paper', response: { status: 404, headers: { 'content-type': ['text/plain'] }, body: `a${'é'.repeat(150)}` }, expect: { status: 'Failed', terminal: true, message: `HTTP (404) response met failure criteria: "gate answered HTTP 404: a${'é'.repeat(150)}"` } },
    { name: 'a long multibyte text body is cut at 200 characters, never inside one', stage: 'live', response: { status: 401, headers: { 'content-type': ['text/plain'] }, body: `${'é'.repeat(199)}🚫🚫 rest` }, expect: { status: 'Failed', terminal: true, message: `HTTP (401) response met failure criteria: "gate answered HTTP 401: ${'é'.repeat(199)}🚫"` } },
    { name: 'a JSON list body', stage: 'beta', response: json(400, [{ message: 'not the gate' }]), expect: { status: 'Failed', terminal: true, message: 'HTTP (400) response met failure criteria: "gate answered HTTP 400"' } },
    { name: 'a JSON message that is not a string', stage: 'paper', response: json(403, { message: 42 }), expect: { status: 'Failed', terminal: true, message: 'HTTP (403) response met failure criteria: "gate answered HTTP 403"' } },
    { name: 'an empty JSON message', stage: 'live', response: json(404, { error: 'not_found', message: '' }), expect: { status: 'Failed', terminal: true, message: 'HTTP (404) response met failure criteria: "gate answered HTTP 404"' } },
  ];
  for (const c of cases) {
    const p = sample(c.stage);
    const req = renderGateRequest(bin, p);
    const outcome = httpOutcome(bin, req.config, c.response);
    const { later, ...want } = c.expect;
    t.match(outcome, want, `${c.name}: ${outcome.status}${outcome.message ? ` (${outcome.message})` : ''}`);
    if (later !== undefined) {
      const conditions = laterStepConditions(bin, p, outcome);
      t.same(Object.values(conditions), [later, later, later, later, later], `${c.name}: later steps' if = ${later} (${JSON.stringify(conditions)})`);
    }
  }
  // Why the later steps say `success() && !outputs.gate.skip` and not just `!outputs.gate.skip`.
  const literal = '${{ !outputs.gate.skip }}';
  const ours = stepsOf(stage('beta'))[1]!.if!;
  const situations = [
    { name: 'after a deny (outputs.gate unset)', outputs: {}, statuses: [{ alias: 'gate', status: 'Failed' }], literal: /cannot fetch skip from <nil>/, ours: false },
    { name: 'after git-commit failed', outputs: { gate: { decisionId: 'd', skip: false } }, statuses: [{ alias: 'gate', status: 'Succeeded' }, { alias: 'commit', status: 'Failed' }], literal: true, ours: false },
  ];
  for (const s of situations) {
    const { env, data } = sampleEnv(sample('beta'), s.outputs);
    const [lit, our] = evalAll(bin, [literal, ours].map((value) => ({ op: 'render', value, env, data: { ...data, stepStatuses: s.statuses } }))) as { ok: boolean; value?: unknown; error?: string }[];
    if (s.literal instanceof RegExp) t.match(lit!.error, s.literal, `${s.name}: the bare condition is an evaluation error`);
    else t.equal(lit!.value, s.literal, `${s.name}: the bare condition would let the next step run`);
    t.same(our, { ok: true, value: s.ours }, `${s.name}: our condition skips the step`);
  }
  // The commit names the gate decision.
  const message = renderStepConfig(bin, sample('live'), 'commit', { gate: { decisionId: 'dec_01m8cs9k774ye71ndv33q6b1e6', skip: false } }).message;
  t.match(message, /^kargo\(live\): stonks-oracle 3f9a1c0d5e7b2a4c6d8e0f1a3b5c7d9e1f2a4b6c \[skip ci\]\n\nGate-Decision: dec_01m8cs9k774ye71ndv33q6b1e6\n/, 'commit message');
  const deploy = renderStepConfig(bin, sample('live'), 'deploy', { gate: { decisionId: 'd', skip: false }, push: { commit: 'c0ffee0000000000000000000000000000000000' } });
  t.same(deploy, { apps: [{ name: 'stonks-oracle-live', namespace: 'argocd', sources: [{ repoURL: 'https://github.com/celesrenata/stonks-oracle.git', desiredRevision: 'c0ffee0000000000000000000000000000000000', updateTargetRevision: true }] }] }, 'argocd-update pins the pushed commit');
});

t.test('verification: recorded test results and health answers -> Rollouts outcome', async (t) => {
  const bin = exprcheckOrSkip(t);
  if (!bin) return;
  const tplTests = template('integration-tests');
  const tests = (at(tplTests.doc, 'spec', 'metrics') as TemplateMetric[])[0]!;
  const health = (at(template('app-health').doc, 'spec', 'metrics') as TemplateMetric[])[0]!;

  const args = analysisArgs(bin, stage('beta'), tplTests, { tag: TAG, gateURL: 'http://gate-service.stonks-gate.svc.cluster.local:8080', secrets: { 'gate-caller': { token: TOKEN } } });
  t.same(args, { 'gate-url': 'http://gate-service.stonks-gate.svc.cluster.local:8080', 'image-tag': TAG, stage: 'beta' }, 'AnalysisRun args: rendered by Kargo, no token (the endpoint is public)');
  t.notOk(tests.provider.web.headers?.some((h) => /authorization/i.test(h.key)), 'no Authorization header is sent');
  t.equal(resolveArgs(tests.provider.web.url, args), `http://gate-service.stonks-gate.svc.cluster.local:8080/v1/test-results/${TAG}?stage=beta`, 'GET /v1/test-results/{tag}?stage=beta');

  const result = (found: boolean, passed: boolean | null) => json(200, { imageTag: TAG, found, passed, exitCode: passed === null ? null : passed ? 0 : 1, counts: found ? { total: 120, failed: passed ? 0 : 3 } : null, recordedAt: found ? '2026-11-25T14:00:00Z' : null });
  const measurementCases: { name: string; metric: TemplateMetric; response: RecordedResponse; phase: MeasurementPhase }[] = [
    { name: 'tests passed', metric: tests, response: result(true, true), phase: 'Successful' },
    { name: 'tests failed', metric: tests, response: result(true, false), phase: 'Failed' },
    { name: 'no result yet', metric: tests, response: result(false, null), phase: 'Inconclusive' },
    { name: 'found, outcome unknown', metric: tests, response: result(true, null), phase: 'Inconclusive' },
    { name: 'gate 503', metric: tests, response: json(503, { error: 'unavailable', message: 'x' }), phase: 'Error' },
    { name: 'health ok', metric: health, response: json(200, { status: 'ok' }), phase: 'Successful' },
    { name: 'health JSON without status', metric: health, response: json(200, { uptime: 12 }), phase: 'Successful' },
    { name: 'health down', metric: health, response: json(200, { status: 'down' }), phase: 'Failed' },
    { name: 'health 500', metric: health, response: json(500, { status: 'error' }), phase: 'Error' },
    { name: 'health non-JSON 200 (Rollouts <= 1.10: not evaluated)', metric: health, response: { status: 200, headers: {}, body: 'DOWN' }, phase: 'Successful' },
  ];
  const measured = measure(bin, tests, []);
  t.same(measured, [], 'no responses, no measurements');
  for (const c of measurementCases) {
    const [m] = measure(bin, c.metric, [c.response]);
    t.equal(m!.phase, c.phase, `${c.name}: ${m!.phase}${m!.message ? ` (${m!.message})` : ''}`);
  }

  // Metric level: enough measurements that a result still arriving is not a failure.
  const P = result(true, true);
  const F = result(true, false);
  const N = result(false, null);
  const E = json(503, { error: 'unavailable', message: 'x' });
  const sequences: { name: string; responses: RecordedResponse[]; phase: string; taken?: number }[] = [
    { name: 'passed from the start', responses: Array(10).fill(P), phase: 'Successful', taken: 10 },
    { name: 'result arrives after 4 polls (2 min)', responses: [N, N, N, N, ...Array(6).fill(P)], phase: 'Successful', taken: 10 },
    { name: 'result arrives at the 10th poll', responses: [...Array(9).fill(N), P], phase: 'Successful', taken: 10 },
    { name: 'never arrives', responses: Array(10).fill(N), phase: 'Inconclusive', taken: 10 },
    { name: 'fails after 2 pending polls', responses: [N, N, F], phase: 'Failed', taken: 3 },
    { name: 'gate restarts: 4 errors, then passed', responses: [E, E, E, E, ...Array(10).fill(P)], phase: 'Successful', taken: 14 },
    { name: 'gate down: 5 errors in a row', responses: Array(5).fill(E), phase: 'Error', taken: 5 },
  ];
  for (const s of sequences) {
    const phases = measure(bin, tests, s.responses).map((m) => m.phase);
    const a = assessMetric(tests, phases);
    t.match(a, { phase: s.phase, taken: s.taken }, `${s.name}: ${a.phase} after ${a.taken} (${a.message})`);
  }
  const healthy = assessMetric(health, measure(bin, health, [E, E, E, json(200, { status: 'ok' }), json(200, { status: 'ok' }), json(200, { status: 'ok' })]).map((m) => m.phase));
  t.match(healthy, { phase: 'Successful' }, `app-health: pods still rolling, then healthy: ${healthy.message}`);
});

t.test('argocd-update: a pushed commit SHA that looks like a number stays a string', async (t) => {
  const bin = exprcheckOrSkip(t);
  if (!bin) return;
  // Kargo coerces a rendered value that parses as JSON; a 40-hex SHA of digits and one `e` does
  // (a number), and argocd-update's desiredRevision must be a string, or the step fails its schema
  for (const name of ['beta', 'paper', 'live']) {
    const sha = '0000000000000000000000000000000000001e10';
    const deploy = renderStepConfig(bin, sample(name), 'deploy', { gate: { decisionId: 'd', skip: false }, push: { commit: sha } }) as { apps: { sources: { desiredRevision: unknown }[] }[] };
    t.equal(deploy.apps[0]!.sources[0]!.desiredRevision, sha, `${name}: desiredRevision is the SHA as a string`);
  }
});

// Contract test against the running gate: the gate step is rendered from kargo/stages/*.yaml
// the way Kargo renders it, sent to the real service (node src/server.ts on loopback, with
// GATE_NOW pinning the market clock), and the step's own success/failure/error expressions
// are evaluated on the real responses by the expr engine (tools/exprcheck). Verification
// templates likewise: args rendered from the Stage, request sent, jsonPath and conditions
// evaluated as Argo Rollouts does. Integration-test results are recorded the way CI does it:
// a ci token made with the gate's CLI, PUT /v1/test-results/{tag} with an inttest-results.json.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { spawnGate } from '../helpers/spawn-gate.ts';
import type { SpawnedGate } from '../helpers/spawn-gate.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { at, docsOfKind, loadKargoDocs } from './lib/kargo-docs.ts';
import type { KargoDoc } from './lib/kargo-docs.ts';
import { exprcheckOrSkip } from './lib/exprcheck.ts';
import { skipWithNotice } from './lib/skip-with-notice.ts';
import { httpOutcome, laterStepConditions, renderGateRequest, send } from './lib/gate-step.ts';
import type { HttpOutcome, SamplePromotion } from './lib/gate-step.ts';
import { repoRoot } from './lib/paths.ts';
import { stepConfigValidators, validateStepConfig } from './lib/step-schemas.ts';
import { analysisArgs, measure, measureLive } from './lib/verification.ts';
import type { TemplateMetric } from './lib/verification.ts';
import { assessMetric } from './lib/rollouts-metric.ts';
import type { MeasurementPhase } from './lib/rollouts-metric.ts';
import { createCiToken } from './lib/ci-token.ts';

const docs = loadKargoDocs();
const stage = (name: string): KargoDoc => docsOfKind(docs, 'Stage').find((d) => at(d.doc, 'metadata', 'name') === name)!;
const template = (name: string): KargoDoc => docsOfKind(docs, 'AnalysisTemplate').find((d) => at(d.doc, 'metadata', 'name') === name)!;
const validators = stepConfigValidators();

// Wednesday 2026-11-25: 15:00Z is 10:00 ET (session open until 16:00 ET); 22:00Z is 17:00 ET.
const OPEN = '2026-11-25T15:00:00Z';
const CLOSED = '2026-11-25T22:00:00Z';
const NO_TESTS = { stages: { integration: { enabled: false } } };

async function startGate(t: Test, now: string, config: unknown): Promise<SpawnedGate> {
  const dir = await tempDir(t, 'kargo-contract-');
  const file = join(dir, 'gate.yaml');
  await writeFile(file, JSON.stringify(config));
  const gate = await spawnGate({ t, env: { GATE_NOW: now, GATE_CONFIG: file, GATE_LOG_LEVEL: 'info' }, dataDir: join(dir, 'data') });
  t.teardown(() => gate.stop());
  t.ok(gate.tokens.kargo, 'the gate printed a caller token on first start');
  return gate;
}

/** Renders the stage's gate step, checks it against our http step schema, sends it, evaluates it. */
async function promote(t: Test, bin: string, p: SamplePromotion, tweakBody?: (b: Record<string, unknown>) => void) {
  const req = renderGateRequest(bin, p);
  t.same(validateStepConfig(validators, 'http', req.config), [], 'rendered step config passes the http schema');
  if (tweakBody) {
    const body = JSON.parse(req.body) as Record<string, unknown>;
    tweakBody(body);
    req.body = JSON.stringify(body);
  }
  const response = await send(req);
  const outcome = httpOutcome(bin, req.config, response);
  return { response, outcome, body: JSON.parse(response.body || '{}') as Record<string, unknown> };
}

const TAG = 'c4f3b2a1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5';

/** The exprcheck binary when the live contract can run (the gate's source and Go are here); else a visible skip (a failure under CI=true) and null. */
function liveContractOrSkip(t: Parameters<typeof exprcheckOrSkip>[0]): ReturnType<typeof exprcheckOrSkip> | null {
  if (!existsSync(join(repoRoot, 'src/server.ts'))) {
    if (process.env.CI === 'true') t.fail('src/server.ts is missing and CI=true');
    else skipWithNotice(t, 'src/server.ts is missing; live contract test skipped');
    return null;
  }
  return exprcheckOrSkip(t);
}

t.test('gate step against the running gate', async (t) => {
  const bin = liveContractOrSkip(t);
  if (!bin) return;

  const open = await startGate(t, OPEN, NO_TESTS);
  const closed = await startGate(t, CLOSED, NO_TESTS);
  const disabled = await startGate(t, OPEN, { stages: { integration: { enabled: false }, paper: { enabled: false } } });
  const p = (gate: SpawnedGate, name: string, extra: Partial<SamplePromotion> = {}): SamplePromotion => ({
    stage: stage(name),
    gateURL: gate.url,
    token: gate.tokens.kargo!,
    tag: TAG,
    ...extra,
  });
  const later = (sp: SamplePromotion, o: HttpOutcome) => Object.values(laterStepConditions(bin, sp, o));

  t.test('market open at paper -> Running (the promotion queues)', async (t) => {
    const { response, outcome, body } = await promote(t, bin, p(open, 'paper'));
    t.equal(response.status, 200);
    t.equal(body.decision, 'wait');
    t.match(body.message, /NYSE regular session is open/);
    t.same(outcome, { status: 'Running', terminal: false }, 'neither success nor failure: polled again after pollInterval');
  });

  t.test('market open at live -> Failed with the gate message', async (t) => {
    const sp = p(open, 'live');
    const { outcome, body } = await promote(t, bin, sp);
    t.equal(body.decision, 'deny');
    t.equal(outcome.status, 'Failed');
    t.equal(outcome.terminal, true, 'terminal: the promotion fails, auto-promotion will not retry this freight');
    t.equal(outcome.message, `HTTP (200) response met failure criteria: ${JSON.stringify(body.message)}`, 'the gate message is the error message');
    t.match(outcome.message, /live promotions are refused during market hours/);
    t.same(later(sp, outcome), [false, false, false, false, false], 'no later step runs after a deny');
  });

  t.test('market closed -> Succeeded, later steps run, replay is idempotent', async (t) => {
    const sp = p(closed, 'paper');
    const first = await promote(t, bin, sp);
    t.equal(first.body.decision, 'allow');
    t.equal(first.outcome.status, 'Succeeded');
    t.match(first.outcome.outputs, { decisionId: first.body.id, skip: false }, 'outputs: decision id and skip');
    t.match(first.outcome.outputs?.decisionId, /^dec_/);
    t.same(later(sp, first.outcome), [true, true, true, true, true], 'clone, update, commit, push, deploy run');
    const again = await promote(t, bin, sp);
    t.equal(again.outcome.status, 'Succeeded', 'Kargo polling the same promotion again');
    t.equal(again.outcome.outputs?.decisionId, first.outcome.outputs?.decisionId, 'the same decision comes back (replayed)');
  });

  t.test('live after the close waits for an approval -> Running', async (t) => {
    const { outcome, body } = await promote(t, bin, p(closed, 'live'));
    t.equal(body.decision, 'wait');
    t.match(JSON.stringify(body.reasons), /awaiting_approval/);
    t.equal(outcome.status, 'Running');
  });

  t.test('disabled stage -> Succeeded with skip, later steps skipped', async (t) => {
    const sp = p(disabled, 'paper');
    const { outcome, body } = await promote(t, bin, sp);
    t.equal(body.decision, 'allow');
    t.equal(body.skip, true);
    t.equal(outcome.status, 'Succeeded');
    t.equal(outcome.outputs?.skip, true, 'outputs.gate.skip is true');
    t.same(later(sp, outcome), [false, false, false, false, false], "every later step's if is false: the freight passes through");
  });

  t.test('a misconfigured step fails loudly instead of polling for hours', async (t) => {
    const badToken = await promote(t, bin, p(open, 'paper', { token: 'gate_not-a-real-token' }));
    t.equal(badToken.response.status, 401);
    t.match(badToken.outcome, { status: 'Failed', terminal: true, message: /^HTTP \(401\) response met failure criteria: ".+"$/ }, `401: ${badToken.outcome.message}`);
    const extraField = await promote(t, bin, p(open, 'paper'), (b) => (b.freightAlias = 'wonky-dog'));
    t.equal(extraField.response.status, 400);
    t.match(extraField.outcome, { status: 'Failed', message: /freightAlias/ }, `400: ${extraField.outcome.message}`);
    // Kargo sets no Content-Type of its own: a Stage whose header is lost or mistyped sends a body
    // the gate refuses for its media type, on every poll alike
    for (const contentType of [null, 'text/json']) {
      const req = renderGateRequest(bin, p(open, 'paper'));
      req.headers = req.headers.filter(([name]) => name.toLowerCase() !== 'content-type');
      if (contentType) req.headers.push(['Content-Type', contentType]);
      const response = await send(req);
      t.equal(response.status, 415, `Content-Type ${contentType ?? 'missing'}: the gate answers 415`);
      const outcome = httpOutcome(bin, req.config, response);
      t.match(outcome, { status: 'Failed', terminal: true, message: /^HTTP \(415\) response met failure criteria: ".*application\/json.*"$/ }, `415: ${outcome.message}`);
    }
  });
});


/** inttest-results.json of a failed run, as the integration runner writes it (counts nested under `tests`). */
const failedRun = (tag: string) => ({
  runner: 'stonks-oracle-inttest',
  imageTag: tag,
  startedAt: '2026-11-25T14:41:07Z',
  finishedAt: '2026-11-25T14:52:31Z',
  exitCode: 1,
  tests: { total: 122, passed: 117, failed: 3, skipped: 2, durationSeconds: 684.2 },
  failures: [
    { suite: 'order-router', test: 'routes a limit order to the paper broker', message: 'expected status 201, got 502' },
    { suite: 'order-router', test: 'cancels an unfilled order at the close', message: 'timeout after 30000 ms' },
    { suite: 'risk-engine', test: 'rejects an order above the position limit', message: 'expected rejected, got accepted' },
  ],
});

/** inttest-results.json of a passing run (counts at the top level). */
const passedRun = (tag: string) => ({
  runner: 'stonks-oracle-inttest',
  imageTag: tag,
  startedAt: '2026-11-25T14:58:40Z',
  finishedAt: '2026-11-25T15:09:12Z',
  exitCode: 0,
  total: 124,
  passed: 122,
  failed: 0,
  skipped: 2,
  suites: [
    { name: 'order-router', passed: 41, failed: 0, skipped: 1 },
    { name: 'risk-engine', passed: 38, failed: 0, skipped: 0 },
    { name: 'market-data', passed: 43, failed: 0, skipped: 1 },
  ],
});

t.test('integration-test results recorded by CI: the beta gate step and the integration-tests verification', async (t) => {
  const bin = liveContractOrSkip(t);
  if (!bin) return;
  // integration stage enabled (the default): beta requires a passing result for the tag
  const gate = await startGate(t, OPEN, {});
  const ci = await createCiToken(gate.dataDir);
  const tpl = template('integration-tests');
  const metric = (at(tpl.doc, 'spec', 'metrics') as TemplateMetric[])[0]!;
  const argsFor = (tag: string) => analysisArgs(bin, stage('beta'), tpl, { tag, gateURL: gate.url, secrets: { 'gate-caller': { token: gate.tokens.kargo! } } });
  const failing = 'b'.repeat(40);
  const passing = 'a'.repeat(40);
  const promotion = (n: number, tag: string) => `beta.01kbz8x2p4m6n8q0s2t4v6w8y${n}.${tag.slice(0, 7)}`;

  const noResult = { found: false, passed: null, exitCode: null, counts: null, recordedAt: null };
  const recorded = { recordedAt: /^2026-11-25T15:/, recordedBy: 'ci', artifact: /^artifacts\/inttest\/[0-9a-f]{40}(~\d+)?\.json$/ };
  const failedSummary = { found: true, passed: false, exitCode: 1, counts: { passed: 117, failed: 3, skipped: 2, total: 122 }, ...recorded };
  const passedSummary = { found: true, passed: true, exitCode: 0, counts: { passed: 122, failed: 0, skipped: 2, total: 124 }, ...recorded };
  // Each row: optionally CI PUTs a results file, then Kargo polls the gate step of `promotion`
  // and the AnalysisRun `run` takes one measurement of the integration-tests metric.
  const rows: {
    name: string;
    tag: string;
    promotion: string;
    run: string;
    put?: Record<string, unknown>;
    view: Record<string, unknown>;
    step: { status: HttpOutcome['status']; reason: string; message?: RegExp; later?: boolean[] };
    measurement: MeasurementPhase;
  }[] = [
    { name: 'no result yet', tag: failing, promotion: promotion(1, failing), run: 'r1', view: noResult, step: { status: 'Running', reason: 'tests_pending' }, measurement: 'Inconclusive' },
    {
      name: 'CI records a failed run',
      tag: failing,
      promotion: promotion(1, failing),
      run: 'r1',
      put: failedRun(failing),
      view: failedSummary,
      step: { status: 'Failed', reason: 'tests_failed', message: new RegExp(`Integration tests failed for ${failing}: exit code 1, 3 failed, 117 passed, 2 skipped, 122 total`), later: [false, false, false, false, false] },
      measurement: 'Failed',
    },
    { name: 'another tag, no result yet', tag: passing, promotion: promotion(2, passing), run: 'r2', view: noResult, step: { status: 'Running', reason: 'tests_pending' }, measurement: 'Inconclusive' },
    {
      name: 'CI records a passing run',
      tag: passing,
      promotion: promotion(2, passing),
      run: 'r2',
      put: passedRun(passing),
      view: passedSummary,
      step: { status: 'Succeeded', reason: 'tests_passed', later: [true, true, true, true, true] },
      measurement: 'Successful',
    },
    {
      name: 'the failed tag is re-tested and passes: a new Promotion succeeds',
      tag: failing,
      promotion: promotion(3, failing),
      run: 'r3',
      put: passedRun(failing),
      view: passedSummary,
      step: { status: 'Succeeded', reason: 'tests_passed', later: [true, true, true, true, true] },
      measurement: 'Successful',
    },
  ];
  const runs = new Map<string, { tag: string; phases: MeasurementPhase[] }>();

  for (const row of rows) {
    t.test(row.name, async (t) => {
      if (row.put) {
        const put = await fetch(`${gate.url}/v1/test-results/${row.tag}`, {
          method: 'PUT',
          headers: { Authorization: `Bearer ${ci}`, 'Content-Type': 'application/json' },
          body: `${JSON.stringify(row.put, null, 2)}\n`,
        });
        const text = await put.text();
        t.equal(put.status, 200, `PUT /v1/test-results/${row.tag.slice(0, 7)} with the ci token: ${put.status} ${put.ok ? '' : text}`);
        t.match(JSON.parse(text), { imageTag: row.tag, ...row.view }, 'PUT answers the summary');
      }

      const sp = p(row);
      const { outcome, body } = await promote(t, bin, sp);
      const codes = (body.reasons as { code: string }[]).map((r) => r.code);
      t.ok(codes.includes(row.step.reason), `gate reasons ${codes.join(',')} include ${row.step.reason}`);
      t.equal(outcome.status, row.step.status, `gate step: ${outcome.status}${outcome.message ? ` (${outcome.message})` : ''}`);
      if (row.step.status === 'Running') t.same(outcome, { status: 'Running', terminal: false }, 'not Failed: polled again after pollInterval');
      if (row.step.status === 'Failed') {
        t.equal(outcome.terminal, true, 'terminal: the promotion fails');
        t.equal(outcome.message, `HTTP (200) response met failure criteria: ${JSON.stringify(body.message)}`, "the gate's message is the step's error");
        t.match(outcome.message, row.step.message!);
      }
      if (row.step.status === 'Succeeded') t.match(outcome.outputs, { decisionId: /^dec_/, skip: false }, 'outputs: decision id, skip false');
      if (row.step.later) t.same(Object.values(laterStepConditions(bin, sp, outcome)), row.step.later, 'the later steps\' ifs');

      const response = await measureLive(metric, argsFor(row.tag));
      t.equal(response.status, 200, 'GET /v1/test-results answers 200 (Rollouts needs 2xx + JSON)');
      t.match(response.headers['content-type']?.[0], /^application\/json/, 'JSON content type');
      t.match(JSON.parse(response.body), { imageTag: row.tag, ...row.view }, 'GET body');
      const [m] = measure(bin, metric, [response]);
      t.equal(m!.phase, row.measurement, `integration-tests measurement: ${m!.phase}${m!.message ? ` (${m!.message})` : ''}`);
      const run = runs.get(row.run) ?? { tag: row.tag, phases: [] };
      run.phases.push(m!.phase);
      runs.set(row.run, run);
    });
  }

  t.test('the AnalysisRuns, polled to the end as Rollouts would', async (t) => {
    const expected: Record<string, { phase: string; taken: number }> = {
      r1: { phase: 'Failed', taken: 2 }, // pending, then failed: fails at once
      r2: { phase: 'Successful', taken: 10 }, // pending once, then passed until count (10)
      r3: { phase: 'Successful', taken: 10 },
    };
    t.same([...runs.keys()], Object.keys(expected), 'every run was measured');
    for (const [name, run] of runs) {
      let a = assessMetric(metric, run.phases);
      while (a.phase === 'Running' && run.phases.length < 20) {
        run.phases.push(measure(bin, metric, [await measureLive(metric, argsFor(run.tag))])[0]!.phase);
        a = assessMetric(metric, run.phases);
      }
      t.match(a, expected[name]!, `${name}: ${a.phase} after ${a.taken} measurements (${a.message})`);
    }
  });

  t.test('the endpoint is public: no token, same answer', async (t) => {
    const res = await fetch(`${gate.url}/v1/test-results/${passing}`);
    t.equal(res.status, 200, 'GET without Authorization: 200');
    t.match(await res.json(), { imageTag: passing, ...passedSummary }, 'the recorded summary');
  });

  t.test('the caller token cannot record results (ci role only)', async (t) => {
    const res = await fetch(`${gate.url}/v1/test-results/${'c'.repeat(40)}`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${gate.tokens.kargo}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(passedRun('c'.repeat(40))),
    });
    t.equal(res.status, 403, `kargo's caller token: ${res.status}`);
  });

  function p(row: { tag: string; promotion: string }): SamplePromotion {
    return { stage: stage('beta'), gateURL: gate.url, token: gate.tokens.kargo!, tag: row.tag, promotion: row.promotion };
  }
});

t.test('integration stage switched off in the gate: beta passes without results, and so does its verification', async (t) => {
  const bin = liveContractOrSkip(t);
  if (!bin) return;
  const gate = await startGate(t, OPEN, {});
  const off = await fetch(`${gate.url}/v1/stages/integration`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${gate.tokens.admin}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ enabled: false, note: 'integration sandbox rebuilt today' }),
  });
  t.equal(off.status, 200, 'an admin switches the integration stage off');
  const tpl = template('integration-tests');
  const metric = (at(tpl.doc, 'spec', 'metrics') as TemplateMetric[])[0]!;
  const tag = 'd'.repeat(40);
  const args = analysisArgs(bin, stage('beta'), tpl, { tag, gateURL: gate.url, secrets: { 'gate-caller': { token: gate.tokens.kargo! } } });
  const sp: SamplePromotion = { stage: stage('beta'), gateURL: gate.url, token: gate.tokens.kargo!, tag, promotion: `beta.01kbz8x2p4m6n8q0s2t4v6w8y9.${tag.slice(0, 7)}` };
  const { outcome, body } = await promote(t, bin, sp);
  t.equal(outcome.status, 'Succeeded', 'the gate step succeeds with no result for the tag');
  t.ok((body.reasons as { code: string }[]).some((r) => r.code === 'tests_not_required'), 'reason tests_not_required');
  const response = await measureLive(metric, args);
  t.match(JSON.parse(response.body), { imageTag: tag, found: false, required: false }, 'GET says tests are not required');
  const [m] = measure(bin, metric, [response]);
  t.equal(m!.phase, 'Successful', 'the verification does not wait for results that will never come');
});

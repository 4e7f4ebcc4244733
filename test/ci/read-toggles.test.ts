// read-toggles.mjs against the real gate: the ci and integration toggles switched through the
// gate's admin API end up as the step outputs, skipped stages are reported as skipped (with
// the operator's note), and an unreachable or unusable gate means "run everything" and says
// so. Each answer is then fed into the workflow's job graph (simulated as GitHub schedules it)
// to show which jobs a push to main runs.
import { join } from 'node:path';
import t from 'tap';
import { spawnGate } from '../helpers/spawn-gate.ts';
import type { SpawnedGate } from '../helpers/spawn-gate.ts';
import { startGateProxy } from './lib/gate-proxy.ts';
import { deadPort, runScript, workflowFile } from './lib/harness.ts';
import type { ScriptRun } from './lib/harness.ts';
import { githubContext, planSteps } from './lib/scenarios.ts';
import { loadWorkflow, ranJobs, simulate } from './lib/workflow-sim.ts';

const SCRIPT = 'read-toggles.mjs';
const FAST = { GATE_RETRY_DELAY_MS: '20', GATE_TIMEOUT_MS: '2000' };
const ALL_JOBS = ['plan', 'lint-test', 'build-images', 'build-marker', 'integration', 'report'];
const wf = loadWorkflow(workflowFile);

let gate: SpawnedGate;
t.before(async () => {
  gate = await spawnGate({ t, timeoutMs: 60_000 });
  // after spawnGate's own teardowns, so it runs first (a clean stop, then the kill and removal)
  t.teardown(() => gate.stop());
});

async function setToggle(stage: string, enabled: boolean, note: string): Promise<void> {
  const r = await fetch(`${gate.url}/v1/stages/${stage}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${gate.tokens['admin']}`, 'content-type': 'application/json' },
    body: JSON.stringify({ enabled, note }),
  });
  if (r.status !== 200) throw new Error(`PUT /v1/stages/${stage} answered ${r.status}: ${await r.text()}`);
}

const read = (url: string, env: Record<string, string> = {}): Promise<ScriptRun> => runScript(SCRIPT, [], { GATE_URL: url, ...FAST, ...env });
const jobsFor = (r: ScriptRun): string[] => ranJobs(simulate(wf, { github: githubContext('push-main'), runStep: planSteps(r.outputs) }));

const cases: { name: string; ci: boolean; integration: boolean; skipped: string[]; jobs: string[] }[] = [
  { name: 'both enabled', ci: true, integration: true, skipped: [], jobs: ALL_JOBS },
  { name: 'ci disabled', ci: false, integration: true, skipped: ['ci'], jobs: ['plan'] },
  { name: 'integration disabled', ci: true, integration: false, skipped: ['integration'], jobs: ['plan', 'lint-test', 'build-images', 'build-marker'] },
  { name: 'both disabled', ci: false, integration: false, skipped: ['ci', 'integration'], jobs: ['plan'] },
];

for (const c of cases) {
  t.test(`toggles: ${c.name}`, async (t) => {
    await setToggle('ci', c.ci, `ci ${c.ci ? 'back on' : 'off for the freeze'}`);
    await setToggle('integration', c.integration, `integration ${c.integration ? 'back on' : 'off: sandbox rebuild'}`);
    const r = await read(gate.url);
    t.equal(r.status, 0, 'exit 0');
    t.same(r.outputs, { ci: String(c.ci), integration: String(c.integration), 'gate-reachable': 'true' }, 'step outputs');
    t.match(r.summary, '### Pipeline stages (toggles read from the gate)');
    for (const stage of ['ci', 'integration']) {
      if (c.skipped.includes(stage)) {
        t.match(r.summary, `| ${stage} | ⏭️ **skipped**: disabled in the gate |`, `${stage} reported skipped in the summary`);
        t.match(r.stdout, `::notice title=Stage ${stage} skipped::the ${stage} stage is disabled in the gate:`, `${stage} skip annotation`);
        t.match(r.stdout, /by admin, at 20\d\d-/, 'who switched it and when');
      } else {
        t.match(r.summary, `| ${stage} | ▶️ runs |`, `${stage} runs`);
        t.notMatch(r.stdout, `Stage ${stage} skipped`);
      }
    }
    if (!c.ci) {
      t.match(r.stdout, 'lint, tests and the image builds are skipped (note: "ci off for the freeze"');
    }
    if (!c.integration) {
      t.match(r.stdout, 'the integration tests are skipped and no result is reported');
      t.match(r.stdout, 'note: "integration off: sandbox rebuild"');
    }
    t.same(jobsFor(r), c.jobs, 'the jobs a push to main then runs');
  });
}

t.test('a note on several lines cannot issue a workflow command on the job log', async (t) => {
  // admins write notes; the job log reads any line that starts with `::` as a command
  await setToggle('ci', false, 'freeze\n::add-mask::stage\r\n::error title=x::forged');
  await setToggle('integration', true, 'back on');
  const r = await read(gate.url);
  t.equal(r.status, 0, 'exit 0');
  const lines = r.stdout.split('\n');
  t.same(lines.filter((l) => l.startsWith('::')).map((l) => l.slice(0, l.indexOf('::', 2) + 2).replace(/ title=.*/, '')), ['::notice'], 'the only command is the script\'s own skip notice');
  t.match(r.stdout, 'stage ci: disabled in the gate, skipped: lint, tests and the image builds are skipped (note: "freeze\\n::add-mask::stage\\r\\n::error title=x::forged"', 'the note is shown, quoted on one line');
  await setToggle('ci', true, 'back on');
});

t.test('a note with an escape or a lone carriage return (the gate refuses them; whatever else listens at GATE_URL) cannot issue a workflow command either', async (t) => {
  await t.rejects(setToggle('ci', false, 'freeze\u001b[31m'), /answered 400: .*U\+001B/, 'the gate itself refuses such a note');
  const note = 'freeze\r::add-mask::stage\n::error title=x::forged\u001b[31m';
  const body = JSON.stringify({ stages: [{ stage: 'ci', enabled: false, note, changedBy: 'admin', changedAt: '2025-01-01T00:00:00Z' }, { stage: 'integration', enabled: true }] });
  const proxy = await startGateProxy(gate.url, () => ({ status: 200, body }));
  t.teardown(proxy.close);
  const r = await read(proxy.url);
  t.equal(r.status, 0, 'exit 0');
  const commands = r.stdout.split(/\r\n|\r|\n/).map((l) => l.trimStart()).filter((l) => l.startsWith('::')).map((l) => l.slice(0, l.indexOf('::', 2) + 2).replace(/ title=.*/, ''));
  t.same(commands, ['::notice'], "the only command is the script's own skip notice");
  t.notMatch(r.stdout, '\u001b', 'no escape character reaches the log');
  t.match(r.stdout, '(note: "freeze\\r::add-mask::stage\\n::error title=x::forged\\u001b[31m"', 'the note is shown, quoted on one line');
});

t.test('a changedAt on several lines (whatever listens at GATE_URL) cannot issue a workflow command on the job log', async (t) => {
  const forged = '2025-01-01T00:00:00Z\n::add-mask::stage\r\n::error title=forged::forged\u001b[31m';
  const body = JSON.stringify({ stages: [{ stage: 'ci', enabled: false, note: 'freeze', changedBy: 'admin', changedAt: forged }, { stage: 'integration', enabled: true }] });
  const proxy = await startGateProxy(gate.url, () => ({ status: 200, body }));
  t.teardown(proxy.close);
  const r = await read(proxy.url);
  t.equal(r.status, 0, 'exit 0');
  t.same(r.outputs, { ci: 'false', integration: 'true', 'gate-reachable': 'true' }, 'the toggles are still read');
  const commands = r.stdout.split(/\r\n|\r|\n/).map((l) => l.trimStart()).filter((l) => l.startsWith('::')).map((l) => l.slice(0, l.indexOf('::', 2) + 2).replace(/ title=.*/, ''));
  t.same(commands, ['::notice'], "the only command is the script's own skip notice");
  t.notMatch(r.stdout, '\u001b', 'no escape character reaches the log');
  t.match(r.stdout, 'by admin, at 2025-01-01T00:00:00Z\\n::add-mask::stage\\r\\n::error title=forged::forged\\u001b[31m)', 'the time is shown, quoted on one line');
});

t.test("a gate message on several lines cannot issue a workflow command on the job log", async (t) => {
  // the answer of whatever listens at GATE_URL is printed on stdout (and each failed attempt on stderr)
  const body = JSON.stringify({ error: 'not_found', message: 'gone\n::add-mask::stage\r\n  ::stop-commands::x\r::error title=forged::forged\u001b[31m' });
  for (const status of [404, 503]) {
    const proxy = await startGateProxy(gate.url, () => ({ status, body }));
    t.teardown(proxy.close);
    const r = await read(proxy.url, { GATE_RETRY_ATTEMPTS: '2' });
    t.equal(r.status, 0, `HTTP ${status}: exit 0, everything runs`);
    const commands = (log: string) => log.split(/\r\n|\r|\n/).map((l) => l.trimStart()).filter((l) => l.startsWith('::')).map((l) => l.slice(0, l.indexOf('::', 2) + 2).replace(/ title=.*/, ''));
    t.same(commands(r.stdout), ['::warning'], `HTTP ${status}: the only command is the script's own warning`);
    t.same(commands(r.stderr), [], `HTTP ${status}: none on stderr`);
    t.notMatch(r.output, '\u001b', `HTTP ${status}: no escape character reaches the log`);
    t.match(r.stdout, 'not_found: gone ::add-mask::stage ::stop-commands::x ::error title=forged::forged [31m', `HTTP ${status}: the message is shown, on one line`);
  }
});

t.test('the gate is down: run everything and say so', async (t) => {
  const url = `http://127.0.0.1:${await deadPort()}`;
  const r = await read(url, { GATE_RETRY_ATTEMPTS: '2' });
  t.equal(r.status, 0, 'exit 0: CI goes on');
  t.same(r.outputs, { ci: 'true', integration: 'true', 'gate-reachable': 'false' });
  t.match(r.stdout, `::warning title=Gate unreachable%3A running everything::could not read the stage toggles from the gate at ${url} (connection failed: ECONNREFUSED after 2 attempt(s)); running every stage`);
  t.match(r.summary, '⚠️ **Gate unreachable:**');
  t.match(r.summary, 'running every stage');
  t.match(r.stderr, 'gate: attempt 2/2 failed');
  t.same(jobsFor(r), ALL_JOBS, 'every job runs');
});

t.test('a hung gate: bounded by the timeout, then run everything', async (t) => {
  const hung = await spawnGate({ t, timeoutMs: 60_000 });
  t.teardown(async () => {
    hung.child.kill('SIGCONT');
    await hung.stop();
  });
  hung.child.kill('SIGSTOP');
  const r = await read(hung.url, { GATE_RETRY_ATTEMPTS: '2', GATE_TIMEOUT_MS: '300' });
  t.equal(r.status, 0);
  t.equal(r.outputs['gate-reachable'], 'false');
  t.match(r.stdout, 'no answer within 300 ms after 2 attempt(s)');
  t.ok(r.ms < 15_000, `bounded (${r.ms} ms)`);
});

const unusable: { name: string; answer: { status: number; body: string; contentType?: string }; says: string }[] = [
  { name: 'a 404 (wrong URL or an old gate)', answer: { status: 404, body: '{"error":"not_found","message":"Route GET:/v1/stages not found"}' }, says: 'it answered HTTP 404 not_found: Route GET:/v1/stages not found' },
  { name: 'JSON without stages', answer: { status: 200, body: '{"hello":"world"}' }, says: 'its answer could not be used: the answer has no "stages" list' },
  { name: 'a stage missing', answer: { status: 200, body: '{"stages":[{"stage":"ci","enabled":false}]}' }, says: 'the answer lists no "integration" stage' },
  { name: 'enabled not a boolean', answer: { status: 200, body: '{"stages":[{"stage":"ci","enabled":"no"},{"stage":"integration","enabled":true}]}' }, says: 'stage "ci" has no boolean "enabled"' },
];

for (const c of unusable) {
  t.test(`an unusable answer (${c.name}): run everything and say why`, async (t) => {
    const proxy = await startGateProxy(gate.url, () => c.answer);
    t.teardown(proxy.close);
    const r = await read(proxy.url, { GATE_RETRY_ATTEMPTS: '2' });
    t.equal(r.status, 0);
    t.same(r.outputs, { ci: 'true', integration: 'true', 'gate-reachable': 'false' });
    t.match(r.stdout, c.says);
    t.match(r.summary, 'Gate unreachable');
  });
}

t.test('a 503 that clears: the toggles are read on the next attempt', async (t) => {
  await setToggle('ci', false, 'off again for the retry case');
  await setToggle('integration', true, 'on for the retry case');
  const proxy = await startGateProxy(gate.url, (n) => (n === 1 ? { status: 503, body: '{"error":"unavailable","message":"starting"}' } : 'forward'));
  t.teardown(proxy.close);
  const r = await read(proxy.url, { GATE_RETRY_ATTEMPTS: '3' });
  t.equal(r.status, 0);
  t.equal(proxy.count(), 2);
  t.same(r.outputs, { ci: 'false', integration: 'true', 'gate-reachable': 'true' });
  t.match(r.summary, 'With ci disabled no images are built');
});

t.test('usage errors: exit 2', async (t) => {
  for (const [args, env, message] of [
    [['--gate-url', 'ftp://gate'], {}, 'the gate URL must be http or https, got ftp:'],
    [['--gate-url', 'http://gate:8080/?token=x'], {}, 'must not have a query or fragment'],
    [[], { GATE_URL: gate.url, GATE_TIMEOUT_MS: '5' }, 'GATE_TIMEOUT_MS must be an integer from 100 to 300000, got "5"'],
    [['--bogus'], {}, "Unknown option '--bogus'"],
  ] as [string[], Record<string, string>, string][]) {
    const r = await runScript(SCRIPT, args, env);
    t.equal(r.status, 2, `exit 2 for ${args.join(' ') || JSON.stringify(env)}`);
    t.match(r.stderr, message);
    t.same(r.outputs, {}, 'no outputs set');
  }
});

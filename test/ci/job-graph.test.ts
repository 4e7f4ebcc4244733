// The workflow's job graph keeps its promises. The YAML is parsed with `yaml` and run on paper
// by the simulator (GitHub's scheduling: needs order, implicit success(), step ifs), with the
// small shell steps that decide things (image tag, "already pushed?", the marker decision)
// executed for real against a stand-in docker command and a stand-in GitHub API:
// - no image is built unless lint and every test step passed, and never outside a push to main;
// - no integration test unless all 13 images and then the marker were pushed;
// - the marker (Kargo's only subscription, per kargo/warehouse.yaml) goes last, never over an
//   existing SHA tag and never for a commit main has moved past;
// - the report to the gate runs after the tests whatever they did, for pushes only, in the one
//   job on the reporter runners (the only pods with the gate-ci identity), and sends only the
//   file the integration job recorded, also in a re-run of failed jobs (a later attempt of the
//   same run, whose artifacts it shares);
// - plus the fixed facts: runner labels, triggers, permissions, image names and tags, pins.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { tempDirSync } from '../helpers/temp-dir.ts';
import { evaluate, evaluateIf } from './lib/expr.ts';
import { ciDir, repoRoot, workflowFile } from './lib/harness.ts';
import { startFakeGitHub } from './lib/fake-github.ts';
import type { FakeRun } from './lib/fake-github.ts';
import { REPO, SHA, githubContext, planSteps, runShell } from './lib/scenarios.ts';
import { loadWorkflow, needsOf, ranJobs, rerunFailedJobs, simulate, stepKey } from './lib/workflow-sim.ts';
import type { Job, JobRun, Scenario, Step } from './lib/workflow-sim.ts';

const wf = loadWorkflow(workflowFile);
const raw = readFileSync(workflowFile, 'utf8');
const ALL = ['plan', 'lint-test', 'build-images', 'build-marker', 'integration', 'report'];
const GENERAL = 'stonks-oracle-runners';
const REPORTER = 'stonks-oracle-reporter';
const SERVICES = ['scheduler', 'symbol-registry', 'ingestion', 'parser', 'extractor', 'aggregation', 'recommendation', 'risk', 'broker-adapter', 'lake-publisher', 'query-api', 'trading-engine'];
const PREFIX = 'ghcr.io/celesrenata/stonks-oracle';
const ON = { ci: 'true', integration: 'true', 'gate-reachable': 'true' };
const job = (id: string): Job => wf.jobs[id] as Job;
const step = (jobId: string, key: string): Step => {
  const s = job(jobId).steps.find((x) => stepKey(x) === key);
  if (!s) throw new Error(`no step ${key} in ${jobId}`);
  return s;
};

/**
 * Stand-ins: docker answers `buildx imagetools inspect REF` from the EXISTING list; node is this
 * process's Node (the scripts' GitHub calls go to the fake GitHub below).
 */
const STUBS = {
  node: `exec "${process.execPath}" "$@"`,
  docker: `if [ "$1 $2 $3" = "buildx imagetools inspect" ]; then
  if printf '%s\\n' "$LIMITED" | grep -qxF "$4"; then echo "ERROR: unexpected status from HEAD request to https://ghcr.io/v2/x/manifests/y: 429 Too Many Requests" >&2; exit 1; fi
  if printf '%s\\n' "$EXISTING" | grep -qxF "$4"; then echo "Name: $4"; exit 0; fi
  echo "ERROR: $4: not found" >&2; exit 1
fi
echo "unexpected docker $*" >&2; exit 99`,
};
const ref = (name: string) => `${PREFIX}/${name}:${SHA}`;
const logDir = tempDirSync(t, 'ci-graph-');
/** The registry once build-images pushed its 13 images (the simulator does not push). */
const thirteen = [...SERVICES, 'dashboard'].map(ref);

interface Registry {
  existing: string[];
  /** images the registry answers 429 Too Many Requests for (whether they exist or not) */
  limited?: string[];
  /** the commits on main after SHA, oldest first (default: none, main is still at SHA) */
  main?: string[];
  /** the runs GitHub started after this one (default: none) */
  runs?: FakeRun[];
  /** SHA is no longer on main (a force-push) */
  gone?: boolean;
  /** GitHub answers requests with this status... */
  apiFail?: number;
  /** ...those under /repos/{repo}<apiFailPath> only */
  apiFailPath?: string;
  /** GITHUB_RUN_ATTEMPT (default 1; more is a re-run) */
  attempt?: number;
}

/** The GitHub API main-moved.mjs asks, as a child process (the decision shells run with spawnSync). */
const github = await startFakeGitHub({ repo: REPO, main: [SHA], runs: [] });
t.teardown(() => github.stop());
const hex = (n: number) => n.toString(16).padStart(40, 'a');
/** This run, and the run `n` places after it for commit `sha` (pending behind this one unless said). */
const RUN_ID = 6_100_000_000;
const OWN: FakeRun = { id: RUN_ID, run_number: 200, head_sha: SHA };
const newerRun = (n: number, sha: string, extra: Partial<FakeRun> = {}): FakeRun => ({ id: RUN_ID + n, run_number: 200 + n, head_sha: sha, status: 'pending', ...extra });

/** A scenario for a push to main whose decision steps run for real against `registry`. */
function pushMain(extra: Partial<Scenario> = {}, toggles = ON, registry: Registry = { existing: thirteen }): Scenario {
  const plan = planSteps(toggles);
  return {
    github: githubContext('push-main'),
    ...extra,
    runStep: (jobId, s, env, inputs) => {
      if ((extra.fail?.[jobId] ?? []).includes(stepKey(s))) return { outcome: 'failure', outputs: {} };
      const p = plan(jobId, s, env, inputs);
      if (p) return p;
      if ((jobId === 'build-marker' && (s.id === 'marker' || s.id === 'main')) || (jobId === 'build-images' && s.id === 'existing')) {
        github.setRepo({
          repo: REPO, main: registry.gone ? [hex(0xf0)] : [SHA, ...(registry.main ?? [])], runs: [OWN, ...(registry.runs ?? [])],
          fail: registry.apiFail, failPath: registry.apiFailPath, token: '***',
        });
        const r = runShell(s.run as string, {
          ...env, IMAGE: 'scheduler', EXISTING: registry.existing.join('\n'), LIMITED: (registry.limited ?? []).join('\n'), GITHUB_API_URL: github.url, GITHUB_REPOSITORY: REPO, GITHUB_RUN_ID: String(RUN_ID),
          GITHUB_RUN_ATTEMPT: String(registry.attempt ?? 1),
        }, STUBS, ciDir);
        const log = join(logDir, `${jobId}-${s.id}.log`);
        writeFileSync(log, r.output);
        return { outcome: r.status === 0 ? 'success' : 'failure', outputs: r.outputs };
      }
      return undefined;
    },
  };
}

const ranSteps = (r: JobRun): string[] => r.steps.filter((s) => s.ran).map((s) => s.key);
const PASSING_RESULTS = '{"exitCode":0,"passed":3,"failed":0,"total":3}\n';

t.test('fixed facts', async (t) => {
  t.same(Object.keys(wf.jobs), ALL, 'the six jobs, in order');
  for (const [id, j] of Object.entries(wf.jobs)) t.equal(j['runs-on'], id === 'report' ? REPORTER : GENERAL, `${id} runs on ${id === 'report' ? 'the reporter' : 'the general'} ARC scale set`);
  const on = wf.on as { push: { branches: string[]; 'paths-ignore': string[] }; pull_request: unknown };
  t.same(on.push.branches, ['main'], 'push to main');
  t.ok(on.push['paths-ignore'].includes('infra/helm/stonks-oracle/values-*.yaml'), "Kargo's values commits do not trigger CI");
  t.ok('pull_request' in wf.on, 'pull requests');
  t.notOk('pull_request_target' in wf.on, 'never pull_request_target (fork code with secrets)');
  t.same(wf.permissions, {}, 'no default token permissions');
  for (const [id, j] of Object.entries(wf.jobs)) {
    const perms = j.permissions ?? {};
    t.equal(perms['contents'], 'read', `${id}: contents read`);
    const writes = Object.entries(perms).filter(([, v]) => v === 'write').map(([k]) => k);
    t.same(writes, ['build-images', 'build-marker'].includes(id) ? ['packages'] : [], `${id}: writes only ${writes.join(', ') || 'nothing'}`);
  }
  const ctx = (vars: Record<string, string>) => ({ contexts: { vars }, status: { success: () => true, failure: () => false, cancelled: () => false } });
  t.equal(evaluate(wf.env['GATE_URL'] as string, ctx({})), 'http://gate-service.stonks-gate.svc.cluster.local:8080', 'GATE_URL defaults to the in-cluster service');
  t.equal(evaluate(wf.env['GATE_URL'] as string, ctx({ GATE_URL: 'http://10.0.0.9:8080' })), 'http://10.0.0.9:8080', 'a repository variable GATE_URL overrides it');
  t.equal(wf.env['IMAGE_PREFIX'], PREFIX);
  t.equal(wf.concurrency?.['cancel-in-progress'], "${{ github.event_name == 'pull_request' }}", 'runs on main are never cancelled half-way');
  // runShell runs a step as `bash --noprofile --norc -eo pipefail`, which GitHub does only for
  // shell: bash; with no shell given it runs `bash -e`, where a pipe's failure passes unseen
  for (const [id, j] of Object.entries(wf.jobs)) {
    for (const s of j.steps.filter((x) => x.run !== undefined)) {
      t.equal(s.shell ?? j.defaults?.run?.shell ?? wf.defaults?.run?.shell, 'bash', `${id}/${stepKey(s)}: shell bash (-eo pipefail), as the simulation runs it`);
    }
  }
});

t.test('images: 12 services and the dashboard in the matrix, superset as the marker', async (t) => {
  const include = job('build-images').strategy?.matrix?.include ?? [];
  const names = include.map((m) => m['image']);
  t.same([...names].sort(), [...SERVICES, 'dashboard'].sort(), 'the 13 non-marker images');
  t.equal(new Set(names).size, 13, 'no duplicates');
  t.notOk(names.includes('superset'), 'the marker is not in the matrix');
  t.match(include.find((m) => m['image'] === 'dashboard'), { dockerfile: 'frontend/Dockerfile' });
  t.same(String(job('build-marker').env?.['OTHER_IMAGES']).trim().split(/\s+/).sort(), [...names].sort(), 'the marker job checks exactly the matrix images');
  t.equal(wf.env['MARKER_IMAGE'], 'superset');
  const warehouse = parse(readFileSync(join(repoRoot, 'kargo', 'warehouse.yaml'), 'utf8')) as { spec: { subscriptions: { image: { repoURL: string; allowTagsRegexes: string[] } }[] } };
  t.same(warehouse.spec.subscriptions.map((s) => s.image.repoURL), [`${PREFIX}/superset`], "the marker is the warehouse's only subscription");
  t.ok(new RegExp(warehouse.spec.subscriptions[0]!.image.allowTagsRegexes[0]!).test(SHA), 'the SHA tag is one Kargo accepts');

  const pushes: [string, Step][] = [];
  for (const id of ['build-images', 'build-marker']) for (const s of job(id).steps) if (s.uses?.startsWith('docker/build-push-action@')) pushes.push([id, s]);
  t.equal(pushes.length, 2, 'one build-push step per image job');
  for (const [id, s] of pushes) {
    const w = s.with as Record<string, unknown>;
    const name = id === 'build-marker' ? '${{ env.MARKER_IMAGE }}' : '${{ matrix.image }}';
    t.same(String(w['tags']).trim().split('\n'), [`\${{ env.IMAGE_PREFIX }}/${name}:\${{ env.IMAGE_TAG }}`, `\${{ env.IMAGE_PREFIX }}/${name}:latest`], `${id}: tags <sha> and latest`);
    t.equal(w['push'], true);
    t.equal(w['provenance'], false, `${id}: plain manifests (no attestation index)`);
    t.match(String(w['cache-to']), /^type=registry,ref=\$\{\{ env.IMAGE_PREFIX \}\}\/.+:buildcache,mode=max/, `${id}: layer cache in GHCR`);
    t.equal(String(w['cache-from']), String(w['cache-to']).split(',mode=')[0], `${id}: reads the cache it writes`);
  }
  t.equal((pushes[1]![1].with as Record<string, unknown>)['file'], 'docker/Dockerfile.superset');
  for (const id of ['build-images', 'build-marker']) t.equal(job(id).env?.['IMAGE_TAG'], '${{ needs.plan.outputs.image-tag }}', `${id} tags with the plan's image tag`);
});

t.test('needs: build after lint-test, marker after every image, integration after all 14', async (t) => {
  t.same(needsOf(job('lint-test')), ['plan']);
  t.ok(needsOf(job('build-images')).includes('lint-test'), 'build-images needs lint-test');
  t.ok(needsOf(job('build-marker')).includes('build-images'), 'build-marker needs build-images (all 13 legs)');
  t.ok(needsOf(job('integration')).includes('build-images') && needsOf(job('integration')).includes('build-marker'), 'integration needs every image job including the marker');
  t.same(needsOf(job('report')), ['integration'], 'report follows integration');
  t.equal(job('build-images').strategy?.['fail-fast'], false, 'one failed image does not cancel the others (re-run failed jobs rebuilds only it)');
});

t.test('the happy path: every job and every step runs; the image tag flows through', async (t) => {
  const runs = simulate(wf, pushMain());
  t.same(ranJobs(runs), ALL);
  for (const id of ALL) t.equal(runs[id]!.result, 'success', `${id} succeeded`);
  t.equal(runs['plan']!.outputs['image-tag'], SHA, 'plan records the full SHA');
  t.equal(runs['plan']!.outputs['publish'], 'true');
  t.same(runs['build-marker']!.outputs, { 'image-tag': SHA, marker: 'push' }, 'the marker is pushed');
  t.equal(runs['integration']!.outputs['image-tag'], SHA, 'integration tests that tag');
  t.same(ranSteps(runs['integration']!), job('integration').steps.map(stepKey), 'every integration step ran');
  t.same(ranSteps(runs['report']!), job('report').steps.map(stepKey), 'every report step ran');
  const rec = step('plan', 'tag');
  const r = runShell(rec.run as string, { EVENT: 'push', REF: 'refs/heads/main', SHA });
  t.match(r.summary, `\`${SHA}\` (the full Git SHA`, 'the tag is in the step summary');
});

t.test('no build without lint and tests: any failing lint-test step stops every image job', async (t) => {
  for (const s of job('lint-test').steps) {
    const key = stepKey(s);
    const runs = simulate(wf, pushMain({ fail: { 'lint-test': [key] } }));
    t.equal(runs['lint-test']!.result, 'failure', `${key} fails lint-test`);
    t.same(ranJobs(runs), ['plan', 'lint-test'], `${key} failing: no build, no marker, no integration`);
  }
  const ruff = simulate(wf, pushMain({ fail: { 'lint-test': ['ruff check services/'] } }));
  t.ok(ranSteps(ruff['lint-test']!).includes('pytest tests/') && ranSteps(ruff['lint-test']!).includes('vitest (frontend)'), 'after a ruff failure pytest and vitest still run: one run shows every failure');
  const deps = simulate(wf, pushMain({ fail: { 'lint-test': ['npmdeps'] } }));
  t.notOk(ranSteps(deps['lint-test']!).includes('vitest (frontend)'), 'no vitest without its dependencies');
});

t.test('no integration test without all 14 images', async (t) => {
  for (const id of ['build-images', 'build-marker']) {
    for (const s of job(id).steps) {
      const key = stepKey(s);
      const runs = simulate(wf, pushMain({ fail: { [id]: [key] } }));
      if (runs[id]!.steps.find((x) => x.key === key)?.ran !== true) continue;
      t.notOk(ranJobs(runs).includes('integration'), `${id}: "${key}" failing means no integration test`);
      if (id === 'build-images') t.notOk(ranJobs(runs).includes('build-marker'), `${id}: "${key}" failing means no marker`);
    }
  }
});

t.test('the marker decision, run for real against a stand-in registry and GitHub API', async (t) => {
  const cases: { name: string; registry: Registry; marker?: string; fails?: RegExp; integration: boolean; says?: RegExp }[] = [
    { name: 'all 13 pushed, marker new, main still here', registry: { existing: thirteen }, marker: 'push', integration: true },
    { name: 'one image missing', registry: { existing: thirteen.filter((r) => !r.includes('/risk:')) }, fails: /::error title=Images missing::not in GHCR at \w+: risk; the marker is not pushed/, integration: false },
    // a registry that cannot answer is not a missing image: the error says which, and how it answered
    { name: 'one image the registry answers 429 for', registry: { existing: thirteen, limited: [ref('risk')] }, fails: /::error title=Registry error::could not tell whether these images exist at \w+, so the marker is not pushed; re-run the job: risk \(ERROR: [^\n]*429 Too Many Requests\)/, integration: false },
    { name: 'one image missing, another answered 429', registry: { existing: thirteen.filter((r) => !r.includes('/risk:')), limited: [ref('parser')] }, fails: /::error title=Images missing::not in GHCR at \w+: risk; the marker is not pushed\n::error title=Registry error::[^\n]*: parser \(ERROR: [^\n]*429/, integration: false },
    { name: 'marker already there (a re-run)', registry: { existing: [...thirteen, ref('superset')] }, marker: 'exists', integration: true },
    // GitHub decides which pushes start a run; the check reads the runs it started
    { name: 'main has moved on: a newer run for a developer commit', registry: { existing: thirteen, main: [hex(1)], runs: [newerRun(1, hex(1))] }, marker: 'stale', integration: false, says: new RegExp(`Marker not pushed::main has moved on \\(a newer run of this workflow builds ${hex(1)}\\)`) },
    // Kargo promotes while this run builds: its commit on main never gets a run of its own
    // (paths-ignore values-*.yaml and [skip ci]), so it must not make this commit stale, or main
    // would be left with no marker (no Freight, no integration result) until the next push.
    { name: "main's tip is Kargo's promotion commit (no run)", registry: { existing: thirteen, main: [hex(1)] }, marker: 'push', integration: true },
    { name: 'several Kargo promotion commits (beta, paper, live)', registry: { existing: thirteen, main: [hex(1), hex(2), hex(3)] }, marker: 'push', integration: true },
    { name: 'a Kargo commit, then a developer commit with its run', registry: { existing: thirteen, main: [hex(1), hex(2)], runs: [newerRun(1, hex(2))] }, marker: 'stale', integration: false },
    // one push of two commits: GitHub reads a skip instruction on the push's head commit only
    { name: "a push [code, head '[skip ci]'] (GitHub starts no run)", registry: { existing: thirteen, main: [hex(1), hex(2)] }, marker: 'push', integration: true },
    // ... and paths-ignore over the push's whole diff
    { name: "a push [code '[skip ci]', head values-only] (GitHub runs it for the head)", registry: { existing: thirteen, main: [hex(1), hex(2)], runs: [newerRun(1, hex(2))] }, marker: 'stale', integration: false },
    { name: 'a newer run cancelled while pending, and the run that took its place', registry: { existing: thirteen, main: [hex(1), hex(2)], runs: [newerRun(1, hex(1), { status: 'completed', conclusion: 'cancelled' }), newerRun(2, hex(2))] }, marker: 'stale', integration: false, says: new RegExp(`builds ${hex(2)}`) },
    // a re-run of an older run is queued in the group too, and GitHub cancels the pending newer run for it
    { name: 'a newer run cancelled when a re-run of an older run took its place', registry: { existing: thirteen, main: [hex(1)], runs: [newerRun(-1, hex(0xe), { status: 'pending' }), newerRun(1, hex(1), { status: 'completed', conclusion: 'cancelled' })] }, marker: 'push', integration: true, says: /run #201 \(cancelled\) for a{12}: [^\n]*does not count/ },
    { name: 'a newer run for a commit force-pushed away', registry: { existing: thirteen, main: [hex(2)], runs: [newerRun(1, hex(1), { status: 'completed', conclusion: 'cancelled' })] }, marker: 'push', integration: true },
    { name: 'this commit is no longer on main (force-push)', registry: { existing: thirteen, gone: true }, marker: 'stale', integration: false },
    { name: 'GitHub cannot be asked (403): assume current, with a warning', registry: { existing: thirteen, apiFail: 403 }, marker: 'push', integration: true, says: /::warning title=Newer runs on main unknown::could not ask GitHub whether main has moved past \w+ \(GET \S+ answered HTTP 403: fake failure 403\); assuming \w+ is current/ },
    // a re-run comes after newer runs, which may have pushed their markers: unknown is not current
    { name: 'a re-run (attempt 2) and GitHub cannot be asked (403): withheld, with a warning', registry: { existing: thirteen, apiFail: 403, attempt: 2 }, marker: 'withheld', integration: false, says: /::warning title=Newer runs on main unknown \(marker withheld\)::[^\n]*This is attempt 2, a re-run[\s\S]*::warning title=Marker not pushed::GitHub could not be asked whether main has moved past \w+, and this is attempt 2 .*Once GitHub answers, re-run build-marker/ },
    { name: 'a re-run (attempt 3), the runs not readable (403 under /actions): withheld', registry: { existing: thirteen, main: [hex(1)], apiFail: 403, apiFailPath: '/actions', attempt: 3 }, marker: 'withheld', integration: false },
    { name: 'a re-run whose check GitHub answers: pushed as on a first attempt', registry: { existing: thirteen, main: [hex(1)], attempt: 2 }, marker: 'push', integration: true },
    { name: 'a re-run, no longer on main and the runs not readable: stale (compare decided)', registry: { existing: thirteen, gone: true, apiFail: 403, apiFailPath: '/actions', attempt: 2 }, marker: 'stale', integration: false },
    { name: 'the token may not read runs (403 under /actions): the same', registry: { existing: thirteen, main: [hex(1)], runs: [newerRun(1, hex(1))], apiFail: 403, apiFailPath: '/actions' }, marker: 'push', integration: true, says: /::warning title=Newer runs on main unknown::.*actions\/runs\/6100000000 answered HTTP 403/ },
  ];
  const stepLog = (id: string) => { try { return readFileSync(join(logDir, `build-marker-${id}.log`), 'utf8'); } catch { return ''; } };
  for (const c of cases) {
    for (const id of ['main', 'marker']) writeFileSync(join(logDir, `build-marker-${id}.log`), '');
    const runs = simulate(wf, pushMain({}, ON, c.registry));
    const m = runs['build-marker']!;
    if (c.fails) {
      t.equal(m.result, 'failure', `${c.name}: the marker job fails`);
      t.match(stepLog('marker'), c.fails, `${c.name}: says which image and why`);
    } else {
      t.equal(m.outputs['marker'], c.marker, `${c.name}: marker=${c.marker}`);
      const built = m.steps.find((s) => s.key === 'Build and push the marker image superset')!;
      t.equal(built.ran, c.marker === 'push', `${c.name}: the marker build ${c.marker === 'push' ? 'runs' : 'does not run'}`);
    }
    if (c.says) t.match(stepLog('main') + stepLog('marker'), c.says, `${c.name}: says so`);
    t.equal(ranJobs(runs).includes('integration'), c.integration, `${c.name}: integration ${c.integration ? 'runs' : 'does not run'}`);
  }
  const check = step('build-marker', 'main');
  t.same(check.env, { GH_TOKEN: '${{ secrets.GITHUB_TOKEN }}' }, "the run's token reaches the check only through its environment");
  t.equal(check.run, 'node .github/pipeline/main-moved.mjs --image-tag "$IMAGE_TAG"', 'the command line carries no token and no URL');
  t.equal(job('build-marker').permissions?.['actions'], 'read', 'the token may list the workflow\'s runs');
  const seen = github.requests();
  t.ok(seen.length > 0 && seen.every((r) => r.authorization === 'Bearer ***'), 'every GitHub request carries the token in the Authorization header');
  t.ok(seen.every((r) => !r.url.includes('***')), 'and never in a URL');
  t.ok(seen.some((r) => r.url.startsWith(`/repos/${REPO}/compare/${SHA}...main?`)), 'it compares this commit with main');
  t.ok(seen.some((r) => r.url === `/repos/${REPO}/actions/runs/${RUN_ID}`), 'it reads this run (GITHUB_RUN_ID)');
  t.ok(seen.some((r) => /^\/repos\/[\w/-]+\/actions\/workflows\/\d+\/runs\?branch=main&event=push&/.test(r.url)), "and lists the workflow's push runs on main");
});

t.test('an image already in GHCR at the SHA is not rebuilt (SHA tags are never overwritten)', async (t) => {
  const s = step('build-images', 'existing');
  const env = { REGISTRY_NOT_FOUND: String(wf.env?.['REGISTRY_NOT_FOUND']), IMAGE_PREFIX: PREFIX, IMAGE: 'scheduler', IMAGE_TAG: SHA };
  t.same(runShell(s.run as string, { ...env, EXISTING: ref('scheduler') }, STUBS).outputs, { exists: 'true' });
  t.same(runShell(s.run as string, { ...env, EXISTING: '' }, STUBS).outputs, { exists: 'false' });
  const built = (existing: string[]) => simulate(wf, pushMain({}, ON, { existing }))['build-images']!.steps.find((x) => x.key === 'Build and push ${{ matrix.image }}')!.ran;
  t.equal(built([]), true, 'built when missing');
  t.equal(built([ref('scheduler')]), false, 'skipped when present');
});

t.test('the report to the gate runs after the tests whatever happened in them', async (t) => {
  const keys = job('integration').steps.map(stepKey);
  t.ok(keys.indexOf('inttest') < keys.indexOf('digest') && keys.indexOf('digest') < keys.indexOf('Upload inttest-results.json'), 'order: test, checksum, upload');
  for (const key of keys) {
    const runs = simulate(wf, pushMain({ fail: { integration: [key] } }));
    const ran = ranSteps(runs['integration']!);
    if (keys.indexOf(key) <= keys.indexOf('inttest')) {
      t.ok(ran.includes('digest') && ran.includes('Upload inttest-results.json'), `"${key}" failing: the checksum is recorded and the artifact still uploaded`);
    }
    t.equal(runs['integration']!.result, 'failure', `"${key}" failing fails the integration job`);
    t.same(ranSteps(runs['report']!), job('report').steps.map(stepKey), `"${key}" failing: the results are still reported`);
  }
  const reportFails = simulate(wf, pushMain({ fail: { report: ['report'] } }));
  t.equal(reportFails['report']!.result, 'failure', 'a refused or failed report fails the report job');
  const at = (integration: string, cancelled: boolean, event = 'push') =>
    evaluateIf(job('report').if, {
      contexts: { github: { event_name: event }, needs: { integration: { result: integration, outputs: {} } } },
      status: { success: () => integration === 'success' && !cancelled, failure: () => integration === 'failure', cancelled: () => cancelled },
    });
  t.equal(at('failure', false), true, 'report runs after failed tests');
  t.equal(at('success', false), true, 'report runs after passing tests');
  t.equal(at('skipped', false), false, 'no integration run (stage off, stale commit, no images): nothing to report');
  t.equal(at('failure', true), false, 'a cancelled run reports nothing half-done');
  t.equal(at('success', false, 'pull_request'), false, 'never for a pull request');

  const report = step('report', 'report');
  t.same(
    report.env,
    { GATE_CI_TOKEN: '${{ secrets.GATE_CI_TOKEN }}', RESULTS_SHA256: '${{ needs.integration.outputs.results-sha256 }}', TESTS_OUTCOME: '${{ needs.integration.outputs.tests-outcome }}' },
    'the token reaches the script only through its environment',
  );
  t.notMatch(String(report.run), /secret|TOKEN|https?:/i, 'the command line carries no token and no URL');
  t.match(String(report.run), 'node .github/pipeline/report-results.mjs --file "inttest-artifact/$INTTEST_RESULTS" --image-tag "$IMAGE_TAG" --sha256 "$RESULTS_SHA256" --tests-outcome "$TESTS_OUTCOME"');
  t.equal((raw.match(/secrets\.GATE_CI_TOKEN/g) ?? []).length, 1, 'the ci token is used in exactly one place');
  for (const [id, j] of Object.entries(wf.jobs)) for (const s of j.steps) if (s.run) t.notMatch(s.run, /\$\{\{\s*secrets\./, `${id}/${stepKey(s)}: no secret expanded into a script`);
  t.equal(job('report').outputs?.['eligible-for-beta'], '${{ steps.report.outputs.eligible-for-beta }}', 'eligible-for-beta comes from the recorded result only');
  t.equal(job('integration').outputs?.['results-sha256'], '${{ steps.digest.outputs.sha256 }}');
  t.equal(job('report').env?.['IMAGE_TAG'], '${{ needs.integration.outputs.image-tag || github.sha }}', 'the tag the tests ran against (the commit SHA, as plan records it, when integration set no outputs)');
  t.match(step('integration', 'inttest').run, 'bash infra/inttest/run_pipeline.sh --image-tag "$IMAGE_TAG"');
  const download = job('report').steps.find((x) => x.uses?.startsWith('actions/download-artifact@'))!;
  const upload = job('integration').steps.find((x) => x.uses?.startsWith('actions/upload-artifact@'))!;
  t.equal(upload.with?.['name'], '${{ env.RESULTS_ARTIFACT }}');
  t.equal(job('integration').outputs?.['results-artifact'], '${{ env.RESULTS_ARTIFACT }}', 'integration names the artifact it uploaded');
  t.equal(download.with?.['name'], "${{ needs.integration.outputs.results-artifact || 'no-results-artifact' }}", 'report downloads that one (never an empty name: that would download every artifact)');
  t.equal(download['continue-on-error'], true, 'a missing artifact goes on to the script, which reports a broken run');
  // the artifact is written by the job that runs the application's own tests: unpacked into the
  // workspace root, a file .github/pipeline/report-results.mjs in it would replace the script the
  // next step runs with the ci token
  t.equal(download.with?.['path'], 'inttest-artifact', 'the artifact is unpacked into a directory of its own');
  t.notOk(existsSync(join(ciDir, 'inttest-artifact')), 'where the repository keeps nothing');

  // the checksum step, run for real
  const digest = step('integration', 'digest');
  const dir = tempDirSync(t, 'ci-digest-');
  writeFileSync(join(dir, 'inttest-results.json'), PASSING_RESULTS);
  const withFile = runShell(digest.run as string, { INTTEST_RESULTS: 'inttest-results.json' }, {}, dir);
  t.same(withFile.outputs, { sha256: createHash('sha256').update(PASSING_RESULTS).digest('hex') }, 'the checksum of the file the tests wrote');
  const without = runShell(digest.run as string, { INTTEST_RESULTS: 'missing.json' }, {}, dir);
  t.equal(without.status, 0);
  t.same(without.outputs, {}, 'no file: no checksum (the report job then reports a broken run)');
  t.match(without.output, '::warning title=No results file::missing.json was not written');
});

t.test('integration failed without running a step (no runner took it, or it broke at set-up): the report still names the tag, and the gate hears of a broken run', async (t) => {
  // A job that never ran sets no outputs: needs.integration.outputs.image-tag is empty. The tag
  // is the commit's SHA by design (plan: image-tag=github.sha), the same in every attempt.
  let env: Record<string, string> | undefined;
  const runs = simulate(wf, {
    ...pushMain(),
    keep: { integration: { result: 'failure', steps: job('integration').steps.map((s) => ({ key: stepKey(s), ran: false, outcome: 'skipped' })), outputs: {} } },
    runStep: (jobId, s, e) => {
      if (jobId === 'report' && s.id === 'report') env = e;
      return { outcome: 'success', outputs: {} };
    },
  });
  t.equal(runs['report']!.result, 'success', 'the report job runs');
  t.equal(env?.['IMAGE_TAG'], SHA, 'with the commit SHA as the image tag');
  t.equal(env?.['RESULTS_SHA256'], '', 'and no checksum (so no file counts as results)');
  // what report-results.mjs then does with it (report-results.test.ts runs it against the gate):
  // not a usage error, but a broken run reported to the gate, which refuses beta at once
  const dir = tempDirSync(t, 'ci-noint-');
  const r = spawnSync(process.execPath, [join(ciDir, '.github', 'pipeline', 'report-results.mjs'), '--file', 'inttest-artifact/inttest-results.json', '--image-tag', env?.['IMAGE_TAG'] ?? '', '--sha256', env?.['RESULTS_SHA256'] ?? '', '--tests-outcome', env?.['TESTS_OUTCOME'] ?? ''], {
    cwd: dir, encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '', GATE_URL: 'http://127.0.0.1:9', GATE_CI_TOKEN: 'gate_not-a-real-token', GATE_RETRY_ATTEMPTS: '1', GATE_TIMEOUT_MS: '500', GITHUB_OUTPUT: join(dir, 'out'), GITHUB_STEP_SUMMARY: join(dir, 'summary') },
  });
  t.notMatch(r.stdout + r.stderr, '--image-tag must be', 'the tag is accepted');
  t.match(r.stdout, /::error title=Integration test results unusable::inttest-artifact\/inttest-results\.json: file not found/, 'the missing file is what it reports');
  t.match(r.stderr, 'gate: attempt 1/1 failed', 'and it sends that to the gate');
});

t.test("the report step is told how the integration test step ended, not only what its file says", async (t) => {
  // a runner that wrote a passing file and then crashed or was killed leaves a red job: the
  // report must not record that file as a pass (report-results.mjs --tests-outcome)
  const seen = (integrationFails: string[]) => {
    let env: Record<string, string> | undefined;
    let run: string | undefined;
    const sc = pushMain({ fail: { integration: integrationFails } });
    const inner = sc.runStep!;
    simulate(wf, {
      ...sc,
      runStep: (jobId, s, e, inputs) => {
        if (jobId === 'report' && s.id === 'report') {
          env = e;
          run = String(s.run);
          return { outcome: 'success', outputs: {} };
        }
        return inner(jobId, s, e, inputs);
      },
    });
    return { env, run };
  };
  const failed = seen(['inttest']);
  t.ok(failed.env, 'the report step runs after a failed test step');
  t.equal(failed.env?.['TESTS_OUTCOME'], 'failure', 'it gets the test step\'s outcome: failure');
  t.match(failed.run, /--tests-outcome "\$TESTS_OUTCOME"/, 'and passes it to report-results.mjs');
  t.equal(seen([]).env?.['TESTS_OUTCOME'], 'success', 'a passing test step: success');
  t.equal(seen(['Check out']).env?.['TESTS_OUTCOME'], 'skipped', 'the job broke before the tests: skipped');
});

/**
 * The run's artifacts as upload-artifact and download-artifact v4 see them. A run keeps its
 * artifacts across attempts (a job that is not re-run keeps its upload, and a re-run job can
 * download it). Public accounts of a second upload under a name the run already holds differ, so
 * both are modelled, and the workflow must work under each:
 * - 'per-run': a name is unique in the run, across attempts: the upload fails (409 Conflict)
 *   unless `overwrite: true`, which deletes the older artifact first;
 * - 'per-attempt': a later attempt may upload the name again (overwrite cannot reach the earlier
 *   attempt's), and a download by a name held twice gets the earlier one (IDs are not ordered).
 */
class Artifacts {
  readonly all: { name: string; attempt: number; files: Record<string, string> }[] = [];
  readonly model: 'per-run' | 'per-attempt';
  constructor(model: 'per-run' | 'per-attempt') {
    this.model = model;
  }
  upload(attempt: number, name: string, files: Record<string, string>, overwrite: boolean): string | null {
    const same = this.all.filter((a) => a.name === name && (this.model === 'per-run' || a.attempt === attempt));
    if (same.length && !overwrite) return `Failed to CreateArtifact: (409) Conflict: an artifact with this name already exists on the workflow run`;
    for (const a of same) this.all.splice(this.all.indexOf(a), 1);
    this.all.push({ name, attempt, files });
    return null;
  }
  download(name: string): Record<string, string> | null {
    return this.all.find((a) => a.name === name)?.files ?? null;
  }
}

const failingResults = (failed: number) => `{"exitCode":1,"passed":${3 - failed},"failed":${failed},"total":3}\n`;

/**
 * One attempt of a push run whose integration and report jobs act for real on their own
 * workspaces and on `artifacts`: the tests write `results` (null: nothing), the checksum step
 * runs, the upload and the download go through the artifact model, and the report step does
 * what report-results.mjs --sha256 does with the file (report-results.test.ts runs the script
 * itself): reported passed/failed when it is the file integration recorded, broken otherwise.
 * `gateDown`: the gate is unavailable, so the report step fails (exit 4) without recording.
 */
function attempt(n: number, artifacts: Artifacts, results: string | null, opts: { keep?: Record<string, JobRun>; gateDown?: boolean } = {}): { runs: Record<string, JobRun>; reported?: string } {
  const plan = planSteps(ON);
  let reported: string | undefined;
  const workspaces = new Map<string, string>();
  const ws = (jobId: string) => workspaces.get(jobId) ?? (workspaces.set(jobId, tempDirSync(t, `ci-${jobId}-${n}-`)), workspaces.get(jobId)!);
  const runs = simulate(wf, {
    github: { ...githubContext('push-main'), run_attempt: String(n) } as Scenario['github'],
    keep: opts.keep,
    runStep: (jobId, s, env, inputs) => {
      const p = plan(jobId, s, env, inputs);
      if (p) return p;
      if (jobId === 'build-marker' && s.id === 'main') return { outcome: 'success', outputs: { main: 'current', newer: '' } };
      if (jobId === 'build-marker' && s.id === 'marker') return { outcome: 'success', outputs: { marker: 'push' } };
      if (jobId === 'integration' && s.id === 'inttest') {
        if (results !== null) writeFileSync(join(ws(jobId), env['INTTEST_RESULTS']!), results);
        return { outcome: results === PASSING_RESULTS ? 'success' : 'failure', outputs: {} };
      }
      if (jobId === 'integration' && s.id === 'digest') {
        const r = runShell(s.run as string, env, {}, ws(jobId));
        return { outcome: r.status === 0 ? 'success' : 'failure', outputs: r.outputs };
      }
      if (s.uses?.startsWith('actions/upload-artifact@')) {
        const file = join(ws(jobId), inputs['path']!);
        if (!existsSync(file)) return { outcome: 'success', outputs: {} }; // if-no-files-found: warn
        const refused = artifacts.upload(n, inputs['name']!, { [basename(file)]: readFileSync(file, 'utf8') }, inputs['overwrite'] === 'true');
        return { outcome: refused ? 'failure' : 'success', outputs: {} };
      }
      if (s.uses?.startsWith('actions/download-artifact@')) {
        const files = artifacts.download(inputs['name']!);
        if (!files) return { outcome: 'failure', outputs: {} };
        mkdirSync(join(ws(jobId), inputs['path']!), { recursive: true });
        for (const [name, text] of Object.entries(files)) writeFileSync(join(ws(jobId), inputs['path']!, name), text);
        return { outcome: 'success', outputs: {} };
      }
      if (jobId === 'report' && s.id === 'report') {
        const file = join(ws(jobId), /--file "([^"]+)"/.exec(String(s.run))![1]!.replace('$INTTEST_RESULTS', env['INTTEST_RESULTS']!));
        const text = existsSync(file) ? readFileSync(file, 'utf8') : null;
        const ok = text !== null && createHash('sha256').update(text).digest('hex') === env['RESULTS_SHA256'];
        if (opts.gateDown) return { outcome: 'failure', outputs: {} };
        reported = ok ? (text === PASSING_RESULTS ? 'passed' : 'failed') : 'broken';
        return { outcome: reported === 'passed' ? 'success' : 'failure', outputs: { 'eligible-for-beta': String(reported === 'passed') } };
      }
      return undefined;
    },
  });
  return { runs, reported };
}

t.test('"Re-run failed jobs" after flaky integration tests records the re-run\'s result', async (t) => {
  for (const model of ['per-run', 'per-attempt'] as const) {
    const artifacts = new Artifacts(model);
    const first = attempt(1, artifacts, failingResults(1));
    t.equal(first.runs['integration']!.result, 'failure', `${model}: attempt 1, a flaky test fails integration`);
    t.equal(first.reported, 'failed', `${model}: attempt 1 reports the failed run`);
    const keep = rerunFailedJobs(wf, first.runs);
    t.same(Object.keys(keep), ['plan', 'lint-test', 'build-images', 'build-marker'], `${model}: the re-run runs integration and report again`);
    const second = attempt(2, artifacts, failingResults(2), { keep });
    t.equal(second.reported, 'failed', `${model}: attempt 2 fails again and reports its own file (not a broken run)`);
    const third = attempt(3, artifacts, PASSING_RESULTS, { keep: rerunFailedJobs(wf, second.runs) });
    t.equal(third.runs['integration']!.result, 'success', `${model}: attempt 3, integration passes (its upload included)`);
    t.equal(third.reported, 'passed', `${model}: attempt 3 reports its own passing file, not an earlier attempt's`);
    t.equal(third.runs['report']!.outputs['eligible-for-beta'], 'true', `${model}: the tag becomes eligible for beta`);
  }
});

t.test('re-running only the report (the gate was down) sends the file integration recorded', async (t) => {
  for (const model of ['per-run', 'per-attempt'] as const) {
    const artifacts = new Artifacts(model);
    const first = attempt(1, artifacts, PASSING_RESULTS, { gateDown: true });
    t.equal(first.runs['integration']!.result, 'success');
    t.equal(first.runs['report']!.result, 'failure', `${model}: attempt 1, nothing recorded`);
    const keep = rerunFailedJobs(wf, first.runs);
    t.ok('integration' in keep, `${model}: integration is not run again`);
    const second = attempt(2, artifacts, null, { keep });
    t.equal(second.reported, 'passed', `${model}: attempt 2 of report downloads attempt 1's artifact and reports it`);
  }
});

t.test('only the report job holds the gate-ci identity, and it runs nothing of the repository but the pipeline scripts', async (t) => {
  const onReporter = Object.entries(wf.jobs).filter(([, j]) => j['runs-on'] === REPORTER).map(([id]) => id);
  t.same(onReporter, ['report'], 'one job on the reporter scale set');
  t.same(job('report').permissions, { contents: 'read' }, 'its GITHUB_TOKEN reads contents, nothing else');
  const checkout = job('report').steps.find((x) => x.uses?.startsWith('actions/checkout@'))!;
  t.same(checkout.with, { 'persist-credentials': false, 'sparse-checkout': '.github/pipeline' }, 'a sparse checkout of the pipeline scripts, in cone mode (the default)');
  for (const s of job('report').steps) {
    if (s.run) t.match(s.run, /^node \.github\/pipeline\/[\w-]+\.mjs /, `${stepKey(s)}: runs a pipeline script, no repository code`);
    if (s.uses) t.match(s.uses, /^actions\/(checkout|setup-node|download-artifact)@/, `${stepKey(s)}: ${s.uses.split('@')[0]}`);
  }
  const pr: Scenario = { github: githubContext('pr'), runStep: planSteps(ON) };
  t.equal(simulate(wf, pr)['report']!.result, 'skipped', 'a pull request reaches no reporter pod');
  const labels = (parse(readFileSync(join(ciDir, '.github', 'actionlint.yaml'), 'utf8')) as { 'self-hosted-runner': { labels: string[] } })['self-hosted-runner'].labels;
  t.same(labels, [GENERAL, REPORTER], 'actionlint knows both labels');
});

t.test("what the report job's sparse checkout holds, by git itself, and what the docs say of it", async (t) => {
  // a repository shaped like the application's, and the checkout actions/checkout makes of it:
  // `git sparse-checkout set` in cone mode with the step's sparse-checkout value
  const checkout = job('report').steps.find((x) => x.uses?.startsWith('actions/checkout@'))!;
  t.notOk('sparse-checkout-cone-mode' in (checkout.with ?? {}), 'cone mode');
  const dir = tempDirSync(t, 'ci-sparse-');
  const git = (cwd: string, ...args: string[]) => {
    const r = spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'init.defaultBranch=main', ...args], { cwd, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const files = ['package.json', 'setup.py', '.github/actionlint.yaml', '.github/workflows/stonks-oracle-pipeline.yml', '.github/pipeline/report-results.mjs', '.github/pipeline/lib/results.mjs', 'services/risk/limits.py', 'infra/inttest/run_pipeline.sh'];
  const src = join(dir, 'src');
  mkdirSync(src);
  git(src, 'init', '-q');
  for (const f of files) {
    mkdirSync(join(src, dirname(f)), { recursive: true });
    writeFileSync(join(src, f), f);
  }
  git(src, 'add', '-A');
  git(src, 'commit', '-qm', 'app');
  git(dir, 'clone', '-q', '--no-checkout', src, 'work');
  const work = join(dir, 'work');
  git(work, 'sparse-checkout', 'set', '--cone', String(checkout.with?.['sparse-checkout']));
  git(work, 'checkout', '-q');
  const present = git(work, 'ls-files', '--cached', '--', '.').split('\n').filter((f) => f && existsSync(join(work, f))).sort();
  t.same(present, ['.github/actionlint.yaml', '.github/pipeline/lib/results.mjs', '.github/pipeline/report-results.mjs', 'package.json', 'setup.py'], 'the pipeline scripts, and the files directly in the root and in .github/; no other directory');
  // so no comment or document may say the job checks out the pipeline scripts alone
  const says = (file: string) => readFileSync(join(repoRoot, file), 'utf8');
  for (const [file, text] of [
    ['ci/.github/workflows/stonks-oracle-pipeline.yml', raw],
    ['ci/README.md', says('ci/README.md')],
    ['docs/deployment.md', says('docs/deployment.md')],
    ['deploy/lib/values.sh', says('deploy/lib/values.sh')],
  ] as const) {
    t.notMatch(text, /\.github\/pipeline`? (?:only|alone)\b/, `${file}: does not say ".github/pipeline only"`);
    t.match(text, /cone-mode sparse checkout|sparse in git's\s+cone mode/, `${file}: says it is a cone-mode sparse checkout`);
    t.match(text, /files\s+directly\s+in\s+the\s+(?:repository\s+)?root/, `${file}: and that the root's files come too`);
  }
});

t.test('stages disabled in the gate, unreachable gate, pull requests, forks', async (t) => {
  const jobs = (sc: Scenario) => ranJobs(simulate(wf, sc));
  t.same(jobs(pushMain({}, { ci: 'false', integration: 'true', 'gate-reachable': 'true' })), ['plan'], 'ci off: nothing after plan');
  t.same(jobs(pushMain({}, { ci: 'true', integration: 'false', 'gate-reachable': 'true' })), ['plan', 'lint-test', 'build-images', 'build-marker'], 'integration off: no integration job, no report');
  t.same(jobs(pushMain({}, { ci: 'true', integration: 'true', 'gate-reachable': 'false' })), ALL, 'gate unreachable: everything');
  const pr: Scenario = { github: githubContext('pr'), runStep: planSteps(ON) };
  t.same(jobs(pr), ['plan', 'lint-test'], 'pull request: lint and tests only');
  t.equal(simulate(wf, pr)['plan']!.outputs['publish'], 'false');
  t.same(jobs({ github: githubContext('push-branch'), runStep: planSteps(ON) }), ['plan', 'lint-test'], 'push elsewhere than main: no images');
  t.same(jobs({ github: githubContext('fork-pr'), runStep: planSteps(ON) }), [], 'a fork PR runs nothing on the self-hosted runners');
  t.same(jobs(pushMain({ fail: { plan: ['toggles'] } })), ['plan'], 'plan failing stops everything');
});

t.test('every action is pinned to a full commit SHA with its version alongside', async (t) => {
  const uses = [...raw.matchAll(/^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/gm)];
  t.ok(uses.length >= 10, `${uses.length} uses: lines`);
  for (const [, action, rest] of uses) {
    t.match(action, /^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/, `${action} is pinned by SHA`);
    t.match(rest, /#\s*v\d+\.\d+\.\d+/, `${action} names its version`);
  }
  const bySha = new Map<string, Set<string>>();
  for (const [, action, rest] of uses) {
    const [name] = (action as string).split('@');
    const set = bySha.get(name as string) ?? new Set<string>();
    set.add(`${action}${rest}`);
    bySha.set(name as string, set);
  }
  for (const [name, set] of bySha) t.equal(set.size, 1, `${name}: one pin throughout`);
});

t.test('every tool pip installs is pinned to an exact version (the requirements files are the repository\'s own)', async (t) => {
  const env = (wf as unknown as { env: Record<string, string> }).env;
  const installs = [...raw.matchAll(/pip install ([^\n;]+)/g)].map((m) => m[1] as string);
  t.ok(installs.length >= 2, `${installs.length} pip installs`);
  let pinned = 0;
  for (const line of installs) {
    const words = line.trim().split(/\s+/);
    for (let i = 0; i < words.length; i++) {
      const w = (words[i] as string).replace(/^"|"$/g, '');
      if (w === '-r') {
        t.match(words[++i], /^"\$f"$|^requirements/, `${line}: a requirements file`);
        continue;
      }
      t.notMatch(w, /^-/, `${line}: no option such as --upgrade (it would take whatever is newest)`);
      const m = /^([A-Za-z0-9_.-]+)==(.+)$/.exec(w);
      t.ok(m, `${line}: ${w} is name==version`);
      if (!m) continue;
      const version = (m[2] as string).replace(/^\$([A-Z_]+)$/, (_, name: string) => env[name] ?? `unset ${name}`);
      t.match(version, /^\d+\.\d+\.\d+$/, `${m[1]} pinned to ${version}`);
      pinned++;
    }
  }
  t.equal(pinned, 2, 'ruff and pytest');
});

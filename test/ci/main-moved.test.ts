// main-moved.mjs (build-marker's "has main moved past this commit?") and its rules
// (lib/ci-triggers.mjs): which newer commits on main get a run of the workflow and so make this
// commit stale, against a stand-in GitHub API; paging through long histories and many files;
// GitHub down or refusing (unknown, warned, never a failed job); the token only in the header.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { deadPort, runScript, scriptsDir } from './lib/harness.ts';
import { startFakeGitHub } from './lib/fake-github.ts';
import type { FakeCommit, FakeRepo } from './lib/fake-github.ts';
import { REPO, SHA } from './lib/scenarios.ts';

const IGNORED = 'infra/helm/stonks-oracle/values-*.yaml';
const TOKEN = 'ghs_mainMovedTestToken0123456789';
const hex = (n: number) => n.toString(16).padStart(40, 'b');
const kargo = (n: number): FakeCommit => ({ sha: hex(n), message: `kargo(beta): stonks-oracle ${SHA} [skip ci]\n\nKargo-Promotion: beta.x`, files: ['infra/helm/stonks-oracle/values-beta.yaml'] });
const dev = (n: number, files = ['services/risk/limits.py']): FakeCommit => ({ sha: hex(n), message: 'risk: tighten the limits', files });

type Pattern = { glob: string; re: RegExp };
const lib = (name: string): Promise<unknown> => import(pathToFileURL(join(scriptsDir, 'lib', name)).href);
const { UsageError } = (await lib('actions-io.mjs')) as { UsageError: new (message: string) => Error };
const { parseIgnoredPaths, pathPattern, skipInstruction, triggersCi } = (await lib('ci-triggers.mjs')) as {
  parseIgnoredPaths: (text: string) => Pattern[];
  pathPattern: (glob: string) => RegExp;
  skipInstruction: (message: string) => string | null;
  triggersCi: (commit: { message: string; files: string[] }, ignored: Pattern[]) => { triggers: boolean; why: string };
};

const github = await startFakeGitHub({ repo: REPO, base: SHA, main: [], token: TOKEN });
t.teardown(() => github.stop());

async function check(repo: Partial<FakeRepo>, env: Record<string, string> = {}, args = ['--image-tag', SHA], node?: string) {
  github.setRepo({ repo: REPO, base: SHA, main: [], token: TOKEN, ...repo });
  const before = github.requests().length;
  const r = await runScript('main-moved.mjs', args, { GITHUB_API_URL: github.url, GITHUB_REPOSITORY: REPO, GH_TOKEN: TOKEN, IGNORED_PATHS: IGNORED, ...env }, node);
  return { ...r, requests: github.requests().slice(before) };
}

t.test('the rules: skip instructions, paths-ignore patterns, which commits start a run', async (t) => {
  for (const m of ['[skip ci]', '[ci skip]', '[no ci]', '[skip actions]', '[actions skip]']) t.equal(skipInstruction(`fix: x ${m}`), m, `${m} skips`);
  t.equal(skipInstruction('kargo(beta): stonks-oracle abc [skip ci]\n\nGate-Decision: d'), '[skip ci]', "Kargo's subject");
  t.equal(skipInstruction('fix\n\nbody\n\nskip-checks: true'), 'skip-checks: true', 'the skip-checks trailer');
  t.equal(skipInstruction('fix\n\nskip-checks:true\nSigned-off-by: a'), 'skip-checks: true');
  t.equal(skipInstruction('skip-checks: true'), null, 'a subject is not a trailer');
  t.equal(skipInstruction('fix: mention skip ci without brackets'), null);
  t.equal(skipInstruction('fix [SKIP CI]'), null, "GitHub's markers are lower case");

  const re = pathPattern(IGNORED);
  t.ok(re.test('infra/helm/stonks-oracle/values-beta.yaml'));
  t.ok(re.test('infra/helm/stonks-oracle/values-.yaml'), '* matches nothing too');
  t.notOk(re.test('infra/helm/stonks-oracle/values.yaml'), 'the chart defaults are built');
  t.notOk(re.test('infra/helm/stonks-oracle/values-beta/x.yaml'), '* stops at /');
  t.notOk(re.test('infra/helm/stonks-oracle/values-betaxyaml'), '. is literal');
  t.notOk(re.test('x/infra/helm/stonks-oracle/values-beta.yaml'), 'anchored');
  t.ok(pathPattern('docs/**').test('docs/a/b.md'), '** crosses /');
  t.ok(pathPattern('**.md').test('a/b/c.md'));
  for (const bad of ['values-?.yaml', '!docs/**', 'values-[ab].yaml', 'a+b', '  ']) t.throws(() => pathPattern(bad), UsageError, `refused: "${bad}"`);

  const ignored = parseIgnoredPaths(`${IGNORED}\n\n  docs/**  \n`);
  t.same(ignored.map((p) => p.glob), [IGNORED, 'docs/**']);
  t.match(triggersCi({ message: 'x [skip ci]', files: ['services/a.py'] }, ignored), { triggers: false, why: '[skip ci] in its message' });
  t.match(triggersCi({ message: 'x', files: [] }, ignored), { triggers: false, why: 'it changes no file' });
  t.match(triggersCi({ message: 'x', files: ['infra/helm/stonks-oracle/values-live.yaml', 'docs/a.md'] }, ignored), { triggers: false, why: /only ignored paths/ });
  t.match(triggersCi({ message: 'x', files: ['docs/a.md', 'services/a.py', 'services/b.py'] }, ignored), { triggers: true, why: 'it changes services/a.py and 2 more path(s)' });
  t.match(triggersCi({ message: 'x', files: ['services/a.py'] }, []), { triggers: true }, 'no paths-ignore: any change runs');
});

t.test('decisions against the GitHub API', async (t) => {
  const cases: { name: string; repo: Partial<FakeRepo>; main: string; newer?: string; says: RegExp; commitReads?: number }[] = [
    { name: 'main still at this commit', repo: {}, main: 'current', says: /main is still at 0123456789ab: current/, commitReads: 0 },
    { name: "only Kargo's promotion commits since (read from their messages alone)", repo: { main: [kargo(1), kargo(2)] }, main: 'current', says: /no commit after 0123456789ab on main starts a run/, commitReads: 0 },
    { name: 'a developer commit', repo: { main: [dev(1)] }, main: 'moved', newer: hex(1), says: /bbbb\w* risk: tighten the limits: starts a run \(it changes services\/risk\/limits\.py\)/, commitReads: 1 },
    { name: 'Kargo, then a developer commit, then Kargo: the first that runs is named', repo: { main: [kargo(1), dev(2), dev(3), kargo(4)] }, main: 'moved', newer: hex(2), says: /starts no run \(\[skip ci\] in its message\)[\s\S]*starts a run/, commitReads: 1 },
    { name: 'a commit changing only a values file, without [skip ci]', repo: { main: [dev(1, ['infra/helm/stonks-oracle/values-paper.yaml'])] }, main: 'current', says: /starts no run \(it changes only ignored paths/, commitReads: 1 },
    { name: 'this commit is no longer on main', repo: { status: 'diverged' }, main: 'moved', newer: '', says: /no longer on main \(compare status "diverged"/ },
  ];
  for (const c of cases) {
    const r = await check(c.repo);
    t.equal(r.status, 0, `${c.name}: exit 0`);
    t.equal(r.outputs['main'], c.main, `${c.name}: main=${c.main}`);
    t.equal(r.outputs['newer'], c.newer ?? '', `${c.name}: newer=${c.newer ?? ''}`);
    t.match(r.stdout, c.says, `${c.name}: says why`);
    if (c.commitReads !== undefined) t.equal(r.requests.filter((q) => q.url.includes('/commits/')).length, c.commitReads, `${c.name}: ${c.commitReads} commit(s) read for their files`);
    t.ok(r.requests.every((q) => q.authorization === `Bearer ${TOKEN}`), `${c.name}: the token in the Authorization header`);
    t.notMatch(r.output, TOKEN, `${c.name}: the token is never printed`);
    t.ok(r.requests.every((q) => !q.url.includes(TOKEN)), `${c.name}: nor put in a URL`);
  }
});

t.test('long histories and large commits are paged through', async (t) => {
  const many = Array.from({ length: 230 }, (_, i) => kargo(i + 1));
  const quiet = await check({ main: many });
  t.equal(quiet.outputs['main'], 'current', '230 Kargo commits: current');
  t.same(quiet.requests.map((q) => q.url.replace(/\?.*/, '') + ` page ${/[?&]page=(\d+)/.exec(q.url)?.[1]}`), [1, 2, 3].map((p) => `/repos/${REPO}/compare/${SHA}...main page ${p}`), 'three pages of 100');
  const late = await check({ main: [...many, dev(999)] });
  t.equal(late.outputs['main'], 'moved', 'a developer commit on the third page is found');
  t.equal(late.outputs['newer'], hex(999));

  const values = Array.from({ length: 300 }, (_, i) => `infra/helm/stonks-oracle/values-s${i}.yaml`);
  const big = await check({ main: [dev(1, [...values, 'services/risk/limits.py'])] });
  t.equal(big.outputs['main'], 'moved', 'a built path on the second page of a commit\'s files counts');
  t.equal(big.requests.filter((q) => q.url.includes('/commits/')).length, 2, 'two pages of files read');
  const onlyValues = await check({ main: [dev(1, values)] });
  t.equal(onlyValues.outputs['main'], 'current', '300 values files and nothing else: no run');
});

t.test('GitHub unreachable or refusing: unknown, warned, exit 0', async (t) => {
  const down = await check({ fail: 503 });
  t.equal(down.status, 0);
  t.equal(down.outputs['main'], 'unknown');
  t.equal(down.requests.length, 3, '5xx retried: three attempts');
  t.match(down.stdout, /::warning title=Newer commits on main unknown::could not ask GitHub whether main has moved past 0123456789abcdef0123456789abcdef01234567 \(GET \/repos\/celesrenata\/stonks-oracle\/compare\/\S+ failed 3 times, last: HTTP 503: fake failure 503\); assuming 0123456789abcdef0123456789abcdef01234567 is current/);
  const badToken = await check({}, { GH_TOKEN: 'ghs_wrong' });
  t.equal(badToken.outputs['main'], 'unknown');
  t.equal(badToken.requests.length, 1, 'a 4xx is not retried');
  t.match(badToken.stdout, /answered HTTP 401: Bad credentials/);
  t.notMatch(badToken.output, 'ghs_wrong', 'the token is not printed');
  const nowhere = await check({}, { GITHUB_API_URL: `http://127.0.0.1:${await deadPort()}` });
  t.equal(nowhere.outputs['main'], 'unknown');
  t.match(nowhere.stdout, /connection failed: ECONNREFUSED/);
});

t.test('usage errors: exit 2, nothing asked', async (t) => {
  const cases: [string, string[], Record<string, string>, RegExp][] = [
    ['a short SHA', ['--image-tag', 'abc123'], {}, /--image-tag must be the full 40-character lowercase Git SHA, got "abc123"/],
    ['no repository', ['--image-tag', SHA], { GITHUB_REPOSITORY: '' }, /GITHUB_REPOSITORY must be owner\/name/],
    ['a pattern it cannot read like GitHub', ['--image-tag', SHA], { IGNORED_PATHS: '!docs/**' }, /paths-ignore pattern "!docs\/\*\*" uses/],
    ['an unknown option', ['--image-tag', SHA, '--tip', 'x'], {}, /Unknown option '--tip'/],
  ];
  for (const [name, args, env, msg] of cases) {
    const r = await check({}, env, args);
    t.equal(r.status, 2, `${name}: exit 2`);
    t.match(r.output, msg, `${name}: says so`);
    t.same(r.outputs, {}, `${name}: no outputs`);
    t.equal(r.requests.length, 0, `${name}: GitHub not asked`);
  }
});

t.test('runs on Node 20 (the oldest Node the scripts promise)', async (t) => {
  const node20 = ['/usr/bin/node', '/usr/local/bin/node'].find((p) => {
    const r = spawnSync(p, ['-p', 'process.versions.node'], { encoding: 'utf8' });
    return r.status === 0 && Number(r.stdout.split('.')[0]) === 20;
  });
  if (!node20) {
    if (process.env['CI'] === 'true') t.fail('no Node 20 binary found (Debian package nodejs) and CI=true');
    else t.comment('NOTICE: no Node 20 binary found; compatibility check skipped');
    return;
  }
  const r = await check({ main: [kargo(1), dev(2)] }, {}, ['--image-tag', SHA], node20);
  t.equal(r.status, 0, `exit 0 under ${node20}`);
  t.equal(r.outputs['main'], 'moved');
  t.equal(r.outputs['newer'], hex(2));
});

// main-moved.mjs (build-marker's "has main moved past this commit?") against a stand-in GitHub
// API: it does not predict which pushes start a run (GitHub applies a skip instruction of the
// push's head commit only, and paths-ignore to the whole push's diff), it reads the runs GitHub
// did start. A newer run of the workflow for a later commit on main makes this commit stale,
// whatever the commits' messages and paths; cancelled newer runs (counted only when a higher-
// numbered run follows them, not when an old run's re-run took their place), runs for commits
// force-pushed away, this commit leaving main, re-runs of old runs; paging; GitHub down or
// refusing (unknown, warned, never a failed job; on a re-run the warning says the marker is
// withheld); the token only in the header.
import t from 'tap';
import { deadPort, findNode20, runScript } from './lib/harness.ts';
import { startFakeGitHub } from './lib/fake-github.ts';
import type { FakeRepo, FakeRun } from './lib/fake-github.ts';
import { REPO, SHA } from './lib/scenarios.ts';

const TOKEN = 'ghs_mainMovedTestToken0123456789';
const RUN_ID = 7_000_000_123;
const RUN_NUMBER = 50;
const hex = (n: number) => n.toString(16).padStart(40, 'b');
const [A, B, C, D] = [hex(0xa), hex(0xb), hex(0xc), hex(0xd)];
/** This run. */
const OWN: FakeRun = { id: RUN_ID, run_number: RUN_NUMBER, head_sha: SHA };
/** The run `n` places after this one (n < 0: before), for `sha`; queued behind this one unless said. */
const run = (n: number, sha: string, extra: Partial<FakeRun> = {}): FakeRun => ({ id: RUN_ID + n * 7, run_number: RUN_NUMBER + n, head_sha: sha, status: n > 0 ? 'pending' : 'completed', ...extra });
const cancelled: Partial<FakeRun> = { status: 'completed', conclusion: 'cancelled' };

const github = await startFakeGitHub({ repo: REPO, main: [SHA], runs: [OWN], token: TOKEN });
t.teardown(() => github.stop());

async function check(repo: Partial<FakeRepo>, env: Record<string, string> = {}, args = ['--image-tag', SHA], node?: string) {
  github.setRepo({ repo: REPO, main: [SHA], runs: [OWN], token: TOKEN, ...repo });
  const before = github.requests().length;
  const r = await runScript('main-moved.mjs', args, { GITHUB_API_URL: github.url, GITHUB_REPOSITORY: REPO, GH_TOKEN: TOKEN, GITHUB_RUN_ID: String(RUN_ID), ...env }, node);
  return { ...r, requests: github.requests().slice(before) };
}

t.test('decisions from the runs GitHub started', async (t) => {
  const cases: { name: string; repo: Partial<FakeRepo>; main: string; newer?: string; says: RegExp }[] = [
    { name: 'main still at this commit, no other run', repo: {}, main: 'current', says: /main is still at 0123456789ab; 0 newer run\(s\)[\s\S]*: current/ },
    { name: "Kargo's promotion commits since ([skip ci], values files: they start no run)", repo: { main: [SHA, A, B] }, main: 'current', says: /main has 2 commit\(s\) after 0123456789ab; 0 newer run\(s\)/ },
    { name: 'older runs for older commits', repo: { main: [A, B, SHA], runs: [run(-2, A), run(-1, B), OWN] }, main: 'current', says: /0 newer run\(s\)/ },
    { name: 'a newer run for a developer commit, queued behind this one', repo: { main: [SHA, A], runs: [OWN, run(1, A)] }, main: 'moved', newer: A, says: /run #51 \(pending\) for bbbbbbbbbbbb: on main after 0123456789ab\n.*main has moved past 0123456789ab: run #51 for bbbbbbbbbbbb is newer/ },
    // the reviewer's counterexamples to judging each commit on its own
    { name: "one push [A code, B '[skip ci]' at its head]: GitHub starts no run", repo: { main: [SHA, A, B] }, main: 'current', says: /: current/ },
    { name: "one push [A code '[skip ci]', B values-only at its head]: GitHub runs it, for B", repo: { main: [SHA, A, B], runs: [OWN, run(1, B)] }, main: 'moved', newer: B, says: /run #51 \(pending\) for bbbbbbbbbbbb/ },
    // main's runs share a concurrency group without cancel-in-progress: GitHub keeps one pending
    // run and cancels the pending one whenever another is queued, a newer push's run or a
    // re-run of an old run (which keeps its old run number)
    { name: 'a newer run cancelled while pending, and the run that took its place', repo: { main: [SHA, A, B], runs: [OWN, run(1, A, cancelled), run(2, B)] }, main: 'moved', newer: B, says: /run #52 \(pending\) for b{12}: on main/ },
    // the reviewer's case: #50 builds, #51 waits, someone re-runs #49: #51 is cancelled and
    // no run builds its commit, so withholding #50's marker would leave main with none
    { name: 'a newer run cancelled when a re-run of an older run took its place does not count', repo: { main: [D, SHA, A], runs: [run(-1, D, { status: 'pending' }), { ...OWN, status: 'in_progress' }, run(1, A, cancelled)] }, main: 'current', says: /run #51 \(cancelled\) for b{12}: on main after 0123456789ab, but cancelled and no newer run for a commit on main follows \(a re-run of an older run took its place, or it was cancelled by hand\): does not count\n[\s\S]*: current/ },
    { name: '... nor when the higher-numbered run is for a commit no longer on main', repo: { main: [SHA, A], runs: [OWN, run(1, A, cancelled), run(2, B)] }, main: 'current', says: /run #52 \(pending\) for b{12}: no longer on main, does not count\n.*run #51 \(cancelled\) for b{12}: [^\n]*: does not count/ },
    { name: 'a cancelled newer run counts when a higher-numbered run for a commit on main follows, whatever its state', repo: { main: [SHA, A, B], runs: [OWN, run(1, A, cancelled), run(2, B, cancelled)] }, main: 'moved', newer: A, says: /run #52 \(cancelled\) for b{12}: [^\n]*does not count\n.*run #51 \(cancelled\) for b{12}: on main after 0123456789ab\n.*main has moved past 0123456789ab: run #51/ },
    { name: 'a newer run for a commit force-pushed away does not count', repo: { main: [SHA, B], runs: [OWN, run(1, A, cancelled)] }, main: 'current', says: /run #51 \(cancelled\) for b{12}: no longer on main, does not count[\s\S]*: current/ },
    { name: '... a later one for a commit on main does', repo: { main: [SHA, C], runs: [OWN, run(1, A, cancelled), run(2, B, cancelled), run(3, C)] }, main: 'moved', newer: C, says: /run #53 \(pending\) for b{12}: on main/ },
    { name: 'this commit is no longer on main (force-push)', repo: { main: [A, B], runs: [OWN, run(1, B)] }, main: 'moved', newer: '', says: /0123456789ab is no longer on main \(compare status "diverged", e\.g\. a force-push\): moved/ },
    { name: 'this commit is ahead of main (main reset to an older commit: compare status behind)', repo: { main: [A], runs: [OWN], elsewhere: { [SHA]: 'behind' } }, main: 'moved', newer: '', says: /0123456789ab is no longer on main \(compare status "behind", e\.g\. a force-push\): moved/ },
    // compare's answer is evidence of its own: runs that cannot be read do not make it unknown
    { name: 'no longer on main, and the runs not readable (403 under /actions)', repo: { main: [A], runs: [OWN, run(1, A)], fail: 403, failPath: '/actions' }, main: 'moved', newer: '', says: /compare status "diverged"[\s\S]*: moved/ },
    { name: 'a newer run for this same commit (pushed again) does not count', repo: { main: [SHA], runs: [OWN, run(1, SHA)] }, main: 'current', says: /0 newer run\(s\)/ },
    { name: 'a re-run of an old run: newer runs have finished', repo: { main: [SHA, A, B], runs: [{ ...OWN, status: 'in_progress' }, run(1, A, { status: 'completed', conclusion: 'success' }), run(2, B, { status: 'completed', conclusion: 'failure' })] }, main: 'moved', newer: B, says: /run #52 \(failure\) for b{12}: on main/ },
    { name: 'runs for other branches and events are not asked for', repo: { main: [SHA, A], runs: [OWN, run(1, A, { head_branch: 'feature' }), run(2, A, { event: 'pull_request' })] }, main: 'current', says: /0 newer run\(s\)/ },
  ];
  for (const c of cases) {
    const r = await check(c.repo);
    t.equal(r.status, 0, `${c.name}: exit 0`);
    t.equal(r.outputs['main'], c.main, `${c.name}: main=${c.main}`);
    t.equal(r.outputs['newer'], c.newer ?? '', `${c.name}: newer=${c.newer ?? ''}`);
    t.match(r.stdout, c.says, `${c.name}: says why`);
    t.ok(r.requests.every((q) => q.authorization === `Bearer ${TOKEN}`), `${c.name}: the token in the Authorization header`);
    t.notMatch(r.output, TOKEN, `${c.name}: the token is never printed`);
    t.ok(r.requests.every((q) => !q.url.includes(TOKEN)), `${c.name}: nor put in a URL`);
  }
  const r = await check({ main: [SHA, A], runs: [OWN, run(1, A)] });
  t.same(r.requests.map((q) => q.url), [
    `/repos/${REPO}/compare/${SHA}...main?per_page=100&page=1`,
    `/repos/${REPO}/actions/runs/${RUN_ID}`,
    `/repos/${REPO}/actions/workflows/4242/runs?branch=main&event=push&exclude_pull_requests=true&per_page=100&page=1`,
  ], "three requests: main's commits after this one, this run (its workflow and number), the workflow's push runs on main");
  const gone = await check({ main: [A] });
  t.equal(gone.requests.length, 1, 'a commit no longer on main needs no run list');
});

t.test('long histories and many runs are paged through, 100 at a time', async (t) => {
  const kargo = Array.from({ length: 230 }, (_, i) => hex(0x1000 + i));
  const late = await check({ main: [SHA, ...kargo], runs: [OWN, run(1, kargo.at(-1)!)] });
  t.equal(late.outputs['main'], 'moved', "230 commits after this one: a newer run for the last is found among them");
  t.same(late.requests.filter((q) => q.url.includes('/compare/')).map((q) => /[?&]page=(\d+)/.exec(q.url)?.[1]), ['1', '2', '3'], 'three pages of commits');
  const away = await check({ main: [SHA, ...kargo], runs: [OWN, run(1, A)] });
  t.equal(away.outputs['main'], 'current', 'all 230 read before a newer run is judged no longer on main');

  // a force-push storm: 150 newer runs for commits no longer on main, then one that counts
  const storm = Array.from({ length: 150 }, (_, i) => run(2 + i, hex(0x2000 + i), cancelled));
  const paged = await check({ main: [SHA, C], runs: [run(-3, D), OWN, run(1, C), ...storm] });
  t.equal(paged.outputs['main'], 'moved');
  t.equal(paged.outputs['newer'], C, 'the run on the second page counts');
  const lists = paged.requests.filter((q) => q.url.includes('/runs?'));
  t.same(lists.map((q) => /[?&]page=(\d+)/.exec(q.url)?.[1]), ['1', '2'], 'two pages of runs: the second reaches this run, so no third');
  t.ok(lists.every((q) => q.url.includes('per_page=100')), 'per_page=100, the largest GitHub serves');
});

t.test("GitHub's message on several lines cannot issue a workflow command on the job log", async (t) => {
  // the runner reads a line of stdout or stderr that starts with `::` (after blanks) as a command
  const r = await check({ fail: 403, failMessage: 'nope\n::add-mask::main\r\n  ::stop-commands::x\r::error title=forged::forged\u001b[31m' });
  t.equal(r.status, 0);
  t.equal(r.outputs['main'], 'unknown');
  const commands = (log: string) => log.split(/\r\n|\r|\n/).map((l) => l.trimStart()).filter((l) => l.startsWith('::')).map((l) => l.slice(0, l.indexOf('::', 2) + 2).replace(/ title=.*/, ''));
  t.same(commands(r.stdout), ['::warning'], 'the only command is the script\'s own warning');
  t.same(commands(r.stderr), [], 'none on stderr');
  t.notMatch(r.output, '\u001b', 'no escape character reaches the log');
  t.match(r.stdout, 'answered HTTP 403: nope ::add-mask::main ::stop-commands::x ::error title=forged::forged [31m', 'the message is shown, on one line');
});

t.test('GitHub unreachable or refusing: unknown, warned, exit 0', async (t) => {
  const down = await check({ fail: 503 });
  t.equal(down.status, 0);
  t.equal(down.outputs['main'], 'unknown');
  t.equal(down.requests.length, 3, '5xx retried: three attempts');
  t.match(down.stdout, /::warning title=Newer runs on main unknown::could not ask GitHub whether main has moved past 0123456789abcdef0123456789abcdef01234567 \(GET \/repos\/celesrenata\/stonks-oracle\/compare\/\S+ failed 3 times, last: HTTP 503: fake failure 503\); assuming 0123456789abcdef0123456789abcdef01234567 is current/);
  const noActions = await check({ main: [SHA, A], runs: [OWN, run(1, A)], fail: 403, failPath: '/actions' });
  t.equal(noActions.outputs['main'], 'unknown', 'a token without actions: read');
  t.equal(noActions.requests.filter((q) => q.url.includes('/actions/')).length, 1, 'a 4xx is not retried');
  t.match(noActions.stdout, /GET \/repos\/celesrenata\/stonks-oracle\/actions\/runs\/7000000123 answered HTTP 403: fake failure 403/);
  const noRun = await check({ runs: [] });
  t.equal(noRun.outputs['main'], 'unknown', 'this run not found');
  t.match(noRun.stdout, /answered HTTP 404: Not Found/);
  const badToken = await check({}, { GH_TOKEN: 'ghs_wrong' });
  t.equal(badToken.outputs['main'], 'unknown');
  t.equal(badToken.requests.length, 1, 'a 401 is not retried');
  t.match(badToken.stdout, /answered HTTP 401: Bad credentials/);
  t.notMatch(badToken.output, 'ghs_wrong', 'the token is not printed');
  // compare answers 404 for a SHA GitHub does not know and for one with no common ancestor with
  // main: neither says where main is, so unknown (a 4xx, not retried), never moved or current
  for (const [how, says] of [['missing', /compare\/\S+ answered HTTP 404: Not Found/], ['unrelated', /compare\/\S+ answered HTTP 404: No common ancestor between/]] as const) {
    const r = await check({ main: [A], runs: [OWN, run(1, A)], elsewhere: { [SHA]: how } });
    t.equal(r.status, 0, `compare 404 (${how}): exit 0`);
    t.equal(r.outputs['main'], 'unknown', `compare 404 (${how}): unknown`);
    t.equal(r.requests.length, 1, `compare 404 (${how}): not retried, nothing else asked`);
    t.match(r.stdout, says, `compare 404 (${how}): says so`);
  }
  // a re-run of an old run comes after the newer runs: "a newer run pushes later" no longer holds
  const rerun = await check({ fail: 503 }, { GITHUB_RUN_ATTEMPT: '2' });
  t.equal(rerun.status, 0, 'a re-run, GitHub down: exit 0');
  t.equal(rerun.outputs['main'], 'unknown', 'a re-run, GitHub down: unknown (the caller withholds)');
  t.match(rerun.stdout, /::warning title=Newer runs on main unknown \(marker withheld\)::could not ask GitHub whether main has moved past 0123456789abcdef0123456789abcdef01234567 \(GET \S+ failed 3 times, last: HTTP 503: fake failure 503\)\. This is attempt 2, a re-run: newer runs of main may have finished and pushed their markers already, so 0123456789abcdef0123456789abcdef01234567's marker is withheld rather than assumed current\. Once GitHub answers, re-run build-marker/, 'a re-run, GitHub down: warns that the marker is withheld and how to recover');
  t.notMatch(rerun.stdout, /assuming \w+ is current/, 'a re-run: never "assuming current"');
  t.match(rerun.stdout, /unknown \(attempt 2, a re-run: the marker is withheld\)/);
  const rerunActions = await check({ main: [SHA, A], runs: [OWN, run(1, A)], fail: 403, failPath: '/actions' }, { GITHUB_RUN_ATTEMPT: '5' });
  t.equal(rerunActions.outputs['main'], 'unknown', 'a re-run, the runs not readable: unknown');
  t.match(rerunActions.stdout, /marker withheld\)::.*This is attempt 5, a re-run/, 'a re-run, the runs not readable: withheld');
  const rerunGone = await check({ main: [A], runs: [OWN, run(1, A)], fail: 403, failPath: '/actions' }, { GITHUB_RUN_ATTEMPT: '2' });
  t.equal(rerunGone.outputs['main'], 'moved', 'a re-run, compare says no longer on main: moved, the runs need not be read');
  const rerunCurrent = await check({ main: [SHA, A] }, { GITHUB_RUN_ATTEMPT: '2' });
  t.equal(rerunCurrent.outputs['main'], 'current', 'a re-run GitHub answers: decided as on a first attempt');
  const nowhere = await check({}, { GITHUB_API_URL: `http://127.0.0.1:${await deadPort()}` });
  t.equal(nowhere.outputs['main'], 'unknown');
  t.match(nowhere.stdout, /connection failed: ECONNREFUSED/);
});

t.test('usage errors: exit 2, nothing asked', async (t) => {
  const cases: [string, string[], Record<string, string>, RegExp][] = [
    ['a short SHA', ['--image-tag', 'abc123'], {}, /--image-tag must be the full 40-character lowercase Git SHA, got "abc123"/],
    ['no repository', ['--image-tag', SHA], { GITHUB_REPOSITORY: '' }, /GITHUB_REPOSITORY must be owner\/name/],
    ['no run id', ['--image-tag', SHA], { GITHUB_RUN_ID: '' }, /GITHUB_RUN_ID must be this run's id, got ""/],
    ['a run id that is not one', ['--image-tag', SHA], { GITHUB_RUN_ID: '12/../x' }, /GITHUB_RUN_ID must be this run's id/],
    ['a run attempt that is not one', ['--image-tag', SHA], { GITHUB_RUN_ATTEMPT: '0' }, /GITHUB_RUN_ATTEMPT must be this run's attempt number, got "0"/],
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
  const node20 = findNode20();
  if (!node20) {
    if (process.env['CI'] === 'true') t.fail('no Node 20 binary found and CI=true (bash .ci/tools.sh installs one into .tools/node20)');
    else t.comment('NOTICE: no Node 20 binary found; compatibility check skipped');
    return;
  }
  const r = await check({ main: [SHA, A, B], runs: [OWN, run(1, A, cancelled), run(2, B)] }, {}, ['--image-tag', SHA], node20);
  t.equal(r.status, 0, `exit 0 under ${node20}`);
  t.equal(r.outputs['main'], 'moved');
  t.equal(r.outputs['newer'], B);
});

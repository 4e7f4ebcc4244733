#!/usr/bin/env node
// Has main moved past IMAGE_TAG, so that a newer run of this workflow will push its own marker?
// The build-marker job asks before pushing superset:<sha>: only then is <sha> an old commit that
// must not become the newest Freight. Commits that start no run (Kargo's promotion commits:
// `[skip ci]`, values-<stage>.yaml only) must not count, or a promotion landing while a run
// builds would leave main with no marker at all.
//
// Whether a push starts a run is GitHub's decision (skip instructions of the push's head commit
// only, paths-ignore over the whole push's diff, ...), so this does not predict it: it asks
// GitHub which runs there are.
//   1. GET /repos/{repo}/compare/{sha}...{branch} (paged): is <sha> still on the branch, and
//      which commits follow it there. Not on the branch (force-push): moved.
//   2. GET /repos/{repo}/actions/runs/{GITHUB_RUN_ID}: this run's workflow and run_number.
//   3. GET /repos/{repo}/actions/workflows/{workflow_id}/runs?branch=&event=push (paged, newest
//      first) down to this run: a newer run (higher run_number) for another commit that is on
//      the branch after <sha> means moved, whatever its state, with one exception. The branch's
//      runs share a concurrency group without cancel-in-progress, where GitHub cancels the
//      pending run whenever another run is queued: a newer push's run (which then stands for
//      the cancelled one), but also a re-run of an OLD run (which keeps its old run_number and
//      stands for nothing newer). So a cancelled newer run counts only if a run with a higher
//      run_number (any state) exists for a commit on the branch after <sha>; otherwise it is
//      ignored, or a re-run of an old run would withhold this marker with none to follow.
//      A newer run for a commit no longer on the branch does not count (its own check finds
//      its commit gone and pushes nothing).
// Sets the outputs
//   main=current  no newer run for a commit on the branch: push the marker
//   main=moved    newer=<commit> has a newer run, or <sha> is no longer on the branch
//   main=unknown  GitHub could not be asked (after retries): a warning. On a first attempt the
//                 caller assumes current (the branch's runs are serialised, so a newer run
//                 would still push its marker later, and Kargo takes the newest). On a re-run
//                 (GITHUB_RUN_ATTEMPT > 1) that does not hold, newer runs may have finished
//                 already: the caller withholds the marker, and the warning says to re-run once
//                 GitHub answers. Compare's answer that <sha> is no longer on the branch is
//                 moved, never unknown: the runs are not asked then.
// Exit codes: 0 decided (including unknown), 2 usage error, 5 unexpected error.
// Node >= 20, no dependencies. The token (GH_TOKEN) only ever travels in the Authorization
// header: never in a URL, never on a command line, never printed.
import { parseArgs } from 'node:util';
import { EXIT, UsageError, annotate, runScript, setOutputs, singleLine } from './lib/actions-io.mjs';

const USAGE = `usage: node main-moved.mjs --image-tag SHA [--branch main]

  --image-tag  the full 40-character Git SHA this run built
  --branch     the branch whose newer runs count (default: main)

environment: GH_TOKEN (the run's GITHUB_TOKEN, actions: read and contents: read),
GITHUB_API_URL, GITHUB_REPOSITORY, GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT (default 1) (set by the
runner), GITHUB_OUTPUT.
outputs: main (current, moved, unknown: the caller pushes on attempt 1, withholds on a re-run),
newer (the commit of the newer run).
exit codes: 0 decided (also when GitHub could not be asked), 2 usage, 5 unexpected error`;

const SHA = /^[0-9a-f]{40}$/;
/** GitHub's largest page size for these endpoints. */
const PAGE = 100;
/** At most this many pages of commits, and of runs, are read. */
const MAX_PAGES = 10;
const ATTEMPTS = 3;
const TIMEOUT_MS = 15_000;

/** GitHub could not be asked; the message says why. */
class GitHubUnavailable extends Error {
  name = 'GitHubUnavailable';
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** GET a GitHub API path as JSON, retrying network errors, timeouts, 429 and 5xx. */
async function githubGet(env, path) {
  const url = `${env.GITHUB_API_URL.replace(/\/+$/, '')}${path}`;
  const headers = { accept: 'application/vnd.github+json', 'user-agent': 'stonks-oracle-pipeline', 'x-github-api-version': '2022-11-28' };
  if (env.GH_TOKEN) headers.authorization = `Bearer ${env.GH_TOKEN}`;
  let detail = '';
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'follow' });
      const text = await res.text();
      if (res.ok) {
        try {
          return JSON.parse(text);
        } catch {
          detail = `HTTP ${res.status} with a body that is not JSON`;
        }
      } else {
        let message = '';
        try {
          // printed on the job log: one line, so it cannot issue a workflow command
          message = singleLine(JSON.parse(text).message ?? '');
        } catch {
          message = singleLine(text).slice(0, 200);
        }
        detail = `HTTP ${res.status}${message ? `: ${message}` : ''}`;
        if (res.status < 500 && res.status !== 429) throw new GitHubUnavailable(`GET ${path} answered ${detail}`);
      }
    } catch (err) {
      if (err instanceof GitHubUnavailable) throw err;
      detail = err?.name === 'TimeoutError' ? `no answer within ${TIMEOUT_MS} ms` : `connection failed: ${err?.cause?.code ?? err?.message ?? err}`;
    }
    if (attempt < ATTEMPTS) await sleep(1000 * 2 ** (attempt - 1));
  }
  throw new GitHubUnavailable(`GET ${path} failed ${ATTEMPTS} times, last: ${detail}`);
}

/**
 * Where <sha> stands on `branch`: {state: 'identical'|'ahead'|'gone', after: Set of the commits
 * after it, complete: false when more than MAX_PAGES pages of them}.
 */
async function commitsAfter(env, repo, sha, branch) {
  const after = new Set();
  for (let page = 1; page <= MAX_PAGES; page++) {
    const body = await githubGet(env, `/repos/${repo}/compare/${sha}...${encodeURIComponent(branch)}?per_page=${PAGE}&page=${page}`);
    if (body.status === 'identical') return { state: 'identical', after, complete: true };
    if (body.status !== 'ahead') return { state: 'gone', status: String(body.status), after, complete: true };
    const list = Array.isArray(body.commits) ? body.commits : [];
    for (const c of list) if (typeof c?.sha === 'string') after.add(c.sha);
    const total = Number(body.total_commits);
    if (list.length < PAGE || (Number.isInteger(total) && after.size >= total)) return { state: 'ahead', after, complete: true };
  }
  return { state: 'ahead', after, complete: false };
}

/** This run: {workflowId, runNumber}. */
async function thisRun(env, repo, runId) {
  const body = await githubGet(env, `/repos/${repo}/actions/runs/${runId}`);
  const workflowId = body?.workflow_id;
  const runNumber = body?.run_number;
  if (!Number.isSafeInteger(workflowId) || !Number.isSafeInteger(runNumber)) throw new GitHubUnavailable(`GET /repos/${repo}/actions/runs/${runId} gave no workflow_id and run_number`);
  return { workflowId, runNumber };
}

/**
 * The workflow's push runs on `branch` newer than run number `after`, newest first, for commits
 * other than `sha`: {runs, complete}.
 */
async function newerRuns(env, repo, workflowId, branch, after, sha) {
  const runs = [];
  for (let page = 1; page <= MAX_PAGES; page++) {
    const body = await githubGet(env, `/repos/${repo}/actions/workflows/${workflowId}/runs?branch=${encodeURIComponent(branch)}&event=push&exclude_pull_requests=true&per_page=${PAGE}&page=${page}`);
    const list = Array.isArray(body?.workflow_runs) ? body.workflow_runs : [];
    let reached = false;
    for (const r of list) {
      if (!Number.isSafeInteger(r?.run_number)) continue;
      if (r.run_number <= after) {
        reached = true;
        continue;
      }
      if (typeof r.head_sha === 'string' && r.head_sha !== sha) runs.push(r);
    }
    // newest first: once this run (or an older one) is on the page, every later page is older
    if (reached || list.length < PAGE) return { runs, complete: true };
  }
  return { runs, complete: false };
}

const state = (r) => (r.status === 'completed' ? String(r.conclusion ?? 'completed') : String(r.status ?? 'unknown'));
const isCancelled = (r) => r.status === 'completed' && r.conclusion === 'cancelled';

async function main(argv, env) {
  let args;
  try {
    args = parseArgs({ args: argv, options: { 'image-tag': { type: 'string' }, branch: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }).values;
  } catch (err) {
    throw new UsageError(err.message);
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.OK;
  }
  const sha = (args['image-tag'] ?? '').trim();
  if (!SHA.test(sha)) throw new UsageError(`--image-tag must be the full 40-character lowercase Git SHA, got "${sha}"`);
  const branch = args.branch ?? 'main';
  const repo = env.GITHUB_REPOSITORY ?? '';
  if (!/^[\w.-]+\/[\w.-]+$/.test(repo)) throw new UsageError(`GITHUB_REPOSITORY must be owner/name, got "${repo}"`);
  if (!env.GITHUB_API_URL) throw new UsageError('GITHUB_API_URL is not set (the runner sets it)');
  const runId = (env.GITHUB_RUN_ID ?? '').trim();
  if (!/^[1-9]\d{0,19}$/.test(runId)) throw new UsageError(`GITHUB_RUN_ID must be this run's id, got "${runId}" (the runner sets it)`);
  const attempt = (env.GITHUB_RUN_ATTEMPT ?? '1').trim();
  if (!/^[1-9]\d{0,9}$/.test(attempt)) throw new UsageError(`GITHUB_RUN_ATTEMPT must be this run's attempt number, got "${attempt}" (the runner sets it)`);
  const short = sha.slice(0, 12);

  const decide = (main, newer, line) => {
    setOutputs({ main, newer }, env);
    process.stdout.write(`${line}\n`);
    return EXIT.OK;
  };
  try {
    const onBranch = await commitsAfter(env, repo, sha, branch);
    if (onBranch.state === 'gone') return decide('moved', '', `${short} is no longer on ${branch} (compare status "${onBranch.status}", e.g. a force-push): moved`);
    const own = await thisRun(env, repo, runId);
    const newer = await newerRuns(env, repo, own.workflowId, branch, own.runNumber, sha);
    const where = onBranch.state === 'identical' ? `${branch} is still at ${short}` : `${branch} has ${onBranch.after.size}${onBranch.complete ? '' : '+'} commit(s) after ${short}`;
    process.stdout.write(`${where}; ${newer.runs.length}${newer.complete ? '' : '+'} newer run(s) of this workflow for other commits after run #${own.runNumber}\n`);
    // a commit of a complete list that is not in it left the branch (force-push)
    const judged = newer.runs
      .map((r) => ({ r, onMain: onBranch.after.has(r.head_sha) || !onBranch.complete }))
      .sort((a, b) => b.r.run_number - a.r.run_number);
    // a cancelled run counts only below this one: then a newer push's run took its place
    const newestOnMain = Math.max(-1, ...judged.filter((j) => j.onMain).map((j) => j.r.run_number));
    for (const { r, onMain } of judged) {
      const id = r.head_sha;
      const replaced = !isCancelled(r) || r.run_number < newestOnMain;
      const verdict = !onMain
        ? `no longer on ${branch}, does not count`
        : replaced
          ? `on ${branch} after ${short}`
          : `on ${branch} after ${short}, but cancelled and no newer run for a commit on ${branch} follows (a re-run of an older run took its place, or it was cancelled by hand): does not count`;
      process.stdout.write(`  run #${r.run_number} (${state(r)}) for ${id.slice(0, 12)}: ${verdict}\n`);
      if (onMain && replaced) return decide('moved', id, `${branch} has moved past ${short}: run #${r.run_number} for ${id.slice(0, 12)} is newer (its marker, or a still newer run's, follows)`);
    }
    if (!newer.complete) return decide('moved', '', `more than ${MAX_PAGES * PAGE} newer runs on ${branch}: not all were read, taken as moved`);
    return decide('current', '', `no newer run of this workflow on ${branch} for a commit after ${short} (Kargo's promotion commits and [skip ci] pushes start none): current`);
  } catch (err) {
    if (!(err instanceof GitHubUnavailable)) throw err;
    if (attempt === '1') {
      annotate('warning', `Newer runs on ${branch} unknown`, `could not ask GitHub whether ${branch} has moved past ${sha} (${err.message}); assuming ${sha} is current`);
    } else {
      // a re-run of an old run comes after the newer runs, which may have pushed their markers
      // already: pushing this one now could make an old commit the newest Freight
      annotate('warning', `Newer runs on ${branch} unknown (marker withheld)`, `could not ask GitHub whether ${branch} has moved past ${sha} (${err.message}). This is attempt ${attempt}, a re-run: newer runs of ${branch} may have finished and pushed their markers already, so ${sha}'s marker is withheld rather than assumed current. Once GitHub answers, re-run build-marker (or all jobs: the images exist and are not rebuilt); it pushes the marker if ${branch} has not moved past ${sha}`);
    }
    return decide('unknown', '', `unknown (attempt ${attempt}${attempt === '1' ? '' : ', a re-run: the marker is withheld'}): ${err.message}`);
  }
}

await runScript('main-moved', USAGE, main);

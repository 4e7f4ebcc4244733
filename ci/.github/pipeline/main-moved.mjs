#!/usr/bin/env node
// Has main moved past IMAGE_TAG with a commit that gets its own run of this workflow? The
// build-marker job asks before pushing superset:<sha>: only then is <sha> an old commit that
// must not become the newest Freight (the newer run pushes its own marker). Commits that start
// no run (Kargo's promotion commits: `[skip ci]`, values-<stage>.yaml only) do not count, or a
// promotion landing while a run builds would leave main with no marker at all.
//
// Reads `GET /repos/{repo}/compare/{sha}...{branch}` (every commit on the branch after <sha>,
// paged) and, for each commit without a skip instruction, `GET /repos/{repo}/commits/{commit}`
// (the paths it changes), stopping at the first commit that starts a run. Sets the outputs
//   main=current  no newer commit starts a run (or none at all): push the marker
//   main=moved    newer=<commit> starts a run, or <sha> is no longer on the branch
//   main=unknown  GitHub could not be asked (after retries): a warning; the caller assumes current
// Exit codes: 0 decided (including unknown), 2 usage error, 5 unexpected error.
// Node >= 20, no dependencies. The token (GH_TOKEN) only ever travels in the Authorization
// header: never in a URL, never on a command line, never printed.
import { parseArgs } from 'node:util';
import { EXIT, UsageError, annotate, setOutputs } from './lib/actions-io.mjs';
import { parseIgnoredPaths, skipInstruction, triggersCi } from './lib/ci-triggers.mjs';

const USAGE = `usage: node main-moved.mjs --image-tag SHA [--branch main]

  --image-tag  the full 40-character Git SHA this run built
  --branch     the branch whose newer commits count (default: main)

environment: GH_TOKEN (the run's GITHUB_TOKEN, contents: read), GITHUB_API_URL, GITHUB_REPOSITORY
(set by the runner), IGNORED_PATHS (the workflow's push paths-ignore, one pattern a line),
GITHUB_OUTPUT.
outputs: main (current, moved, unknown), newer (the commit that moved it).
exit codes: 0 decided (also when GitHub could not be asked), 2 usage, 5 unexpected error`;

const SHA = /^[0-9a-f]{40}$/;
const PAGE = 100;
/** At most this many pages of commits (and of one commit's files) are read. */
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
          message = JSON.parse(text).message ?? '';
        } catch {
          message = text.replace(/\s+/g, ' ').trim().slice(0, 200);
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

/** The commits on `branch` after `sha`, oldest first: {state: 'ahead'|'identical'|'gone', commits, complete}. */
async function commitsAfter(env, repo, sha, branch) {
  const commits = [];
  for (let page = 1; page <= MAX_PAGES; page++) {
    const body = await githubGet(env, `/repos/${repo}/compare/${sha}...${encodeURIComponent(branch)}?per_page=${PAGE}&page=${page}`);
    if (body.status === 'identical') return { state: 'identical', commits: [], complete: true };
    if (body.status !== 'ahead') return { state: 'gone', status: String(body.status), commits: [], complete: true };
    const list = Array.isArray(body.commits) ? body.commits : [];
    commits.push(...list);
    const total = Number(body.total_commits);
    if (list.length < PAGE || (Number.isInteger(total) && commits.length >= total)) return { state: 'ahead', commits, complete: true };
  }
  return { state: 'ahead', commits, complete: false };
}

/** The paths a commit changes (both names of a rename), up to MAX_PAGES pages of files. */
async function filesOf(env, repo, commit) {
  const files = [];
  for (let page = 1; page <= MAX_PAGES; page++) {
    const body = await githubGet(env, `/repos/${repo}/commits/${commit}?per_page=300&page=${page}`);
    const list = Array.isArray(body.files) ? body.files : [];
    for (const f of list) {
      if (typeof f?.filename === 'string') files.push(f.filename);
      if (typeof f?.previous_filename === 'string') files.push(f.previous_filename);
    }
    if (list.length < 300) break;
  }
  return files;
}

const subject = (message) => String(message ?? '').split('\n')[0].slice(0, 100);

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
  const ignored = parseIgnoredPaths(env.IGNORED_PATHS);
  const short = sha.slice(0, 12);

  const decide = (main, newer, line) => {
    setOutputs({ main, newer }, env);
    process.stdout.write(`${line}\n`);
    return EXIT.OK;
  };
  try {
    const after = await commitsAfter(env, repo, sha, branch);
    if (after.state === 'identical') return decide('current', '', `${branch} is still at ${short}: current`);
    if (after.state === 'gone') return decide('moved', '', `${short} is no longer on ${branch} (compare status "${after.status}", e.g. a force-push): moved`);
    process.stdout.write(`${branch} has ${after.commits.length}${after.complete ? '' : '+'} commit(s) after ${short}:\n`);
    for (const c of after.commits) {
      const message = c?.commit?.message ?? '';
      const id = String(c?.sha ?? '');
      // a skip instruction settles it without asking for the commit's files
      const verdict = skipInstruction(message) ? triggersCi({ message, files: [] }, ignored) : triggersCi({ message, files: await filesOf(env, repo, id) }, ignored);
      process.stdout.write(`  ${id.slice(0, 12)} ${subject(message)}: ${verdict.triggers ? 'starts a run' : 'starts no run'} (${verdict.why})\n`);
      if (verdict.triggers) return decide('moved', id, `${branch} has moved past ${short}: ${id.slice(0, 12)} gets its own run and marker`);
    }
    if (!after.complete) return decide('moved', '', `more than ${MAX_PAGES * PAGE} commits after ${short} on ${branch}: not all were read, taken as moved`);
    return decide('current', '', `no commit after ${short} on ${branch} starts a run (Kargo's promotion commits and [skip ci] commits do not): current`);
  } catch (err) {
    if (!(err instanceof GitHubUnavailable)) throw err;
    annotate('warning', `Newer commits on ${branch} unknown`, `could not ask GitHub whether ${branch} has moved past ${sha} (${err.message}); assuming ${sha} is current`);
    return decide('unknown', '', `unknown: ${err.message}`);
  }
}

try {
  process.exitCode = await main(process.argv.slice(2), process.env);
} catch (err) {
  if (err instanceof UsageError) {
    annotate('error', 'main-moved usage', err.message);
    process.stderr.write(`main-moved: ${err.message}\n\n${USAGE}\n`);
    process.exitCode = EXIT.USAGE;
  } else {
    process.stderr.write(`main-moved: unexpected error: ${err?.stack ?? err}\n`);
    process.exitCode = EXIT.INTERNAL;
  }
}

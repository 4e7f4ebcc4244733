// A stand-in for the GitHub REST endpoints main-moved.mjs reads, in a child process (so a test
// may call it from spawnSync, which blocks this process's event loop):
//   GET /repos/{owner}/{repo}/compare/{base}...{branch}?per_page&page       the commits after base
//   GET /repos/{owner}/{repo}/actions/runs/{run_id}                          one run
//   GET /repos/{owner}/{repo}/actions/workflows/{id}/runs?branch&event&per_page&page
//                                                                            a workflow's runs, newest first
// The repository (main's commits, the runs GitHub started) is a JSON file the test rewrites
// between cases (setRepo); every request is logged with its Authorization header (requests()).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The id of the pipeline workflow in the stand-in (runs default to it). */
export const WORKFLOW_ID = 4242;

export interface FakeRun {
  id: number;
  run_number: number;
  head_sha: string;
  /** default 'in_progress' */
  status?: 'queued' | 'pending' | 'waiting' | 'in_progress' | 'completed';
  /** set when completed: success, failure, cancelled, ... */
  conclusion?: string | null;
  /** default 'main' */
  head_branch?: string;
  /** default 'push' */
  event?: string;
  /** default WORKFLOW_ID */
  workflow_id?: number;
}
export interface FakeRepo {
  /** owner/name */
  repo: string;
  /** the commits on main, oldest first (a commit not in it is not on main) */
  main: string[];
  /** the runs GitHub started, any order */
  runs: FakeRun[];
  /**
   * How compare/{sha}...main sees a commit that is not on main (default 'diverged'): 'behind'
   * (main was reset to an ancestor of it), 'unrelated' (no common ancestor: 404) or 'missing'
   * (GitHub does not know the SHA: 404)
   */
  elsewhere?: Record<string, 'behind' | 'diverged' | 'unrelated' | 'missing'>;
  /** answer requests with this HTTP status instead... */
  fail?: number;
  /** ...only those whose path starts with /repos/{repo}{failPath} (default: all) */
  failPath?: string;
  /** the `message` of those answers (default: "fake failure <status>") */
  failMessage?: string;
  /** the token a request must carry (Authorization: Bearer ...) */
  token?: string;
}
export interface LoggedRequest {
  method: string;
  url: string;
  authorization: string | null;
}
export interface FakeGitHub {
  url: string;
  setRepo: (repo: FakeRepo) => void;
  requests: () => LoggedRequest[];
  stop: () => Promise<void>;
}

/** Starts the stand-in in a child process on a free loopback port. */
export async function startFakeGitHub(initial: FakeRepo): Promise<FakeGitHub> {
  const dir = mkdtempSync(join(tmpdir(), 'fake-github-'));
  const repoFile = join(dir, 'repo.json');
  const logFile = join(dir, 'requests.jsonl');
  writeFileSync(repoFile, JSON.stringify(initial));
  writeFileSync(logFile, '');
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), repoFile, logFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^PORT (\d+)$/m.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => {
      rmSync(dir, { recursive: true, force: true });
      reject(new Error(`fake GitHub exited with ${code}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    setRepo: (repo) => writeFileSync(repoFile, JSON.stringify(repo)),
    requests: () => readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as LoggedRequest),
    stop: () => new Promise<void>((resolve) => {
      child.removeAllListeners('exit');
      child.once('exit', () => {
        rmSync(dir, { recursive: true, force: true });
        resolve();
      });
      child.kill();
    }),
  };
}

/** A run as the API shows it. */
function runBody(r: FakeRun) {
  const status = r.status ?? 'in_progress';
  return {
    id: r.id,
    run_number: r.run_number,
    workflow_id: r.workflow_id ?? WORKFLOW_ID,
    head_sha: r.head_sha,
    head_branch: r.head_branch ?? 'main',
    event: r.event ?? 'push',
    status,
    conclusion: status === 'completed' ? (r.conclusion ?? 'success') : null,
  };
}

/** The server, when this file is run as a child process: node fake-github.ts REPO_FILE LOG_FILE. */
async function serve(repoFile: string, logFile: string): Promise<void> {
  const { createServer } = await import('node:http');
  const { appendFileSync } = await import('node:fs');
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    appendFileSync(logFile, `${JSON.stringify({ method: req.method, url: req.url, authorization: req.headers.authorization ?? null })}\n`);
    const repo = JSON.parse(readFileSync(repoFile, 'utf8')) as FakeRepo;
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(body));
    };
    const prefix = `/repos/${repo.repo}`;
    if (repo.fail && url.pathname.startsWith(`${prefix}${repo.failPath ?? ''}`)) return send(repo.fail, { message: repo.failMessage ?? `fake failure ${repo.fail}` });
    if (repo.token && req.headers.authorization !== `Bearer ${repo.token}`) return send(401, { message: 'Bad credentials' });
    const page = <T>(list: T[], defaultSize: number): T[] => {
      const size = Math.min(Number(url.searchParams.get('per_page') ?? defaultSize), 100);
      const n = Number(url.searchParams.get('page') ?? 1);
      return list.slice((n - 1) * size, n * size);
    };
    const path = url.pathname.startsWith(`${prefix}/`) ? url.pathname.slice(prefix.length) : null;
    if (path === null) return send(404, { message: 'Not Found' });

    const compare = /^\/compare\/([^/]+)$/.exec(path);
    if (compare) {
      const [base, head] = decodeURIComponent(compare[1]!).split('...');
      if (head !== 'main') return send(404, { message: 'Not Found' });
      const at = repo.main.indexOf(base!);
      const away = at < 0 ? (repo.elsewhere?.[base!] ?? 'diverged') : null;
      if (away === 'missing') return send(404, { message: 'Not Found' });
      if (away === 'unrelated') return send(404, { message: `No common ancestor between ${base} and ${head}.` });
      const after = at < 0 ? [] : repo.main.slice(at + 1);
      const status = away ?? (after.length ? 'ahead' : 'identical');
      return send(200, {
        status,
        ahead_by: after.length,
        behind_by: at < 0 ? 1 : 0,
        total_commits: after.length,
        commits: page(after, 250).map((sha) => ({ sha, commit: { message: 'a commit' } })),
      });
    }
    const run = /^\/actions\/runs\/(\d+)$/.exec(path);
    if (run) {
      const found = repo.runs.find((r) => r.id === Number(run[1]));
      return found ? send(200, runBody(found)) : send(404, { message: 'Not Found' });
    }
    const runs = /^\/actions\/workflows\/([^/]+)\/runs$/.exec(path);
    if (runs) {
      if (Number(runs[1]) !== WORKFLOW_ID) return send(404, { message: 'Not Found' });
      const branch = url.searchParams.get('branch');
      const event = url.searchParams.get('event');
      const list = repo.runs
        .map(runBody)
        .filter((r) => r.workflow_id === WORKFLOW_ID && (!branch || r.head_branch === branch) && (!event || r.event === event))
        .sort((a, b) => b.run_number - a.run_number);
      return send(200, { total_count: list.length, workflow_runs: page(list, 30) });
    }
    return send(404, { message: 'Not Found' });
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`PORT ${(server.address() as { port: number }).port}\n`));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await serve(process.argv[2]!, process.argv[3]!);

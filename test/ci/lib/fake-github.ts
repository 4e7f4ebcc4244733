// A stand-in for the two GitHub REST endpoints main-moved.mjs reads, in a child process (so a
// test may call it from spawnSync, which blocks this process's event loop):
//   GET /repos/{owner}/{repo}/compare/{base}...{head}?per_page&page   the commits after base
//   GET /repos/{owner}/{repo}/commits/{sha}?per_page&page             one commit's files
// The repository's history is a JSON file the test rewrites between cases (setRepo); every
// request is logged with its Authorization header (requests()).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface FakeCommit {
  sha: string;
  message: string;
  files: string[];
}
export interface FakeRepo {
  /** owner/name */
  repo: string;
  /** the commit compared from (the run's IMAGE_TAG) */
  base: string;
  /** main's commits after base, oldest first */
  main: FakeCommit[];
  /** the compare status; default: 'identical' when main is empty, else 'ahead' */
  status?: 'identical' | 'ahead' | 'behind' | 'diverged';
  /** answer every request with this HTTP status instead */
  fail?: number;
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
    child.on('exit', (code) => reject(new Error(`fake GitHub exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    setRepo: (repo) => writeFileSync(repoFile, JSON.stringify(repo)),
    requests: () => readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as LoggedRequest),
    stop: () => new Promise<void>((resolve) => {
      child.removeAllListeners('exit');
      child.once('exit', () => resolve());
      child.kill();
    }),
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
    if (repo.fail) return send(repo.fail, { message: `fake failure ${repo.fail}` });
    if (repo.token && req.headers.authorization !== `Bearer ${repo.token}`) return send(401, { message: 'Bad credentials' });
    const page = (list: unknown[], defaultSize: number) => {
      const size = Number(url.searchParams.get('per_page') ?? defaultSize);
      const n = Number(url.searchParams.get('page') ?? 1);
      return list.slice((n - 1) * size, n * size);
    };
    const prefix = `/repos/${repo.repo}`;
    const compare = url.pathname.startsWith(`${prefix}/compare/`) ? url.pathname.slice(`${prefix}/compare/`.length) : null;
    if (compare !== null) {
      const [base, head] = decodeURIComponent(compare).split('...');
      if (base !== repo.base || head !== 'main') return send(404, { message: 'Not Found' });
      const status = repo.status ?? (repo.main.length ? 'ahead' : 'identical');
      const commits = status === 'ahead' ? repo.main : [];
      return send(200, {
        status,
        ahead_by: commits.length,
        behind_by: status === 'behind' || status === 'diverged' ? 1 : 0,
        total_commits: commits.length,
        commits: page(commits, 250).map((c) => ({ sha: (c as FakeCommit).sha, commit: { message: (c as FakeCommit).message } })),
      });
    }
    const commit = url.pathname.startsWith(`${prefix}/commits/`) ? url.pathname.slice(`${prefix}/commits/`.length) : null;
    const found = commit === null ? undefined : repo.main.find((c) => c.sha === commit);
    if (found) return send(200, { sha: found.sha, commit: { message: found.message }, files: page(found.files.map((filename) => ({ filename, status: 'modified' })), 300) });
    return send(404, { message: 'Not Found' });
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`PORT ${(server.address() as { port: number }).port}\n`));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await serve(process.argv[2]!, process.argv[3]!);

// Shared pieces of the ci tests: paths, running a pipeline script the way a workflow step does
// (with its own GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files), a ci token from the gate's CLI,
// a free loopback port with nothing listening, and tool lookup with the skip-or-fail rule.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Test } from 'tap';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const ciDir = join(repoRoot, 'ci');
export const scriptsDir = join(ciDir, '.github', 'pipeline');
export const workflowFile = join(ciDir, '.github', 'workflows', 'stonks-oracle-pipeline.yml');

export interface ScriptRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** everything printed, for messages and "never printed" checks */
  output: string;
  /** the step outputs written to GITHUB_OUTPUT */
  outputs: Record<string, string>;
  /** the markdown appended to GITHUB_STEP_SUMMARY */
  summary: string;
  ms: number;
}

/**
 * Runs ci/.github/pipeline/<script> with `args` and `env` (on top of PATH only) under `node`
 * (default: this process's Node), with fresh GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files.
 */
export async function runScript(script: string, args: string[], env: Record<string, string> = {}, node = process.execPath): Promise<ScriptRun> {
  const dir = mkdtempSync(join(tmpdir(), 'ci-step-'));
  try {
    return await runScriptIn(dir, script, args, env, node);
  } finally {
    // its outputs and summary are read: nothing in it is the caller's
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runScriptIn(dir: string, script: string, args: string[], env: Record<string, string>, node: string): Promise<ScriptRun> {
  const outFile = join(dir, 'output');
  const summaryFile = join(dir, 'summary');
  writeFileSync(outFile, '');
  writeFileSync(summaryFile, '');
  const started = Date.now();
  const child = spawn(node, [join(scriptsDir, script), ...args], {
    cwd: dir,
    env: { PATH: process.env['PATH'] ?? '', GITHUB_OUTPUT: outFile, GITHUB_STEP_SUMMARY: summaryFile, GATE_CI_TOKEN_FILE: join(dir, 'no-token-file'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const outputs: Record<string, string> = {};
  for (const line of readFileSync(outFile, 'utf8').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) outputs[line.slice(0, i)] = line.slice(i + 1);
  }
  return { status, stdout, stderr, output: stdout + stderr, outputs, summary: readFileSync(summaryFile, 'utf8'), ms: Date.now() - started };
}

/** Creates a local token with role ci through the gate's CLI; returns the printed token. */
export async function createToken(dataDir: string, name: string, roles: string): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [join(repoRoot, 'src', 'cli.ts'), 'token', 'create', '--name', name, '--roles', roles, '--data-dir', dataDir], {
    cwd: repoRoot,
    env: { PATH: process.env['PATH'] ?? '' },
  });
  const token = /^(gate_\S+)$/m.exec(stdout)?.[1];
  if (!token) throw new Error(`token create printed no token:\n${stdout}`);
  return token;
}

/** A loopback port that was free a moment ago, with nothing listening on it now. */
export async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/**
 * Finds a tool in .tools/bin, then on PATH. When it is missing: under CI=true the test fails;
 * otherwise a visible NOTICE is printed and the caller skips. Returns the path or null.
 */
export function toolOrSkip(t: Test, name: string, hint: string): string | null {
  const local = join(repoRoot, '.tools', 'bin', name);
  if (existsSync(local)) return local;
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  if (process.env['CI'] === 'true') t.fail(`${name} is missing and CI=true (${hint})`);
  else {
    process.stderr.write(`NOTICE: ${name} not found in .tools/bin or on PATH (${hint}): skipped\n`);
    void t.test(`${name} missing: skipped (${hint})`, { skip: `${name} not found` }, async () => {});
  }
  return null;
}

/**
 * A Node 20 binary (the oldest Node the pipeline scripts promise, ci/README.md) for the
 * compatibility checks: the one .ci/tools.sh installs into <root>/.tools/node20, else a system
 * Node that is version 20. Undefined when there is none.
 */
export function findNode20(root = repoRoot): string | undefined {
  const candidates = [join(root, '.tools', 'node20', 'node_modules', '.bin', 'node'), '/usr/bin/node', '/usr/local/bin/node'];
  return candidates.find((p) => {
    const r = spawnSync(p, ['-p', 'process.versions.node'], { encoding: 'utf8' });
    return r.status === 0 && Number(r.stdout.split('.')[0]) === 20;
  });
}

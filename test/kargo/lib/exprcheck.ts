import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Test } from 'tap';
import { repoRoot } from './paths.ts';
import { skipWithNotice } from './skip-with-notice.ts';

/** Where the Go toolchain is looked for: .tools/bin, /usr/local/go/bin, then PATH. */
function findGo(): string | undefined {
  for (const candidate of [join(repoRoot, '.tools/bin/go'), '/usr/local/go/bin/go']) {
    if (existsSync(candidate)) return candidate;
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'go'))) return join(dir, 'go');
  }
  return undefined;
}

let built: string | undefined;

/**
 * Builds tools/exprcheck into .tools/bin/exprcheck (once per process).
 * Returns the binary path, or undefined when no Go toolchain is installed.
 * Throws when the build itself fails.
 */
export function buildExprcheck(): string | undefined {
  if (built) return built;
  const go = findGo();
  if (!go) return undefined;
  const out = join(repoRoot, '.tools/bin/exprcheck');
  mkdirSync(join(repoRoot, '.tools/bin'), { recursive: true });
  const res = spawnSync(go, ['build', '-o', out, '.'], {
    cwd: join(repoRoot, 'tools/exprcheck'),
    env: { ...process.env, GOFLAGS: '-mod=mod', PATH: `${join(go, '..')}${delimiter}${process.env.PATH ?? ''}` },
    encoding: 'utf8',
  });
  if (res.status !== 0) throw new Error(`go build tools/exprcheck failed: ${res.stderr || res.error?.message}`);
  built = out;
  return out;
}

/** A compile request (see tools/exprcheck/main.go). */
export interface CompileRequest {
  env: 'kargo-template' | 'kargo-http-step' | 'rollouts';
  expr?: string;
  template?: string;
  kind?: 'success' | 'failure' | 'error' | 'output';
  resultSample?: unknown;
}

/** The answer to one compile request: ok, or the compiler's error; exprs found in a template. */
export interface CompileResult {
  ok: boolean;
  error?: string;
  exprs?: string[];
}

function runTool(bin: string, args: string[], input: unknown): unknown[] {
  const out = execFileSync(bin, args, { input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 64 << 20 });
  return JSON.parse(out) as unknown[];
}

/** Compiles the requests with exprcheck; the results are in request order. */
export function compileAll(bin: string, reqs: CompileRequest[]): CompileResult[] {
  return runTool(bin, [], reqs) as CompileResult[];
}

/** Runs exprcheck --eval on a list of operations; results are in order. */
export function evalAll(bin: string, ops: unknown[]): unknown[] {
  return runTool(bin, ['--eval'], ops);
}

/**
 * The exprcheck binary for a test, or undefined after recording why it is missing: a visible
 * skip locally, a failure under CI=true.
 */
export function exprcheckOrSkip(t: Test): string | undefined {
  const bin = buildExprcheck();
  if (bin) return bin;
  if (process.env.CI === 'true') t.fail('no Go toolchain (looked in .tools/bin, /usr/local/go/bin, PATH) and CI=true');
  else skipWithNotice(t, 'no Go toolchain found (install Go or run bash .ci/tools.sh); expression checks skipped');
  return undefined;
}


// Scenarios for the workflow simulator, and running a step's `run:` shell for real the way
// the runner does (bash --noprofile --norc -eo pipefail) with its own GITHUB_OUTPUT and
// GITHUB_STEP_SUMMARY, optionally with stand-in commands first on PATH.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Scenario, Step } from './workflow-sim.ts';

export const SHA = '0123456789abcdef0123456789abcdef01234567';
export const REPO = 'celesrenata/stonks-oracle';

export interface ShellRun {
  status: number | null;
  output: string;
  outputs: Record<string, string>;
  summary: string;
}

/**
 * Runs a step's shell with `env` (plus PATH, with `stubs` — name -> script body — in a
 * directory placed first), in `cwd` (default: a fresh directory). Returns the exit status, what
 * it printed, its outputs and summary.
 */
export function runShell(script: string, env: Record<string, string>, stubs: Record<string, string> = {}, cwd?: string): ShellRun {
  const dir = mkdtempSync(join(tmpdir(), 'ci-shell-'));
  try {
    return runShellIn(dir, script, env, stubs, cwd);
  } finally {
    // the stubs, outputs and summary are read: nothing in it is the caller's
    rmSync(dir, { recursive: true, force: true });
  }
}

function runShellIn(dir: string, script: string, env: Record<string, string>, stubs: Record<string, string>, cwd: string | undefined): ShellRun {
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  for (const [name, body] of Object.entries(stubs)) {
    writeFileSync(join(bin, name), `#!/usr/bin/env bash\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  }
  const file = join(dir, 'step.sh');
  writeFileSync(file, script);
  const out = join(dir, 'output');
  const summary = join(dir, 'summary');
  writeFileSync(out, '');
  writeFileSync(summary, '');
  const r = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', file], {
    cwd: cwd ?? dir,
    env: { PATH: `${bin}:${process.env['PATH'] ?? ''}`, GITHUB_OUTPUT: out, GITHUB_STEP_SUMMARY: summary, ...env },
    encoding: 'utf8',
  });
  const outputs: Record<string, string> = {};
  for (const line of readFileSync(out, 'utf8').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) outputs[line.slice(0, i)] = line.slice(i + 1);
  }
  return { status: r.status, output: (r.stdout ?? '') + (r.stderr ?? ''), outputs, summary: readFileSync(summary, 'utf8') };
}

/** github context of a push to main, or of a pull request from this repository or a fork. */
export function githubContext(kind: 'push-main' | 'push-branch' | 'pr' | 'fork-pr'): Scenario['github'] {
  const base = { sha: SHA, repository: REPO, server_url: 'https://github.com', api_url: 'https://api.github.com', actor: 'dev' };
  if (kind === 'push-main') return { ...base, event_name: 'push', ref: 'refs/heads/main', event: {} };
  if (kind === 'push-branch') return { ...base, event_name: 'push', ref: 'refs/heads/feature', event: {} };
  const head = kind === 'pr' ? REPO : 'someone/stonks-oracle';
  return { ...base, event_name: 'pull_request', ref: 'refs/pull/7/merge', event: { pull_request: { head: { repo: { full_name: head } } } } };
}

/**
 * A runStep callback that runs the plan job's "Record the image tag" shell for real, sets the
 * toggles step's outputs to `toggles` (e.g. what read-toggles.mjs printed), and leaves every
 * other step to the scenario.
 */
export function planSteps(toggles: Record<string, string>): NonNullable<Scenario['runStep']> {
  return (jobId: string, step: Step, env: Record<string, string>) => {
    if (jobId !== 'plan') return undefined;
    if (step.id === 'toggles') return { outcome: 'success', outputs: toggles };
    if (step.id === 'tag' && step.run) {
      const r = runShell(step.run, env);
      return { outcome: r.status === 0 ? 'success' : 'failure', outputs: r.outputs };
    }
    return undefined;
  };
}

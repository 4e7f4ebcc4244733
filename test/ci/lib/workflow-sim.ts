// Runs a workflow's job graph on paper, the way GitHub schedules it: jobs in `needs` order,
// each job's `if` evaluated with the implicit success() rule over its direct needs, steps in
// order with their own `if`s, job outputs rendered from step outputs. What the steps do is
// given by the scenario: which steps fail and what outputs they set (or a callback that
// really runs a step's shell, given the step's rendered `with:` inputs). A matrix job counts as
// one job (failed if any leg fails). A later attempt of the same run ("Re-run failed jobs") is
// simulated with `keep` = rerunFailedJobs(wf, <the earlier attempt>): the jobs GitHub does not
// run again keep their result and outputs, the others run anew.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { evaluateIf, render } from './expr.ts';
import type { EvalContext, Value } from './expr.ts';

export interface Step {
  id?: string;
  name?: string;
  if?: string | boolean;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
  'continue-on-error'?: boolean;
  'working-directory'?: string;
  shell?: string;
}
export interface Job {
  name?: string;
  needs?: string | string[];
  if?: string | boolean;
  'runs-on': string | string[];
  permissions?: Record<string, string>;
  outputs?: Record<string, string>;
  env?: Record<string, string>;
  strategy?: { matrix?: { include?: Record<string, string>[] } & Record<string, unknown>; 'fail-fast'?: boolean };
  steps: Step[];
  'timeout-minutes'?: number;
  defaults?: { run?: { shell?: string } };
}
export interface Workflow {
  name: string;
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  concurrency?: Record<string, unknown>;
  env: Record<string, string>;
  defaults?: { run?: { shell?: string } };
  jobs: Record<string, Job>;
}

export const WORKFLOW_PATH = 'ci/.github/workflows/stonks-oracle-pipeline.yml';

export function loadWorkflow(path: string): Workflow {
  return parse(readFileSync(path, 'utf8'), { uniqueKeys: true }) as Workflow;
}

export const needsOf = (job: Job): string[] => (job.needs === undefined ? [] : Array.isArray(job.needs) ? job.needs : [job.needs]);
export const stepKey = (s: Step): string => s.id ?? s.name ?? s.uses ?? s.run ?? '?';

export type Result = 'success' | 'failure' | 'skipped';
export interface StepRun {
  key: string;
  ran: boolean;
  outcome: Result;
}
export interface JobRun {
  result: Result;
  steps: StepRun[];
  outputs: Record<string, string>;
}

export interface Scenario {
  github: { event_name: string; ref: string; sha: string; repository: string; event?: Record<string, Value> };
  vars?: Record<string, string>;
  /** step keys (id, else name) that fail, per job */
  fail?: Record<string, string[]>;
  /** outputs a step sets, per job and step id */
  stepOutputs?: Record<string, Record<string, Record<string, string>>>;
  /**
   * runs a step for real (e.g. its shell, or an action's effect) and returns its outcome and
   * outputs; `inputs` are the step's `with:` values rendered; undefined = use the scenario
   */
  runStep?: (jobId: string, step: Step, env: Record<string, string>, inputs: Record<string, string>) => { outcome: 'success' | 'failure'; outputs: Record<string, string> } | undefined;
  cancelled?: boolean;
  /** jobs carried over unchanged from an earlier attempt of the run (see rerunFailedJobs) */
  keep?: Record<string, JobRun>;
}

/** Orders jobs so that each comes after its needs; throws on an unknown need or a cycle. */
export function topoOrder(wf: Workflow): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string, from?: string) => {
    if (!wf.jobs[id]) throw new Error(`job ${from} needs unknown job ${id}`);
    if (state.get(id) === 'done') return;
    if (state.get(id) === 'visiting') throw new Error(`needs cycle through ${id}`);
    state.set(id, 'visiting');
    for (const n of needsOf(wf.jobs[id])) visit(n, id);
    state.set(id, 'done');
    order.push(id);
  };
  for (const id of Object.keys(wf.jobs)) visit(id);
  return order;
}

/** Simulates one run of the workflow; returns every job's result, step runs and outputs. */
export function simulate(wf: Workflow, sc: Scenario): Record<string, JobRun> {
  const runs: Record<string, JobRun> = {};
  const cancelled = sc.cancelled ?? false;
  for (const id of topoOrder(wf)) {
    const job = wf.jobs[id] as Job;
    const kept = sc.keep?.[id];
    if (kept) {
      runs[id] = kept;
      continue;
    }
    const needs = needsOf(job);
    const needsCtx: Record<string, Value> = {};
    for (const n of needs) needsCtx[n] = { result: runs[n]!.result, outputs: runs[n]!.outputs };
    const base = { github: sc.github as unknown as Value, vars: (sc.vars ?? {}) as Value, needs: needsCtx, secrets: { GITHUB_TOKEN: '***', GATE_CI_TOKEN: '***' } as Value };
    const jobCtx: EvalContext = {
      contexts: base,
      status: {
        success: () => !cancelled && needs.every((n) => runs[n]!.result === 'success'),
        failure: () => needs.some((n) => runs[n]!.result === 'failure'),
        cancelled: () => cancelled,
      },
    };
    if (!evaluateIf(job.if, jobCtx)) {
      runs[id] = { result: 'skipped', steps: job.steps.map((s) => ({ key: stepKey(s), ran: false, outcome: 'skipped' })), outputs: {} };
      continue;
    }
    const env: Record<string, string> = {};
    const envCtx: EvalContext = { ...jobCtx, contexts: { ...base, env } };
    for (const [k, v] of Object.entries(wf.env ?? {})) env[k] = render(String(v), envCtx);
    for (const [k, v] of Object.entries(job.env ?? {})) env[k] = render(String(v), envCtx);
    const stepsCtx: Record<string, Value> = {};
    const stepRuns: StepRun[] = [];
    let failed = false;
    for (const step of job.steps) {
      const key = stepKey(step);
      const ctx: EvalContext = {
        contexts: { ...base, env, steps: stepsCtx },
        status: { success: () => !failed && !cancelled, failure: () => failed, cancelled: () => cancelled },
      };
      const ran = evaluateIf(step.if, ctx);
      let outcome: Result = 'skipped';
      let outputs: Record<string, string> = {};
      if (ran) {
        const stepEnv = { ...env };
        for (const [k, v] of Object.entries(step.env ?? {})) stepEnv[k] = render(String(v), ctx);
        const inputs: Record<string, string> = {};
        for (const [k, v] of Object.entries(step.with ?? {})) inputs[k] = render(String(v), { ...ctx, contexts: { ...ctx.contexts, env: stepEnv } });
        const real = sc.runStep?.(id, step, stepEnv, inputs);
        if (real) {
          outcome = real.outcome;
          outputs = real.outputs;
        } else {
          outcome = (sc.fail?.[id] ?? []).includes(key) ? 'failure' : 'success';
          outputs = (step.id && sc.stepOutputs?.[id]?.[step.id]) || {};
        }
        if (outcome === 'failure' && !step['continue-on-error']) failed = true;
      }
      if (step.id) stepsCtx[step.id] = { outcome, conclusion: outcome === 'failure' && step['continue-on-error'] ? 'success' : outcome, outputs };
      stepRuns.push({ key, ran, outcome });
    }
    const outCtx: EvalContext = { contexts: { ...base, env, steps: stepsCtx }, status: jobCtx.status };
    const outputs: Record<string, string> = {};
    for (const [k, v] of Object.entries(job.outputs ?? {})) outputs[k] = render(String(v), outCtx);
    runs[id] = { result: failed ? 'failure' : 'success', steps: stepRuns, outputs };
  }
  return runs;
}

/**
 * "Re-run failed jobs" on a finished attempt: GitHub runs the failed jobs and every job that
 * needs one of them (directly or not) again, in a new attempt of the same run; every other job
 * keeps its result and outputs. Returns those kept jobs, for Scenario.keep.
 */
export function rerunFailedJobs(wf: Workflow, previous: Record<string, JobRun>): Record<string, JobRun> {
  const again = new Set<string>();
  for (const id of topoOrder(wf)) {
    if (previous[id]?.result === 'failure' || needsOf(wf.jobs[id] as Job).some((n) => again.has(n))) again.add(id);
  }
  return Object.fromEntries(Object.entries(previous).filter(([id]) => !again.has(id)));
}

/** The ids of the jobs that ran (not skipped), in workflow order. */
export const ranJobs = (runs: Record<string, JobRun>): string[] => Object.entries(runs).filter(([, r]) => r.result !== 'skipped').map(([id]) => id);

import { at } from './kargo-docs.ts';
import type { KargoDoc } from './kargo-docs.ts';
import { evalAll } from './exprcheck.ts';

/** A promotion step as written in a Stage. */
export interface StageStep {
  uses: string;
  as: string;
  if?: string;
  config: Record<string, unknown>;
}

/** The outcome Kargo records for an http step (tools/exprcheck http_step.go). */
export interface HttpOutcome {
  status: 'Succeeded' | 'Failed' | 'Running' | 'Errored';
  terminal: boolean;
  message?: string;
  outputs?: Record<string, unknown>;
}

/** A recorded or live HTTP response. */
export interface RecordedResponse {
  status: number;
  headers: Record<string, string[]>;
  body: string;
}

/** The sample promotion a contract case renders the stage for. */
export interface SamplePromotion {
  stage: KargoDoc;
  gateURL: string;
  token: string;
  tag: string;
  promotion?: string;
  freight?: string;
  actor?: string;
  rollback?: boolean;
}

/** The rendered request the gate step sends. */
export interface RenderedRequest {
  config: Record<string, unknown>;
  method: string;
  url: string;
  headers: [string, string][];
  body: string;
}

/** The steps of a Stage's promotion template, in order. */
export function stepsOf(stage: KargoDoc): StageStep[] {
  return at(stage.doc, 'spec', 'promotionTemplate', 'spec', 'steps') as StageStep[];
}

/** Stage spec.vars as a map. */
export function stageVars(stage: KargoDoc): Record<string, string> {
  return Object.fromEntries((at(stage.doc, 'spec', 'vars') as { name: string; value: string }[]).map((v) => [v.name, v.value]));
}

/**
 * The expression environment Kargo builds for a step of this promotion (BuildExprEnv: ctx,
 * vars, outputs) and the sample data behind secret() and imageFrom().
 */
export function sampleEnv(p: SamplePromotion, outputs: Record<string, unknown> = {}) {
  const stageName = String(at(p.stage.doc, 'metadata', 'name'));
  const vars: Record<string, string> = { ...stageVars(p.stage), gateURL: p.gateURL };
  return {
    env: {
      ctx: {
        project: String(at(p.stage.doc, 'metadata', 'namespace')),
        stage: stageName,
        promotion: p.promotion ?? `${stageName}.01kbz8x2p4m6n8q0s2t4v6w8y0.1a2b3c4`,
        targetFreight: { name: p.freight ?? '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b', origin: { name: 'stonks-oracle' } },
        meta: { promotion: { actor: p.actor ?? 'admin', rollback: p.rollback ?? false } },
      },
      vars,
      outputs,
    },
    data: {
      secrets: { 'gate-caller': { token: p.token } },
      images: [{ RepoURL: vars.markerImage, Tag: p.tag }],
    },
  };
}

/**
 * Renders the stage's own gate step (step 0 of its YAML) the way Kargo would for the sample
 * promotion, through exprcheck (expr-lang with Kargo's template rules and functions).
 */
export function renderGateRequest(bin: string, p: SamplePromotion): RenderedRequest {
  const gate = stepsOf(p.stage)[0]!;
  const { env, data } = sampleEnv(p);
  const [res] = evalAll(bin, [{ op: 'render', value: structuredClone(gate.config), env, data }]) as { ok: boolean; value?: Record<string, unknown>; error?: string }[];
  if (!res?.ok || !res.value) throw new Error(`rendering the gate step failed: ${res?.error}`);
  const config = res.value;
  return {
    config,
    method: String(config.method ?? 'GET'),
    url: String(config.url),
    headers: ((config.headers ?? []) as { name: string; value: string }[]).map((h) => [h.name, h.value]),
    body: String(config.body ?? ''),
  };
}

/** Sends a rendered request and records the response. */
export async function send(req: RenderedRequest): Promise<RecordedResponse> {
  const res = await fetch(req.url, { method: req.method, headers: req.headers, body: req.method === 'GET' ? undefined : req.body });
  const headers: Record<string, string[]> = {};
  res.headers.forEach((v, k) => (headers[k] = [v]));
  return { status: res.status, headers, body: await res.text() };
}

/** What Kargo's http step makes of the response under the rendered config. */
export function httpOutcome(bin: string, config: Record<string, unknown>, response: RecordedResponse): HttpOutcome {
  return evalAll(bin, [{ op: 'http-step', config, response }])[0] as HttpOutcome;
}

/**
 * Evaluates the `if` of every step after the gate as Kargo would once the gate step ended
 * with this outcome (outputs.gate set only on success; success() false after a failure).
 * Returns alias -> boolean, or the evaluation error text.
 */
export function laterStepConditions(bin: string, p: SamplePromotion, outcome: HttpOutcome): Record<string, boolean | string> {
  const steps = stepsOf(p.stage).slice(1);
  const outputs = outcome.status === 'Succeeded' ? { gate: outcome.outputs ?? {} } : {};
  const { env, data } = sampleEnv(p, outputs);
  const ops = steps.map((s) => ({ op: 'render', value: s.if ?? '', env, data: { ...data, stepStatuses: [{ alias: 'gate', status: outcome.status }] } }));
  const results = evalAll(bin, ops) as { ok: boolean; value?: unknown; error?: string }[];
  return Object.fromEntries(steps.map((s, i) => [s.as, results[i]!.ok ? (results[i]!.value as boolean) : `error: ${results[i]!.error}`]));
}

/** Renders any other step's config (e.g. git-commit, yaml-update) with the gate's outputs. */
export function renderStepConfig(bin: string, p: SamplePromotion, alias: string, outputs: Record<string, unknown>): Record<string, unknown> {
  const step = stepsOf(p.stage).find((s) => s.as === alias);
  if (!step) throw new Error(`no step ${alias}`);
  const { env, data } = sampleEnv(p, outputs);
  const [res] = evalAll(bin, [{ op: 'render', value: structuredClone(step.config), env, data }]) as { ok: boolean; value?: Record<string, unknown>; error?: string }[];
  if (!res?.ok || !res.value) throw new Error(`rendering ${alias} failed: ${res?.error}`);
  return res.value;
}

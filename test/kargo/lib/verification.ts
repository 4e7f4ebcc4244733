import { at } from './kargo-docs.ts';
import type { KargoDoc } from './kargo-docs.ts';
import { evalAll } from './exprcheck.ts';
import { stageVars } from './gate-step.ts';
import type { RecordedResponse } from './gate-step.ts';

/** A metric of an AnalysisTemplate. */
export interface TemplateMetric {
  name: string;
  count?: number;
  failureLimit?: number;
  inconclusiveLimit?: number;
  consecutiveErrorLimit?: number;
  successCondition?: string;
  failureCondition?: string;
  provider: { web: { url: string; method?: string; jsonPath?: string; headers?: { key: string; value: string }[] } };
}

/** One web measurement as Rollouts records it (tools/exprcheck rollouts.go). */
export interface Measurement {
  phase: 'Successful' | 'Failed' | 'Inconclusive' | 'Error';
  value?: string;
  message?: string;
}

/**
 * Renders a Stage's verification args the way Kargo does (only ctx.project/ctx.stage, the Stage
 * vars and the freight functions are visible) and merges them over the template's declared
 * args; secretKeyRef args are resolved from `secrets` as the Rollouts controller would.
 */
export function analysisArgs(
  bin: string,
  stage: KargoDoc,
  template: KargoDoc,
  sample: { tag: string; gateURL: string; secrets: Record<string, Record<string, string>> },
): Record<string, string> {
  const vars: Record<string, string> = { ...stageVars(stage), gateURL: sample.gateURL };
  const stageArgs = at(stage.doc, 'spec', 'verification', 'args') as { name: string; value: string }[];
  const env = { ctx: { project: at(stage.doc, 'metadata', 'namespace'), stage: at(stage.doc, 'metadata', 'name') }, vars };
  const data = { images: [{ RepoURL: vars.markerImage, Tag: sample.tag }] };
  const rendered = evalAll(bin, stageArgs.map((a) => ({ op: 'render', value: a.value, env, data }))) as { ok: boolean; value?: unknown; error?: string }[];
  const fromStage = Object.fromEntries(
    stageArgs.map((a, i) => {
      const r = rendered[i]!;
      if (!r.ok) throw new Error(`arg ${a.name}: ${r.error}`);
      if (typeof r.value !== 'string') throw new Error(`evaluated argument "${a.name}" value is not a string`);
      return [a.name, r.value];
    }),
  );
  const out: Record<string, string> = {};
  for (const a of at(template.doc, 'spec', 'args') as { name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string } } }[]) {
    const ref = a.valueFrom?.secretKeyRef;
    const value = fromStage[a.name] ?? (ref ? sample.secrets[ref.name]?.[ref.key] : a.value);
    if (value === undefined) throw new Error(`args.${a.name} was not resolved`);
    out[a.name] = value;
  }
  return out;
}

/** Substitutes {{args.x}} the way Rollouts resolves a metric's templated fields. */
export function resolveArgs(text: string, args: Record<string, string>): string {
  return text.replace(/\{\{\s*args\.([\w-]+)\s*\}\}/g, (_, name: string) => {
    if (!(name in args)) throw new Error(`unresolved {{args.${name}}}`);
    return args[name]!;
  });
}

/** Sends the metric's web request with resolved args and records the response. */
export async function measureLive(metric: TemplateMetric, args: Record<string, string>): Promise<RecordedResponse> {
  const web = metric.provider.web;
  const headers = (web.headers ?? []).map((h) => [h.key, resolveArgs(h.value, args)] as [string, string]);
  const res = await fetch(resolveArgs(web.url, args), { method: web.method ?? 'GET', headers });
  return { status: res.status, headers: { 'content-type': [res.headers.get('content-type') ?? ''] }, body: await res.text() };
}

/** The measurement phase Rollouts records for one response (engine: antonmedv/expr, as v1.9). */
export function measure(bin: string, metric: TemplateMetric, responses: RecordedResponse[]): Measurement[] {
  return evalAll(bin, responses.map((response) => ({ op: 'web-measurement', metric, response }))) as Measurement[];
}

import { at } from './kargo-docs.ts';
import type { KargoDoc } from './kargo-docs.ts';
import type { CompileRequest } from './exprcheck.ts';

/** An expression found in a manifest, with where it is and how it must compile. */
export interface FoundExpression {
  where: string;
  request: CompileRequest;
}

const hasTemplate = (s: string): boolean => s.includes('${{') || s.includes('${%');

function walkStrings(node: unknown, path: string, visit: (s: string, path: string) => void): void {
  if (typeof node === 'string') visit(node, path);
  else if (Array.isArray(node)) node.forEach((v, i) => walkStrings(v, `${path}[${i}]`, visit));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) walkStrings(v, path ? `${path}.${k}` : k, visit);
  }
}

const httpFields = [
  ['successExpression', 'success'],
  ['failureExpression', 'failure'],
  ['errorExpression', 'error'],
] as const;

/**
 * Every expression of the manifests: each string value holding `${{ }}`/`${% %}` (a Kargo
 * template), each http step success/failure/error/output expression, and each Rollouts
 * successCondition/failureCondition.
 */
export function findExpressions(docs: KargoDoc[]): FoundExpression[] {
  const found: FoundExpression[] = [];
  for (const d of docs) {
    const base = `${d.file}#${d.index}`;
    walkStrings(d.doc, '', (s, path) => {
      if (hasTemplate(s)) found.push({ where: `${base} ${path}`, request: { env: 'kargo-template', template: s } });
    });
    if (d.doc.kind === 'Stage') {
      const steps = (at(d.doc, 'spec', 'promotionTemplate', 'spec', 'steps') ?? []) as { uses?: string; config?: Record<string, unknown> }[];
      steps.forEach((step, i) => {
        if (step.uses !== 'http' || !step.config) return;
        for (const [field, kind] of httpFields) {
          const src = step.config[field];
          if (typeof src === 'string') found.push({ where: `${base} steps[${i}].config.${field}`, request: { env: 'kargo-http-step', expr: src, kind } });
        }
        ((step.config.outputs ?? []) as { name: string; fromExpression: string }[]).forEach((o, j) => {
          found.push({ where: `${base} steps[${i}].config.outputs[${j}] (${o.name})`, request: { env: 'kargo-http-step', expr: o.fromExpression, kind: 'output' } });
        });
      });
    }
    if (d.doc.kind === 'AnalysisTemplate' || d.doc.kind === 'ClusterAnalysisTemplate') {
      ((at(d.doc, 'spec', 'metrics') ?? []) as Record<string, unknown>[]).forEach((m, i) => {
        for (const field of ['successCondition', 'failureCondition'] as const) {
          const src = m[field];
          if (typeof src === 'string') found.push({ where: `${base} metrics[${i}].${field}`, request: { env: 'rollouts', expr: src } });
        }
      });
    }
  }
  return found;
}

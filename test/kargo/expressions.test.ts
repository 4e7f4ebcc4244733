// Every `${{ }}` template, http-step expression and Rollouts condition under kargo/ compiles
// with the engine Kargo / Argo Rollouts use (tools/exprcheck: expr-lang/expr v1.17.8 with
// Kargo's functions and a strict pass with ctx/vars/outputs/task declared; antonmedv/expr
// v1.15.5 and expr-lang v1.17.8 for Rollouts). Broken expressions are shown to be caught.
import t from 'tap';
import { at, docsOfKind, loadKargoDocs } from './lib/kargo-docs.ts';
import { compileAll, exprcheckOrSkip } from './lib/exprcheck.ts';
import type { CompileRequest } from './lib/exprcheck.ts';
import { findExpressions } from './lib/expressions.ts';

const docs = loadKargoDocs();
const found = findExpressions(docs);

t.test('every expression under kargo/ compiles', async (t) => {
  const bin = exprcheckOrSkip(t);
  if (!bin) return;
  const results = compileAll(bin, found.map((f) => f.request));
  const byEnv = (env: string): number => found.filter((f) => f.request.env === env).length;
  const inner = results.reduce((n, r, i) => n + (found[i]!.request.env === 'kargo-template' ? (r.exprs?.length ?? 0) : 0), 0);
  t.comment(`compiled ${byEnv('kargo-template')} template values (${inner} \${{ }} expressions), ${byEnv('kargo-http-step')} http-step expressions, ${byEnv('rollouts')} Rollouts conditions`);
  t.equal(byEnv('kargo-template'), 57, 'template values: 17 in the steps of each stage + 4 beta and 1 paper/live verification args');
  t.equal(byEnv('kargo-http-step'), 15, '3 stages x (success, failure, error, 2 outputs)');
  t.equal(byEnv('rollouts'), 3, 'integration-tests (success, failure) + app-health (failure)');
  found.forEach((f, i) => t.same(results[i], { ...results[i], ok: true }, `${f.where}: ${results[i]!.error ?? 'ok'}`));
});

t.test('broken expressions are caught', async (t) => {
  const bin = exprcheckOrSkip(t);
  if (!bin) return;
  const cases: { name: string; req: CompileRequest; expect: RegExp }[] = [
    { name: 'syntax error', req: { env: 'kargo-template', template: '${{ !outputs.gate.skip && }}' }, expect: /unexpected token/ },
    { name: 'unknown function', req: { env: 'kargo-template', template: "${{ secrets('gate-caller').token }}" }, expect: /unknown name secrets/ },
    { name: 'main-only function (freightStatus)', req: { env: 'kargo-template', template: "${{ freightStatus('f').approvedFor }}" }, expect: /unknown name freightStatus/ },
    { name: 'wrong arity', req: { env: 'kargo-template', template: "${{ secret('a', 'b').token }}" }, expect: /too many arguments/ },
    { name: 'wrong argument type', req: { env: 'kargo-template', template: '${{ imageFrom(42).Tag }}' }, expect: /cannot use int as argument/ },
    { name: 'misspelt result field', req: { env: 'kargo-template', template: '${{ imageFrom(vars.markerImage).tag }}' }, expect: /has no field tag/ },
    { name: 'misspelt ctx member', req: { env: 'kargo-template', template: '${{ ctx.targetFreigth.name }}' }, expect: /has no field targetFreigth/ },
    { name: 'unknown top-level variable', req: { env: 'kargo-template', template: '${{ output.gate.skip }}' }, expect: /unknown name output/ },
    { name: 'nested map closes the template early', req: { env: 'kargo-template', template: '${{ quote({"a": {"b": ctx.stage}}) }}' }, expect: /unexpected token/ },
    { name: 'unclosed template', req: { env: 'kargo-template', template: '${{ ctx.stage ' }, expect: /unclosed expression/ },
    { name: 'http: syntax error', req: { env: 'kargo-http-step', expr: "response.body.decision == 'allow' ||", kind: 'success' }, expect: /unexpected token/ },
    { name: 'http: unknown response member', req: { env: 'kargo-http-step', expr: 'response.code == 200', kind: 'success' }, expect: /has no field code/ },
    { name: 'http: Kargo functions are not available', req: { env: 'kargo-http-step', expr: "response.body.stage == secret('x').y", kind: 'success' }, expect: /unknown name secret/ },
    { name: 'http: success must be boolean', req: { env: 'kargo-http-step', expr: 'response.status + 1', kind: 'success' }, expect: /expected bool/ },
    { name: 'rollouts: syntax error', req: { env: 'rollouts', expr: 'result.found == true &&' }, expect: /unexpected token/ },
    { name: 'rollouts: unknown function', req: { env: 'rollouts', expr: 'len2(result) > 0' }, expect: /unknown name len2/ },
    { name: 'rollouts: Kargo variable', req: { env: 'rollouts', expr: "ctx.stage == 'beta'" }, expect: /unknown name ctx/ },
  ];
  const results = compileAll(bin, cases.map((c) => c.req));
  cases.forEach((c, i) => {
    t.equal(results[i]!.ok, false, `${c.name}: rejected`);
    t.match(results[i]!.error ?? '', c.expect, `${c.name}: ${results[i]!.error?.split('\n')[0]}`);
  });
});

t.test('references resolve: vars, step outputs, verification context, Rollouts args', async (t) => {
  for (const stage of docsOfKind(docs, 'Stage')) {
    const name = String(at(stage.doc, 'metadata', 'name'));
    const defined = new Set((at(stage.doc, 'spec', 'vars') as { name: string }[]).map((v) => v.name));
    const text = JSON.stringify(stage.doc);
    for (const m of text.matchAll(/\bvars\.([A-Za-z_]\w*)/g)) t.ok(defined.has(m[1]!), `${name}: vars.${m[1]} is a Stage var`);

    const steps = at(stage.doc, 'spec', 'promotionTemplate', 'spec', 'steps') as { as?: string }[];
    steps.forEach((step, i) => {
      const earlier = new Set(steps.slice(0, i).map((s) => s.as));
      for (const m of JSON.stringify(step).matchAll(/\boutputs\.([A-Za-z_][\w-]*)/g)) {
        t.ok(earlier.has(m[1]!), `${name} step ${step.as}: outputs.${m[1]} is an earlier step`);
      }
      for (const field of ['successExpression', 'failureExpression', 'errorExpression']) {
        const v = at(step, 'config', field);
        if (typeof v === 'string') t.notMatch(v, /\$\{[{%]/, `${name} ${step.as}.${field}: no inner template to render first`);
      }
    });

    // Verification args see ctx.project, ctx.stage, Stage vars and freight functions only.
    const args = at(stage.doc, 'spec', 'verification', 'args') as { name: string; value: string }[];
    for (const a of args) {
      t.notMatch(a.value, /\boutputs\.|ctx\.(?!project\b|stage\b)/, `${name} arg ${a.name}: only what verification args can see`);
      t.match(a.value, /^\$\{\{ quote\(.*\) \}\}$/, `${name} arg ${a.name}: quoted, so it evaluates to a string`);
    }
    const templates = (at(stage.doc, 'spec', 'verification', 'analysisTemplates') as { name: string }[]).map((r) => {
      const tpl = docsOfKind(docs, 'AnalysisTemplate').find((d) => at(d.doc, 'metadata', 'name') === r.name);
      t.ok(tpl, `${name}: AnalysisTemplate ${r.name} exists`);
      return tpl!;
    });
    const declared = templates.flatMap((tpl) => at(tpl.doc, 'spec', 'args') as { name: string; value?: string; valueFrom?: unknown }[]);
    for (const a of args) t.ok(declared.some((d) => d.name === a.name), `${name}: arg ${a.name} is declared by a template (else Kargo drops it)`);
    for (const d of declared.filter((x) => x.value === undefined && x.valueFrom === undefined)) {
      t.ok(args.some((a) => a.name === d.name), `${name}: required template arg ${d.name} is set by the Stage`);
    }
  }
  for (const tpl of docsOfKind(docs, 'AnalysisTemplate')) {
    const declared = new Set((at(tpl.doc, 'spec', 'args') as { name: string }[]).map((a) => a.name));
    for (const m of JSON.stringify(at(tpl.doc, 'spec', 'metrics')).matchAll(/\{\{\s*args\.([\w-]+)\s*\}\}/g)) {
      t.ok(declared.has(m[1]!), `${String(at(tpl.doc, 'metadata', 'name'))}: {{args.${m[1]}}} is declared`);
    }
  }
});

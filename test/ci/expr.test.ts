// The expression evaluator the job-graph test relies on, against GitHub's documented rules:
// literals, case-insensitive property lookup and string equality, null for what is missing,
// type coercion to numbers, && and || returning operands, implicit success() in ifs.
import t from 'tap';
import { evaluate, evaluateIf, render, usesStatusFunction } from './lib/expr.ts';
import type { EvalContext, Value } from './lib/expr.ts';

const ctx = (contexts: Record<string, Value>, s: { success?: boolean; failure?: boolean; cancelled?: boolean } = {}): EvalContext => ({
  contexts,
  status: { success: () => s.success ?? true, failure: () => s.failure ?? false, cancelled: () => s.cancelled ?? false },
});
const C = ctx({
  github: { event_name: 'push', ref: 'refs/heads/main', event: { pull_request: null } },
  needs: { plan: { result: 'success', outputs: { ci: 'true', 'image-tag': 'abc' } } },
  vars: {},
  steps: { report: { outcome: 'failure', outputs: {} } },
});

const cases: [string, Value][] = [
  ["'it''s'", "it's"],
  ['true && 0', 0],
  ["'' || 'fallback'", 'fallback'],
  ["vars.GATE_URL || 'http://default'", 'http://default'],
  ["needs.plan.outputs.ci == 'true'", true],
  ["needs.plan.outputs.ci == 'TRUE'", true],
  ['needs.PLAN.Outputs.CI', 'true'],
  ["needs['plan'].outputs['image-tag']", 'abc'],
  ['needs.missing.outputs.x', null],
  ["needs.missing.outputs.x != 'stale'", true],
  ["needs.missing.outputs.x == ''", true],
  ['null == 0', true],
  ["'1' == 1", true],
  ['true == 1', true],
  ["'abc' == 0", false],
  ["github.event_name == 'push' && github.ref == 'refs/heads/main'", true],
  ['github.event.pull_request.head.repo.full_name', null],
  ["!(steps.report.outcome == 'success')", true],
  ["contains('refs/heads/main', 'MAIN')", true],
  ["startsWith(github.ref, 'refs/heads/')", true],
  ["format('{0}-{1}', 'a', 2)", 'a-2'],
  ['3 > 2 && 2 >= 2 && 1 < 2', true],
];

t.test('evaluate', async (t) => {
  for (const [src, want] of cases) t.same(evaluate(src, C), want, src);
  t.same(evaluate("${{ needs.plan.outputs.ci == 'true' }}", C), true, 'with the ${{ }} wrapper');
  t.throws(() => evaluate('hashFiles()', C), /hashfiles\(\) is not known/, 'unknown functions are refused');
  t.throws(() => evaluate("needs.plan.outputs.ci == 'true", C), /unterminated string/);
  t.throws(() => evaluate('a b', C), /trailing tokens/);
});

t.test('if: implicit success() unless a status function is used', async (t) => {
  const failed = ctx({ x: 'y' }, { success: false, failure: true });
  t.equal(evaluateIf(undefined, failed), false, 'no if = success()');
  t.equal(evaluateIf("x == 'y'", failed), false, 'a plain condition also needs success()');
  t.equal(evaluateIf("always() && x == 'y'", failed), true);
  t.equal(evaluateIf('${{ !cancelled() }}', failed), true);
  t.equal(evaluateIf('${{ !cancelled() }}', ctx({}, { cancelled: true, success: false })), false);
  t.equal(evaluateIf('failure()', failed), true);
  t.ok(usesStatusFunction("success() || x == 'y'"));
  t.notOk(usesStatusFunction("x == 'success()'"), 'a string mentioning success() is not a call');
});

t.test('render', async (t) => {
  t.equal(render('${{ needs.plan.outputs.image-tag }}:latest', C), 'abc:latest');
  t.equal(render('a ${{ vars.NOPE }} b', C), 'a  b', 'null renders empty');
});

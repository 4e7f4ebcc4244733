// Reads raw TAP (tap --reporter=tap) on stdin and prints one line: "N passed, N failed".
// Counts leaf assertions: a test point that is itself a subtest's summary is not counted again.
// A failing subtest with no failing assertion inside (a crash, a timeout, a bad plan) counts as
// one failure, and so does a TAP with no test point at all (nothing ran). Skipped and todo points
// are neither passed nor failed; they are listed after. A test file that skips itself (its plan
// `1..0 # <reason>`) counts as one skipped; one that ran no test and gave no reason (tap's own
// `1..0 # no tests found`, which tap reports as a passing skip) counts as one failure: a suite
// that silently stopped running its tests.
// Runs on the pinned Node 24 (node_modules/.bin/node: tap-parser needs Node 20 or >= 22) with
// tap-parser from node_modules.
import { Parser } from 'tap-parser';

let passed = 0;
let failed = 0;
let skipped = 0;
let todo = 0;
/** test files that ran nothing and said no reason */
const empty = [];

function watch(parser, depth = 0) {
  const failsInside = { n: 0 };
  parser.on('child', (child) => {
    const inner = watch(child, depth + 1);
    child.on('plan', (plan) => (child.__plan = plan));
    child.on('complete', () => {
      failsInside.n += inner.n;
    });
    child.__inner = inner;
  });
  let pendingChild = null;
  parser.on('child', (c) => (pendingChild = c));
  parser.on('assert', (a) => {
    const child = pendingChild && a.name && pendingChild.name === a.name ? pendingChild : null;
    if (child) {
      pendingChild = null;
      // a subtest's summary line: count only a failure the subtest itself did not report
      if (!a.ok && !a.todo && !a.skip && child.__inner.n === 0) {
        failed++;
        failsInside.n++;
      }
      // a test file (the root's subtests) whose plan skips everything, without a failure
      if (depth === 0 && a.ok && a.skip && child.__plan?.end === 0) {
        const reason = child.__plan.comment.trim();
        if (reason === '' || reason === 'no tests found') {
          failed++;
          failsInside.n++;
          empty.push(a.name);
        } else skipped++;
      }
      return;
    }
    if (a.todo) todo++;
    else if (a.skip) skipped++;
    else if (a.ok) passed++;
    else {
      failed++;
      failsInside.n++;
    }
  });
  return failsInside;
}

const root = new Parser();
const top = watch(root);
root.on('complete', (final) => {
  if (!final.ok && top.n === 0 && failed === 0) failed = 1; // e.g. a bad plan, or a bail-out
  // no test point at all (empty output, or "1..0"): nothing ran, which is no pass
  if (passed === 0 && failed === 0 && skipped === 0 && todo === 0) {
    failed = 1;
    process.stderr.write('no test point in the TAP: nothing ran, counted as a failure\n');
  }
  for (const name of empty) process.stderr.write(`${name}: no test ran and the file gave no skip reason, counted as a failure\n`);
  const extra = skipped || todo ? ` (${skipped} skipped, ${todo} todo)` : '';
  process.stderr.write(`assertions: ${passed} passed, ${failed} failed${extra}\n`);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
});
process.stdin.pipe(root);

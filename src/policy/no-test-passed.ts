import type { TestCounts } from './state.ts';

/**
 * Whether a results file's counts say no test passed: none was found or run (total 0), none
 * passed (passed 0), or the skipped and failed ones make up the total (every one skipped, with
 * the passes not counted: `{"total": 12, "skipped": 12}`). Such a run proves nothing, so it is not a pass even with exit code
 * 0: a test runner that found no tests (a wrong path or pattern) often exits 0. Counts that are
 * absent say nothing, and leave the verdict to the exit code. The CI script's twin is
 * ci/.github/pipeline/lib/results.mjs.
 */
export function noTestPassed(counts: TestCounts): boolean {
  if (counts.passed === 0 || counts.total === 0) return true;
  return counts.passed === null && counts.total !== null && (counts.skipped ?? 0) + (counts.failed ?? 0) >= counts.total;
}

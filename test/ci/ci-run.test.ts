// .ci/run, this repository's CI entry, without installing anything: a copy of it runs in a
// scratch directory with stand-ins for .ci/tools.sh and npm (npm test prints a given TAP text and
// exits with a given status) and the real .ci/count-tap.mjs (with this checkout's node_modules).
// Whatever happens, its last line must be "N passed, N failed", and a run where anything failed
// or nothing ran must neither say "0 failed" nor exit 0.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import t from 'tap';
import { tempDirSync } from '../helpers/temp-dir.ts';
import { repoRoot } from './lib/harness.ts';

const SUMMARY = /^\d+ passed, \d+ failed$/;

interface Case {
  tap?: string;
  testStatus?: number;
  toolsStatus?: number;
  ciStatus?: number;
  /** replaces .ci/count-tap.mjs in the copy */
  countTap?: string;
}

function ciRun(c: Case): { status: number | null; stdout: string; stderr: string; last: string } {
  // removed when the file's tests end (its root t: ciRun runs in several of them)
  const dir = tempDirSync(t, 'ci-run-');
  mkdirSync(join(dir, '.ci'));
  copyFileSync(join(repoRoot, '.ci', 'run'), join(dir, '.ci', 'run'));
  if (c.countTap === undefined) copyFileSync(join(repoRoot, '.ci', 'count-tap.mjs'), join(dir, '.ci', 'count-tap.mjs'));
  else writeFileSync(join(dir, '.ci', 'count-tap.mjs'), c.countTap);
  writeFileSync(join(dir, '.ci', 'tools.sh'), `exit ${c.toolsStatus ?? 0}\n`);
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'tap.txt'), c.tap ?? '');
  const bin = join(dir, 'stub-bin');
  mkdirSync(bin);
  writeFileSync(
    join(bin, 'npm'),
    `#!/usr/bin/env bash
case "$1" in
  ci) exit ${c.ciStatus ?? 0} ;;
  test) cat "${join(dir, 'tap.txt')}"; echo "some stderr" >&2; exit ${c.testStatus ?? 0} ;;
  *) echo "unexpected npm $*" >&2; exit 99 ;;
esac
`,
  );
  chmodSync(join(bin, 'npm'), 0o755);
  const r = spawnSync('bash', [join(dir, '.ci', 'run')], {
    encoding: 'utf8',
    env: { PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`, HOME: dir },
    timeout: 60_000,
  });
  const lines = (r.stdout ?? '').trimEnd().split('\n');
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', last: lines.at(-1) ?? '' };
}

const file = (name: string, body: string[], ok: boolean, n: number) =>
  [`# Subtest: ${name}`, ...body.map((l) => `    ${l}`), `${ok ? 'ok' : 'not ok'} ${n} - ${name}`];
const PASSING = ['TAP version 14', '1..1', ...file('test/a.test.ts', ['ok 1 - one', 'ok 2 - two', '1..2'], true, 1), ''].join('\n');
const FAILING = ['TAP version 14', '1..1', ...file('test/a.test.ts', ['ok 1 - one', 'not ok 2 - two', '1..2'], false, 1), ''].join('\n');

t.test('everything passed: the counts, exit 0', async (t) => {
  const r = ciRun({ tap: PASSING });
  t.equal(r.last, '2 passed, 0 failed');
  t.equal(r.status, 0);
});

t.test('a failed assertion: counted, exit 1', async (t) => {
  const r = ciRun({ tap: FAILING, testStatus: 1 });
  t.equal(r.last, '1 passed, 1 failed');
  t.equal(r.status, 1);
});

t.test('npm test failed with every assertion passing: one failure, exit 1', async (t) => {
  const r = ciRun({ tap: PASSING, testStatus: 1 });
  t.equal(r.last, '2 passed, 1 failed');
  t.equal(r.status, 1);
});

t.test('tool installation or npm ci failed: one failure, exit 1', async (t) => {
  for (const c of [{ toolsStatus: 1 }, { ciStatus: 1 }]) {
    const r = ciRun({ tap: PASSING, ...c });
    t.equal(r.last, '0 passed, 1 failed', JSON.stringify(c));
    t.equal(r.status, 1);
  }
});

t.test('the counter itself fails: the last line is still a summary, with a failure, exit 1', async (t) => {
  for (const [name, countTap] of [
    ['it throws', "throw new Error('count-tap broke');\n"],
    ['it prints something else', "process.stdout.write('garbage\\n');\n"],
  ]) {
    const r = ciRun({ tap: PASSING, countTap });
    t.match(r.last, SUMMARY, `${name}: the last line is "N passed, N failed" (got ${JSON.stringify(r.last)})`);
    t.notMatch(r.last, / 0 failed$/, `${name}: not "0 failed"`);
    t.equal(r.status, 1, `${name}: exit 1`);
  }
});

t.test('no TAP at all although npm test exited 0: not "0 failed", exit 1', async (t) => {
  for (const tap of ['', 'TAP version 14\n1..0\n']) {
    const r = ciRun({ tap, testStatus: 0 });
    t.match(r.last, SUMMARY, `${JSON.stringify(tap)}: a summary line`);
    t.notMatch(r.last, / 0 failed$/, `${JSON.stringify(tap)}: nothing ran, so not "0 failed" (got ${JSON.stringify(r.last)})`);
    t.equal(r.status, 1, `${JSON.stringify(tap)}: exit 1`);
  }
});

t.test('a test file that ran no test without giving a reason: one failure naming it, exit 1; one that skips itself with a reason stays a skip', async (t) => {
  const tapOf = (plan: string, summary: string) =>
    ['TAP version 14', '1..2', ...file('test/a.test.ts', ['ok 1 - one', 'ok 2 - two', '1..2'], true, 1), '# Subtest: test/b.test.ts', `    ${plan}`, `ok 2 - test/b.test.ts # ${summary}`, ''].join('\n');
  // what tap 21 prints for a file whose tests are all gone (an emptied describe, a wrong import):
  // the file passes as a skip, and npm test exits 0
  for (const plan of ['1..0 # no tests found', '1..0']) {
    const r = ciRun({ tap: tapOf(plan, 'SKIP no tests found'), testStatus: 0 });
    t.equal(r.last, '2 passed, 1 failed', `${plan}: counted as a failure`);
    t.equal(r.status, 1, `${plan}: exit 1`);
    t.match(r.stderr, 'test/b.test.ts: no test ran and the file gave no skip reason', `${plan}: the file is named`);
  }
  // t.plan(0, 'no helm on PATH'): a file that says why it skips
  const skipped = ciRun({ tap: tapOf('1..0 # no helm on PATH', 'SKIP no helm on PATH'), testStatus: 0 });
  t.equal(skipped.last, '2 passed, 0 failed', 'a skip with its reason is no failure');
  t.equal(skipped.status, 0);
  t.match(skipped.stderr, '(1 skipped, 0 todo)', 'and is listed as skipped');
});

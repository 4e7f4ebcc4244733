// actionlint (pinned in .ci/tools.sh, installed into .tools/bin) on the pipeline workflow, with
// shellcheck checking every `run:` block. Negative cases show that the checks are live: an
// unquoted variable in a script (shellcheck), a reference to a job that is not in `needs`, an
// output that does not exist, and the runner label without the repository's actionlint config.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDirSync } from '../helpers/temp-dir.ts';
import { ciDir, toolOrSkip, workflowFile } from './lib/harness.ts';

const CONFIG = join(ciDir, '.github', 'actionlint.yaml');

function lint(bin: string, file: string, config: string | null = CONFIG) {
  const args = [...(config ? ['-config-file', config] : []), '-no-color', file];
  const r = spawnSync(bin, args, { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp' } });
  return { status: r.status, output: (r.stdout ?? '') + (r.stderr ?? '') };
}

const actionlint = toolOrSkip(t, 'actionlint', 'bash .ci/tools.sh installs v1.7.12 from the Go module proxy');
const shellcheck = toolOrSkip(t, 'shellcheck', 'apt-get install shellcheck; actionlint runs it on every run: block');

if (actionlint && shellcheck) {
  const bin = actionlint;
  t.comment(`actionlint ${spawnSync(bin, ['-version'], { encoding: 'utf8' }).stdout.split('\n')[0]}, ${spawnSync(shellcheck, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[1]}`);

  t.test('the workflow passes actionlint, shell included', async (t) => {
    const r = lint(bin, workflowFile);
    t.equal(r.status, 0, 'actionlint exit 0');
    t.equal(r.output.trim(), '', 'no findings');
  });

  const original = readFileSync(workflowFile, 'utf8');
  const dir = tempDirSync(t, 'ci-actionlint-');
  const negatives: { name: string; from: string; to: string; finding: RegExp; config?: null }[] = [
    { name: 'an unquoted variable in a run: block', from: 'run: ruff check services/', to: 'run: ruff check $SERVICES_DIR', finding: /SC2086/ },
    { name: 'a job that is not in needs', from: "if: needs.plan.outputs.ci == 'true'", to: "if: needs.build-marker.outputs.marker == 'push'", finding: /build-marker/ },
    { name: 'an output that does not exist', from: 'eligible-for-beta: ${{ steps.report.outputs.eligible-for-beta }}', to: 'eligible-for-beta: ${{ steps.reprot.outputs.eligible-for-beta }}', finding: /reprot/ },
    { name: 'the runner label without the config file', from: '', to: '', finding: /label "stonks-oracle-runners" is unknown/, config: null },
  ];
  for (const n of negatives) {
    t.test(`actionlint catches ${n.name}`, async (t) => {
      if (n.from) t.ok(original.includes(n.from), 'the text to change is in the workflow');
      const file = join(dir, `${n.name.replace(/\W+/g, '-')}.yml`);
      writeFileSync(file, n.from ? original.replace(n.from, n.to) : original);
      const r = lint(bin, file, n.config === null ? null : CONFIG);
      t.not(r.status, 0, 'actionlint fails');
      t.match(r.output, n.finding, 'with the expected finding');
    });
  }
}

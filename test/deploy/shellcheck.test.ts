// shellcheck on every shell script of the deployment: the two entry points, the helpers they
// source, the settings file and the test stand-ins.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { findTool, fixtures, repoRoot } from './harness.ts';

const shellcheck = findTool('shellcheck');
const scripts = [
  'runmefirst.sh', 'runmelast.sh', 'deploy/pipeline.env',
  ...readdirSync(join(repoRoot, 'deploy', 'lib')).filter((f) => f.endsWith('.sh')).map((f) => `deploy/lib/${f}`),
  ...readdirSync(join(fixtures, 'bin')).map((f) => `test/deploy/fixtures/bin/${f}`),
];

if (!shellcheck) {
  if (process.env.CI === 'true') t.fail('shellcheck is missing (apt-get install shellcheck, or bash .ci/tools.sh)');
  else t.test('shellcheck', { skip: 'NOTICE: shellcheck not found in .tools/bin or on PATH (apt-get install shellcheck)' }, async () => {});
} else {
  const bin: string = shellcheck;
  t.ok(scripts.length >= 8, `${scripts.length} scripts to check`);
  for (const s of scripts) {
    const r = spawnSync(bin, ['--shell=bash', '--external-sources', '--severity=style', s], { cwd: repoRoot, encoding: 'utf8' });
    t.equal(r.status, 0, `shellcheck ${s}`);
    if (r.status !== 0) t.comment(r.stdout + r.stderr);
  }
}

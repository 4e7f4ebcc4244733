// .ci/tools.sh provides what the test/ci suites need under CI=true on a fresh machine: the
// Node 20 compatibility checks of report-results.test.ts and main-moved.test.ts fail under
// CI=true when no Node 20 is found, so tools.sh installs one (node@20 from the npm registry, into
// .tools/node20), and findNode20 looks there first. Run here on a copy of tools.sh with a
// stand-in npm, no apt and no go: nothing is installed.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDirSync } from '../helpers/temp-dir.ts';
import { findNode20, repoRoot } from './lib/harness.ts';

/** A stand-in npm: logs its arguments; `install --prefix DIR node@V` leaves a node that prints V. */
const NPM = `#!/usr/bin/env bash
echo "$*" >> "$NPM_LOG"
if [ "$1" = install ]; then
  prefix="" spec=""
  while [ $# -gt 0 ]; do
    case "$1" in --prefix) prefix="$2"; shift ;; node@*) spec="\${1#node@}" ;; esac
    shift
  done
  mkdir -p "$prefix/node_modules/.bin"
  printf '#!/bin/sh\\necho %s\\n' "$spec" > "$prefix/node_modules/.bin/node"
  chmod +x "$prefix/node_modules/.bin/node"
fi
`;

function tools(dir: string): { status: number | null; output: string; npmCalls: string[] } {
  const r = spawnSync('bash', [join(dir, '.ci', 'tools.sh')], {
    encoding: 'utf8',
    env: { PATH: `${join(dir, 'stub-bin')}:/usr/bin:/bin`, HOME: dir, SKIP_APT: '1', NPM_LOG: join(dir, 'npm.log') },
  });
  const log = existsSync(join(dir, 'npm.log')) ? readFileSync(join(dir, 'npm.log'), 'utf8') : '';
  return { status: r.status, output: (r.stdout ?? '') + (r.stderr ?? ''), npmCalls: log.split('\n').filter(Boolean) };
}

t.test('tools.sh installs a Node 20 into .tools/node20, once', async (t) => {
  const dir = tempDirSync(t, 'ci-tools-');
  mkdirSync(join(dir, '.ci'));
  copyFileSync(join(repoRoot, '.ci', 'tools.sh'), join(dir, '.ci', 'tools.sh'));
  mkdirSync(join(dir, 'stub-bin'));
  writeFileSync(join(dir, 'stub-bin', 'npm'), NPM);
  chmodSync(join(dir, 'stub-bin', 'npm'), 0o755);

  const first = tools(dir);
  t.equal(first.status, 0, `tools.sh succeeds\n${first.output}`);
  const installs = first.npmCalls.filter((c) => c.startsWith('install '));
  t.equal(installs.length, 1, 'one npm install');
  t.match(installs[0], new RegExp(`--prefix ${join(dir, '.tools', 'node20')} .*node@20\\.\\d+\\.\\d+$`), 'node@20.x.y (pinned) into .tools/node20');
  t.equal(findNode20(dir), join(dir, '.tools', 'node20', 'node_modules', '.bin', 'node'), 'the compatibility checks find it there first');

  const again = tools(dir);
  t.equal(again.status, 0);
  t.same(again.npmCalls.slice(first.npmCalls.length).filter((c) => c.startsWith('install ')), [], 'not installed again when present');
});

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { REPO_ROOT } from './helpers/spawn-gate.ts';

// tsc runs with NODE_OPTIONS unset: tap injects its process-tracking loader into every child
// (even through a shell), and that loader breaks the ESM entry point of tsc 7
const env = { ...process.env };
const run = (args: string[]) => spawnSync('sh', ['-c', 'unset NODE_OPTIONS; exec "$0" "$@"', join(REPO_ROOT, 'node_modules', '.bin', 'tsc'), ...args], { cwd: REPO_ROOT, encoding: 'utf8', env });

t.test('the whole project type-checks (tsc, strict, erasable syntax only)', async (t) => {
  const res = run(['-p', 'tsconfig.json', '--noEmit']);
  t.equal(res.status, 0, `tsc reports no errors\n${res.stdout}${res.stderr}`);
});

t.test('the build compiles src/ to dist/ with .ts imports rewritten', async (t) => {
  const { readFile } = await import('node:fs/promises');
  const { tempDir } = await import('./helpers/temp-dir.ts');
  const out = await tempDir(t, 'gate-build-');
  const res = run(['-p', 'tsconfig.build.json', '--outDir', out]);
  t.equal(res.status, 0, res.stdout + res.stderr);
  const server = await readFile(join(out, 'server.js'), 'utf8');
  t.match(server, /from '\.\/app\.js'/, 'relative imports point at .js files');
  t.notMatch(server, /from '\.\/app\.ts'/);
});

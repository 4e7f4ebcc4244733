// Static checks of the Dockerfile (the image itself is built where buildah or docker can pull
// node:24; see docs/deployment.md).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './harness.ts';

const text = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
const lines = text.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
const stages = [...text.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)].map((m) => ({ image: m[1], name: m[2] }));

t.test('multi-stage on a Node 24 base', async (t) => {
  t.ok(stages.length >= 2, `${stages.length} stages`);
  t.match(text, /^ARG NODE_IMAGE=\S*node:24[-.\w]*$/m, 'the base is node:24');
  t.ok(stages.every((s) => s.image === '${NODE_IMAGE}'), 'every stage uses it');
  t.equal(stages.at(-1)!.name, 'runtime');
});
t.test('the base is the exact Node release the repository pins', async (t) => {
  // a floating node:24 tag gives two builds of one commit two different runtimes (and a rebuilt
  // image a Node release nobody tested); the npm scripts and tests run on package.json's node
  const pinned = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).devDependencies.node as string;
  const base = /^ARG NODE_IMAGE=(\S+)$/m.exec(text)?.[1] ?? '';
  t.match(base, new RegExp(`node:${pinned.replaceAll('.', '\\.')}-`), `NODE_IMAGE (${base}) is node ${pinned}`);
});
t.test('the runtime has production dependencies only and the built code', async (t) => {
  t.match(text, /npm ci --omit=dev/);
  t.match(text, /COPY --from=deps \S* ?\/src\/node_modules \.\/node_modules/);
  t.match(text, /COPY --from=build \S* ?\/src\/dist \.\/dist/);
  t.notMatch(text.slice(text.lastIndexOf('FROM')), /npm ci(?! --omit=dev)/, 'no dev install in the runtime stage');
  t.match(text, /-name '\*\.html' -o -name '\*\.css' -o -name '\*\.js'/, 'static console assets are copied');
});
t.test('non-root uid 10001, the CLI on PATH, the server as the command', async (t) => {
  t.match(text, /useradd .*--uid 10001/);
  const user = lines.filter((l) => /^USER\s/.test(l));
  t.same(user, ['USER 10001:10001'], 'runs as 10001');
  t.ok(lines.indexOf(user[0]!) > lines.findLastIndex((l) => /^FROM/.test(l)), 'USER is set in the runtime stage');
  t.match(text, /exec node \/app\/dist\/cli\.js "\$@"/, 'gate wraps the CLI');
  t.match(text, /\/usr\/local\/bin\/gate/);
  t.match(text, /^CMD \["node", "dist\/server\.js"\]$/m);
  t.match(text, /^EXPOSE 8080$/m);
  t.notMatch(text, /HEALTHCHECK/, 'probes are Kubernetes');
});
t.test('.dockerignore keeps the context small', async (t) => {
  const ignore = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n');
  for (const p of ['node_modules', '.git', 'dist', 'data', 'test']) t.ok(ignore.includes(p), `ignores ${p}`);
});

// Plan test of runmelast.sh then runmefirst.sh: the commit a promotion pinned on each Argo CD
// Application survives a teardown and a stand-up (kargo/README.md, "Argo CD Applications").
import t from 'tap';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyOf, expectExit, repoRoot, mutations, show } from './harness.ts';
import { installed } from './runmelast-setup.ts';

// Each run of a script makes ~100 calls to the stand-ins (a Node process each): allow a slow machine.
t.setTimeout(600_000);

const PINS_CM = keyOf('ConfigMap', 'argocd', 'stonks-pipeline-app-pins');

/** An installed pipeline whose Applications have these targetRevisions (absent: `main`), with kargo/'s Application files. */
function withRevisions(pins: Record<string, string>) {
  const sb = installed();
  const st = sb.state();
  for (const stage of ['beta', 'paper', 'live']) {
    const name = `stonks-oracle-${stage}`;
    st.objects[keyOf('Application', 'argocd', name)]!.spec.source = { repoURL: 'https://github.com/celesrenata/stonks-oracle.git', path: 'infra/helm/stonks-oracle', targetRevision: pins[name] ?? 'main' };
    sb.kargoFile(`argocd/applications/${stage}.yaml`, readFileSync(join(repoRoot, 'kargo', 'argocd', 'applications', `${stage}.yaml`), 'utf8'));
  }
  sb.writeState(st);
  return sb;
}

/** The pins the ConfigMap records, as sorted "<application> <sha>" lines (null: no ConfigMap). */
function recorded(sb: ReturnType<typeof installed>): string[] | null {
  const cm = sb.state().objects[PINS_CM];
  return cm ? String(cm.data?.pins ?? '').split('\n').filter(Boolean).sort() : null;
}

t.test('a teardown and a stand-up keep the commit each Application was pinned to', async (t) => {
  // Kargo's argocd-update pinned beta and live to the commits it pushed; paper was never promoted.
  const pins: Record<string, string> = { 'stonks-oracle-beta': '3f786850e387550fdab836ed7e6dc881de23001b', 'stonks-oracle-live': '89e6c98d92887913cadf06b2adb97f26cde4849b' };
  const sb = withRevisions(pins);
  t.teardown(() => sb.cleanup());
  expectExit(t, sb.run('runmelast.sh', ['--yes']), 0, 'the teardown');
  t.notOk(sb.state().objects[keyOf('Application', 'argocd', 'stonks-oracle-beta')], 'the Applications are removed');
  // A second teardown (nothing left to remove) must not lose what the first one recorded.
  expectExit(t, sb.run('runmelast.sh', ['--yes']), 0, 'a second teardown');

  const up = sb.run('runmefirst.sh');
  expectExit(t, up, 0, 'the stand-up');
  // Kargo's controller resumes the promotions it had under way: the gate and the Applications
  // their steps call are there before it starts
  const muts = mutations(up.calls).map(show);
  const kargo = muts.findIndex((c) => /^helm upgrade --install kargo /.test(c));
  const gate = muts.findIndex((c) => /^helm upgrade --install gate-service /.test(c));
  const apps = muts.flatMap((c, i) => (/^kubectl apply -f \S+pinned-\w+\.yaml$|^kubectl apply -f \S+applications\/\w+\.yaml$/.test(c) ? [i] : []));
  t.equal(apps.length, 3, 'the three Applications are applied');
  t.ok(gate >= 0 && kargo > gate && apps.every((i) => i > gate && i < kargo), 'the gate, then the Applications, then Kargo');
  const after = sb.state();
  const revision = (name: string) => after.objects[keyOf('Application', 'argocd', name)]?.spec?.source?.targetRevision;
  t.equal(revision('stonks-oracle-beta'), pins['stonks-oracle-beta'], 'beta is re-created at its promoted commit');
  t.equal(revision('stonks-oracle-live'), pins['stonks-oracle-live'], 'live is re-created at its promoted commit');
  t.equal(revision('stonks-oracle-paper'), 'main', 'paper, never promoted, starts at main');
  t.notOk(after.objects[PINS_CM], 'the recorded pins are removed once applied');

  // Later, an Application deleted by hand starts at main again, not at the commit of the teardown.
  delete after.objects[keyOf('Application', 'argocd', 'stonks-oracle-live')];
  sb.writeState(after);
  expectExit(t, sb.run('runmefirst.sh', ['--from', 'applications']), 0, 'a later run');
  t.equal(sb.state().objects[keyOf('Application', 'argocd', 'stonks-oracle-live')]?.spec?.source?.targetRevision, 'main');
});

t.test('pins recorded by an earlier teardown are kept only for the Applications it removed: one found now is recorded as it is now', async (t) => {
  // An earlier teardown recorded pins, then stopped after removing live; the stand-up that
  // followed (or a hand) left beta at a newer promotion and paper at main, the ConfigMap in place.
  const sha = { betaOld: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678', betaNow: 'b2c3d4e5f60718293a4b5c6d7e8f9012345678a1', paperOld: 'c3d4e5f60718293a4b5c6d7e8f9012345678a1b2', live: 'd4e5f60718293a4b5c6d7e8f9012345678a1b2c3' };
  const sb = withRevisions({ 'stonks-oracle-beta': sha.betaNow });
  t.teardown(() => sb.cleanup());
  const st = sb.state();
  delete st.objects[keyOf('Application', 'argocd', 'stonks-oracle-live')];
  st.objects[PINS_CM] = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'argocd', name: 'stonks-pipeline-app-pins' }, data: { pins: `stonks-oracle-beta ${sha.betaOld}\nstonks-oracle-paper ${sha.paperOld}\nstonks-oracle-live ${sha.live}\n` } };
  sb.writeState(st);
  expectExit(t, sb.run('runmelast.sh', ['--yes', '--from', 'argocd-apps']), 0, 'the teardown');
  t.same(recorded(sb), [`stonks-oracle-beta ${sha.betaNow}`, `stonks-oracle-live ${sha.live}`], "beta's pin as it is now, live's kept, paper's stale one gone");

  expectExit(t, sb.run('runmefirst.sh', ['--from', 'applications']), 0, 'the stand-up');
  const revision = (name: string) => sb.state().objects[keyOf('Application', 'argocd', name)]?.spec?.source?.targetRevision;
  t.equal(revision('stonks-oracle-beta'), sha.betaNow, 'beta at its last promotion');
  t.equal(revision('stonks-oracle-live'), sha.live, 'live at the pin the earlier teardown recorded');
  t.equal(revision('stonks-oracle-paper'), 'main', 'paper at main, as it was, not at a stale pin');
});

t.test('pins recorded earlier for Applications all found unpinned now: the ConfigMap goes', async (t) => {
  const sb = withRevisions({});
  t.teardown(() => sb.cleanup());
  const st = sb.state();
  st.objects[PINS_CM] = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'argocd', name: 'stonks-pipeline-app-pins' }, data: { pins: 'stonks-oracle-paper c3d4e5f60718293a4b5c6d7e8f9012345678a1b2\n' } };
  sb.writeState(st);
  expectExit(t, sb.run('runmelast.sh', ['--yes', '--from', 'argocd-apps']), 0, 'the teardown');
  t.equal(recorded(sb), null, 'no pin is left for runmefirst.sh to re-create paper at');
});

t.test('a pinned commit of digits only is applied as the string it is, not as a YAML number', async (t) => {
  // one commit in ~10^8 is all digits (or digits and one "e"): written unquoted, YAML reads 1.2e+39
  const digits = '1234567890123456789012345678901234567890';
  const sb = withRevisions({ 'stonks-oracle-live': digits });
  t.teardown(() => sb.cleanup());
  expectExit(t, sb.run('runmefirst.sh', ['--from', 'applications']), 0, 'the stand-up');
  t.equal(sb.state().objects[keyOf('Application', 'argocd', 'stonks-oracle-live')]?.spec?.source?.targetRevision, digits);
});

t.test('a read of the recorded pins that fails stops the stand-up: the Application is not created at main', async (t) => {
  const sha = '89e6c98d92887913cadf06b2adb97f26cde4849b';
  const sb = withRevisions({ 'stonks-oracle-live': sha });
  t.teardown(() => sb.cleanup());
  expectExit(t, sb.run('runmelast.sh', ['--yes']), 0, 'the teardown');
  const st = sb.state();
  st.failGet = [PINS_CM];
  sb.writeState(st);
  const up = sb.run('runmefirst.sh', ['--from', 'applications']);
  expectExit(t, up, 1, 'the stand-up stops');
  t.match(up.output, /cannot read ConfigMap argocd\/stonks-pipeline-app-pins .*for Application stonks-oracle-\w+; nothing of .* applied/, 'naming what it could not read');
  for (const stage of ['beta', 'paper', 'live']) t.notOk(sb.state().objects[keyOf('Application', 'argocd', `stonks-oracle-${stage}`)], `${stage} is not created (at main: live would be unpinned)`);
  t.ok(sb.state().objects[PINS_CM], 'the recorded pins are kept');

  const after = sb.state();
  delete after.failGet;
  sb.writeState(after);
  expectExit(t, sb.run('runmefirst.sh', ['--from', 'applications']), 0, 'run again once the API server answers');
  t.equal(sb.state().objects[keyOf('Application', 'argocd', 'stonks-oracle-live')]?.spec?.source?.targetRevision, sha, 'live at its pinned commit');
});

t.test('a teardown whose read of the recorded pins fails stops before removing anything: the pins of Applications removed earlier are not written over', async (t) => {
  // an earlier teardown removed live and recorded its pin, then stopped
  const sha = { beta: '3f786850e387550fdab836ed7e6dc881de23001b', live: '89e6c98d92887913cadf06b2adb97f26cde4849b' };
  const sb = withRevisions({ 'stonks-oracle-beta': sha.beta });
  t.teardown(() => sb.cleanup());
  const st = sb.state();
  delete st.objects[keyOf('Application', 'argocd', 'stonks-oracle-live')];
  st.objects[PINS_CM] = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'argocd', name: 'stonks-pipeline-app-pins' }, data: { pins: `stonks-oracle-live ${sha.live}\n` } };
  st.failGet = [PINS_CM];
  sb.writeState(st);
  const down = sb.run('runmelast.sh', ['--yes', '--from', 'argocd-apps']);
  expectExit(t, down, 1, 'the teardown stops');
  t.same(recorded(sb), [`stonks-oracle-live ${sha.live}`], "live's pin is kept as recorded");
  t.ok(sb.state().objects[keyOf('Application', 'argocd', 'stonks-oracle-beta')], 'beta is not removed');

  const after = sb.state();
  delete after.failGet;
  sb.writeState(after);
  expectExit(t, sb.run('runmelast.sh', ['--yes', '--from', 'argocd-apps']), 0, 'run again once the API server answers');
  t.same(recorded(sb), [`stonks-oracle-beta ${sha.beta}`, `stonks-oracle-live ${sha.live}`], 'both pins recorded');
});

t.test("a listing of kargo/ that fails stops the stand-up: the recorded pins are not dropped with nothing applied", async (t) => {
  const sha = '89e6c98d92887913cadf06b2adb97f26cde4849b';
  const sb = withRevisions({ 'stonks-oracle-live': sha });
  t.teardown(() => sb.cleanup());
  expectExit(t, sb.run('runmelast.sh', ['--yes']), 0, 'the teardown records the pin');
  // a find that cannot read a subdirectory of kargo/ (an operator who is not root)
  const bin = join(sb.dir, 'failing-find');
  mkdirSync(bin);
  writeFileSync(
    join(bin, 'find'),
    '#!/usr/bin/env bash\nfor a in "$@"; do [[ $a == "*.yaml" ]] && { echo "find: \'$1/argocd\': Permission denied" >&2; exit 1; }; done\nexec /usr/bin/find "$@"\n',
    { mode: 0o755 },
  );
  const up = sb.run('runmefirst.sh', [], { PATH: `${bin}:${join(repoRoot, 'test', 'deploy', 'fixtures', 'bin')}:${process.env.PATH}` });
  t.not(up.status, 0, 'the stand-up fails');
  t.match(up.output, /cannot list the files of .*; nothing of it applied/);
  t.match(up.output, /\[applications\] ERROR: cannot list the files of /, 'the step that stopped');
  t.notMatch(up.output, /The pipeline is up/);
  t.same(recorded(sb), [`stonks-oracle-live ${sha}`], 'the recorded pin is kept');
  t.equal(mutations(up.calls).filter((c) => /delete configmap stonks-pipeline-app-pins/.test(show(c))).length, 0);
});

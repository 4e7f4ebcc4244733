// Plan test of runmelast.sh then runmefirst.sh: the commit a promotion pinned on each Argo CD
// Application survives a teardown and a stand-up (kargo/README.md, "Argo CD Applications").
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyOf, expectExit, repoRoot } from './harness.ts';
import { installed } from './runmelast-setup.ts';

// Each run of a script makes ~100 calls to the stand-ins (a Node process each): allow a slow machine.
t.setTimeout(300_000);

t.test('a teardown and a stand-up keep the commit each Application was pinned to', async (t) => {
  // Kargo's argocd-update pinned beta and live to the commits it pushed; paper was never promoted.
  const sb = installed();
  t.teardown(() => sb.cleanup());
  const pins: Record<string, string> = { 'stonks-oracle-beta': '3f786850e387550fdab836ed7e6dc881de23001b', 'stonks-oracle-live': '89e6c98d92887913cadf06b2adb97f26cde4849b' };
  const st = sb.state();
  for (const stage of ['beta', 'paper', 'live']) {
    const name = `stonks-oracle-${stage}`;
    st.objects[keyOf('Application', 'argocd', name)]!.spec.source = { repoURL: 'https://github.com/celesrenata/stonks-oracle.git', path: 'infra/helm/stonks-oracle', targetRevision: pins[name] ?? 'main' };
    sb.kargoFile(`argocd/applications/${stage}.yaml`, readFileSync(join(repoRoot, 'kargo', 'argocd', 'applications', `${stage}.yaml`), 'utf8'));
  }
  sb.writeState(st);
  expectExit(t, sb.run('runmelast.sh', ['--yes']), 0, 'the teardown');
  t.notOk(sb.state().objects[keyOf('Application', 'argocd', 'stonks-oracle-beta')], 'the Applications are removed');
  // A second teardown (nothing left to remove) must not lose what the first one recorded.
  expectExit(t, sb.run('runmelast.sh', ['--yes']), 0, 'a second teardown');

  const up = sb.run('runmefirst.sh', ['--from', 'kargo-resources']);
  expectExit(t, up, 0, 'the stand-up');
  const after = sb.state();
  const revision = (name: string) => after.objects[keyOf('Application', 'argocd', name)]?.spec?.source?.targetRevision;
  t.equal(revision('stonks-oracle-beta'), pins['stonks-oracle-beta'], 'beta is re-created at its promoted commit');
  t.equal(revision('stonks-oracle-live'), pins['stonks-oracle-live'], 'live is re-created at its promoted commit');
  t.equal(revision('stonks-oracle-paper'), 'main', 'paper, never promoted, starts at main');
  t.notOk(after.objects[keyOf('ConfigMap', 'argocd', 'stonks-pipeline-app-pins')], 'the recorded pins are removed once applied');

  // Later, an Application deleted by hand starts at main again, not at the commit of the teardown.
  delete after.objects[keyOf('Application', 'argocd', 'stonks-oracle-live')];
  sb.writeState(after);
  expectExit(t, sb.run('runmefirst.sh', ['--from', 'kargo-resources']), 0, 'a later run');
  t.equal(sb.state().objects[keyOf('Application', 'argocd', 'stonks-oracle-live')]?.spec?.source?.targetRevision, 'main');
});

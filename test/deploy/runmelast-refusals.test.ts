// Plan tests of runmelast.sh: what it refuses to do.
import t from 'tap';
import { mutations, show, bare, keyOf, expectExit } from './harness.ts';
import { REVERSE_RELEASES, installed } from './runmelast-setup.ts';

// Each run of a script makes ~100 calls to the stand-ins (a Node process each): allow a slow machine.
t.setTimeout(300_000);

t.test('refusals', async (t) => {
  t.test('a release that owns objects in an application namespace is not uninstalled', async (t) => {
    const sb = installed();
    t.teardown(() => sb.cleanup());
    const st = sb.state();
    st.releases['argo-rollouts/argo-rollouts']!.manifest = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: oops\n  namespace: stonks-oracle\n';
    sb.writeState(st);
    const r = sb.run('runmelast.sh', ['--yes']);
    expectExit(t, r, 3);
    t.match(r.output, /REFUSED: helm release argo-rollouts in argo-rollouts owns objects in an application namespace/);
    const uninstalled = mutations(r.calls).filter((c) => bare(c)[0] === 'uninstall').map((c) => bare(c)[1]);
    t.same(uninstalled, REVERSE_RELEASES.slice(0, REVERSE_RELEASES.indexOf('argo-rollouts')), 'it stops before that release');
    t.ok(sb.state().releases['argo-rollouts/argo-rollouts'], 'the release is still there');
  });

  t.test('no backups volume: nothing is removed', async (t) => {
    const sb = installed();
    t.teardown(() => sb.cleanup());
    const st = sb.state();
    delete st.objects[keyOf('PersistentVolumeClaim', 'stonks-gate', 'pipeline-backups')];
    sb.writeState(st);
    const r = sb.run('runmelast.sh', ['--yes']);
    expectExit(t, r, 2);
    t.match(r.output, /backups claim stonks-gate\/pipeline-backups does not exist/);
    t.same(mutations(r.calls).map(show), []);
  });

  t.test('without --yes and without a terminal it asks for confirmation and stops', async (t) => {
    const sb = installed();
    t.teardown(() => sb.cleanup());
    const r = sb.run('runmelast.sh');
    expectExit(t, r, 2);
    t.match(r.output, /run with --yes/);
    t.same(mutations(r.calls).map(show), []);
  });
});

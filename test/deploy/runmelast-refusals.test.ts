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
    // the whole stand-up (idempotent), not a resume past the step that makes the NFS directories
    t.match(r.output, /Run \.\/runmefirst\.sh first/);
    t.notMatch(r.output, /--from/);
    t.same(mutations(r.calls).map(show), []);
  });

  t.test('resumed at the releases with Applications left, it uninstalls nothing and names the step that removes them', async (t) => {
    const sb = installed();
    t.teardown(() => sb.cleanup());
    const r = sb.run('runmelast.sh', ['--yes', '--from', 'releases']);
    expectExit(t, r, 3);
    t.match(r.output, /REFUSED: Argo CD Applications still exist .*nothing was uninstalled\. Run \.\/runmelast\.sh --from argocd-quiesce first/);
    t.same(mutations(r.calls).filter((c) => bare(c)[0] === 'uninstall').map(show), [], 'not one release uninstalled (kargo, argo-rollouts went first before)');
    t.equal(Object.keys(sb.state().releases).length, REVERSE_RELEASES.length, 'every release is still there');
    // and its dry run says so, instead of a clean plan the real run refuses
    const dry = sb.run('runmelast.sh', ['--yes', '--dry-run', '--from', 'releases']);
    expectExit(t, dry, 3);
    t.match(dry.output, /REFUSED: Argo CD Applications still exist/);
  });

  t.test('a read of a controller that fails is no answer: the teardown stops before removing anything', async (t) => {
    const sb = installed();
    t.teardown(() => sb.cleanup());
    const st = sb.state();
    st.failGet = [keyOf('Deployment', 'kargo', 'kargo-controller')];
    sb.writeState(st);
    const r = sb.run('runmelast.sh', ['--yes']);
    expectExit(t, r, 1);
    t.match(r.output, /\[argocd-quiesce\] ERROR: cannot read deployment kargo-controller -n kargo/);
    t.same(mutations(r.calls).filter((c) => /^(helm uninstall|kubectl (patch|delete) application)/.test(show(c))).map(show), [], 'no Application removed, no release uninstalled');
    t.ok(sb.state().objects[keyOf('Application', 'argocd', 'stonks-oracle-live')], 'live is still there');
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

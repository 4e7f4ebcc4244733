// Plan tests of runmelast.sh: the real script runs against recording stand-ins for kubectl and
// helm on a fake cluster where runmefirst.sh has run and the pipeline has history.
import t from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import YAML from 'yaml';
import { mutations, isReadOnly, namespaceOf, namesLiveNamespace, show, indexOf, bare, keyOf, expectExit } from './harness.ts';
import { REVERSE_RELEASES, installed } from './runmelast-setup.ts';
import { RELEASES_IN_ORDER } from './plan.ts';

// Each run of a script makes ~100 calls to the stand-ins (a Node process each): allow a slow machine.
t.setTimeout(300_000);

t.test('a teardown of a running pipeline', async (t) => {
  const sb = installed();
  t.teardown(() => sb.cleanup());
  const before = sb.state();
  const r = sb.run('runmelast.sh', ['--yes']);
  expectExit(t, r, 0);
  const muts = mutations(r.calls);
  const after = sb.state();

  t.test('the snapshot is written to the backups volume before anything is removed', async (t) => {
    const writes = indexOf(muts, /exec -i -n stonks-gate stonks-pipeline-snapshot-writer -- tar -C \/backups -xf -/);
    const verify = indexOf(muts, /exec -n stonks-gate stonks-pipeline-snapshot-writer -- sh -c .*sha256sum -c SHA256SUMS/);
    const firstRemoval = muts.findIndex((c) => /^(kubectl (patch|delete|scale) .*argocd|helm uninstall)/.test(show(c)));
    t.ok(writes >= 0 && verify > writes, 'written, then verified');
    t.ok(firstRemoval > verify, 'before the first change to Argo CD or a release');
    const stamps = readdirSync(sb.nfs('backups'));
    t.equal(stamps.length, 1);
    t.match(stamps[0], /^\d{8}T\d{6}Z$/, 'named by a UTC timestamp');
    const dir = (...p: string[]) => sb.nfs('backups', stamps[0]!, ...p);
    const items = (p: string) => YAML.parse(readFileSync(dir(p), 'utf8')).items.map((o: any) => o.metadata.name);
    t.same(items('kargo/projects.yaml'), ['stonks-pipeline']);
    t.same(items('kargo/warehouses.yaml'), ['oracle-images']);
    t.same(items('kargo/stages.yaml').sort(), ['beta', 'live', 'paper']);
    t.same(items('kargo/freight.yaml'), ['f3a9c1']);
    t.same(items('kargo/promotions.yaml'), ['beta.01j9.f3a9c1']);
    t.same(items('argocd/applications.yaml').sort(), ['stonks-oracle-beta', 'stonks-oracle-live', 'stonks-oracle-paper']);
    t.same(items('argocd/appprojects.yaml'), ['stonks']);
    t.match(readFileSync(dir('kargo/freight.yaml'), 'utf8'), /verifiedIn/, 'with status');
    t.match(readFileSync(dir('SNAPSHOT.txt'), 'utf8'), /objects: 11/);
    t.ok(existsSync(dir('SHA256SUMS')));
    t.ok(indexOf(muts, /delete pod stonks-pipeline-snapshot-writer -n stonks-gate/) > verify, 'the writer pod is removed');
  });

  t.test('Argo CD is stopped and its Applications removed without cascading, before Argo CD goes', async (t) => {
    const scaleCtl = indexOf(muts, /scale statefulset\/argocd-application-controller -n argocd --replicas=0/);
    const scaleSet = indexOf(muts, /scale deployment\/argocd-applicationset-controller -n argocd --replicas=0/);
    const uninstallArgo = indexOf(muts, /^helm uninstall argocd -n argocd/);
    t.ok(scaleCtl >= 0 && scaleSet >= 0, 'both controllers scaled to zero');
    for (const app of ['stonks-oracle-beta', 'stonks-oracle-paper', 'stonks-oracle-live']) {
      const patch = indexOf(muts, new RegExp(`patch application\\.argoproj\\.io/${app} -n argocd --type merge -p \\{"metadata":\\{"finalizers":null\\}\\}`));
      const del = indexOf(muts, new RegExp(`delete application\\.argoproj\\.io/${app} -n argocd --cascade=orphan`));
      t.ok(patch > Math.max(scaleCtl, scaleSet), `${app}: finalizers dropped after the controllers stopped`);
      t.ok(del > patch, `${app}: deleted after its finalizers are gone`);
      t.ok(del < uninstallArgo, `${app}: deleted before Argo CD is uninstalled`);
      t.notOk(after.objects[keyOf('Application', 'argocd', app)], `${app} is gone`);
    }
    t.same(after.cascaded, [], 'no Application was deleted with its cascading finalizer');
    t.ok(after.objects[keyOf('Deployment', 'stonks-oracle-beta', 'oracle')], 'the beta workload stays');
    t.same(after.objects[keyOf('Deployment', 'stonks-oracle', 'oracle')], before.objects[keyOf('Deployment', 'stonks-oracle', 'oracle')], 'the live workload is untouched');
  });

  t.test("Kargo's controller is stopped, and gone, before the Applications' pins are read", async (t) => {
    const scale = indexOf(r.calls, /^kubectl scale deployment\/kargo-controller -n kargo --replicas=0$/);
    const gone = indexOf(r.calls, /^kubectl wait --for=delete pod -l app\.kubernetes\.io\/instance=kargo,app\.kubernetes\.io\/component=controller -n kargo/);
    const firstPin = indexOf(r.calls, /^kubectl get application\.argoproj\.io\/\S+ -n argocd -o jsonpath=\{\.spec\.source\.targetRevision\}/);
    t.ok(scale >= 0, 'scaled to zero');
    t.ok(gone > scale, 'its pod waited out');
    t.ok(firstPin > gone, 'before the first pin is read: no promotion can pin an Application after');
    t.equal(after.objects[keyOf('Deployment', 'kargo', 'kargo-controller')]?.spec.replicas, 0);
  });

  t.test('the releases are uninstalled in reverse install order', async (t) => {
    const order = muts.filter((c) => c.tool === 'helm' && bare(c)[0] === 'uninstall').map((c) => bare(c)[1]);
    t.same(order, REVERSE_RELEASES);
    t.same(after.releases, {}, 'no release is left');
  });

  t.test('volumes, claims, namespaces, CRDs and Kargo state stay', async (t) => {
    t.equal(muts.filter((c) => /^kubectl delete (pv|pvc|persistentvolume|namespace|ns|crd)/.test(show(c))).length, 0);
    for (const [k, o] of Object.entries(before.objects)) {
      if (['PersistentVolume', 'PersistentVolumeClaim', 'Namespace', 'CustomResourceDefinition', 'Secret', 'Stage', 'Freight', 'Promotion', 'Warehouse', 'Project', 'AppProject'].includes(o.kind)) {
        t.ok(after.objects[k], `${k} stays`);
      }
    }
    for (const o of Object.values(after.objects).filter((o) => o.kind === 'PersistentVolume')) {
      t.equal(o.spec.persistentVolumeReclaimPolicy, 'Retain', `${o.metadata.name} is still Retain`);
    }
  });

  t.test('no change names an application namespace', async (t) => {
    const pipeline = ['argocd', 'stonks-gate', 'kargo', 'argo-rollouts', 'arc-runners', 'arc-systems'];
    for (const c of muts) {
      t.notOk(namesLiveNamespace(c), `does not name stonks-oracle: ${show(c).slice(0, 90)}`);
      const namespaces = c.stdin ? YAML.parseAllDocuments(c.stdin).map((d) => d.toJSON()?.metadata?.namespace) : [namespaceOf(c)];
      for (const ns of namespaces) t.ok(pipeline.includes(ns), `${show(c).slice(0, 60)} changes pipeline namespace ${ns}`);
    }
    const reads = r.calls.filter(namesLiveNamespace);
    t.ok(reads.every(isReadOnly), 'only read-only calls name stonks-oracle');
  });

  t.test('a second teardown finds nothing to remove and succeeds', async (t) => {
    const again = sb.run('runmelast.sh', ['--yes']);
    expectExit(t, again, 0);
    const removals = mutations(again.calls).filter((c) => /^(helm uninstall|kubectl (patch|delete) application)/.test(show(c)));
    t.same(removals.map(show), []);
    t.equal(readdirSync(sb.nfs('backups')).length >= 1, true, 'it still writes a snapshot');
  });

  t.test('runmefirst.sh afterwards reinstalls onto the same volumes', async (t) => {
    const up = sb.run('runmefirst.sh');
    expectExit(t, up, 0);
    const upMuts = mutations(up.calls);
    t.equal(upMuts.filter((c) => bare(c)[0] === 'patch').length, 0, 'the claims were kept, so no volume needs rebinding');
    const results = up.calls.flatMap((c) => c.results ?? []).filter((x) => /persistentvolume/.test(x));
    t.ok(results.length === 10 && results.every((x) => x.endsWith('unchanged')), 'volumes and claims unchanged');
    t.same(upMuts.filter((c) => bare(c)[0] === 'upgrade').map((c) => bare(c)[2]), RELEASES_IN_ORDER.map(([rel]) => rel));
    const st = sb.state();
    t.equal(st.objects[keyOf('PersistentVolumeClaim', 'stonks-gate', 'gate-data')]!.status.phase, 'Bound', 'the gate finds its data');
    t.ok(st.objects[keyOf('Freight', 'stonks-pipeline', 'f3a9c1')], 'Kargo finds its freight');
  });
});

t.test('--dry-run prints every action and changes nothing', async (t) => {
  const sb = installed();
  t.teardown(() => sb.cleanup());
  const hash = () => createHash('sha256').update(readFileSync(sb.statePath)).digest('hex');
  const before = hash();
  const r = sb.run('runmelast.sh', ['--dry-run']);
  expectExit(t, r, 0);
  t.same(mutations(r.calls).map(show), [], 'only read-only calls');
  t.equal(hash(), before, 'the fake cluster is untouched');
  t.notOk(existsSync(sb.nfs('backups')), 'nothing is written to the volume');
  t.match(r.stdout, /\[dry-run\] would write snapshot \d{8}T\d{6}Z \(11 objects\)/);
  for (const app of ['stonks-oracle-beta', 'stonks-oracle-paper', 'stonks-oracle-live']) {
    t.match(r.stdout, new RegExp(`\\[dry-run\\] kubectl --context celestium patch application\\.argoproj\\.io/${app} -n argocd`));
    t.match(r.stdout, new RegExp(`\\[dry-run\\] kubectl --context celestium delete application\\.argoproj\\.io/${app} -n argocd --cascade=orphan`));
  }
  const planned = [...r.stdout.matchAll(/\[dry-run\] helm --kube-context celestium uninstall (\S+)/g)].map((m) => m[1]);
  t.same(planned, REVERSE_RELEASES);
});

t.test('a teardown that stopped after argocd-quiesce: runmefirst.sh applies Argo CD and Kargo again, though their releases are up to date', async (t) => {
  const sb = installed();
  t.teardown(() => sb.cleanup());
  const st = sb.state();
  // as the step leaves them: Kargo's controller and Argo CD's at zero
  st.objects[keyOf('Deployment', 'kargo', 'kargo-controller')]!.spec.replicas = 0;
  st.objects[keyOf('StatefulSet', 'argocd', 'argocd-application-controller')]!.spec.replicas = 0;
  writeFileSync(sb.statePath, JSON.stringify(st));
  const up = sb.run('runmefirst.sh');
  expectExit(t, up, 0);
  const upgraded = mutations(up.calls).filter((c) => bare(c)[0] === 'upgrade').map((c) => bare(c)[2]);
  t.same(upgraded, ['argocd', 'kargo'], 'only those two are applied again; the other releases are unchanged');
  for (const release of ['argocd', 'kargo']) {
    t.match(up.output, new RegExp(`helm release ${release} in ${release} is up to date, but its controllers are scaled to 0`));
  }
});

// Plan tests of runmefirst.sh (rebinding volumes, failures and resuming, refusals): the real script runs against recording stand-ins for kubectl and
// helm (fixtures/), and the tests assert on the calls it made and on the fake cluster after it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Sandbox, freshCluster, mutations, expectExit, show, indexOf, keyOf, put, repoRoot } from './harness.ts';
import { appliedDocs } from './plan.ts';

// Each run of a script makes ~100 calls to the stand-ins (a Node process each): allow a slow machine.
t.setTimeout(600_000);

/** A cluster stood up once, then the gate's claim deleted (e.g. with its namespace): its volume is Released and keeps the old claim's uid. */
function releasedGateVolume(t: Test) {
  const sb = new Sandbox(freshCluster());
  t.teardown(() => sb.cleanup());
  t.equal(sb.run('runmefirst.sh').status, 0);
  const state = sb.state();
  delete state.objects[keyOf('PersistentVolumeClaim', 'stonks-gate', 'gate-data')];
  const pv = state.objects[keyOf('PersistentVolume', '', 'stonks-pipeline-gate')]!;
  pv.status = { phase: 'Released' };
  return { sb, state, pv };
}

t.test('a volume left Released is made bindable again before its claim is applied; any volume is kept Retain', async (t) => {
  const { sb, state, pv } = releasedGateVolume(t);
  pv.spec.claimRef.resourceVersion = '4711';
  // And someone switched another volume to Delete.
  state.objects[keyOf('PersistentVolume', '', 'stonks-pipeline-kargo')]!.spec.persistentVolumeReclaimPolicy = 'Delete';
  sb.writeState(state);

  const r = sb.run('runmefirst.sh');
  expectExit(t, r, 0);
  const muts = mutations(r.calls);
  const patch = indexOf(muts, /^kubectl patch pv stonks-pipeline-gate --type merge -p .*"claimRef":\{"uid":null/);
  const apply = muts.findIndex((c) => appliedDocs([c]).some((d) => d.kind === 'PersistentVolumeClaim' && d.metadata.name === 'gate-data'));
  t.ok(patch >= 0, 'the Released volume is patched');
  t.ok(patch < apply, 'before its claim is applied');
  t.equal(indexOf(muts, /^kubectl patch pv stonks-pipeline-(backups|argocd|arc)/), -1, 'Bound Retain volumes are left alone');
  t.ok(indexOf(muts, /^kubectl patch pv stonks-pipeline-kargo --type merge -p .*"Retain"/) >= 0, 'a volume that is not Retain is switched to Retain');
  const after = sb.state();
  t.equal(after.objects[keyOf('PersistentVolume', '', 'stonks-pipeline-gate')]!.status.phase, 'Bound', 'the new claim binds the old volume (and its data)');
  t.equal(after.objects[keyOf('PersistentVolumeClaim', 'stonks-gate', 'gate-data')]!.status.phase, 'Bound');
  t.equal(indexOf(muts, /stonks-pipeline-nfs-init/), -1, 'no NFS init when every volume exists');
  t.equal(after.objects[keyOf('PersistentVolume', '', 'stonks-pipeline-kargo')]!.spec.persistentVolumeReclaimPolicy, 'Retain');
});

t.test('a Released volume whose claimRef has no resourceVersion (or no uid) is made bindable too', async (t) => {
  const { sb, state, pv } = releasedGateVolume(t);
  delete pv.spec.claimRef.resourceVersion;
  sb.writeState(state);
  const r = sb.run('runmefirst.sh');
  expectExit(t, r, 0);
  t.equal(sb.state().objects[keyOf('PersistentVolume', '', 'stonks-pipeline-gate')]!.status.phase, 'Bound', 'the claim binds the old volume');
});

t.test('a failed step says which and how to resume; --from resumes there', async (t) => {
  const state = freshCluster();
  state.failHelm = { kargo: 'Error: context deadline exceeded' };
  const sb = new Sandbox(state);
  t.teardown(() => sb.cleanup());
  const r = sb.run('runmefirst.sh');
  t.not(r.status, 0);
  t.match(r.output, /FAILED: step "kargo"/);
  t.match(r.output, /resume from this step:\s+\.\/runmefirst\.sh --from kargo/);
  t.equal(indexOf(r.calls, /crd\/projects\.kargo\.akuity\.io/), -1, 'later steps (kargo-resources) did not run');

  const fixed = sb.state();
  delete fixed.failHelm;
  sb.writeState(fixed);
  const resumed = sb.run('runmefirst.sh', ['--from', 'kargo']);
  expectExit(t, resumed, 0);
  const muts = mutations(resumed.calls).map(show);
  t.match(muts[0], /^helm upgrade --install kargo /, 'the first change is the failed step');
  t.notOk(muts.some((m) => /upgrade --install (arc|argocd|argo-rollouts) /.test(m)), 'earlier steps are skipped');
  t.notOk(muts.some((m) => /upgrade --install gate-service /.test(m)), 'the gate, before Kargo, is skipped too');
  t.ok(indexOf(resumed.calls, /crd\/projects\.kargo\.akuity\.io/) >= 0, 'later steps run');
  t.match(resumed.output, /\[namespaces\] \[2\/14\] skipped \(resuming from kargo\)/);

  const bad = sb.run('runmefirst.sh', ['--from', 'nonsense']);
  expectExit(t, bad, 2);
  t.match(bad.output, /unknown step 'nonsense'; steps: preflight namespaces/);
});

t.test('an Argo CD Application that would auto-sync the live namespace is refused', async (t) => {
  const sb = new Sandbox(freshCluster());
  t.teardown(() => sb.cleanup());
  sb.kargoFile('apps/live.yaml', [
    'apiVersion: argoproj.io/v1alpha1', 'kind: Application', 'metadata:', '  name: oracle-live', '  namespace: argocd',
    'spec:', '  destination:', '    namespace: stonks-oracle', '  syncPolicy:', '    automated:', '      prune: true', '',
  ].join('\n'));
  const r = sb.run('runmefirst.sh');
  expectExit(t, r, 3);
  t.match(r.output, /REFUSED: .*apps\/live\.yaml is an Argo CD Application for stonks-oracle with automated sync/);
  t.equal(r.calls.filter((c) => c.file).length, 0, 'the file was not applied');
});

t.test('a second run keeps the commit a promotion pinned on an existing Application; a new one starts at main', async (t) => {
  // Live was promoted: Kargo's argocd-update set its targetRevision to the commit it pushed.
  // Applying kargo/'s `targetRevision: main` again would unpin it (OutOfSync against main's
  // head, and a sync from Argo CD's UI would deploy commits no gate decision let through).
  const pinned = '3f786850e387550fdab836ed7e6dc881de23001b';
  const state = put(
    freshCluster(),
    { kind: 'Namespace', metadata: { name: 'argocd' } },
    { kind: 'CustomResourceDefinition', metadata: { name: 'applications.argoproj.io' }, spec: { names: { kind: 'Application' } } },
    {
      apiVersion: 'argoproj.io/v1alpha1', kind: 'Application',
      metadata: { name: 'stonks-oracle-live', namespace: 'argocd' },
      spec: { project: 'default', source: { repoURL: 'https://github.com/celesrenata/stonks-oracle.git', targetRevision: pinned, path: 'old/path' } },
    },
  );
  const sb = new Sandbox(state);
  t.teardown(() => sb.cleanup());
  for (const stage of ['live', 'beta']) {
    sb.kargoFile(`argocd/applications/${stage}.yaml`, readFileSync(join(repoRoot, 'kargo', 'argocd', 'applications', `${stage}.yaml`), 'utf8'));
  }
  const r = sb.run('runmefirst.sh', ['--from', 'applications']);
  expectExit(t, r, 0);
  const source = (name: string) => sb.state().objects[keyOf('Application', 'argocd', name)]?.spec?.source;
  t.equal(source('stonks-oracle-live')?.targetRevision, pinned, 'live keeps the promoted commit');
  t.equal(source('stonks-oracle-live')?.path, 'infra/helm/stonks-oracle', 'the rest of the file is applied');
  t.equal(source('stonks-oracle-beta')?.targetRevision, 'main', 'a new Application starts at main');
  t.match(r.output, new RegExp(`live\\.yaml: keeping the commit a promotion pinned \\(${pinned}\\)`));
});

t.test('a gate scaled to zero is brought back, not reported up', async (t) => {
  const sb = new Sandbox(freshCluster());
  t.teardown(() => sb.cleanup());
  t.equal(sb.run('runmefirst.sh').status, 0);
  // During an incident someone stopped the gate (kubectl scale --replicas=0). Its release is
  // unchanged, and `kubectl rollout status` calls a Deployment of 0 replicas rolled out.
  const state = sb.state();
  state.objects[keyOf('Deployment', 'stonks-gate', 'gate-service')] = { kind: 'Deployment', metadata: { namespace: 'stonks-gate', name: 'gate-service' }, spec: { replicas: 0 } };
  sb.writeState(state);
  const r = sb.run('runmefirst.sh');
  expectExit(t, r, 0);
  t.ok(indexOf(mutations(r.calls), /^helm upgrade --install gate-service /) >= 0, 'the gate release is applied again (its one replica comes back)');
  t.match(r.output, /gate-service .*scaled to 0/);
  t.equal(indexOf(mutations(r.calls), /^helm upgrade --install (arc|argocd|kargo) /), -1, 'the other releases stay unchanged');
});

t.test('a release left pending by an interrupted helm run: the script names the way out instead of failing inside helm', async (t) => {
  const sb = new Sandbox(freshCluster());
  t.teardown(() => sb.cleanup());
  t.equal(sb.run('runmefirst.sh').status, 0);
  // helm lost the cluster (VPN dropped, laptop slept, SIGKILL) in the middle of an upgrade: the
  // release stays pending-upgrade, and every later `helm upgrade` fails with "another operation
  // (install/upgrade/rollback) is in progress".
  const state = sb.state();
  state.releases['kargo/kargo']!.status = 'pending-upgrade';
  state.releases['stonks-gate/gate-service']!.status = 'pending-install';
  sb.writeState(state);
  const r = sb.run('runmefirst.sh');
  t.not(r.status, 0, 'the run stops');
  // the gate goes first (before Kargo): the run stops there
  t.equal(indexOf(mutations(r.calls), /^helm upgrade --install gate-service /), -1, 'no upgrade is tried on the pending release');
  t.match(r.output, /helm release gate-service in stonks-gate is pending-install/);
  t.match(r.output, /helm --kube-context celestium uninstall gate-service -n stonks-gate/, 'a pending first install is removed (the gate\'s claim is not the chart\'s: its data stays)');
  t.match(r.output, /\.\/runmefirst\.sh --from gate/);
  t.equal(indexOf(mutations(r.calls), /^helm upgrade --install kargo /), -1, 'nor on the later one');

  const dry = sb.run('runmefirst.sh', ['--dry-run']);
  expectExit(t, dry, 0, 'a dry run');
  t.match(dry.output, /helm release kargo in kargo is pending-upgrade/, 'a dry run reports both');
  t.match(dry.output, /helm --kube-context celestium rollback kargo -n kargo/);
  t.match(dry.output, /\.\/runmefirst\.sh --from kargo/);
  t.match(dry.output, /helm --kube-context celestium uninstall gate-service -n stonks-gate/);
});

t.test('the way out printed for a pending release can be pasted as it is, whatever the context is called', async (t) => {
  // kubeconfig context names are free text: an operator's may hold a space or a `$`
  const name = 'prod east $HOME';
  const cluster = freshCluster();
  cluster.context = name;
  cluster.contexts = [name, 'kind-dev'];
  const sb = new Sandbox(cluster);
  t.teardown(() => sb.cleanup());
  t.equal(sb.run('runmefirst.sh').status, 0);
  const state = sb.state();
  state.releases['kargo/kargo']!.status = 'pending-upgrade';
  sb.writeState(state);
  const r = sb.run('runmefirst.sh');
  t.not(r.status, 0, 'the run stops');
  const line = /When no one else is running helm on it: (.*?)   then:/.exec(r.output);
  t.ok(line, 'the way out is printed');
  const words = execFileSync('bash', ['-c', 'for w in ' + line![1] + '; do printf "%s\\n" "$w"; done'], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: '/nowhere' } }).trimEnd().split('\n');
  t.same(words, ['helm', '--kube-context', name, 'rollback', 'kargo', '-n', 'kargo'], 'bash reads it back as the same words, the context as one');
});

t.test('the NFS directories are made once, by a Job that completed: volumes created by a run resumed past that step do not stand for them', async (t) => {
  const sb = new Sandbox(freshCluster());
  t.teardown(() => sb.cleanup());
  // the init Job failed (its apply refused), and the run was resumed past it
  const st = sb.state();
  st.failApply = [keyOf('Job', 'kargo', 'stonks-pipeline-nfs-init')];
  sb.writeState(st);
  const failed = sb.run('runmefirst.sh');
  expectExit(t, failed, 1, 'the init Job cannot be applied');
  const reports = failed.output.match(/FAILED: step "nfs-dirs" exited 1 \([^)]*\)/g) ?? [];
  t.equal(reports.length, 1, 'the failure is reported once (not again from the pipeline it ran in)');
  t.match(reports[0], /\(runmefirst\.sh line \d+\)/, 'naming the line of the step in runmefirst.sh');
  t.equal(failed.output.match(/resume from this step/g)?.length, 1, 'with one resume hint');
  t.match(failed.output, /\[nfs-dirs\] common\.sh line \d+ exited 1/, 'and the line that failed inside the pipeline, in its own file');
  const fixed = sb.state();
  delete fixed.failApply;
  sb.writeState(fixed);
  expectExit(t, sb.run('runmefirst.sh', ['--from', 'volumes']), 0, 'resumed past nfs-dirs: the volumes are created');
  t.ok(sb.state().objects[keyOf('PersistentVolume', '', 'stonks-pipeline-gate')], 'the volumes exist');

  const again = sb.run('runmefirst.sh');
  expectExit(t, again, 0);
  const job = mutations(again.calls).findIndex((c) => appliedDocs([c]).some((d) => d.kind === 'Job' && d.metadata.name === 'stonks-pipeline-nfs-init'));
  t.ok(job >= 0, 'the next full run makes the directories, although every volume exists');
  t.equal(sb.state().objects[keyOf('ConfigMap', 'kargo', 'stonks-pipeline-nfs-dirs')]?.data?.made, '192.168.42.8:/volume1/Kubernetes/pipelines argocd kargo arc gate backups', 'and records them once the Job completed');

  const third = sb.run('runmefirst.sh');
  expectExit(t, third, 0);
  t.equal(indexOf(mutations(third.calls), /stonks-pipeline-nfs-init/), -1, 'then no more');
  t.match(third.output, /were made by an earlier run: nothing to do/);
});

t.test('a read of a controller that fails is no answer: the stand-up stops instead of calling a stopped Kargo up', async (t) => {
  const sb = new Sandbox(freshCluster());
  t.teardown(() => sb.cleanup());
  expectExit(t, sb.run('runmefirst.sh'), 0, 'stood up');
  // an interrupted teardown left Kargo's controller at 0; then its read fails
  const st = sb.state();
  st.objects[keyOf('Deployment', 'kargo', 'kargo-controller')] = { kind: 'Deployment', metadata: { namespace: 'kargo', name: 'kargo-controller' }, spec: { replicas: 0 } };
  st.failGet = [keyOf('Deployment', 'kargo', 'kargo-controller')];
  sb.writeState(st);
  const r = sb.run('runmefirst.sh', ['--from', 'kargo']);
  expectExit(t, r, 1);
  t.match(r.output, /cannot read deployment\/kargo-controller in kargo/);
  t.notMatch(r.output, /The pipeline is up/);

  const fixed = sb.state();
  delete fixed.failGet;
  sb.writeState(fixed);
  const again = sb.run('runmefirst.sh', ['--from', 'kargo']);
  expectExit(t, again, 0);
  t.ok(mutations(again.calls).some((c) => /^helm upgrade --install kargo /.test(show(c))), 'once it can be read, the stopped controller is applied again');
});

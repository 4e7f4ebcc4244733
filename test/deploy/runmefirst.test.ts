// Plan tests of runmefirst.sh (install, idempotence, --dry-run, settings): the real script runs against recording stand-ins for kubectl and
// helm (fixtures/), and the tests assert on the calls it made and on the fake cluster after it.
import t from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Sandbox, freshCluster, mutations, expectExit, isReadOnly, namespaceOf, namesLiveNamespace, show, indexOf, bare, keyOf, repoRoot,
} from './harness.ts';
import { PIPELINE_NAMESPACES, RELEASES_IN_ORDER, appliedDocs, helmUpgrades, valuesOf } from './plan.ts';

// Each run of a script makes ~100 calls to the stand-ins (a Node process each): allow a slow machine.
t.setTimeout(300_000);

t.test('a first install on a prepared cluster', async (t) => {
  const sb = new Sandbox(freshCluster());
  t.teardown(() => sb.cleanup());
  sb.kargoFile('project.yaml', 'apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata:\n  name: stonks-pipeline\n');
  sb.kargoFile('stages/beta.yaml', 'apiVersion: kargo.akuity.io/v1alpha1\nkind: Stage\nmetadata:\n  name: beta\n  namespace: stonks-pipeline\nspec: {}\n');
  sb.kargoFile('argocd/applications/beta.yaml', readFileSync(join(repoRoot, 'kargo', 'argocd', 'applications', 'beta.yaml'), 'utf8'));
  sb.kargoFile('examples/secret.yaml', 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: git-credentials\n  namespace: stonks-pipeline\n');
  sb.kargoFile('ghcr.example.yaml', 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: ghcr\n  namespace: stonks-pipeline\n');
  sb.kargoFile('secrets/caller.yaml', 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n  namespace: stonks-pipeline\nstringData:\n  token: CHANGE-ME\n');
  const r = sb.run('runmefirst.sh');
  expectExit(t, r, 0);
  const muts = mutations(r.calls);
  const texts = muts.map(show);

  t.test('steps run in order: namespaces, NFS dirs, volumes, accounts, the gate before every release that calls it, the Applications before Kargo, Kargo resources', async (t) => {
    const order = [
      /apply -f - .*/, // namespaces (first change of all)
    ];
    t.match(appliedDocs([muts[0]!]).map((d) => d.kind), ['Namespace'], 'the first change creates namespaces');
    t.ok(order.length);
    const at = (re: RegExp) => indexOf(muts, re);
    const firstPv = muts.findIndex((c) => appliedDocs([c]).some((d) => d.kind === 'PersistentVolume'));
    const job = muts.findIndex((c) => appliedDocs([c]).some((d) => d.kind === 'Job'));
    const accounts = muts.findIndex((c) => appliedDocs([c]).some((d) => d.kind === 'ServiceAccount'));
    const helms = RELEASES_IN_ORDER.map(([rel, ns]) => at(new RegExp(`^helm upgrade --install ${rel} \\S+ -n ${ns} `)));
    const kargoApply = at(/^kubectl apply -f \S+project\.yaml$/);
    const stageApply = at(/^kubectl apply -f \S+stages\/beta\.yaml$/);
    const appApply = at(/^kubectl apply -f \S+applications\/beta\.yaml$/);
    const helmOf = (rel: string) => helms[RELEASES_IN_ORDER.findIndex(([r]) => r === rel)] ?? -1;
    const gate = helmOf('gate-service');
    const kargo = helmOf('kargo');
    t.ok(job > 0 && job < firstPv, 'the NFS init job runs before the volumes');
    t.ok(firstPv < accounts, 'volumes before accounts');
    t.ok(helms.every((i) => i > accounts), 'releases after volumes and accounts');
    t.same([...helms].sort((a, b) => a - b), helms, `releases in order ${RELEASES_IN_ORDER.map((r) => r[0]).join(', ')}`);
    t.ok(helms.every((i) => i >= 0), 'every release is installed');
    t.ok(kargoApply > helms.at(-1)! && stageApply > helms.at(-1)!, 'Kargo resources are applied last');
    // Kargo's controller starts after the gate and the Applications: after a teardown it resumes
    // the promotions it had under way, whose gate and argocd-update steps need both
    t.ok(gate < kargo, 'the gate before Kargo');
    // and before the other callers, which resume work the moment they start: the reporter
    // runners' queued CI jobs, Argo Rollouts' verifications
    for (const caller of ['stonks-oracle-reporter', 'stonks-oracle-runners', 'argo-rollouts', 'arc', 'argocd']) t.ok(gate < helmOf(caller), `the gate before ${caller}`);
    t.ok(appApply > gate && appApply < kargo, 'the Argo CD Applications after the gate, before Kargo');
    t.equal(muts.filter((c) => /applications\/beta\.yaml$/.test(show(c))).length, 1, 'each Application applied once');
  });

  t.test('only the pipeline namespaces are created or changed', async (t) => {
    const nsDocs = appliedDocs(muts).filter((d) => d.kind === 'Namespace').map((d) => d.metadata.name);
    t.same(nsDocs.sort(), [...PIPELINE_NAMESPACES].sort());
    const project = appliedDocs(muts).find((d) => d.kind === 'Namespace' && d.metadata.name === 'stonks-pipeline');
    t.equal(project.metadata.labels['kargo.akuity.io/project'], 'true', 'Kargo may adopt the project namespace');
    const gate = appliedDocs(muts).find((d) => d.kind === 'Namespace' && d.metadata.name === 'stonks-gate');
    t.equal(gate.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
    for (const c of muts) {
      const ns = namespaceOf(c);
      if (ns) t.ok(PIPELINE_NAMESPACES.includes(ns), `${show(c).slice(0, 80)} names pipeline namespace ${ns}`);
    }
    for (const d of appliedDocs(muts)) {
      if (d.metadata.namespace) t.ok(PIPELINE_NAMESPACES.includes(d.metadata.namespace), `${d.kind}/${d.metadata.name} in ${d.metadata.namespace}`);
    }
  });

  t.test('every volume is NFS, Retain, in its own subdirectory and pre-bound to its claim', async (t) => {
    const pvs = appliedDocs(muts).filter((d) => d.kind === 'PersistentVolume');
    const pvcs = appliedDocs(muts).filter((d) => d.kind === 'PersistentVolumeClaim');
    t.equal(pvs.length, 5);
    const dirs = pvs.map((pv) => pv.spec.nfs.path);
    t.same(dirs.sort(), ['argocd', 'arc', 'backups', 'gate', 'kargo'].map((d) => `/volume1/Kubernetes/pipelines/${d}`).sort());
    for (const pv of pvs) {
      t.equal(pv.spec.persistentVolumeReclaimPolicy, 'Retain', `${pv.metadata.name} is Retain`);
      t.equal(pv.spec.nfs.server, '192.168.42.8');
      t.equal(pv.spec.storageClassName, '');
      const claim = pvcs.find((c) => c.metadata.name === pv.spec.claimRef.name && c.metadata.namespace === pv.spec.claimRef.namespace);
      t.ok(claim, `${pv.metadata.name} is pre-bound to an applied claim`);
      t.equal(claim?.spec.volumeName, pv.metadata.name, 'and the claim names the volume');
    }
    const state = sb.state();
    for (const pv of pvs) t.equal(state.objects[keyOf('PersistentVolume', '', pv.metadata.name)]!.status.phase, 'Bound');
    t.match(pvcs.find((c) => c.metadata.name === 'gate-data'), { metadata: { namespace: 'stonks-gate' } });
  });

  t.test('the charts are pinned and configured for the cluster', async (t) => {
    const ups = helmUpgrades(r.calls);
    const byRel = Object.fromEntries(ups.map((c) => [bare(c)[2], c]));
    const version = (rel: string) => { const a = bare(byRel[rel]!); return a[a.indexOf('--version') + 1]; };
    t.equal(version('arc'), '0.14.2');
    t.equal(version('stonks-oracle-runners'), '0.14.2');
    t.equal(version('stonks-oracle-reporter'), '0.14.2');
    t.equal(version('argocd'), '10.4.1');
    t.equal(version('argo-rollouts'), '2.41.0');
    t.equal(version('kargo'), '1.11.2');
    t.match(show(byRel['kargo']!), /oci:\/\/ghcr\.io\/akuity\/kargo-charts\/kargo/);
    t.match(show(byRel['argocd']!), /--repo https:\/\/argoproj\.github\.io\/argo-helm/);
    for (const c of ups) t.ok(bare(c).includes('--wait'), `${bare(c)[2]} waits`);

    const runners = valuesOf(byRel['stonks-oracle-runners']!);
    t.match(runners, {
      githubConfigUrl: 'https://github.com/celesrenata/stonks-oracle', githubConfigSecret: 'arc-github-app',
      runnerScaleSetName: 'stonks-oracle-runners', minRunners: 0, maxRunners: 4, controllerServiceAccount: { namespace: 'arc-systems' },
      containerMode: { type: 'dind' },
    });
    const reporter = valuesOf(byRel['stonks-oracle-reporter']!);
    t.match(reporter, {
      githubConfigUrl: 'https://github.com/celesrenata/stonks-oracle', githubConfigSecret: 'arc-github-app',
      runnerScaleSetName: 'stonks-oracle-reporter', minRunners: 0, maxRunners: 1, controllerServiceAccount: { namespace: 'arc-systems', name: 'arc-gha-rs-controller' },
      template: { spec: { serviceAccountName: 'gate-ci' } },
    });
    t.notOk('containerMode' in reporter, 'the reporter runs no Docker (no privileged dind sidecar)');
    const argocd = valuesOf(byRel['argocd']!);
    t.match(argocd, { global: { domain: 'argocd.celestium.life' }, crds: { keep: true }, server: { ingress: { enabled: true, ingressClassName: 'traefik', hostname: 'argocd.celestium.life', tls: true, annotations: { 'cert-manager.io/cluster-issuer': 'ca-issuer' } } } });
    t.equal(argocd.configs.params['server.insecure'], true, 'TLS ends at Traefik');
    const kargo = valuesOf(byRel['kargo']!);
    t.match(kargo, { crds: { keep: true }, api: { host: 'kargo.celestium.life', secret: { name: 'kargo-admin' }, ingress: { enabled: true, ingressClassName: 'traefik', annotations: { 'cert-manager.io/cluster-issuer': 'ca-issuer' }, tls: { enabled: true, selfSignedCert: false } } }, controller: { rollouts: { integrationEnabled: true } } });
    t.match(valuesOf(byRel['argo-rollouts']!), { keepCRDs: true });
    t.match(valuesOf(byRel['gate-service']!), { persistence: { existingClaim: 'gate-data' }, ingress: { host: 'gate.celestium.life', clusterIssuer: 'ca-issuer' }, networkPolicy: { enabled: true } });
  });

  t.test('only the reporter scale set holds the gate-ci identity; the general runners have no token at all', async (t) => {
    const ups = helmUpgrades(r.calls);
    const byRel = Object.fromEntries(ups.map((c) => [bare(c)[2], c]));
    const scaleSets = ups.filter((c) => bare(c)[3]!.endsWith('/gha-runner-scale-set')).map((c) => bare(c)[2]!);
    t.same(scaleSets, ['stonks-oracle-runners', 'stonks-oracle-reporter'], 'two runner scale sets');
    const runners = valuesOf(byRel['stonks-oracle-runners']!);
    t.notOk('serviceAccountName' in runners.template.spec, "general runners: the chart's no-permission ServiceAccount, not gate-ci");
    t.equal(runners.template.spec.automountServiceAccountToken, false, 'general runners: no ServiceAccount token mounted');
    const reporter = valuesOf(byRel['stonks-oracle-reporter']!);
    t.equal(reporter.template.spec.serviceAccountName, 'gate-ci', 'reporter: gate-ci');
    t.notOk(reporter.template.spec.automountServiceAccountToken === false, 'reporter: its token is mounted (the report script presents it)');
    const withGateCi = scaleSets.filter((rel) => valuesOf(byRel[rel]!).template?.spec?.serviceAccountName === 'gate-ci');
    t.same(withGateCi, ['stonks-oracle-reporter'], 'gate-ci is the ServiceAccount of the reporter only');
    const gate = valuesOf(byRel['gate-service']!);
    const ci = gate.rbac.bindings.filter((b: { role: string }) => b.role === 'ci');
    t.same(ci.map((b: { subjects: unknown[] }) => b.subjects), [[{ kind: 'ServiceAccount', name: 'gate-ci', namespace: 'arc-runners' }]], "the gate's ci role is bound to gate-ci alone");
    t.match(r.output, /runs-on: stonks-oracle-reporter\s+\(the report job only, 0\.\.1 pods, ServiceAccount gate-ci\)/, 'the summary names both labels');
    t.notOk('nodeSelector' in runners.template.spec || 'tolerations' in runners.template.spec, 'without RUNNER_NODE_POOL, no placement');
    t.match(r.output, /WARNING: RUNNER_NODE_POOL is not set: the general runners' privileged dind sidecar may share a node with the reporter \(gate-ci token\), Kargo, Argo CD and the gate/, 'and a warning says what that leaves open');
  });

  t.test('Kargo resources: examples, *.example.yaml and Secrets are not applied; the Project goes first', async (t) => {
    const files = r.calls.filter((c) => c.file).map((c) => c.file!.replace(sb.kargoDir + '/', ''));
    // the Application in the applications step (before Kargo), then the Project first
    t.same(files, ['argocd/applications/beta.yaml', 'project.yaml', 'stages/beta.yaml']);
    t.match(r.output, /skipped .*secrets\/caller\.yaml: it declares a Secret/);
  });

  t.test('no change names stonks-oracle; reading it is allowed', async (t) => {
    const naming = r.calls.filter(namesLiveNamespace);
    t.ok(naming.length > 0, 'the preflight reads the application namespace');
    for (const c of naming) t.ok(isReadOnly(c), `read-only: ${show(c)}`);
  });

  t.test('a second run changes nothing and succeeds', async (t) => {
    const before = readFileSync(sb.statePath, 'utf8');
    const again = sb.run('runmefirst.sh');
    expectExit(t, again, 0);
    t.same(helmUpgrades(again.calls).map(show), [], 'no release is upgraded');
    t.same(mutations(again.calls).filter((c) => !(bare(c)[0] === 'apply')).map(show), [], 'only idempotent applies');
    const results = again.calls.flatMap((c) => c.results ?? []);
    t.ok(results.length > 10);
    t.same(results.filter((x) => !x.endsWith(' unchanged')), [], 'every applied object is unchanged');
    const after = JSON.parse(readFileSync(sb.statePath, 'utf8'));
    const strip = (s: any) => { delete s.uidCounter; return s; };
    t.same(strip(after), strip(JSON.parse(before)), 'the cluster is the same');
  });
});

t.test('--dry-run prints every action and changes nothing', async (t) => {
  const sb = new Sandbox(freshCluster());
  t.teardown(() => sb.cleanup());
  const before = createHash('sha256').update(readFileSync(sb.statePath)).digest('hex');
  const r = sb.run('runmefirst.sh', ['--dry-run']);
  expectExit(t, r, 0);
  t.same(mutations(r.calls).map(show), [], 'only read-only calls reach kubectl and helm');
  t.equal(createHash('sha256').update(readFileSync(sb.statePath)).digest('hex'), before, 'the fake cluster is untouched');
  for (const [rel, ns] of RELEASES_IN_ORDER) t.match(r.stdout, new RegExp(`\\[dry-run\\] helm --kube-context celestium upgrade --install ${rel} \\S+ -n ${ns} `), `plans ${rel}`);
  t.match(r.stdout, /\[dry-run\] kubectl apply -f - \(namespaces\)/);
  t.match(r.stdout, /persistentVolumeReclaimPolicy: Retain/);
  t.match(r.stdout, /\[dry-run\] kubectl apply -f - \(NFS directory init job\)/);
});

t.test('--dry-run before Argo CD is installed plans the Argo CD Applications of kargo/ (no Application CRD yet: nothing pinned to keep)', async (t) => {
  const sb = new Sandbox(freshCluster());
  t.teardown(() => sb.cleanup());
  sb.kargoFile('argocd/applications/live.yaml', readFileSync(join(repoRoot, 'kargo', 'argocd', 'applications', 'live.yaml'), 'utf8'));
  const r = sb.run('runmefirst.sh', ['--dry-run']);
  expectExit(t, r, 0);
  t.match(r.stdout, /\[dry-run\] kubectl --context \S+ apply -f \S*\/kargo\/argocd\/applications\/live\.yaml\n/, 'the Application is planned, as the file has it');
});

t.test('settings come from the env file', async (t) => {
  const sb = new Sandbox(freshCluster(), { NFS_SERVER: '10.9.8.7', NFS_PATH: '/export/pipes', DOMAIN: 'example.test', ARC_MAX_RUNNERS: '9', RUNNER_LABEL: 'stonks-oracle-runners', REPORT_RUNNER_LABEL: 'oracle-gate-reporter', REPORT_MAX_RUNNERS: '2' });
  t.teardown(() => sb.cleanup());
  const r = sb.run('runmefirst.sh', ['--dry-run']);
  expectExit(t, r, 0);
  t.match(r.stdout, /server: 10\.9\.8\.7\n\s+path: \/export\/pipes\/gate/);
  t.match(r.stdout, /hostname: argocd\.example\.test/);
  t.match(r.stdout, /host: kargo\.example\.test/);
  t.match(r.stdout, /maxRunners: 9/);
  t.match(r.stdout, /runnerScaleSetName: oracle-gate-reporter\n\s+minRunners: 0\n\s+maxRunners: 2/);
  t.match(r.stdout, /upgrade --install oracle-gate-reporter \S+ -n arc-runners /);
});


const poolNode = (name: string, label: string, taints: unknown[]) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'stonks.io/pool': label } }, spec: { taints } });
const POOL_TAINT = { key: 'stonks.io/pool', value: 'ci-runners', effect: 'NoSchedule' };

t.test('RUNNER_NODE_POOL: the dind runners run only on the pool, tolerating its taint, which keeps every other pod off it', async (t) => {
  const state = freshCluster();
  state.objects[keyOf('Node', '', 'n1')] = poolNode('n1', 'ci-runners', [POOL_TAINT]);
  state.objects[keyOf('Node', '', 'n2')] = poolNode('n2', 'general', []);
  const sb = new Sandbox(state, { RUNNER_NODE_POOL: 'stonks.io/pool=ci-runners' });
  t.teardown(() => sb.cleanup());
  const r = sb.run('runmefirst.sh');
  expectExit(t, r, 0);
  const byRel = Object.fromEntries(helmUpgrades(r.calls).map((c) => [bare(c)[2], c]));
  const runners = valuesOf(byRel['stonks-oracle-runners']!).template.spec;
  t.same(runners.nodeSelector, { 'stonks.io/pool': 'ci-runners' }, 'general runners (dind): only on the pool');
  t.same(runners.tolerations, [{ key: 'stonks.io/pool', operator: 'Equal', value: 'ci-runners', effect: 'NoSchedule' }], 'tolerating its taint');
  const reporter = valuesOf(byRel['stonks-oracle-reporter']!).template.spec;
  t.notOk('tolerations' in reporter || 'nodeSelector' in reporter, 'the reporter does not tolerate it: it is never scheduled there');
  t.notOk('tolerations' in valuesOf(byRel['gate-service']!), 'nor the gate');
  t.match(r.output, /runner pool stonks\.io\/pool=ci-runners: the general runners run only there/);
  t.notMatch(r.output, /RUNNER_NODE_POOL is not set/);
});

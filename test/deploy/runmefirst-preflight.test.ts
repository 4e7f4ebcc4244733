// Plan tests of runmefirst.sh (preflight): the real script runs against recording stand-ins for kubectl and
// helm (fixtures/), and the tests assert on the calls it made and on the fake cluster after it.
import t from 'tap';
import { Sandbox, freshCluster, mutations, expectExit, show, keyOf } from './harness.ts';

// Each run of a script makes ~100 calls to the stand-ins (a Node process each): allow a slow machine.
t.setTimeout(300_000);

t.test('preflight fails early, saying what to do', async (t) => {
  const cases: { name: string; edit: (s: ReturnType<typeof freshCluster>) => void; settings?: Record<string, string>; expect: RegExp }[] = [
    { name: 'missing operator Secrets', edit: (s) => { delete s.objects[keyOf('Secret', 'arc-runners', 'arc-github-app')]; delete s.objects[keyOf('Secret', 'stonks-pipeline', 'git-credentials')]; }, expect: /arc-runners\/arc-github-app[\s\S]*stonks-pipeline\/git-credentials[\s\S]*kubectl -n arc-runners create secret generic arc-github-app/ },
    { name: 'no ClusterIssuer', edit: (s) => { delete s.objects[keyOf('ClusterIssuer', '', 'ca-issuer')]; }, expect: /ClusterIssuer 'ca-issuer' not found/ },
    { name: 'no Traefik IngressClass', edit: (s) => { delete s.objects[keyOf('IngressClass', '', 'traefik')]; }, expect: /IngressClass 'traefik' not found/ },
    { name: 'an unknown kube context', edit: () => {}, settings: { KUBE_CONTEXT: 'prod-elsewhere' }, expect: /context 'prod-elsewhere' \(KUBE_CONTEXT\) does not exist/ },
    { name: 'an unreachable cluster', edit: (s) => { s.unreachable = true; }, expect: /does not answer/ },
    { name: 'helm too old', edit: (s) => { s.versions = { helm: 'v3.9.4' }; }, expect: /helm v3\.9\.4 is too old/ },
    { name: 'kubectl too old', edit: (s) => { s.versions = { kubectl: 'v1.24.0' }; }, expect: /kubectl v1\.24\.0 is too old/ },
    { name: 'RUNNER_NODE_POOL not a label', edit: () => {}, settings: { RUNNER_NODE_POOL: 'stonks.io/pool' }, expect: /RUNNER_NODE_POOL='stonks\.io\/pool' is not one node label KEY=VALUE/ },
    { name: 'RUNNER_NODE_POOL with a quote', edit: () => {}, settings: { RUNNER_NODE_POOL: 'pool=a"b' }, expect: /is not one node label KEY=VALUE/ },
    { name: 'RUNNER_NODE_POOL on no node', edit: (s) => { s.objects[keyOf('Node', '', 'n1')] = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', labels: { 'stonks.io/pool': 'builds' } } }; }, settings: { RUNNER_NODE_POOL: 'stonks.io/pool=ci-runners' }, expect: /no node has the label stonks\.io\/pool=ci-runners \(RUNNER_NODE_POOL\): the runners would never be scheduled/ },
    { name: 'RUNNER_NODE_POOL nodes without the taint', edit: (s) => {
      s.objects[keyOf('Node', '', 'n1')] = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', labels: { 'stonks.io/pool': 'ci-runners' } }, spec: { taints: [{ key: 'stonks.io/pool', value: 'ci-runners', effect: 'NoSchedule' }] } };
      s.objects[keyOf('Node', '', 'n2')] = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n2', labels: { 'stonks.io/pool': 'ci-runners' } }, spec: { taints: [{ key: 'stonks.io/pool', value: 'ci-runners', effect: 'PreferNoSchedule' }] } };
      s.objects[keyOf('Node', '', 'n3')] = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n3', labels: { 'stonks.io/pool': 'ci-runners' } } };
    }, settings: { RUNNER_NODE_POOL: 'stonks.io/pool=ci-runners' }, expect: /the runner pool's nodes n2 n3 lack the taint stonks\.io\/pool=ci-runners:NoSchedule \(RUNNER_NODE_POOL\)/ },
  ];
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const state = freshCluster();
      c.edit(state);
      const sb = new Sandbox(state, c.settings);
      t.teardown(() => sb.cleanup());
      const r = sb.run('runmefirst.sh');
      expectExit(t, r, 2);
      t.match(r.output, c.expect);
      t.same(mutations(r.calls).map(show), [], 'nothing was changed');
    });
  }
});


t.test('the commands printed for missing Secrets keep passwords and tokens off command lines', async (t) => {
  const state = freshCluster();
  for (const [ns, name] of [['arc-runners', 'arc-github-app'], ['kargo', 'kargo-admin'], ['stonks-pipeline', 'git-credentials'], ['stonks-pipeline', 'ghcr-credentials']]) {
    delete state.objects[keyOf('Secret', ns!, name!)];
  }
  const sb = new Sandbox(state, { GATE_IMAGE_PULL_SECRET: 'ghcr-pull' });
  t.teardown(() => sb.cleanup());
  const r = sb.run('runmefirst.sh');
  expectExit(t, r, 2);
  // an argument is in every user's `ps` while the command runs, and in the shell's history after
  t.notMatch(r.output, /--from-literal=(password|github_token|ADMIN_ACCOUNT_\w+)=/, 'no secret value as a --from-literal argument');
  t.notMatch(r.output, /htpasswd -\w*b/, 'htpasswd asks for the password instead of taking it as an argument (-b)');
  t.match(r.output, /--from-file=password=\/dev\/stdin/, 'tokens go in on stdin');
  // the pull Secret lives in stonks-gate, which the operator must create first too
  t.match(r.output, /kubectl create namespace NS\s+# for each of: .*stonks-gate/, 'the namespace list includes stonks-gate for the pull Secret');
  t.same(mutations(r.calls).map(show), [], 'nothing was changed');
});

t.test('no ghcr-credentials (public GHCR packages need none): a warning with the command, and the run goes on', async (t) => {
  // kargo/README.md: the Secret is needed for warehouse discovery only if the packages are
  // private; nothing in the scripts uses it
  const state = freshCluster();
  delete state.objects[keyOf('Secret', 'stonks-pipeline', 'ghcr-credentials')];
  const sb = new Sandbox(state);
  t.teardown(() => sb.cleanup());
  const r = sb.run('runmefirst.sh');
  expectExit(t, r, 0);
  t.match(r.output, /WARNING: secret stonks-pipeline\/ghcr-credentials: absent\. Kargo needs it only if the GHCR packages are private/, 'says it is missing, and when that matters');
  t.match(r.output, /kubectl -n stonks-pipeline create secret generic ghcr-credentials [^\n]*--from-file=password=\/dev\/stdin/, 'with the command that creates it');
  t.match(r.output, 'preflight passed');
  t.notMatch(r.output, 'These Secrets are missing', 'not listed as a missing Secret');
  t.ok(mutations(r.calls).length > 0, 'the pipeline is set up');
  t.notOk(keyOf('Secret', 'stonks-pipeline', 'ghcr-credentials') in sb.state().objects, 'and the Secret is not made up');
});

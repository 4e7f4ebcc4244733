// The guard in deploy/lib/common.sh that every change of runmefirst.sh and runmelast.sh passes:
// it must refuse anything that could reach the application namespaces.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { repoRoot } from './harness.ts';

/** Runs pl_guard (argv) or pl_guard_manifest (stdin) in a bash that sourced common.sh. */
function guard(args: string[], manifest?: string) {
  const call = manifest === undefined ? 'pl_guard "$@"' : 'pl_guard_manifest "$(cat)"';
  return spawnSync('bash', ['-c', `set -euo pipefail; source deploy/lib/common.sh; ${call}; echo PASSED`, 'guard', ...args], {
    cwd: repoRoot, encoding: 'utf8', input: manifest ?? '',
  });
}

const refused: [string, string[]][] = [
  ['a delete in stonks-oracle', ['kubectl', 'delete', 'deployment', 'oracle', '-n', 'stonks-oracle']],
  ['--namespace=stonks-oracle', ['kubectl', 'scale', 'deploy/oracle', '--namespace=stonks-oracle', '--replicas=0']],
  ['the beta namespace', ['kubectl', 'delete', 'application.argoproj.io/x', '-n', 'stonks-oracle-beta']],
  ['the paper namespace', ['helm', 'uninstall', 'oracle', '-n', 'stonks-oracle-paper']],
  ['deleting the namespace itself', ['kubectl', 'delete', 'namespace', 'stonks-oracle']],
  ['namespace/stonks-oracle', ['kubectl', 'delete', 'namespace/stonks-oracle']],
  ['labelling a protected namespace', ['kubectl', 'label', 'ns', 'stonks-oracle-beta', 'x=y']],
  ['annotating ns/stonks-oracle-paper', ['kubectl', 'annotate', 'ns/stonks-oracle-paper', 'a=b']],
  // a review's shapes: kinds in other cases, lists and group forms, flags whose value shifts the
  // verb, a value joined to -n, --all, a patch that names a protected namespace
  ['a Namespace kind in capitals', ['kubectl', 'delete', 'Namespace', 'stonks-oracle', '-n', 'argocd']],
  ['Namespace/ in capitals', ['kubectl', 'annotate', 'Namespace/stonks-oracle-paper', 'a=b']],
  ['a namespace in a list of kinds', ['kubectl', 'delete', 'deploy,ns', 'stonks-oracle', '-n', 'argocd']],
  ['a namespace kind with its version', ['kubectl', 'delete', 'namespaces.v1./stonks-oracle', '-n', 'argocd']],
  ['deleting a pipeline namespace named in capitals', ['kubectl', 'delete', 'Namespace', 'argocd', '-n', 'argocd']],
  ['a flag value that shifts the verb', ['kubectl', 'delete', '--grace-period', '0', 'ns', 'argocd', '-n', 'argocd']],
  ['a kubeconfig flag before the verb', ['kubectl', '--kubeconfig', 'cfg', 'delete', 'ns', 'stonks-oracle']],
  ['a command run in a pod', ['kubectl', '-n', 'argocd', 'exec', 'pod', '--', 'kubectl', 'delete', 'ns', 'stonks-oracle']],
  ['-n joined to its value', ['kubectl', 'scale', 'deploy/oracle', '-nstonks-oracle', '--replicas=0']],
  ['--all of a kind', ['kubectl', 'label', 'ns', '--all', 'x=y']],
  ['a patch moving an Application into stonks-oracle', ['kubectl', 'patch', 'application.argoproj.io/x', '-n', 'argocd', '--type', 'merge', '-p', '{"spec":{"destination":{"namespace":"stonks-oracle"}}}']],
  ['a workload named like a protected namespace, no namespace given', ['kubectl', 'scale', 'deployment', 'stonks-oracle', '--replicas=0']],
  ['an Application deleted with its cascade', ['kubectl', 'delete', 'application.argoproj.io/stonks-oracle-live', '-n', 'argocd']],
  ['an app deleted by its short name with its cascade', ['kubectl', 'delete', 'app', 'x', '-n', 'argocd']],
  ['deleting any namespace', ['kubectl', 'delete', 'namespace', 'argocd']],
  ['deleting a volume', ['kubectl', 'delete', 'pv', 'stonks-pipeline-gate']],
  ['deleting a claim', ['kubectl', 'delete', 'pvc', 'gate-data', '-n', 'stonks-gate']],
  ['deleting a CRD', ['kubectl', 'delete', 'crd', 'stages.kargo.akuity.io']],
  ['a change across all namespaces', ['kubectl', 'delete', 'applications.argoproj.io', '--all', '-A']],
  ['--all-namespaces', ['kubectl', 'patch', 'application.argoproj.io/x', '--all-namespaces', '-p', '{}']],
  ['a delete without a namespace', ['kubectl', 'delete', 'application.argoproj.io/x']],
  ['a namespace outside the pipeline', ['kubectl', 'delete', 'pod', 'x', '-n', 'kube-system']],
  ['helm without a namespace', ['helm', 'uninstall', 'argocd']],
  ['a value naming stonks-oracle', ['helm', 'upgrade', '--install', 'x', 'c', '-n', 'argocd', '--set', 'ns=stonks-oracle']],
];
const allowed: [string, string[]][] = [
  ['a non-cascading Application removal', ['kubectl', '--context', 'c', 'delete', 'application.argoproj.io/oracle-beta', '-n', 'argocd', '--cascade=orphan']],
  ['a finalizer patch', ['kubectl', 'patch', 'application.argoproj.io/oracle-live', '-n', 'argocd', '--type', 'merge', '-p', '{"metadata":{"finalizers":null}}']],
  ['uninstalling the runner scale set', ['helm', '--kube-context', 'c', 'uninstall', 'stonks-oracle-runners', '-n', 'arc-runners', '--wait']],
  ['a PV patch', ['kubectl', 'patch', 'pv', 'stonks-pipeline-gate', '--type', 'json', '-p', '[]']],
  ['patching an Application named like a protected namespace (it lives in argocd)', ['kubectl', 'patch', 'application.argoproj.io/stonks-oracle-beta', '-n', 'argocd', '--type', 'merge', '-p', '{}']],
  ['deleting one by kind and name', ['kubectl', 'delete', 'application.argoproj.io', 'stonks-oracle-paper', '-n', 'argocd', '--cascade=orphan']],
  ['the GitHub repository URL in a value', ['helm', 'upgrade', '--install', 'x', 'c', '-n', 'arc-runners', '--set', 'url=https://github.com/celesrenata/stonks-oracle-x']],
];

for (const [name, args] of refused) {
  t.test(`refuses ${name}`, async (t) => {
    const r = guard(args);
    t.equal(r.status, 3, 'exit 3');
    t.match(r.stderr, /REFUSED: /);
    t.notMatch(r.stdout, /PASSED/);
  });
}
for (const [name, args] of allowed) {
  t.test(`allows ${name}`, async (t) => {
    const r = guard(args);
    t.equal(r.status, 0, r.stderr);
    t.match(r.stdout, /PASSED/);
  });
}

const manifests: [string, string, boolean][] = [
  ['a claim in stonks-gate', 'kind: PersistentVolumeClaim\nmetadata:\n  name: gate-data\n  namespace: stonks-gate\n', true],
  ['an object in stonks-oracle', 'kind: ConfigMap\nmetadata:\n  name: x\n  namespace: stonks-oracle\n', false],
  ['a quoted stonks-oracle-paper', 'kind: ConfigMap\nmetadata:\n  name: x\n  namespace: "stonks-oracle-paper"\n', false],
  ['the Namespace stonks-oracle', 'kind: Namespace\nmetadata:\n  name: stonks-oracle\n', false],
  ['an object in default', 'kind: ConfigMap\nmetadata:\n  name: x\n  namespace: default\n', false],
];
for (const [name, text, ok] of manifests) {
  t.test(`manifest: ${ok ? 'allows' : 'refuses'} ${name}`, async (t) => {
    const r = guard([], text);
    t.equal(r.status, ok ? 0 : 3);
  });
}

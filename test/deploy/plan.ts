// What the runmefirst.sh plan tests share: the pipeline's namespaces and releases, and readers of
// the calls the script made to the kubectl and helm stand-ins.
import YAML from 'yaml';
import { bare, type Call } from './harness.ts';

export const PIPELINE_NAMESPACES = ['arc-systems', 'arc-runners', 'argocd', 'argo-rollouts', 'kargo', 'stonks-gate', 'stonks-pipeline'];
export const RELEASES_IN_ORDER = [
  ['gate-service', 'stonks-gate'], ['arc', 'arc-systems'], ['stonks-oracle-runners', 'arc-runners'], ['stonks-oracle-reporter', 'arc-runners'],
  ['argocd', 'argocd'], ['argo-rollouts', 'argo-rollouts'], ['kargo', 'kargo'],
];

/** Every object that a call applied from stdin. */
export function appliedDocs(calls: Call[]) {
  return calls.filter((c) => c.stdin).flatMap((c) => YAML.parseAllDocuments(c.stdin!).map((d) => d.toJSON()).filter(Boolean));
}
export const helmUpgrades = (calls: Call[]) => calls.filter((c) => c.tool === 'helm' && bare(c)[0] === 'upgrade');
export const valuesOf = (call: Call) => YAML.parse(Object.values(call.files ?? {})[0] ?? '');

// Shared by the runmelast plan tests: a fake cluster where runmefirst.sh has run and the pipeline
// has history (a Kargo project with stages, freight and promotions; Argo CD applications).
import { Sandbox, freshCluster, put, type FakeState } from './harness.ts';

export const REVERSE_RELEASES = ['kargo', 'argo-rollouts', 'argocd', 'stonks-oracle-reporter', 'stonks-oracle-runners', 'arc', 'gate-service'];
export const APP_FINALIZER = 'resources-finalizer.argocd.argoproj.io';

/** The pipeline's history: a Kargo project with stages, freight and promotions, and the Argo CD
 * applications that deploy beta, paper and live (each with its cascading finalizer). */
export function withHistory(state: FakeState): FakeState {
  const kargo = (kind: string, name: string, extra: object = {}) => ({ apiVersion: 'kargo.akuity.io/v1alpha1', kind, metadata: { namespace: 'stonks-pipeline', name }, ...extra });
  const app = (name: string, dest: string) => ({
    apiVersion: 'argoproj.io/v1alpha1', kind: 'Application',
    metadata: { namespace: 'argocd', name, finalizers: [APP_FINALIZER] },
    spec: { destination: { namespace: dest }, project: 'stonks' },
  });
  return put(
    state,
    { apiVersion: 'kargo.akuity.io/v1alpha1', kind: 'Project', metadata: { name: 'stonks-pipeline' } },
    kargo('Warehouse', 'oracle-images'),
    kargo('Stage', 'beta'), kargo('Stage', 'paper'), kargo('Stage', 'live'),
    kargo('Freight', 'f3a9c1', { alias: 'brave-otter', origin: { kind: 'Warehouse', name: 'oracle-images' }, status: { verifiedIn: { beta: {} } } }),
    kargo('Promotion', 'beta.01j9.f3a9c1', { spec: { stage: 'beta', freight: 'f3a9c1' }, status: { phase: 'Succeeded' } }),
    app('stonks-oracle-beta', 'stonks-oracle-beta'), app('stonks-oracle-paper', 'stonks-oracle-paper'), app('stonks-oracle-live', 'stonks-oracle'),
    { apiVersion: 'argoproj.io/v1alpha1', kind: 'AppProject', metadata: { namespace: 'argocd', name: 'stonks' } },
    { kind: 'StatefulSet', metadata: { namespace: 'argocd', name: 'argocd-application-controller' }, spec: { replicas: 1 } },
    { kind: 'Deployment', metadata: { namespace: 'argocd', name: 'argocd-applicationset-controller' }, spec: { replicas: 1 } },
    { kind: 'Deployment', metadata: { namespace: 'kargo', name: 'kargo-controller' }, spec: { replicas: 1 } },
    { kind: 'Deployment', metadata: { namespace: 'stonks-oracle-beta', name: 'oracle' }, spec: { replicas: 1 } },
  );
}

let upState: FakeState | undefined;
/** A sandbox where runmefirst.sh has stood the pipeline up (once per file, then copied) and the
 * pipeline has run for a while. */
export function installed(): Sandbox {
  if (!upState) {
    const setup = new Sandbox(freshCluster());
    const r = setup.run('runmefirst.sh');
    if (r.status !== 0) throw new Error(`runmefirst.sh failed in setup:\n${r.output}`);
    upState = setup.state();
    setup.cleanup();
  }
  return new Sandbox(withHistory(structuredClone(upState)));
}


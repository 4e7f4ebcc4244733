// Test harness for the plan tests of runmefirst.sh and runmelast.sh: a scripted fake cluster
// (fixtures/fake-kube.mjs behind fixtures/bin/{kubectl,helm}), a way to run the real scripts
// against it, and the helpers that read the recorded calls.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const fixtures = join(repoRoot, 'test', 'deploy', 'fixtures');

/** One recorded kubectl/helm call. `args` excludes the tool name. */
export type Call = {
  tool: 'kubectl' | 'helm';
  args: string[];
  exit: number;
  stdin?: string;
  file?: string;
  files?: Record<string, string>;
  results?: string[];
  exec?: string[];
};

type K8sObject = { apiVersion?: string; kind: string; metadata: Record<string, any>; spec?: any; status?: any; [k: string]: any };
export type FakeState = {
  context: string;
  contexts?: string[];
  versions?: { kubectl?: string; helm?: string };
  unreachable?: boolean;
  objects: Record<string, K8sObject>;
  releases: Record<string, { status: string; revision: number; chart: string; version?: string; description: string; manifest?: string }>;
  crdsByChart?: Record<string, { name: string; kind: string }[]>;
  failHelm?: Record<string, string>;
  /** keys (keyOf) of objects whose kubectl get fails as on an API server that does not answer */
  failGet?: string[];
  /** keys (keyOf) of objects whose kubectl apply fails as on an API server that does not answer */
  failApply?: string[];
  cascaded?: unknown[];
};

const CLUSTER_SCOPED = new Set(['Namespace', 'PersistentVolume', 'ClusterIssuer', 'IngressClass', 'CustomResourceDefinition', 'Project']);
/** The fake's key of an object. */
export function keyOf(kind: string, namespace: string, name: string): string {
  return `${kind}/${CLUSTER_SCOPED.has(kind) ? '' : namespace}/${name}`;
}
/** Adds objects to a state (returns the same state). */
export function put(state: FakeState, ...objs: K8sObject[]): FakeState {
  for (const o of objs) state.objects[keyOf(o.kind, o.metadata.namespace ?? '', o.metadata.name)] = o;
  return state;
}
const ns = (name: string, labels: Record<string, string> = {}): K8sObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
const secret = (namespace: string, name: string): K8sObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { namespace, name }, data: {} });

/**
 * A cluster before the first install: the application runs in stonks-oracle (and its beta and
 * paper namespaces), cert-manager and Traefik are there, and the operator has created the
 * namespaces and Secrets the preflight asks for. The charts "install" their CRDs.
 */
export function freshCluster(): FakeState {
  const state: FakeState = {
    context: 'celestium',
    contexts: ['celestium', 'kind-dev'],
    objects: {},
    releases: {},
    crdsByChart: {
      argocd: [
        { name: 'applications.argoproj.io', kind: 'Application' },
        { name: 'appprojects.argoproj.io', kind: 'AppProject' },
        { name: 'applicationsets.argoproj.io', kind: 'ApplicationSet' },
      ],
      'argo-rollouts': [{ name: 'analysistemplates.argoproj.io', kind: 'AnalysisTemplate' }],
      kargo: [
        { name: 'projects.kargo.akuity.io', kind: 'Project' },
        { name: 'projectconfigs.kargo.akuity.io', kind: 'ProjectConfig' },
        { name: 'warehouses.kargo.akuity.io', kind: 'Warehouse' },
        { name: 'stages.kargo.akuity.io', kind: 'Stage' },
        { name: 'freights.kargo.akuity.io', kind: 'Freight' },
        { name: 'promotions.kargo.akuity.io', kind: 'Promotion' },
      ],
    },
  };
  put(
    state,
    ns('stonks-oracle'), ns('stonks-oracle-beta'), ns('stonks-oracle-paper'),
    { kind: 'Deployment', metadata: { namespace: 'stonks-oracle', name: 'oracle' }, spec: { replicas: 2 } },
    { kind: 'ClusterIssuer', metadata: { name: 'ca-issuer' } },
    { kind: 'IngressClass', metadata: { name: 'traefik' } },
    ns('arc-runners'), ns('kargo'), ns('stonks-pipeline', { 'kargo.akuity.io/project': 'true' }),
    secret('arc-runners', 'arc-github-app'), secret('kargo', 'kargo-admin'),
    secret('stonks-pipeline', 'git-credentials'), secret('stonks-pipeline', 'ghcr-credentials'),
  );
  return state;
}

/** A sandbox: its own state, log, fake NFS, settings file and Kargo resource directory. */
export class Sandbox {
  readonly dir: string;
  readonly statePath: string;
  readonly logPath: string;
  readonly envFile: string;
  readonly kargoDir: string;
  constructor(state: FakeState, settings: Record<string, string> = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'deploy-plan-'));
    this.statePath = join(this.dir, 'state.json');
    this.logPath = join(this.dir, 'calls.jsonl');
    this.envFile = join(this.dir, 'pipeline.local.env');
    this.kargoDir = join(this.dir, 'kargo');
    mkdirSync(this.kargoDir);
    this.writeState(state);
    const all = { KARGO_RESOURCES_DIR: this.kargoDir, WAIT_TIMEOUT: '5', ...settings };
    writeFileSync(this.envFile, Object.entries(all).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join('\n') + '\n');
  }
  state(): FakeState {
    return JSON.parse(readFileSync(this.statePath, 'utf8'));
  }
  writeState(state: FakeState): void {
    writeFileSync(this.statePath, JSON.stringify(state, null, 2));
  }
  /** Writes a file under the sandbox's kargo/ directory. */
  kargoFile(rel: string, text: string): void {
    const p = join(this.kargoDir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
  }
  /** Runs a script of the repository with the stand-ins first on PATH; returns its output and the calls it made. */
  run(script: 'runmefirst.sh' | 'runmelast.sh', args: string[] = [], env: Record<string, string> = {}) {
    writeFileSync(this.logPath, '');
    const r = spawnSync('bash', [join(repoRoot, script), ...args], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 120_000,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: `${join(fixtures, 'bin')}:${process.env.PATH}`,
        HOME: this.dir,
        TMPDIR: this.dir,
        FAKE_NODE: process.execPath,
        FAKE_STATE: this.statePath,
        FAKE_LOG: this.logPath,
        FAKE_DIR: this.dir,
        PIPELINE_ENV_FILE: this.envFile,
        ...env,
      },
    });
    const calls = readFileSync(this.logPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Call);
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, output: r.stdout + r.stderr, calls };
  }
  nfs(...parts: string[]): string {
    return join(this.dir, 'nfs', ...parts);
  }
  cleanup(): void {
    if (existsSync(this.dir)) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The call's arguments without the --context/--kube-context pair. */
export function bare(call: Call): string[] {
  const out: string[] = [];
  for (let i = 0; i < call.args.length; i++) {
    if (call.args[i] === '--context' || call.args[i] === '--kube-context') { i++; continue; }
    out.push(call.args[i]!);
  }
  return out;
}

const READ_KUBECTL = new Set(['get', 'config', 'version', 'wait', 'rollout', 'auth', 'api-resources', 'explain', 'describe', 'logs']);
const READ_HELM = new Set(['version', 'history', 'status', 'get', 'list', 'show', 'template', 'lint', 'search']);
/** True when the call cannot change the cluster. */
export function isReadOnly(call: Call): boolean {
  const verb = bare(call).find((a) => !a.startsWith('-'));
  return call.tool === 'kubectl' ? READ_KUBECTL.has(verb ?? '') : READ_HELM.has(verb ?? '');
}
/** The calls that change the cluster. */
export const mutations = (calls: Call[]) => calls.filter((c) => !isReadOnly(c));

/** The namespace a call names with -n/--namespace ('' when none). */
export function namespaceOf(call: Call): string {
  const a = call.args;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '-n' || a[i] === '--namespace') return a[i + 1] ?? '';
    if (a[i]!.startsWith('--namespace=')) return a[i]!.slice(12);
  }
  return '';
}

/** True when a word of the call (or of its manifest) is exactly the live application namespace. */
export function namesLiveNamespace(call: Call): boolean {
  const words = [...call.args, ...(call.stdin ?? '').split(/[\s"':]+/)];
  return words.some((w) => w.split(/[/=,]/).includes('stonks-oracle'));
}

/** A short text of a call, for messages and order checks. */
export const show = (c: Call) => `${c.tool} ${bare(c).join(' ')}`;
/** Index of the first call whose text matches. */
export const indexOf = (calls: Call[], re: RegExp) => calls.findIndex((c) => re.test(show(c)));

/** The path of a tool for the suites that need one: .tools/bin first, then PATH (null when missing). */
export function findTool(name: string): string | null {
  const local = join(repoRoot, '.tools', 'bin', name);
  if (existsSync(local)) return local;
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

type RunResult = ReturnType<Sandbox['run']>;
/** Asserts a run's exit code; on a mismatch the run's output is shown as a comment. */
export function expectExit(t: { equal(...args: any[]): boolean; comment(...args: any[]): void }, r: RunResult, code: number, what = 'the script'): void {
  if (!t.equal(r.status, code, `${what} exits ${code}`)) t.comment(r.output);
}

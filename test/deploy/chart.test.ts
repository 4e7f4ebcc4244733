// The gate-service chart: helm lint, and helm template with the default and with full values,
// parsed and asserted on (pod security, probes, strategy, RBAC, volume, ingress TLS, schema).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { DateTime } from 'luxon';
import { RESOURCES, ROLES, ROLES_FOR_RESOURCE } from '../../src/auth/identity.ts';
import { GATE_ENV_KEYS, parseConfig } from '../../src/config.ts';
import { createMarketCalendar } from '../../src/policy/market-hours.ts';
import { findTool, fixtures, repoRoot } from './harness.ts';
import { tempDirSync } from '../helpers/temp-dir.ts';

const helm = findTool('helm');
if (!helm) {
  if (process.env.CI === 'true') t.fail('helm is missing (run bash .ci/tools.sh)');
  else t.test('gate-service chart', { skip: 'NOTICE: helm not found in .tools/bin or on PATH (bash .ci/tools.sh installs it)' }, async () => {});
} else {
  const chart = join(repoRoot, 'helm', 'gate-service');
  const fullValues = join(fixtures, 'gate-values-full.yaml');
  const run = (...args: string[]) => spawnSync(helm, args, { encoding: 'utf8' });
  const template = (...extra: string[]) => run('template', 'gate-service', chart, '-n', 'stonks-gate', ...extra);
  type Obj = { kind: string; metadata: { name: string; namespace?: string; labels?: any; annotations?: any }; [k: string]: any };
  function render(...extra: string[]): Obj[] {
    const r = template(...extra);
    if (r.status !== 0) throw new Error(r.stderr);
    return YAML.parseAllDocuments(r.stdout).map((d) => d.toJSON()).filter(Boolean);
  }
  const find = (objs: Obj[], kind: string, name?: string) => objs.filter((o) => o.kind === kind && (!name || o.metadata.name === name));
  const one = (objs: Obj[], kind: string, name?: string) => {
    const found = find(objs, kind, name);
    if (found.length !== 1) throw new Error(`expected one ${kind} ${name ?? ''}, found ${found.length}`);
    return found[0]!;
  };

  /** The violations of the Kubernetes `restricted` Pod Security Standard in a pod spec. */
  function restrictedViolations(spec: any): string[] {
    const v: string[] = [];
    const allowedVolumes = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];
    for (const vol of spec.volumes ?? []) {
      const type = Object.keys(vol).find((k) => k !== 'name');
      if (!allowedVolumes.includes(type!)) v.push(`volume ${vol.name} of type ${type}`);
    }
    if (spec.hostNetwork || spec.hostPID || spec.hostIPC) v.push('host namespaces');
    const pod = spec.securityContext ?? {};
    for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
      const sc = c.securityContext ?? {};
      if (sc.privileged) v.push(`${c.name}: privileged`);
      if (sc.allowPrivilegeEscalation !== false) v.push(`${c.name}: allowPrivilegeEscalation not false`);
      if (!(sc.runAsNonRoot ?? pod.runAsNonRoot)) v.push(`${c.name}: runAsNonRoot not set`);
      if ((sc.runAsUser ?? pod.runAsUser) === 0) v.push(`${c.name}: runs as uid 0`);
      const seccomp = sc.seccompProfile?.type ?? pod.seccompProfile?.type;
      if (!['RuntimeDefault', 'Localhost'].includes(seccomp)) v.push(`${c.name}: seccomp ${seccomp}`);
      if (!(sc.capabilities?.drop ?? []).includes('ALL')) v.push(`${c.name}: capabilities not dropped`);
      for (const cap of sc.capabilities?.add ?? []) if (cap !== 'NET_BIND_SERVICE') v.push(`${c.name}: adds ${cap}`);
      for (const p of c.ports ?? []) if (p.hostPort) v.push(`${c.name}: hostPort`);
    }
    return v;
  }

  /** A resource quantity ("500m", "0.5", "384Mi", "1G", "1e3") as a number, to compare two. */
  function quantity(q: string | number): number {
    const m = /^([0-9.]+)(e[0-9]+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(String(q));
    if (!m) throw new Error(`not a quantity: ${q}`);
    const unit = m[2] ?? '';
    const scale = unit.startsWith('e') ? 10 ** Number(unit.slice(1))
      : unit === 'm' ? 1e-3
      : unit.endsWith('i') ? 1024 ** ('KMGTPE'.indexOf(unit[0]!) + 1)
      : unit ? 1000 ** ('kMGTPE'.indexOf(unit) + 1) : 1;
    return Number(m[1]) * scale;
  }

  /**
   * The pod's QoS class, by Kubernetes' rule: Guaranteed when every container has cpu and memory
   * limits and its requests equal them (a request left out defaults to its limit); BestEffort when
   * no container requests or limits either; Burstable otherwise.
   */
  function qosClass(spec: any): 'Guaranteed' | 'Burstable' | 'BestEffort' {
    const containers = [...(spec.containers ?? []), ...(spec.initContainers ?? [])];
    let any = false;
    let guaranteed = true;
    for (const c of containers) {
      const limits = c.resources?.limits ?? {};
      const requests = { ...limits, ...(c.resources?.requests ?? {}) };
      for (const r of ['cpu', 'memory']) {
        if (requests[r] !== undefined || limits[r] !== undefined) any = true;
        if (limits[r] === undefined || requests[r] === undefined || quantity(requests[r]) !== quantity(limits[r])) guaranteed = false;
      }
    }
    return !any ? 'BestEffort' : guaranteed ? 'Guaranteed' : 'Burstable';
  }

  /**
   * Who a NetworkPolicy lets in, one string per peer: the namespace, and the pod labels it also
   * requires ("kargo{app.kubernetes.io/component=controller}"), sorted. Throws on a peer that is not
   * a namespace (a bare podSelector admits pods of the gate's own namespace, an ipBlock addresses).
   */
  function admittedPeers(np: Obj): string[] {
    if (np.spec.ingress.length !== 1) throw new Error(`expected one rule, found ${np.spec.ingress.length}`);
    return np.spec.ingress[0].from.map((peer: any) => {
      const ns = peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'];
      if (!ns || peer.ipBlock || Object.keys(peer.namespaceSelector).length !== 1 || Object.keys(peer.namespaceSelector.matchLabels).length !== 1) throw new Error(`not a peer of one namespace: ${JSON.stringify(peer)}`);
      if (!peer.podSelector) return ns;
      if (Object.keys(peer.podSelector).length !== 1 || !Object.keys(peer.podSelector.matchLabels ?? {}).length) throw new Error(`not a pod selector of matchLabels: ${JSON.stringify(peer)}`);
      return `${ns}{${Object.entries(peer.podSelector.matchLabels).map(([k, v]) => `${k}=${v}`).sort().join(',')}}`;
    }).sort();
  }

  t.test('helm lint passes with the default and with full values', async (t) => {
    for (const args of [[], ['-f', fullValues]]) {
      const r = run('lint', chart, '--strict', ...args);
      t.equal(r.status, 0, `helm lint --strict ${args.join(' ')}`);
      if (r.status !== 0) t.comment(r.stdout + r.stderr);
    }
  });

  t.test('default values', async (t) => {
    const objs = render();
    t.same(objs.map((o) => o.kind).sort(), ['ClusterRole', 'ClusterRole', 'ClusterRole', 'ClusterRole', 'ClusterRole', 'ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'Deployment', 'Ingress', 'PersistentVolumeClaim', 'PriorityClass', 'Role', 'RoleBinding', 'RoleBinding', 'Service', 'ServiceAccount'], 'the objects it renders');
    const dep = one(objs, 'Deployment', 'gate-service');
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];

    t.test('one replica, Recreate (single audit writer)', async (t) => {
      t.equal(dep.spec.replicas, 1);
      t.same(dep.spec.strategy, { type: 'Recreate' });
      // a restarted container keeps the pod's pid namespace, so the gate sees its predecessor's
      // pid gone and takes the data-directory lock at once (not after the 30 s lease); the gate is
      // not pid 1, which would ignore a signal it has no handler for
      t.equal(pod.shareProcessNamespace, true);
    });
    t.test('pod security at the restricted level', async (t) => {
      t.same(restrictedViolations(pod), []);
      t.match(pod.securityContext, { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } });
      t.match(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] }, runAsNonRoot: true });
      t.notOk(c.securityContext.capabilities.add, 'no capability is added');
    });
    t.test('probes, port, command and resources', async (t) => {
      t.match(c.livenessProbe, { httpGet: { path: '/healthz', port: 'http' } });
      t.match(c.readinessProbe, { httpGet: { path: '/readyz', port: 'http' } });
      t.match(c.startupProbe, { httpGet: { path: '/healthz', port: 'http' } });
      t.same(c.ports, [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
      t.same(c.command, ['node', 'dist/server.js']);
      t.equal(c.terminationMessagePolicy, 'FallbackToLogsOnError', 'why a start failed shows in kubectl describe pod');
      // the audit log's one writer and the gate of every promotion: under node memory pressure the
      // kubelet evicts BestEffort and Burstable pods first (a Burstable one above its requests first of all)
      t.equal(qosClass(pod), 'Guaranteed', `QoS Guaranteed: requests equal limits (${JSON.stringify(c.resources)})`);
    });
    t.test('environment and writable paths', async (t) => {
      const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));
      t.same(env, { GATE_HOST: '0.0.0.0', GATE_PORT: '8080', GATE_DATA_DIR: '/data', GATE_CONFIG: '/etc/gate/config.yaml', GATE_AUTH: 'kubernetes', GATE_FIRST_START_TOKENS: 'file', GATE_LOG_LEVEL: 'info' }, 'GATE_NOW is not set; a first start in local mode writes its tokens to a file, not the pod log');
      const mounts = Object.fromEntries(c.volumeMounts.map((m: any) => [m.mountPath, m]));
      t.same(Object.keys(mounts).sort(), ['/data', '/etc/gate', '/tmp']);
      t.equal(mounts['/etc/gate'].readOnly, true);
      const vols = Object.fromEntries(pod.volumes.map((v: any) => [v.name, v]));
      t.same(vols.data.persistentVolumeClaim, { claimName: 'gate-service-data' });
      t.same(vols.config.configMap, { name: 'gate-service-config' });
      t.ok(vols.tmp.emptyDir.sizeLimit, '/tmp is a bounded emptyDir');
      t.match(dep.spec.template.metadata.annotations['checksum/config'], /^[0-9a-f]{64}$/, 'config changes roll the pod');
    });
    // the pod is scheduled ahead of lower-priority pending pods (after a node failure, a drain)
    // but never evicts a running pod to get a place: the live application's pods share the cluster
    t.test('the pod\'s PriorityClass: created by the chart, above ordinary pods, never preempting', async (t) => {
      const pc = one(objs, 'PriorityClass');
      t.equal(pod.priorityClassName, pc.metadata.name, 'the pod names the class the chart creates');
      t.equal(pc.metadata.name, 'stonks-gate-critical');
      t.match(pc, { apiVersion: 'scheduling.k8s.io/v1', value: 1000000, preemptionPolicy: 'Never', globalDefault: false });
      t.ok(pc.value > 0 && pc.value <= 1_000_000_000, 'above the default priority (0), in the range of user classes');
      t.notOk(pc.metadata.namespace, 'cluster-scoped');
      // runmelast.sh uninstalls the release, and with it everything the chart made
      t.notOk(pc.metadata.annotations?.['helm.sh/resource-policy'], 'removed by helm uninstall (runmelast.sh), not kept');
    });
    t.test('the data volume: a claim bound to the gate NFS volume, kept on uninstall', async (t) => {
      const pvc = one(objs, 'PersistentVolumeClaim');
      t.equal(pvc.metadata.name, 'gate-service-data');
      t.equal(pvc.spec.volumeName, 'stonks-pipeline-gate');
      t.equal(pvc.spec.storageClassName, '');
      t.equal(pvc.metadata.annotations['helm.sh/resource-policy'], 'keep');
    });
    t.test('the config file holds the stage policy and market extras', async (t) => {
      const cfg = YAML.parse(one(objs, 'ConfigMap').data['config.yaml']);
      t.same(cfg, {
        project: 'stonks-pipeline',
        stages: {
          ci: { enabled: true }, integration: { enabled: true },
          beta: { enabled: true, requireIntegrationTests: true },
          paper: { enabled: true, requireIntegrationTests: true, marketHours: 'wait', quietBeforeOpenMinutes: 30 },
          live: { enabled: true, requireIntegrationTests: true, marketHours: 'deny', quietBeforeOpenMinutes: 30, requireApproval: true },
        },
        market: { extraClosures: [], extraEarlyCloses: [], extraSessions: [] },
        approvals: { ttlHours: 24, separationOfDuties: false },
        breakGlass: { defaultTtlMinutes: 30, maxTtlMinutes: 240, requestsPerMinute: 10 },
        audit: { fsync: true, maxFileBytes: 67108864, refusalRecordsPerMinute: 120 },
        kubernetes: { stagePollSeconds: 30 },
        http: { trustedProxies: [] },
        proxyAuth: { trustedCidrs: [], userHeader: 'X-Auth-Request-User', groupsHeader: 'X-Auth-Request-Groups', secretHeader: 'X-Gate-Proxy-Secret' },
      });
      t.doesNotThrow(() => parseConfig({ GATE_AUTH: 'kubernetes' }, one(objs, 'ConfigMap').data['config.yaml']), 'the gate takes the rendered file as it is');
    });
    t.test('Service gate-service:8080', async (t) => {
      const svc = one(objs, 'Service', 'gate-service');
      t.same(svc.spec.ports, [{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }]);
      t.same(svc.spec.selector, dep.spec.selector.matchLabels);
      // /readyz is 503 while the audit log cannot be written; the one pod must stay an endpoint so
      // Kargo gets that 503 (keeps polling) and not connection refused (counts toward errorThreshold)
      t.equal(svc.spec.publishNotReadyAddresses, true, 'the not-ready pod stays behind the Service');
    });
    t.test('RBAC: auth-delegator, Stage reader, the six gate roles; reading the audit log only for operator, approver, auditor and admin', async (t) => {
      const crb = one(objs, 'ClusterRoleBinding');
      t.equal(crb.roleRef.name, 'system:auth-delegator');
      t.same(crb.subjects, [{ kind: 'ServiceAccount', name: 'gate-service', namespace: 'stonks-gate' }]);
      const role = one(objs, 'Role');
      t.equal(role.metadata.namespace, 'stonks-pipeline');
      t.same(role.rules, [{ apiGroups: ['kargo.akuity.io'], resources: ['stages'], verbs: ['list'] }], 'list, the one call the Stage reader makes (src/k8s/kargo-stages.ts)');
      const expected: Record<string, [string, string[]][]> = {
        'gate-caller': [['decisions', ['create']]],
        'gate-operator': [['breakglassgrants', ['create', 'delete']], ['auditrecords', ['get']]],
        'gate-approver': [['approvals', ['create', 'delete']], ['auditrecords', ['get']]],
        'gate-ci': [['testresults', ['update']]],
        'gate-auditor': [['auditrecords', ['get']]],
        'gate-admin': [['decisions', ['create']], ['breakglassgrants', ['create', 'delete']], ['approvals', ['create', 'delete']], ['stagetoggles', ['update']], ['testresults', ['update']], ['auditrecords', ['get']]],
      };
      for (const [name, rules] of Object.entries(expected)) {
        const cr = one(objs, 'ClusterRole', name);
        t.same(cr.rules, rules.map(([res, verbs]) => ({ apiGroups: ['gate.stonks-oracle.io'], resources: [res], verbs })), name);
      }
      // the same grants as local mode's roles (src/auth/identity.ts), resource by resource
      t.same(find(objs, 'ClusterRole').map((cr) => cr.metadata.name).sort(), ROLES.map((r) => `gate-${r}`).sort(), 'one ClusterRole per local role');
      for (const role of ROLES) {
        const granted = one(objs, 'ClusterRole', `gate-${role}`).rules.flatMap((r: { resources: string[] }) => r.resources).sort();
        t.same(granted, RESOURCES.filter((res) => role === 'admin' || ROLES_FOR_RESOURCE[res].includes(role)).sort(), `gate-${role} grants what local role ${role} does`);
      }
      const caller = find(objs, 'RoleBinding').find((b) => b.roleRef.kind === 'ClusterRole')!;
      t.match(caller, { metadata: { namespace: 'stonks-pipeline' }, roleRef: { name: 'gate-caller' }, subjects: [{ kind: 'ServiceAccount', name: 'gate-caller', namespace: 'stonks-pipeline' }] });
    });
    t.test('Ingress through Traefik with TLS from ca-issuer', async (t) => {
      const ing = one(objs, 'Ingress');
      t.equal(ing.spec.ingressClassName, 'traefik');
      t.equal(ing.metadata.annotations['cert-manager.io/cluster-issuer'], 'ca-issuer');
      t.same(ing.spec.tls, [{ hosts: ['gate.celestium.life'], secretName: 'gate-service-tls' }]);
      t.equal(ing.spec.rules[0].host, 'gate.celestium.life');
      const paths = ing.spec.rules[0].http.paths;
      t.same(paths.map((p: any) => [p.path, p.pathType]), [['/', 'Exact'], ['/console/', 'Prefix'], ['/v1/', 'Prefix'], ['/openapi.json', 'Exact']], 'the console and the API, not /metrics, /healthz or /readyz');
      for (const p of paths) t.same(p.backend, { service: { name: 'gate-service', port: { name: 'http' } } });
    });
  });

  t.test('full values', async (t) => {
    const objs = render('-f', fullValues);
    const dep = one(objs, 'Deployment', 'gate-service');
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];
    t.same(restrictedViolations(pod), [], 'still restricted');
    t.equal(qosClass(pod), 'Burstable', 'an operator\'s requests below the limits are rendered as given');
    t.equal(find(objs, 'PersistentVolumeClaim').length, 0, 'an existing claim: none is created');
    t.same(pod.volumes.find((v: any) => v.name === 'data').persistentVolumeClaim, { claimName: 'gate-data' });
    const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));
    t.match(env, { GATE_NOW: '2027-03-08T14:29:00-05:00', GATE_AUTH: 'local', GATE_LOG_LEVEL: 'debug', NODE_OPTIONS: '--max-old-space-size=256' });
    t.equal(c.image, 'ghcr.io/celesrenata/stonks-gate:3f2a9c1');
    t.same(pod.imagePullSecrets, [{ name: 'ghcr-pull' }]);
    t.equal(pod.serviceAccountName, 'gate');
    t.equal(pod.priorityClassName, 'pipeline-critical');
    t.match(one(objs, 'PriorityClass'), { metadata: { name: 'pipeline-critical' }, value: 500000, preemptionPolicy: 'PreemptLowerPriority' });
    const cfg = YAML.parse(one(objs, 'ConfigMap').data['config.yaml']);
    t.same(cfg.market.extraClosures, ['2027-01-09', { date: '2027-02-01', name: 'Exchange outage' }]);
    t.same(cfg.stages.integration, { enabled: false });
    t.same(parseConfig({}, one(objs, 'ConfigMap').data['config.yaml']).http.trustedProxies, ['10.42.0.15', '10.42.1.0/28'], 'the gate takes the rendered file, trusted proxies included');
    t.same(
      parseConfig({}, one(objs, 'ConfigMap').data['config.yaml']).proxyAuth,
      { trustedCidrs: ['10.42.0.0/16'], userHeader: 'x-forwarded-user', groupsHeader: 'x-forwarded-groups', secretSha256: ['a3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'], secretHeader: 'x-proxy-proof' },
      'proxy sign-in with the secret: only its hash in the ConfigMap, as the gate reads it',
    );
    const np = one(objs, 'NetworkPolicy');
    t.same(np.spec.policyTypes, ['Ingress']);
    t.same(np.spec.ingress[0].ports, [{ port: 'http', protocol: 'TCP' }]);
    t.same(admittedPeers(np), ['arc-runners{actions.github.com/scale-set-name=stonks-oracle-reporter}', 'kargo{app.kubernetes.io/component=controller,app.kubernetes.io/instance=kargo}', 'kube-system{app.kubernetes.io/name=traefik}', 'monitoring{app.kubernetes.io/name=prometheus,prometheus=k8s}'], 'the callers, the ingress controller and Prometheus, each narrowed by its values');
    const sm = one(objs, 'ServiceMonitor');
    t.same(sm.spec.endpoints, [{ port: 'http', path: '/metrics', interval: '15s' }]);
    t.equal(sm.metadata.labels.release, 'prometheus');
    const rule = one(objs, 'PrometheusRule');
    t.equal(rule.metadata.labels.release, 'prometheus', 'the alerts beside it (test/deploy/alerts.test.ts runs them)');
    const exprs = rule.spec.groups.flatMap((g: any) => g.rules.map((r: any) => r.expr)).join('\n');
    t.match(exprs, /> 0\.5\b/, 'the p99 threshold from the values');
    t.match(exprs, /> 20\b/, 'the refusal threshold from the values');
    const bindings = find(objs, 'RoleBinding').filter((b) => b.roleRef.kind === 'ClusterRole');
    t.same(bindings.map((b) => b.roleRef.name).sort(), ['gate-admin', 'gate-approver', 'gate-auditor', 'gate-caller', 'gate-ci', 'gate-operator']);
    t.ok(bindings.every((b) => b.metadata.namespace === 'stonks-pipeline'), 'bound in the project namespace');
    t.ok(bindings.some((b) => b.metadata.name === 'oncall-operators'));
    t.same(one(objs, 'Ingress').spec.tls, [{ hosts: ['gate.celestium.life'], secretName: 'gate-cert' }]);
  });

  t.test('switches', async (t) => {
    const digest = `sha256:${'0123456789abcdef'.repeat(4)}`;
    t.equal(one(render('--set-string', `image.tag=0.1.0@${digest}`), 'Deployment').spec.template.spec.containers[0].image, `ghcr.io/celesrenata/stonks-gate:0.1.0@${digest}`, 'an image pinned by digest');
    t.equal(one(render('--set', 'image.repository=registry.example.com:5000/stonks/gate'), 'Deployment').spec.template.spec.containers[0].image, 'registry.example.com:5000/stonks/gate:0.1.0', 'a registry with a port');
    t.equal(one(render('--set', 'image.repository=[fd00:1::5]:5000/stonks/gate'), 'Deployment').spec.template.spec.containers[0].image, '[fd00:1::5]:5000/stonks/gate:0.1.0', 'a registry by its IPv6 address');
    const probe = one(render('--set', 'probes.startup.initialDelaySeconds=20'), 'Deployment').spec.template.spec.containers[0].startupProbe;
    t.equal(probe.initialDelaySeconds, 20, 'probes.startup.initialDelaySeconds, which the schema accepts, is rendered');
    t.equal(find(render('--set', 'ingress.enabled=false'), 'Ingress').length, 0, 'ingress off');
    t.equal(find(render('--set', 'rbac.createClusterRoles=false'), 'ClusterRole').length, 0, 'cluster roles off');
    // a PriorityClass of the cluster's or another release's: named, not created
    const ownClass = render('--set', 'priorityClass.create=false', '--set', 'priorityClassName=platform-critical');
    t.equal(find(ownClass, 'PriorityClass').length, 0, 'priority class creation off');
    t.equal(one(ownClass, 'Deployment').spec.template.spec.priorityClassName, 'platform-critical', 'the pod names the existing class');
    const noClass = render('--set', 'priorityClass.create=false', '--set', 'priorityClassName=');
    t.equal(find(noClass, 'PriorityClass').length, 0, 'no class');
    t.notOk(one(noClass, 'Deployment').spec.template.spec.priorityClassName, 'no class: the cluster\'s default priority');
    const preempting = one(render('--set', 'priorityClass.preemptionPolicy=PreemptLowerPriority', '--set', 'priorityClass.value=2000'), 'PriorityClass');
    t.match(preempting, { value: 2000, preemptionPolicy: 'PreemptLowerPriority' }, 'value and preemption policy from the values');
    // local mode makes no Kubernetes API call: no token in the pod, no TokenReview or
    // SubjectAccessReview rights (one could test any token or anyone's permissions), no Stage reader
    const kube = render();
    t.equal(one(kube, 'Deployment').spec.template.spec.automountServiceAccountToken, true, 'kubernetes mode: the token is mounted');
    // a Service named `gate` in the namespace would otherwise put GATE_PORT=tcp://… in the pod, which the gate reads as its port
    t.equal(one(kube, 'Deployment').spec.template.spec.enableServiceLinks, false, 'no service-link variables in the pod');
    t.equal(one(render('--set', 'fullnameOverride=gate'), 'Deployment').spec.template.spec.enableServiceLinks, false, 'not even when the chart\'s own Service is named gate');
    t.equal(find(kube, 'ClusterRoleBinding').length, 1, 'kubernetes mode: auth-delegator');
    const local = render('--set', 'gate.auth=local');
    t.equal(one(local, 'Deployment').spec.template.spec.automountServiceAccountToken, false, 'local mode: no token mounted');
    t.equal(find(local, 'ClusterRoleBinding').length, 0, 'local mode: no auth-delegator binding');
    t.equal(find(local, 'Role').length, 0, 'local mode: no Stage reader');
    t.same(find(local, 'RoleBinding').map((b) => b.roleRef.name), ['gate-caller'], 'local mode: only the bindings of rbac.bindings');
    const r = template('--set', 'persistence.volumeName=');
    t.not(r.status, 0, 'no claim and no volume is an error');
    t.match(r.stderr, /persistence: set existingClaim, or volumeName/);
  });

  // The Deployment is Recreate: an upgrade stops the running gate before the new pod reads its
  // config. A config the gate refuses at start (exit 2) would leave no gate at all, so every value
  // the gate's own config check refuses must already fail `helm template`/`helm upgrade`.
  t.test('values the gate refuses at start are refused by the chart', async (t) => {
    const cases: [string, string[], RegExp][] = [
      ['stage poll above 30 s', ['--set', 'config.kubernetes.stagePollSeconds=60'], /stagePollSeconds/],
      ['review cache above 10 s', ['--set', 'config.kubernetes.reviewCacheSeconds=11'], /reviewCacheSeconds/],
      ['API timeout below 100 ms', ['--set', 'config.kubernetes.apiTimeoutMs=50'], /apiTimeoutMs/],
      ['API timeout above 2 s', ['--set', 'config.kubernetes.apiTimeoutMs=5000'], /apiTimeoutMs/],
      ['one TokenReview in flight (none left for unknown tokens)', ['--set', 'config.kubernetes.maxReviewsInFlight=1'], /maxReviewsInFlight/],
      ['an empty image repository prefix', ['--set-json', 'config.kubernetes.imageRepoPrefix=""'], /imageRepoPrefix/],
      ['approval TTL above 30 days', ['--set', 'config.approvals.ttlHours=1000'], /ttlHours/],
      ['default break-glass TTL above the maximum', ['--set', 'config.breakGlass.maxTtlMinutes=20'], /defaultTtlMinutes/],
      ['an extra session on an extra closure\'s date', ['--set-json', 'config.market.extraClosures=[{"date":"2027-07-05"}]', '--set-json', 'config.market.extraSessions=["2027-07-05"]'], /extraSessions\[0\]/],
      ['an extra session on no real date', ['--set-json', 'config.market.extraSessions=["2027-02-29"]'], /extraSessions\[0\]/],
      ['closure on a day that does not exist', ['--set-json', 'config.market.extraClosures=["2027-02-30"]'], /extraClosures/],
      ['closure outside 2000-2099', ['--set-json', 'config.market.extraClosures=[{"date":"2150-01-02"}]'], /extraClosures/],
      ['closure with a blank name', ['--set-json', 'config.market.extraClosures=[{"date":"2027-01-04","name":" "}]'], /extraClosures/],
      ['early close after the 16:00 close', ['--set-json', 'config.market.extraEarlyCloses=[{"date":"2027-11-26","close":"16:01"}]'], /extraEarlyCloses/],
      ['early close before the open', ['--set-json', 'config.market.extraEarlyCloses=[{"date":"2027-11-26","close":"09:00"}]'], /extraEarlyCloses/],
      ['early close on a day that does not exist', ['--set-json', 'config.market.extraEarlyCloses=[{"date":"2027-04-31","close":"13:00"}]'], /extraEarlyCloses/],
      ['two early closes on one date', ['--set-json', 'config.market.extraEarlyCloses=[{"date":"2027-11-26","close":"13:00"},{"date":"2027-11-26","close":"14:00"}]'], /extraEarlyCloses/],
      ['a proxy user header with a space', ['--set-json', 'config.proxyAuth.userHeader="X Auth User"'], /userHeader/],
      ['a proxy groups header with a colon', ['--set-json', 'config.proxyAuth.groupsHeader="X-Groups:"'], /groupsHeader/],
      ['Authorization as the proxy user header', ['--set-json', 'config.proxyAuth.userHeader="Authorization"'], /userHeader/],
      ['a cookie as the proxy groups header', ['--set-json', 'config.proxyAuth.groupsHeader="COOKIE"'], /groupsHeader/],
    ];
    for (const [name, args, expect] of cases) {
      const r = template(...args);
      t.not(r.status, 0, `${name}: rejected`);
      t.match(r.stderr, expect, `${name}: the message names the key`);
    }
    // and what the chart lets through, the gate takes
    for (const args of [
      ['--set', 'config.kubernetes.stagePollSeconds=30', '--set', 'config.approvals.ttlHours=720', '--set', 'config.breakGlass.defaultTtlMinutes=240'],
      ['--set-json', 'config.kubernetes.reviewCacheSeconds=0.5', '--set', 'config.kubernetes.apiTimeoutMs=100', '--set', 'config.kubernetes.maxReviewsInFlight=8', '--set', 'config.kubernetes.imageRepoPrefix=registry.example.com/stonks/'],
      ['--set-json', 'config.market.extraEarlyCloses=[{"date":"2028-02-29","close":"09:31"},{"date":"2028-02-29","close":"09:31"},{"date":"2099-12-31","close":"15:59"}]'],
      // 16:00 cancels a rule early close (the day after Thanksgiving 2027): a full session
      ['--set-json', 'config.market.extraEarlyCloses=[{"date":"2027-11-26","close":"16:00"}]'],
      ['--set-json', 'config.market.extraSessions=["2027-07-05",{"date":"2025-01-09","name":"open after all"}]', '--set-json', 'config.market.extraEarlyCloses=[{"date":"2027-07-05","close":"13:00"}]'],
      ['--set-json', 'config.proxyAuth.userHeader="X-Forwarded-User"', '--set-json', 'config.proxyAuth.groupsHeader="X-Forwarded-Groups"'],
      // null cannot turn the rule off (Helm deletes a null value and the default wait stays): false does
      ['--set-json', 'config.stages.paper.marketHours=false'],
    ]) {
      const r = template(...args);
      t.equal(r.status, 0, `accepted: ${args.join(' ')}`);
      if (r.status !== 0) { t.comment(r.stderr); continue; }
      const cm = YAML.parseAllDocuments(r.stdout).map((d) => d.toJSON()).find((o) => o?.kind === 'ConfigMap');
      t.doesNotThrow(() => parseConfig({ GATE_AUTH: 'kubernetes' }, cm.data['config.yaml']), `the gate takes it: ${args.join(' ')}`);
      if (args.includes('config.stages.paper.marketHours=false')) {
        t.equal(parseConfig({ GATE_AUTH: 'kubernetes' }, cm.data['config.yaml']).stages.paper.marketHours, null, 'paper without a market-hours rule');
      }
      if (args.includes('config.kubernetes.apiTimeoutMs=100')) {
        t.same(parseConfig({ GATE_AUTH: 'kubernetes' }, cm.data['config.yaml']).kubernetes, { stagePollSeconds: 30, reviewCacheSeconds: 0.5, apiTimeoutMs: 100, maxReviewsInFlight: 8, imageRepoPrefix: 'registry.example.com/stonks/' }, 'the Kubernetes settings reach the gate');
      }
    }
  });

  // Whether a date exists does not depend on the time zone of whoever runs helm. Sprig's toDate
  // parses in the local zone, where a midnight skipped by a DST change (Havana 2028-03-12,
  // Santiago 2027-09-05) came back as the day before and the real date was refused.
  t.test('every real date renders, whatever the time zone helm runs in; impossible ones never do', async (t) => {
    // every day of the first and last years and of two years holding those DST changes and a leap day
    const dates: string[] = [];
    for (const year of [2000, 2027, 2028, 2099]) {
      for (let d = Date.UTC(year, 0, 1); d < Date.UTC(year + 1, 0, 1); d += 86_400_000) dates.push(new Date(d).toISOString().slice(0, 10));
    }
    const dir = tempDirSync(t, 'gate-chart-dates-');
    const values = join(dir, 'dates.yaml');
    writeFileSync(values, YAML.stringify({ config: { market: { extraClosures: dates, extraEarlyCloses: dates.map((date) => ({ date, close: '13:00' })) } } }));
    for (const tz of ['UTC', 'America/Havana', 'America/Santiago']) {
      const r = spawnSync(helm, ['template', 'gate-service', chart, '-n', 'stonks-gate', '-f', values], { encoding: 'utf8', env: { ...process.env, TZ: tz }, maxBuffer: 256 * 1024 * 1024 });
      t.equal(r.status, 0, `TZ=${tz}: all ${dates.length} dates accepted`);
      if (r.status !== 0) t.comment(r.stderr.slice(0, 400));
      else if (tz === 'UTC') {
        const cm = YAML.parseAllDocuments(r.stdout).map((d) => d.toJSON()).find((o) => o?.kind === 'ConfigMap');
        t.doesNotThrow(() => parseConfig({ GATE_AUTH: 'kubernetes' }, cm.data['config.yaml']), 'and the gate takes them');
      }
      for (const bad of ['2027-02-29', '2100-02-29', '2001-02-29', '2027-04-31', '2027-06-31', '2027-09-31', '2027-11-31']) {
        const b = spawnSync(helm, ['template', 'gate-service', chart, '-n', 'stonks-gate', '--set-json', `config.market.extraClosures=["${bad}"]`], { encoding: 'utf8', env: { ...process.env, TZ: tz } });
        t.not(b.status, 0, `TZ=${tz}: ${bad} refused`);
      }
    }
  });

  // What the schema's patterns cannot say about addresses and names: the chart must render exactly
  // the values the gate takes (a value it refuses would crash-loop the Recreate Deployment).
  t.test('trusted proxy addresses, the connection cap and market names: the chart renders exactly what the gate takes', async (t) => {
    const cases: [string, unknown][] = [];
    for (const cidr of ['10.0.0.0/8', '10.0.0.1', '10.42.0.15', '10.0.0.0/32', '10.0.0.0/33', '0.0.0.0/0', '999.1.1.1', '1.2.3/8', '01.2.3.4', '255.255.255.255/010',
      'fd00::/8', '::1', '::/0', '::1/128', '::1/129', '::ffff:10.0.0.1/120', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1::2::3', 'fd00:::/8', '12345::/16', '::ffff:300.0.0.1']) {
      cases.push([`http.trustedProxies ${cidr}`, { http: { trustedProxies: [cidr] } }]);
      // a bare address is one host to the gate in both lists (parseCidrs); the chart's schema
      // refused it in trustedCidrs, so "10.42.0.15", the proxy's pod, could not be configured
      cases.push([`proxyAuth.trustedCidrs ${cidr}`, { proxyAuth: { trustedCidrs: [cidr] } }]);
    }
    for (const n of [15, 16, 1024, 65536, 65537, 1.5]) cases.push([`http.maxConnections ${n}`, { http: { maxConnections: n } }]);
    for (const n of [3, 4, 64, 65536, 65537, 2.5]) cases.push([`http.maxConnectionsPerClient ${n}`, { http: { maxConnectionsPerClient: n } }]);
    for (const name of ['Day of mourning', ' x ', '\u00a0', '\u000b', '\u2003\u3000', '\ufeff', 'a\u00a0']) {
      cases.push([`closure name ${JSON.stringify(name)}`, { market: { extraClosures: [{ date: '2027-01-04', name }] } }]);
      cases.push([`early close name ${JSON.stringify(name)}`, { market: { extraEarlyCloses: [{ date: '2027-01-04', close: '13:00', name }] } }]);
      cases.push([`extra session name ${JSON.stringify(name)}`, { market: { extraSessions: [{ date: '2027-07-05', name }] } }]);
    }
    const dir = tempDirSync(t, 'gate-chart-match-');
    for (const [i, [what, config]] of cases.entries()) {
      const values = join(dir, `v${i}.yaml`);
      writeFileSync(values, YAML.stringify({ config }));
      const r = template('-f', values);
      // the gate reads what the chart renders; for a value the chart refuses, the same config as YAML
      const cm = r.status === 0 ? YAML.parseAllDocuments(r.stdout).map((d) => d.toJSON()).find((o) => o?.kind === 'ConfigMap') : null;
      let gate: string;
      try {
        parseConfig({ GATE_AUTH: 'kubernetes' }, cm ? cm.data['config.yaml'] : YAML.stringify(config));
        gate = 'takes';
      } catch (err) {
        gate = `refuses (${(err as Error).message.slice(0, 160)})`;
      }
      const chartSays = r.status === 0 ? 'takes' : `refuses (${r.stderr.split('\n').find((l) => /Error|at '/.test(l))?.trim().slice(0, 200)})`;
      t.equal(chartSays.split(' ')[0], gate.split(' ')[0], `${what}: the gate ${gate}; the chart ${chartSays}`);
    }
  });

  // proxy sign-in's second proof: the chart must take exactly the hashes and header names the gate
  // takes (a value the gate refuses would leave the Recreate Deployment with no gate)
  t.test('proxyAuth.secretSha256 and secretHeader: the chart renders exactly what the gate takes, naming the key', async (t) => {
    const sha = 'a'.repeat(32) + '0123456789abcdef'.repeat(2);
    const cases: [string, Record<string, unknown>][] = [];
    for (const v of [sha, sha.toUpperCase(), sha.slice(1), `${sha}0`, `${sha}\n`, '', 'not-a-hash', 'g'.repeat(64), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']) cases.push([`secretSha256 ${JSON.stringify(v)}`, { secretSha256: v }]);
    // a rotation's list: 1 or 2 hashes, no two the same, each as above
    const next = 'b'.repeat(64);
    for (const v of [[sha], [sha, next], [next, sha], [], [sha, next, 'c'.repeat(64)], [sha, sha], [sha, next.toUpperCase()], [sha, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'], [sha, ''], [sha, 42], {}]) cases.push([`secretSha256 ${JSON.stringify(v)}`, { secretSha256: v }]);
    for (const h of ['X-Gate-Proxy-Secret', 'x-proxy-proof', 'X Secret', 'Authorization', 'Cookie', 'Host', 'X-Forwarded-For', 'x-request-id', 'X-Auth-Request-User', 'x-auth-request-groups']) cases.push([`secretHeader ${h}`, { secretHeader: h }]);
    cases.push(['secretHeader the custom user header', { userHeader: 'X-Forwarded-User', secretHeader: 'x-forwarded-user' }]);
    cases.push(['secretHeader the default user header once the user header is another', { userHeader: 'X-Forwarded-User', secretHeader: 'X-Auth-Request-User' }]);
    const dir = tempDirSync(t, 'gate-chart-secret-');
    for (const [i, [what, proxyAuth]] of cases.entries()) {
      const values = join(dir, `v${i}.yaml`);
      writeFileSync(values, YAML.stringify({ config: { proxyAuth: { trustedCidrs: ['10.42.0.0/16'], ...proxyAuth } } }));
      const r = template('-f', values);
      const cm = r.status === 0 ? YAML.parseAllDocuments(r.stdout).map((d) => d.toJSON()).find((o) => o?.kind === 'ConfigMap') : null;
      let gate = 'takes';
      try {
        parseConfig({ GATE_AUTH: 'kubernetes' }, cm ? cm.data['config.yaml'] : YAML.stringify({ proxyAuth: { trustedCidrs: ['10.42.0.0/16'], ...proxyAuth } }));
      } catch (err) {
        gate = `refuses (${(err as Error).message.slice(0, 160)})`;
      }
      t.equal(r.status === 0 ? 'takes' : 'refuses', gate.split(' ')[0], `${what}: the gate ${gate}; the chart ${r.status === 0 ? 'takes' : 'refuses'}`);
      if (r.status !== 0) t.match(r.stderr, /proxyAuth(\/|\.)secret(Sha256|Header)/, `${what}: the chart names the key`);
    }
  });

  // the second step of a rotation: the old hash and the new one side by side in the ConfigMap
  t.test('proxyAuth.secretSha256 as two hashes (a rotation): rendered as a list, which the gate takes as both', async (t) => {
    const [old, next] = ['a'.repeat(32) + '0123456789abcdef'.repeat(2), 'b'.repeat(32) + 'fedcba9876543210'.repeat(2)];
    const objs = render('--set-json', `config.proxyAuth.trustedCidrs=["10.42.0.0/16"]`, '--set-json', `config.proxyAuth.secretSha256=${JSON.stringify([old, next])}`);
    const file = one(objs, 'ConfigMap').data['config.yaml'];
    t.same(YAML.parse(file).proxyAuth.secretSha256, [old, next], 'both hashes in the ConfigMap, in the order given');
    t.same(parseConfig({ GATE_AUTH: 'kubernetes' }, file).proxyAuth.secretSha256, [old, next], 'the gate takes the rendered file, both hashes');
  });

  // What calls the gate: Kargo's controller (the promotions' http steps), the Argo Rollouts
  // controller (the AnalysisRuns' web metrics), the CI runner pods (plan reads the toggles, report
  // posts test results), Traefik (the chart's Ingress) and Prometheus (the ServiceMonitor). The
  // policy admitted the whole project namespace stonks-pipeline, where nothing calls the gate, and
  // every pod of kargo (API server, webhooks, dex...) and kube-system.
  t.test('the NetworkPolicy admits the pods that call the gate, and no others', async (t) => {
    const admitted = (...args: string[]) => admittedPeers(one(render('--set', 'networkPolicy.enabled=true', ...args), 'NetworkPolicy'));
    const kargo = 'kargo{app.kubernetes.io/component=controller,app.kubernetes.io/name=kargo}';
    const rollouts = 'argo-rollouts{app.kubernetes.io/component=rollouts-controller,app.kubernetes.io/name=argo-rollouts}';
    const traefik = 'kube-system{app.kubernetes.io/name=traefik}';
    t.same(admitted(), ['arc-runners', rollouts, kargo, traefik], 'by default: the two controllers, the runners, Traefik');
    t.notOk(admitted().some((p) => p.startsWith('stonks-pipeline')), 'nothing of the project namespace');
    // networkPolicy.ingressNamespace is there for the chart's Ingress (Traefik forwards its
    // requests); it was admitted with ingress.enabled=false too, letting every pod of kube-system in
    t.same(admitted('--set', 'ingress.enabled=false'), ['arc-runners', rollouts, kargo], 'Ingress off: Traefik is not admitted');
    t.same(admitted('--set', 'ingress.enabled=false', '--set-json', 'networkPolicy.callers=[{"namespace":"kargo"},{"namespace":"oauth2-proxy","podLabels":{"app":"oauth2-proxy"}}]'),
      ['kargo', 'oauth2-proxy{app=oauth2-proxy}'], 'callers of one\'s own (a route of one\'s own to the gate): a whole namespace without podLabels');
    t.same(admitted('--set-json', 'networkPolicy.ingressPodLabels={"app":"ingress"}', '--set', 'networkPolicy.ingressNamespace=ingress'), ['arc-runners', rollouts, 'ingress{app.kubernetes.io/name=traefik,app=ingress}', kargo], 'the ingress controller\'s namespace and pod labels from the values (Helm merges a map into the default)');
    t.same(admitted('--set', 'networkPolicy.ingressPodLabels=null'), ['arc-runners', rollouts, kargo, 'kube-system'], 'null: every pod of the ingress namespace');
    t.same(admitted('--set', 'serviceMonitor.enabled=true', '--set', 'networkPolicy.monitoringNamespace=monitoring'), ['arc-runners', rollouts, kargo, traefik, 'monitoring{app.kubernetes.io/name=prometheus}'], 'with the ServiceMonitor: Prometheus\'s pods');
    // an empty `from` admits every source: the policy must never render one
    const r = template('--set', 'networkPolicy.enabled=true', '--set', 'ingress.enabled=false', '--set-json', 'networkPolicy.callers=[]');
    t.not(r.status, 0, 'no caller left to admit: refused, not rendered as an open rule');
    t.match(r.stderr, /networkPolicy\.callers: empty/);
  });

  // runmefirst.sh installs the chart with its own values (deploy/lib/values.sh): they must pass the
  // chart's schema, and its policy admit what calls the gate in the pipeline it stands up
  t.test('runmefirst.sh\'s gate values render, and its NetworkPolicy admits the pipeline\'s callers', async (t) => {
    const dir = tempDirSync(t, 'gate-chart-runmefirst-');
    const env = join(dir, 'pipeline.local.env');
    writeFileSync(env, '');
    const values = join(dir, 'values.yaml');
    const sh = spawnSync('bash', ['-c', 'set -euo pipefail; source deploy/lib/common.sh; source deploy/lib/manifests.sh; source deploy/lib/values.sh; pl_load_env "$PWD"; render_values_gate'],
      { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, PIPELINE_ENV_FILE: env } });
    t.equal(sh.status, 0, sh.stderr);
    writeFileSync(values, sh.stdout);
    const objs = render('-f', values);
    t.same(admittedPeers(one(objs, 'NetworkPolicy')), [
      'arc-runners',
      'argo-rollouts{app.kubernetes.io/component=rollouts-controller,app.kubernetes.io/instance=argo-rollouts}',
      'kargo{app.kubernetes.io/component=controller,app.kubernetes.io/instance=kargo}',
      'kube-system{app.kubernetes.io/name=traefik}',
    ], 'Kargo\'s and Rollouts\' controllers of its releases, its runners, Traefik');
    t.equal(one(objs, 'Deployment').spec.template.spec.priorityClassName, one(objs, 'PriorityClass').metadata.name, 'with the chart\'s PriorityClass, which its helm uninstall removes');
  });

  t.test('the NetworkPolicy and its README say the address check alone does not single out the sign-in proxy', async (t) => {
    const readme = readFileSync(join(chart, 'README.md'), 'utf8');
    const row = readme.split('\n').find((l) => l.startsWith('| NetworkPolicy (optional)'));
    t.match(row, /config\.proxyAuth\.secretSha256/, 'the README row names the key that does');
    t.match(readFileSync(join(chart, 'templates', 'networkpolicy.yaml'), 'utf8'), /does not single out the sign-in proxy \(config\.proxyAuth\.secretSha256 does\)/);
    t.match(readme, /customRequestHeaders:\n\s+X-Gate-Proxy-Secret:/, 'the README shows the Traefik Middleware that adds the secret');
  });

  // GATE_NOW is checked by the gate at start (an RFC 3339 instant with seconds, a real date, in
  // the calendar's years, a New York date whose next session it can name): one it refuses exits 2,
  // and the Recreate Deployment is left with no gate. The chart's pattern let through an instant
  // without seconds, 25:00, February 30th and 1999.
  t.test('gate.now: the chart renders only an instant the gate starts with', async (t) => {
    const calendar = createMarketCalendar({ extraClosures: [], extraEarlyCloses: [] });
    const gateTakes = (now: string): boolean => {
      try {
        parseConfig({ GATE_NOW: now });
        calendar.state(DateTime.fromISO(now, { setZone: true })); // server.ts's start-up check
        return true;
      } catch {
        return false;
      }
    };
    const cases: [string, boolean][] = [
      ['2027-03-08T14:29:00-05:00', true],
      ['2027-03-08T14:29:00.250Z', true],
      ['2000-01-03T00:00:00+23:59', true],
      ['2099-12-29T23:59:59-23:59', true],
      ['2099-12-30T23:59:59-23:59', true],
      ['2027-03-08T14:29-05:00', false],
      ['2027-03-08T25:00:00Z', false],
      ['2027-03-08T14:29:60Z', false],
      ['2027-03-08T14:29:00+24:00', false],
      ['2027-02-30T12:00:00Z', false],
      ['1999-12-31T12:00:00Z', false],
      ['2000-01-01T02:00:00Z', false],
      ['2000-01-02T00:00:00+23:59', false],
      ['2099-12-31T15:00:00Z', false],
    ];
    for (const [now, chartTakes] of cases) {
      const r = template('--set-string', `gate.now=${now}`);
      t.equal(r.status === 0, chartTakes, `${now}: the chart ${chartTakes ? 'renders it' : 'refuses it'}${r.status === 0 ? '' : ` (${r.stderr.trim().slice(0, 160)})`}`);
      if (r.status === 0) t.ok(gateTakes(now), `${now}: and the gate starts with it`);
      else t.match(r.stderr, /gate[./]now/, `${now}: the message names the key`);
    }
  });

  // stages.<stage>.enabled is the toggle's value only while no admin has switched it: the state
  // keeps an admin's switch over the configuration (test/store/stores.test.ts). The README called
  // it the stage's switch, so an upgrade setting live back to enabled looked like it gated live
  // again while the gate kept passing live promotions through.
  t.test("the README says an admin's stage switch outlasts config.stages.<stage>.enabled", async (t) => {
    const readme = readFileSync(join(chart, 'README.md'), 'utf8');
    const row = readme.split('\n').find((l) => l.startsWith('| `config.stages.<stage>.enabled`')) ?? '';
    t.match(row, /until an admin switches the stage/, 'the value holds only until an admin switches the stage');
    t.match(row, /PUT \/v1\/stages\/<stage>/, 'and says how to switch it back');
  });

  // The kubelet keeps the last of two variables of one name: an extraEnv entry named like one of
  // the chart's own replaced it unchecked (GATE_DATA_DIR=/tmp/... put the audit log on the pod's
  // emptyDir, GATE_PROJECT moved the SubjectAccessReviews away from the chart's RoleBindings,
  // GATE_PORT left the probes and the Service on a closed port, GATE_NOW skipped gate.now's check).
  t.test('gate.extraEnv cannot replace a variable the gate reads, which the chart sets', async (t) => {
    const env = one(render(), 'Deployment').spec.template.spec.containers[0].env.map((e: any) => e.name);
    for (const name of GATE_ENV_KEYS) {
      const r = template('--set-json', `gate.extraEnv=[{"name":"NODE_OPTIONS","value":"--max-old-space-size=256"},{"name":"${name}","value":"x"}]`);
      t.not(r.status, 0, `${name}: refused${env.includes(name) ? '' : ' (set from a value: config.project or gate.now)'}`);
      t.match(r.stderr, new RegExp(`gate\\.extraEnv\\[1\\]: ${name} is the chart's own`), `${name}: the message names the entry`);
    }
    const r = template('--set-json', 'gate.extraEnv=[{"name":"NODE_OPTIONS","value":"--max-old-space-size=256"},{"name":"TZ","value":"UTC"}]');
    t.equal(r.status, 0, 'other variables are taken');
  });

  t.test('the schema rejects bad values', async (t) => {
    const cases: [string, string[], RegExp][] = [
      ['unknown market-hours answer', ['--set', 'config.stages.live.marketHours=maybe'], /marketHours/],
      ['a quiet window before the open of more than 12 h', ['--set', 'config.stages.live.quietBeforeOpenMinutes=721'], /quietBeforeOpenMinutes/],
      ['a negative quiet window before the open', ['--set', 'config.stages.paper.quietBeforeOpenMinutes=-5'], /quietBeforeOpenMinutes/],
      ['a quiet window before the open in hours', ['--set-string', 'config.stages.paper.quietBeforeOpenMinutes=1h'], /quietBeforeOpenMinutes/],
      ['unknown auth mode', ['--set', 'gate.auth=oauth'], /gate\/auth/],
      // the Deployment is Recreate: an image the kubelet cannot parse (InvalidImageName) stops the
      // running gate and starts none
      ['a digest as the image tag', ['--set-string', `image.tag=sha256:${'0'.repeat(64)}`], /image\/tag/],
      ['an image tag with a colon', ['--set-string', 'image.tag=1.0:beta'], /image\/tag/],
      ['an image tag with a space', ['--set-string', 'image.tag=v1 '], /image\/tag/],
      ['an image repository with capitals', ['--set', 'image.repository=ghcr.io/Celesrenata/stonks-gate'], /image\/repository/],
      ['an image repository with a scheme', ['--set', 'image.repository=https://ghcr.io/celesrenata/stonks-gate'], /image\/repository/],
      ['an IPv6 registry address without brackets', ['--set', 'image.repository=fd00:1::5:5000/stonks/gate'], /image\/repository/],
      ['a pod label that is a selector key', ['--set-json', 'podLabels={"app.kubernetes.io/instance":"other"}'], /podLabels/],
      ['a pod annotation that is the config checksum', ['--set-json', 'podAnnotations={"checksum/config":"pinned"}'], /podAnnotations/],
      // keys the chart sets on the object itself: a second one rendered a duplicate YAML key
      ['an Ingress annotation that is the chart\'s TLS switch', ['--set-json', 'ingress.annotations={"traefik.ingress.kubernetes.io/router.tls":"false"}'], /ingress\.annotations: "traefik\.ingress\.kubernetes\.io\/router\.tls" is the chart's own/],
      ['an Ingress annotation that is the chart\'s entrypoint', ['--set-json', 'ingress.annotations={"traefik.ingress.kubernetes.io/router.entrypoints":"web"}'], /ingress\.annotations: "traefik\.ingress\.kubernetes\.io\/router\.entrypoints"/],
      ['an Ingress annotation that is the chart\'s issuer', ['--set-json', 'ingress.annotations={"cert-manager.io/cluster-issuer":"other"}'], /ingress\.annotations: "cert-manager\.io\/cluster-issuer".*ingress\.clusterIssuer/],
      ['a ServiceMonitor label the chart sets', ['--set', 'serviceMonitor.enabled=true', '--set-json', 'serviceMonitor.labels={"app.kubernetes.io/name":"other"}'], /serviceMonitor\.labels: "app\.kubernetes\.io\/name" is a label the chart sets/],
      ['a PrometheusRule label the chart sets', ['--set', 'serviceMonitor.enabled=true', '--set', 'prometheusRule.enabled=true', '--set-json', 'prometheusRule.labels={"helm.sh/chart":"other"}'], /prometheusRule\.labels: "helm\.sh\/chart" is a label the chart sets/],
      ['bad log level', ['--set', 'gate.logLevel=loud'], /logLevel/],
      ['GATE_NOW not an ISO instant', ['--set', 'gate.now=tomorrow'], /gate\/now/],
      ['closure not a date', ['--set-json', 'config.market.extraClosures=["Jan 9"]'], /extraClosures/],
      ['early close not HH:MM', ['--set-json', 'config.market.extraEarlyCloses=[{"date":"2027-11-26","close":"1pm"}]'], /close/],
      ['break-glass longer than 4 h', ['--set', 'config.breakGlass.maxTtlMinutes=600'], /maxTtlMinutes/],
      ['a missing stage', ['--set', 'config.stages.live=null'], /stages/],
      ['an unknown stage key', ['--set', 'config.stages.beta.marketHours=wait'], /beta/],
      ['an unknown role', ['--set-json', 'rbac.bindings=[{"role":"root","subjects":[{"kind":"User","name":"x"}]}]'], /role/],
      ['a binding without subjects', ['--set-json', 'rbac.bindings=[{"role":"caller","subjects":[]}]'], /subjects/],
      ['ingress host not a DNS name', ['--set', 'ingress.host=not a host'], /ingress\/host/],
      ['an unknown top-level key', ['--set', 'replicas=2'], /replicas/],
      ['resources without limits', ['--set', 'resources.limits=null'], /limits/],
      // a pod naming a PriorityClass that does not exist is refused by the API server: no gate
      ['a PriorityClass to create without a name', ['--set', 'priorityClassName='], /priorityClass\.create: set priorityClassName/],
      ['a PriorityClass name the API reserves', ['--set', 'priorityClassName=system-gate'], /priorityClassName/],
      ['a PriorityClass name that is no object name', ['--set', 'priorityClassName=Gate Critical'], /priorityClassName/],
      ['a PriorityClass value above the user range', ['--set', 'priorityClass.value=1000000001'], /priorityClass\/value/],
      ['an unknown preemption policy', ['--set', 'priorityClass.preemptionPolicy=Always'], /preemptionPolicy/],
      ['a port out of range', ['--set', 'service.port=70000'], /port/],
      // the gate's stop (drain, audit close, state flush, lock release) takes up to 10 s; killed
      // before that, it leaves its lock behind and the next pod waits out the lease (~35 s, no gate)
      ['a grace period shorter than the gate\'s 10 s stop', ['--set', 'terminationGracePeriodSeconds=5'], /terminationGracePeriodSeconds/],
      ['a trusted proxy that is not a CIDR', ['--set-json', 'config.http.trustedProxies=["traefik"]'], /trustedProxies/],
      ['a proxy secret hash in capitals', ['--set', `config.proxyAuth.secretSha256=${'A'.repeat(64)}`], /secretSha256/],
      ['network policy without its callers', ['--set', 'networkPolicy.enabled=true', '--set', 'networkPolicy.callers=null'], /missing property 'callers'/],
      ['a caller without its namespace', ['--set-json', 'networkPolicy.callers=[{"podLabels":{"app":"x"}}]'], /callers\/0.*namespace/],
      ['a caller\'s pod label value that is no label value', ['--set-json', 'networkPolicy.callers=[{"namespace":"kargo","podLabels":{"app":"a b"}}]'], /callers\/0\/podLabels/],
      ['an ingress pod label value that is no label value', ['--set-json', 'networkPolicy.ingressPodLabels={"app":"traefik/v2"}'], /ingressPodLabels/],
      // the key of earlier releases: a values file that still sets it is told so, not ignored
      ['the whole-namespace list of earlier releases', ['--set-json', 'networkPolicy.allowedNamespaces=["kargo"]'], /allowedNamespaces/],
      ['network policy and ServiceMonitor without the monitoring namespace', ['--set', 'networkPolicy.enabled=true', '--set', 'serviceMonitor.enabled=true'], /networkPolicy\.monitoringNamespace: set Prometheus's namespace/],
    ];
    for (const [name, args, expect] of cases) {
      const r = template(...args);
      t.not(r.status, 0, `${name}: rejected`);
      t.match(r.stderr, expect, `${name}: the message names the key`);
    }
    // other keys are rendered once each, beside the chart's
    const objs = render('--set', 'serviceMonitor.enabled=true', '--set', 'prometheusRule.enabled=true',
      '--set-json', 'ingress.annotations={"traefik.ingress.kubernetes.io/router.middlewares":"stonks-gate-oauth2-proxy@kubernetescrd"}',
      '--set-json', 'serviceMonitor.labels={"release":"prometheus"}', '--set-json', 'prometheusRule.labels={"release":"prometheus"}');
    t.match(one(objs, 'Ingress').metadata.annotations, { 'traefik.ingress.kubernetes.io/router.middlewares': 'stonks-gate-oauth2-proxy@kubernetescrd', 'traefik.ingress.kubernetes.io/router.tls': 'true' });
    for (const kind of ['ServiceMonitor', 'PrometheusRule']) t.match(one(objs, kind).metadata.labels, { release: 'prometheus', 'app.kubernetes.io/name': 'gate-service' }, `${kind}: its own labels and the chart's`);
    // a key that is not rendered (its object is off) cannot be duplicated
    t.equal(template('--set', 'ingress.enabled=false', '--set-json', 'ingress.annotations={"cert-manager.io/cluster-issuer":"other"}', '--set-json', 'serviceMonitor.labels={"helm.sh/chart":"x"}').status, 0, 'ingress and ServiceMonitor off: taken');
  });
}

import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Authenticator } from '../../src/auth/identity.ts';
import { createKubernetesAuthenticator } from '../../src/k8s/kubernetes-auth.ts';
import { type SpawnedGate, spawnGate } from './spawn-gate.ts';
import { tempDir } from './temp-dir.ts';

/** How one endpoint of the fake API server answers. */
export type Behaviour =
  | { kind: 'normal' }
  | { kind: 'status'; code: number; body?: string }
  | { kind: 'delay'; ms: number }
  | { kind: 'raw'; body: string; contentType?: string }
  | { kind: 'hangup' }
  /** hangs up on a request that comes over a connection that already carried one: a server closing a kept-alive connection just as the request is sent */
  | { kind: 'hangup-kept' };

export interface SarSpec {
  user?: string;
  groups?: string[];
  uid?: string;
  extra?: Record<string, string[]>;
  resourceAttributes?: { group?: string; resource?: string; verb?: string; namespace?: string };
}

export interface FakeKube {
  url: string;
  /**
   * a KubeConfig pointing at the fake, authenticating as the gate's service account; over TLS
   * it trusts TEST_CA. `cluster` is merged into its cluster entry (caFile, caData, ...).
   */
  kubeConfig(cluster?: Record<string, unknown>): KubeConfig;
  /** the TCP connections the fake has accepted */
  connections: number;
  /** each TCP connection the fake has accepted, in order, and whether it has closed since */
  sockets: { closed: boolean }[];
  /** token → reviewed user */
  users: Map<string, { username: string; groups: string[]; uid?: string; extra?: Record<string, string[]> }>;
  /** decides SubjectAccessReviews */
  allow: (spec: SarSpec) => { allowed: boolean; reason?: string };
  stages: unknown[];
  behaviour: { tokenreviews: Behaviour; subjectaccessreviews: Behaviour; stages: Behaviour };
  /** the most lists of Stages that were ever answered at the same time */
  maxStageListsInFlight: number;
  /** every request seen: method, path, the caller's Authorization header, parsed body */
  requests: { method: string; path: string; authorization: string | undefined; body: unknown }[];
  close(): Promise<void>;
}

export const GATE_SA_TOKEN = 'gate-service-account-token';

const fixture = (name: string) => new URL(`../k8s/fixtures/${name}`, import.meta.url);
/** The CA that signs the TLS fake's certificate (for 127.0.0.1 and localhost), and one that does not: test-only keys. */
export const TEST_CA = fixture('test-ca.crt');
export const OTHER_CA = fixture('other-ca.crt');

async function readBody(req: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text ? JSON.parse(text) : null;
}

/**
 * A local HTTP server speaking the parts of the Kubernetes API the gate uses: TokenReview,
 * SubjectAccessReview, and the list of Kargo Stages — with switchable faults. With `tls` it
 * speaks HTTPS, as a real API server does, with a certificate TEST_CA signs.
 */
export async function startFakeKube(opts: { tls?: boolean } = {}): Promise<FakeKube> {
  const fake = {
    connections: 0,
    sockets: [] as FakeKube['sockets'],
    users: new Map<string, { username: string; groups: string[]; uid?: string; extra?: Record<string, string[]> }>(),
    allow: (_: SarSpec) => ({ allowed: false, reason: 'no RBAC rule' }),
    stages: [] as unknown[],
    behaviour: { tokenreviews: { kind: 'normal' }, subjectaccessreviews: { kind: 'normal' }, stages: { kind: 'normal' } } as FakeKube['behaviour'],
    requests: [] as FakeKube['requests'],
    maxStageListsInFlight: 0,
  };
  let stageListsInFlight = 0;
  const send = (res: ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  /** requests each connection has carried */
  const carried = new WeakMap<Socket, number>();
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const earlier = carried.get(req.socket) ?? 0;
    carried.set(req.socket, earlier + 1);
    const path = (req.url ?? '').split('?')[0] as string;
    const body = req.method === 'POST' ? await readBody(req).catch(() => null) : null;
    fake.requests.push({ method: req.method ?? '', path, authorization: req.headers.authorization, body });
    const which = path.endsWith('/tokenreviews') ? 'tokenreviews' : path.endsWith('/subjectaccessreviews') ? 'subjectaccessreviews' : path.endsWith('/stages') ? 'stages' : null;
    if (which === null) return send(res, 404, { kind: 'Status', code: 404 });
    if (req.headers.authorization !== `Bearer ${GATE_SA_TOKEN}`) return send(res, 401, { kind: 'Status', code: 401, message: 'Unauthorized' });
    // the list as it is when the request arrives: a delayed answer is an old one, as one slow on
    // the wire would be
    const items = which === 'stages' ? structuredClone(fake.stages) : null;
    if (which === 'stages') {
      fake.maxStageListsInFlight = Math.max(fake.maxStageListsInFlight, ++stageListsInFlight);
      res.on('close', () => stageListsInFlight--);
    }
    const b = fake.behaviour[which];
    if (b.kind === 'status') {
      res.writeHead(b.code, { 'content-type': 'application/json' });
      return res.end(b.body ?? JSON.stringify({ kind: 'Status', code: b.code, message: 'injected failure' }));
    }
    if (b.kind === 'raw') {
      res.writeHead(200, { 'content-type': b.contentType ?? 'application/json' });
      return res.end(b.body);
    }
    if (b.kind === 'hangup' || (b.kind === 'hangup-kept' && earlier > 0)) return req.socket.destroy();
    if (b.kind === 'delay') await new Promise((r) => setTimeout(r, b.ms));
    if (which === 'tokenreviews') {
      const token = (body as { spec?: { token?: string } })?.spec?.token ?? '';
      const user = fake.users.get(token);
      return send(res, 201, {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token },
        // as the API server writes it: TokenReviewStatus.authenticated is `omitempty`, so a
        // rejected token has no `authenticated` key at all, an empty user and an error
        status: user
          ? { authenticated: true, user: { username: user.username, groups: user.groups, ...(user.uid ? { uid: user.uid } : {}), ...(user.extra ? { extra: user.extra } : {}) } }
          : { user: {}, error: '[invalid bearer token, token lookup failed]' },
      });
    }
    if (which === 'subjectaccessreviews') {
      const spec = (body as { spec?: SarSpec })?.spec ?? {};
      return send(res, 201, { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec, status: fake.allow(spec) });
    }
    return send(res, 200, { apiVersion: 'kargo.akuity.io/v1alpha1', kind: 'StageList', metadata: {}, items });
  };
  const server: Server = opts.tls
    ? createHttpsServer({ key: readFileSync(fixture('api-server.key')), cert: readFileSync(fixture('api-server.crt')) }, handler)
    : createServer(handler);
  // a kept connection stays open until the client closes it, as kube-apiserver keeps one for
  // 90 s idle: Node's 5 s default would close it before a test can see the gate leave it open
  server.keepAliveTimeout = 90_000;
  server.on('connection', (socket) => {
    fake.connections++;
    const seen = { closed: false };
    fake.sockets.push(seen);
    socket.on('close', () => (seen.closed = true));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(fake, {
    url,
    kubeConfig(cluster: Record<string, unknown> = {}) {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'fake', server: url, ...(opts.tls ? { caData: readFileSync(TEST_CA).toString('base64') } : { skipTLSVerify: true }), ...cluster }],
        users: [{ name: 'gate', token: GATE_SA_TOKEN }],
        contexts: [{ name: 'fake', cluster: 'fake', user: 'gate' }],
        currentContext: 'fake',
      });
      return kc;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

/** A Kargo Stage object with a current freight of `tag`. */
export function kargoStage(name: string, tag: string, finishedAt = '2026-11-25T21:05:00Z'): unknown {
  return {
    apiVersion: 'kargo.akuity.io/v1alpha1',
    kind: 'Stage',
    metadata: { name, namespace: 'stonks-pipeline' },
    status: {
      freightHistory: [
        { id: 'fc1', items: { 'Warehouse/stonks-oracle': { name: 'f1', origin: { kind: 'Warehouse', name: 'stonks-oracle' }, images: [{ repoURL: 'ghcr.io/celesrenata/stonks-oracle/superset', tag }] } } },
        { id: 'fc0', items: { 'Warehouse/stonks-oracle': { name: 'f0', images: [{ repoURL: 'ghcr.io/celesrenata/stonks-oracle/superset', tag: 'older' }] } } },
      ],
      lastPromotion: { name: `${name}.p1`, finishedAt },
    },
  };
}

/**
 * The gate's Kubernetes authenticator against a fake API server whose TokenReviews fail with 500
 * (the API server down for identity checks): every bearer token is a 503 auth_unavailable. The
 * fake closes when `t` ends.
 */
export async function authenticatorWithTokenReviewDown(t: { teardown(fn: () => unknown): void }): Promise<Authenticator> {
  const fake = await startFakeKube();
  t.teardown(() => fake.close());
  fake.behaviour.tokenreviews = { kind: 'status', code: 500 };
  return createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig() });
}

/**
 * A real gate process in Kubernetes mode against `fake`: a kubeconfig for it and `configYaml` as
 * its config file, in a home directory of its own (removed, and the gate stopped, at teardown).
 */
export async function spawnKubeGate(t: { teardown(fn: () => unknown): void }, fake: FakeKube, configYaml: string): Promise<SpawnedGate> {
  const home = await tempDir(t, 'gate-home-');
  await writeFile(join(home, 'kubeconfig'), fake.kubeConfig().exportConfig());
  await writeFile(join(home, 'config.yaml'), configYaml);
  const gate = await spawnGate({ t, env: { GATE_AUTH: 'kubernetes', HOME: home, KUBECONFIG: join(home, 'kubeconfig'), GATE_CONFIG: join(home, 'config.yaml') } });
  t.teardown(() => gate.stop());
  return gate;
}

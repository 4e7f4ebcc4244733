import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import t from 'tap';
import { callWithDeadline } from '../../src/k8s/api-call.ts';
import { createKargoStageReader } from '../../src/k8s/kargo-stages.ts';
import { createKubernetesAuthenticator } from '../../src/k8s/kubernetes-auth.ts';
import { eventually } from '../helpers/eventually.ts';
import { OTHER_CA, TEST_CA, kargoStage, startFakeKube } from '../helpers/fake-kube-api.ts';
import { type TapLike, tempDir } from '../helpers/temp-dir.ts';

const KARGO_SA = 'system:serviceaccount:stonks-pipeline:gate-caller';
const req = (token: string) => ({ headers: { authorization: `Bearer ${token}` }, remoteAddress: '127.0.0.1', client: 'kargo' });
const decisions = { resource: 'decisions', verb: 'create' } as const;

for (const tls of [false, true]) {
  t.test(`${tls ? 'HTTPS with a CA' : 'HTTP'}: the API calls of one KubeConfig go over one kept-alive connection, not one each`, async (t) => {
    const fake = await startFakeKube({ tls });
    t.teardown(() => fake.close());
    fake.users.set('kargo-token', { username: KARGO_SA, groups: [] });
    fake.allow = () => ({ allowed: true });
    fake.stages = [kargoStage('beta', 'sha-1')];
    const kc = fake.kubeConfig();
    // nothing cached: every authenticate is a TokenReview, every authorize a SubjectAccessReview
    const auth = createKubernetesAuthenticator({ kubeConfig: kc, cacheSeconds: 0 });
    const reader = createKargoStageReader({ kubeConfig: kc, namespace: 'stonks-pipeline', pollMs: 60_000, timeoutMs: 2000, repoPrefix: 'ghcr.io/celesrenata/stonks-oracle/' });
    const rounds = 10;
    const started = performance.now();
    for (let i = 0; i < rounds; i++) {
      const who = await auth.authenticate(req('kargo-token'));
      if (!who.ok) throw new Error(`round ${i}: ${JSON.stringify(who)}`);
      t.same(await auth.authorize(who.identity, decisions, 'stonks-pipeline'), { ok: true });
      await reader.poll();
      t.equal(reader.health().lastError, null);
    }
    const calls = fake.requests.length;
    t.equal(calls, 3 * rounds, 'every call reached the API server');
    t.comment(`${tls ? 'https' : 'http'}: ${calls} sequential calls over ${fake.connections} connection(s), ${((performance.now() - started) / calls).toFixed(2)} ms a call`);
    t.ok(fake.connections <= 2, `${calls} sequential calls opened ${fake.connections} connections (at most 2 expected)`);
  });
}

t.test('a kept connection the API server closes as a review is sent is not a failed check: the review goes again over a new one', async (t) => {
  const fake = await startFakeKube({ tls: true });
  t.teardown(() => fake.close());
  fake.users.set('kargo-token', { username: KARGO_SA, groups: [] });
  fake.stages = [kargoStage('beta', 'sha-1')];
  const kc = fake.kubeConfig();
  const auth = createKubernetesAuthenticator({ kubeConfig: kc, cacheSeconds: 0 });
  const reader = createKargoStageReader({ kubeConfig: kc, namespace: 'stonks-pipeline', pollMs: 60_000, timeoutMs: 2000, repoPrefix: 'ghcr.io/celesrenata/stonks-oracle/' });
  t.match(await auth.authenticate(req('kargo-token')), { ok: true });
  // undici frees a connection a turn after its answer was read: without this one, the next
  // review would open a second connection instead of going over the kept one
  await nextTurn();
  fake.behaviour.tokenreviews = { kind: 'hangup-kept' };
  fake.behaviour.stages = { kind: 'hangup-kept' };
  t.match(await auth.authenticate(req('kargo-token')), { ok: true, identity: { name: KARGO_SA } }, 'TokenReview');
  t.equal(fake.requests.length, 3, 'the review was sent over the kept connection, dropped there, and sent again');
  await nextTurn();
  await reader.poll();
  t.equal(fake.requests.length, 5, 'so was the list');
  t.equal(reader.health().lastError, null, 'the list of Stages too');
  t.same(reader.tags(), { beta: { imageTag: 'sha-1', at: '2026-11-25T21:05:00Z' } });
  // a server that hangs up on every request is still a 503, not a loop
  fake.behaviour.tokenreviews = { kind: 'hangup' };
  const before = fake.requests.length;
  t.match(await auth.authenticate(req('kargo-token')), { ok: false, status: 503, error: 'auth_unavailable' });
  t.ok(fake.requests.length - before <= 2, 'tried at most twice');
});

t.test('a review that timed out on a kept connection leaves the next one working', async (t) => {
  const fake = await startFakeKube({ tls: true });
  t.teardown(() => fake.close());
  fake.users.set('kargo-token', { username: KARGO_SA, groups: [] });
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig(), cacheSeconds: 0, timeoutMs: 200 });
  t.match(await auth.authenticate(req('kargo-token')), { ok: true });
  fake.behaviour.tokenreviews = { kind: 'delay', ms: 600 };
  const started = performance.now();
  t.match(await auth.authenticate(req('kargo-token')), { ok: false, status: 503, message: /no answer from the Kubernetes API within 200 ms/ });
  t.ok(performance.now() - started < 500, 'the deadline still holds');
  fake.behaviour.tokenreviews = { kind: 'normal' };
  t.match(await auth.authenticate(req('kargo-token')), { ok: true });
});

/** A TLS fake API server that knows kargo-token, and an authenticator trusting the CA in a file of its own (TEST_CA to begin with). */
async function withCaFile(t: TapLike) {
  const fake = await startFakeKube({ tls: true });
  t.teardown(() => fake.close());
  fake.users.set('kargo-token', { username: KARGO_SA, groups: [] });
  const caFile = join(await tempDir(t, 'gate-ca-'), 'ca.crt');
  await copyFile(TEST_CA, caFile);
  return { fake, caFile, auth: createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig({ caData: undefined, caFile }), cacheSeconds: 0 }) };
}

t.test('TLS is checked as the kubeconfig says, also when its CA file changes under kept connections', async (t) => {
  const { fake, caFile, auth } = await withCaFile(t);
  t.match(await auth.authenticate(req('kargo-token')), { ok: true }, 'the CA that signs the server');
  // a CA rotated away: the kept connection was checked against the old CA, the next call must not use it
  await copyFile(OTHER_CA, caFile);
  t.match(await auth.authenticate(req('kargo-token')), { ok: false, status: 503, message: /certificate|UNABLE_TO_VERIFY|SELF_SIGNED/i }, 'a CA that does not sign it');
  await copyFile(TEST_CA, caFile);
  t.match(await auth.authenticate(req('kargo-token')), { ok: true }, 'the right CA again');
  const noCa = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig({ caData: undefined }), cacheSeconds: 0 });
  t.match(await noCa.authenticate(req('kargo-token')), { ok: false, status: 503 }, 'no CA: the system roots do not sign it');
  const wrong = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig({ caFile: OTHER_CA.pathname, caData: undefined }), cacheSeconds: 0 });
  t.match(await wrong.authenticate(req('kargo-token')), { ok: false, status: 503 }, 'another CA from the start');
});

t.test('when the TLS settings change (a CA bundle during a rotation), the old kept connections are closed, not left open', async (t) => {
  const { fake, caFile, auth } = await withCaFile(t);
  for (let i = 0; i < 3; i++) t.match(await auth.authenticate(req('kargo-token')), { ok: true });
  const old = [...fake.sockets];
  t.ok(old.length >= 1 && old.some((s) => !s.closed), 'kept connections, made with the old settings');
  // the new CA added beside the old one: both still sign the server, the settings differ
  await writeFile(caFile, `${await readFile(TEST_CA, 'utf8')}\n${await readFile(OTHER_CA, 'utf8')}`);
  t.match(await auth.authenticate(req('kargo-token')), { ok: true }, 'the call with the bundle');
  t.ok(fake.sockets.length > old.length, 'it went over a new connection');
  await eventually(() => old.every((s) => s.closed));
  t.ok(old.every((s) => s.closed), 'the connections made with the old settings are closed');
  t.match(await auth.authenticate(req('kargo-token')), { ok: true });
  t.ok(fake.sockets.slice(old.length).some((s) => !s.closed), 'the new settings\' connection is kept');
});

t.test('a call whose kept dispatcher was closed before its request left is made again, over the new one', async (t) => {
  const closed = Object.assign(new Error('The client is closed'), { code: 'UND_ERR_CLOSED' });
  for (const err of [closed, Object.assign(new TypeError('fetch failed'), { cause: { code: 'UND_ERR_DESTROYED' } })]) {
    let calls = 0;
    const answer = await callWithDeadline('a review', new KubeConfig(), 1000, async () => {
      if (++calls === 1) throw err;
      return 'answered';
    });
    t.equal(answer, 'answered', `${err.message}: answered on the second try`);
    t.equal(calls, 2, 'made twice');
  }
});

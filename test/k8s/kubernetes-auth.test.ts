import t from 'tap';
import { serverOf } from '../../src/k8s/api-call.ts';
import { createKubernetesAuthenticator } from '../../src/k8s/kubernetes-auth.ts';
import { createKargoStageReader } from '../../src/k8s/kargo-stages.ts';
import { buildTestApp, decisionBody } from '../helpers/build-app.ts';
import { GATE_SA_TOKEN, kargoStage, spawnKubeGate, startFakeKube, type Behaviour, type FakeKube, type SarSpec } from '../helpers/fake-kube-api.ts';

const KARGO_SA = 'system:serviceaccount:stonks-pipeline:gate-caller';
// each token from a client of its own, unless a test says otherwise (one client holds at most a quarter of the shared review slots)
const req = (token: string | null, client = `client-of-${token}`) => ({ headers: token ? { authorization: `Bearer ${token}` } : {}, remoteAddress: '127.0.0.1', client });

async function fakeWithUsers(t: { teardown(fn: () => unknown): void }): Promise<FakeKube> {
  const fake = await startFakeKube();
  t.teardown(() => fake.close());
  fake.users.set('kargo-token', { username: KARGO_SA, groups: ['system:serviceaccounts', 'system:serviceaccounts:stonks-pipeline'] });
  fake.users.set('olivia-token', { username: 'olivia@celestium.life', groups: ['oncall'] });
  fake.allow = (spec) =>
    spec.resourceAttributes?.group === 'gate.stonks-oracle.io' &&
    spec.resourceAttributes.namespace === 'stonks-pipeline' &&
    ((spec.user === KARGO_SA && spec.resourceAttributes.resource === 'decisions' && spec.resourceAttributes.verb === 'create') ||
      (spec.groups?.includes('oncall') === true && spec.resourceAttributes.resource === 'breakglassgrants'))
      ? { allowed: true }
      : { allowed: false, reason: 'RBAC: no rule grants it' };
  return fake;
}

t.test('TokenReview names the actor, SubjectAccessReview decides; over real HTTP with the real client', async (t) => {
  const fake = await fakeWithUsers(t);
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig() });
  const who = await auth.authenticate(req('kargo-token'));
  t.same(who, { ok: true, identity: { name: KARGO_SA, groups: ['system:serviceaccounts', 'system:serviceaccounts:stonks-pipeline'], via: 'kubernetes' } });
  const review = fake.requests.find((r) => r.path === '/apis/authentication.k8s.io/v1/tokenreviews');
  t.equal(review?.authorization, `Bearer ${GATE_SA_TOKEN}`, 'the gate authenticates as its own service account');
  t.match(review?.body, { kind: 'TokenReview', spec: { token: 'kargo-token' } });
  if (!who.ok) throw new Error('unreachable');
  t.same(await auth.authorize(who.identity, { resource: 'decisions', verb: 'create' }, 'stonks-pipeline'), { ok: true });
  const sar = fake.requests.find((r) => r.path === '/apis/authorization.k8s.io/v1/subjectaccessreviews');
  t.match(sar?.body, { spec: { user: KARGO_SA, resourceAttributes: { group: 'gate.stonks-oracle.io', resource: 'decisions', verb: 'create', namespace: 'stonks-pipeline' } } });
  const denied = await auth.authorize(who.identity, { resource: 'breakglassgrants', verb: 'create' }, 'stonks-pipeline');
  t.match(denied, { ok: false, status: 403, message: /may not create breakglassgrants\.gate\.stonks-oracle\.io in namespace stonks-pipeline: RBAC/ });
  t.match(await auth.authenticate(req('stolen-token')), { ok: false, status: 401, message: /invalid bearer token/ });
  t.match(await auth.authenticate(req(null)), { ok: false, status: 401 });
});

t.test('the API server failing is a 503, never an identity or a permission', async (t) => {
  const fake = await fakeWithUsers(t);
  const cases: [string, FakeKube['behaviour']['tokenreviews']][] = [
    ['401 from the API server', { kind: 'status', code: 401 }],
    ['403 from the API server', { kind: 'status', code: 403 }],
    ['500 from the API server', { kind: 'status', code: 500 }],
    ['not JSON', { kind: 'raw', body: '<html>proxy error</html>', contentType: 'text/html' }],
    ['JSON without status', { kind: 'raw', body: '{"kind":"TokenReview"}' }],
    ['status.authenticated not a boolean', { kind: 'raw', body: '{"status":{"authenticated":"yes","user":{"username":"x"}}}' }],
    ['authenticated without a user name', { kind: 'raw', body: '{"status":{"authenticated":true,"user":{}}}' }],
    ['connection dropped', { kind: 'hangup' }],
  ];
  for (const [name, behaviour] of cases) {
    fake.behaviour.tokenreviews = behaviour;
    const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig() });
    t.match(await auth.authenticate(req('kargo-token')), { ok: false, status: 503, error: 'auth_unavailable' }, `TokenReview: ${name}`);
  }
  fake.behaviour.tokenreviews = { kind: 'normal' };
  for (const [name, behaviour] of cases.slice(0, 4)) {
    fake.behaviour.subjectaccessreviews = behaviour;
    const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig() });
    t.match(await auth.authorize({ name: KARGO_SA, groups: [], via: 'kubernetes' }, { resource: 'decisions', verb: 'create' }, 'stonks-pipeline'), { ok: false, status: 503 }, `SAR: ${name}`);
  }
  fake.behaviour.subjectaccessreviews = { kind: 'raw', body: '{"status":{}}' };
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig() });
  t.match(await auth.authorize({ name: KARGO_SA, groups: [], via: 'kubernetes' }, { resource: 'decisions', verb: 'create' }, 'stonks-pipeline'), { ok: false, status: 503 }, 'SAR without status.allowed');
  // a refusal with an evaluation error (an authorizer failed, or a RoleBinding names a missing
  // Role): still 403, naming the error, but not cached, so a webhook back up is seen at once
  const sars: [string, string, boolean][] = [
    ['not allowed, with an evaluation error', '{"status":{"allowed":false,"reason":"no RBAC rule","evaluationError":"webhook authorizer: connection refused"}}', false],
    ['not allowed, no error: RBAC has no rule', '{"status":{"allowed":false,"reason":"no RBAC rule"}}', true],
  ];
  for (const [name, body, cached] of sars) {
    fake.behaviour.subjectaccessreviews = { kind: 'raw', body };
    const fresh = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig() });
    const res = await fresh.authorize({ name: KARGO_SA, groups: [], via: 'kubernetes' }, { resource: 'decisions', verb: 'create' }, 'stonks-pipeline');
    t.match(res, { ok: false, status: 403 }, `SAR ${name}: 403`);
    if (!cached) t.match(res, { message: /no RBAC rule \(the API server also reports: webhook authorizer: connection refused\)/ }, 'naming the error');
    fake.behaviour.subjectaccessreviews = { kind: 'normal' };
    const again = await fresh.authorize({ name: KARGO_SA, groups: [], via: 'kubernetes' }, { resource: 'decisions', verb: 'create' }, 'stonks-pipeline');
    t.match(again, cached ? { ok: false, status: 403 } : { ok: true }, cached ? 'a plain refusal is reused for 10 s' : 'not cached: asked again, and now allowed');
  }
});

t.test('an API server slower than 2 s is a 503 within about 2 s', async (t) => {
  const fake = await fakeWithUsers(t);
  fake.behaviour.tokenreviews = { kind: 'delay', ms: 3000 };
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig() });
  const started = Date.now();
  const res = await auth.authenticate(req('kargo-token'));
  const took = Date.now() - started;
  t.match(res, { ok: false, status: 503, message: /2000 ms/ });
  t.ok(took >= 1900 && took < 2800, `answered after ${took} ms`);
});

t.test('an unreachable API server is a 503', async (t) => {
  const fake = await fakeWithUsers(t);
  const kc = fake.kubeConfig();
  await fake.close();
  const auth = createKubernetesAuthenticator({ kubeConfig: kc });
  t.match(await auth.authenticate(req('kargo-token')), { ok: false, status: 503 });
});

t.test('results are reused for at most 10 s', async (t) => {
  const fake = await fakeWithUsers(t);
  let now = 1_000_000;
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig(), now: () => now });
  const count = (suffix: string) => fake.requests.filter((r) => r.path.endsWith(suffix)).length;
  const id = { name: KARGO_SA, groups: [], via: 'kubernetes' as const };
  await auth.authenticate(req('kargo-token'));
  await auth.authorize(id, { resource: 'decisions', verb: 'create' }, 'stonks-pipeline');
  now += 9_999;
  await auth.authenticate(req('kargo-token'));
  await auth.authorize(id, { resource: 'decisions', verb: 'create' }, 'stonks-pipeline');
  t.equal(count('tokenreviews'), 1, 'cached');
  t.equal(count('subjectaccessreviews'), 1, 'cached');
  now += 2;
  fake.users.delete('kargo-token'); // the token was revoked in the cluster
  t.match(await auth.authenticate(req('kargo-token')), { ok: false, status: 401 }, 'after 10 s the review is asked again and sees the revocation');
  t.equal(count('tokenreviews'), 2);
  fake.behaviour.tokenreviews = { kind: 'status', code: 500 };
  await auth.authenticate(req('olivia-token'));
  fake.behaviour.tokenreviews = { kind: 'normal' };
  t.match(await auth.authenticate(req('olivia-token')), { ok: true }, 'failures are not cached');
});

t.test('a flood of distinct bad tokens evicts no reviewed identity, and the cache drops its oldest entries, not all of them', async (t) => {
  // the caches were cleared whole when full: 10,000 bogus tokens wiped every caller's review, and
  // each flood cost the API server a TokenReview per legitimate request too
  const fake = await fakeWithUsers(t);
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig(), maxEntries: 20 });
  const reviewsOf = (token: string) => fake.requests.filter((r) => r.path.endsWith('/tokenreviews') && (r.body as { spec?: { token?: string } })?.spec?.token === token).length;
  t.match(await auth.authenticate(req('kargo-token')), { ok: true });
  const flood: number[] = [];
  for (let i = 0; i < 61; i++) flood.push((await auth.authenticate(req(`bogus-${i}`))).ok ? 200 : 401);
  t.same(new Set(flood), new Set([401]), 'the bad tokens are refused');
  t.match(await auth.authenticate(req('kargo-token')), { ok: true });
  t.equal(reviewsOf('kargo-token'), 1, 'the reviewed identity is still cached after three cachefuls of bad tokens');
  t.match(await auth.authenticate(req('bogus-41')), { ok: false, status: 401 });
  t.equal(reviewsOf('bogus-41'), 1, 'the 20 newest refusals are all still cached');
  t.match(await auth.authenticate(req('bogus-40')), { ok: false, status: 401 });
  t.equal(reviewsOf('bogus-40'), 2, 'an older one was dropped to make room: the cache stays bounded');
});

t.test('concurrent requests with one uncached token, or one uncached question, share one review', async (t) => {
  // 50 parallel requests of a new token were 50 TokenReviews
  const fake = await fakeWithUsers(t);
  const count = (suffix: string) => fake.requests.filter((r) => r.path.endsWith(suffix)).length;
  const fifty = <T>(fn: () => Promise<T>) => Promise.all(Array.from({ length: 50 }, fn));
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig(), timeoutMs: 500 });
  const who = await fifty(() => auth.authenticate(req('kargo-token')));
  t.ok(who.every((w) => w.ok), 'all authenticated');
  t.equal(count('tokenreviews'), 1, 'one TokenReview');
  const first = who[0];
  if (!first?.ok) throw new Error('not authenticated');
  const can = await fifty(() => auth.authorize(first.identity, { resource: 'decisions', verb: 'create' }, 'stonks-pipeline'));
  t.ok(can.every((c) => c.ok), 'all allowed');
  t.equal(count('subjectaccessreviews'), 1, 'one SubjectAccessReview');
  t.ok((await fifty(() => auth.authenticate(req('nobody-token')))).every((w) => !w.ok && w.status === 401), 'all refused');
  t.equal(count('tokenreviews'), 2, 'a rejected token: one TokenReview too');

  // a failure goes to the requests that waited on it, and no further
  fake.behaviour.tokenreviews = { kind: 'delay', ms: 3000 };
  const started = performance.now();
  const slow = await fifty(() => auth.authenticate(req('olivia-token')));
  const took = performance.now() - started;
  t.ok(slow.every((w) => !w.ok && w.status === 503 && /within 500 ms/.test(w.message)), 'each waiter: 503 at the deadline');
  t.ok(took < 2000, `answered in ${Math.round(took)} ms, not after the API server's 3000`);
  t.equal(count('tokenreviews'), 3, 'one TokenReview for the fifty');
  fake.behaviour.tokenreviews = { kind: 'normal' };
  t.match(await auth.authenticate(req('olivia-token')), { ok: true }, 'the next request asks again');
  t.equal(count('tokenreviews'), 4);
  fake.behaviour.subjectaccessreviews = { kind: 'status', code: 500 };
  const oncall = { name: 'olivia@celestium.life', groups: ['oncall'], via: 'kubernetes' as const };
  const down = await fifty(() => auth.authorize(oncall, { resource: 'breakglassgrants', verb: 'create' }, 'stonks-pipeline'));
  t.ok(down.every((d) => !d.ok && d.status === 503), 'a failed SubjectAccessReview: 503 for every waiter');
  t.equal(count('subjectaccessreviews'), 2, 'from one review');
  fake.behaviour.subjectaccessreviews = { kind: 'normal' };
  t.same(await auth.authorize(oncall, { resource: 'breakglassgrants', verb: 'create' }, 'stonks-pipeline'), { ok: true }, 'not kept: asked again');
  t.equal(count('subjectaccessreviews'), 3);
});

/** Every token the fake API server was asked to review, in order. */
const reviewedTokens = (fake: FakeKube) => fake.requests.filter((r) => r.path.endsWith('/tokenreviews')).map((r) => (r.body as { spec?: { token?: string } })?.spec?.token);

t.test('a flood of distinct unknown tokens: a bounded number of TokenReviews in flight, the rest a 503 at once', async (t) => {
  // each made-up token cost a TokenReview, all at once: thousands of requests against the API
  // server, each holding a socket and a timer in the gate for up to 2 s
  const fake = await fakeWithUsers(t);
  fake.behaviour.tokenreviews = { kind: 'delay', ms: 1000 };
  // 4 in flight: 1 kept for tokens the API server accepted before, 3 shared by the others
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig(), maxReviewsInFlight: 4 });
  const started = performance.now();
  const timed = (token: string) => auth.authenticate(req(token)).then((res) => ({ token, res, ms: performance.now() - started }));
  const first = ['made-up-0', 'made-up-1', 'made-up-2'].map(timed);
  const joining = Array.from({ length: 5 }, () => timed('made-up-0'));
  const rest = Array.from({ length: 9 }, (_, i) => timed(`made-up-${i + 3}`));
  const shed = await Promise.all(rest);
  for (const { token, res, ms } of shed) {
    t.match(res, { ok: false, status: 503, error: 'auth_saturated', message: /saturated.*retry/ }, `${token}: 503`);
    t.ok(ms < 500, `${token}: answered at once (${Math.round(ms)} ms), before the slow reviews are back`);
  }
  t.notOk(shed.some(({ res }) => res.ok), 'never an identity');
  for (const { token, res, ms } of await Promise.all([...first, ...joining])) {
    t.match(res, { ok: false, status: 401 }, `${token}: reviewed (and rejected)`);
    t.ok(ms >= 900, `${token}: after the slow review (${Math.round(ms)} ms)`);
  }
  t.same(reviewedTokens(fake), ['made-up-0', 'made-up-1', 'made-up-2'], 'only the shared slots reached the API server; the requests joining a review took none');
  t.equal(auth.reviewsShed(), 9, 'the shed ones are counted');

  // the reviews are back: new ones go through again
  fake.behaviour.tokenreviews = { kind: 'normal' };
  t.match(await auth.authenticate(req('made-up-3')), { ok: false, status: 401 });
  t.match(await auth.authenticate(req('olivia-token')), { ok: true, identity: { name: 'olivia@celestium.life' } });
  t.same(reviewedTokens(fake).slice(3), ['made-up-3', 'olivia-token']);
  t.equal(auth.reviewsShed(), 9);
  t.throws(() => createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig(), maxReviewsInFlight: 1 }), RangeError, 'a bound that leaves unknown tokens no slot is refused');
});

t.test('a flood of unknown tokens cannot lock out a token the API server accepted: it is still reviewed when its cache expires', async (t) => {
  const fake = await fakeWithUsers(t);
  let now = 1_000_000;
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig(), maxReviewsInFlight: 4, now: () => now });
  t.match(await auth.authenticate(req('kargo-token')), { ok: true }, 'Kargo, accepted');
  fake.behaviour.tokenreviews = { kind: 'delay', ms: 300 };
  now += 10_001; // Kargo's cached identity expired
  const flood = Array.from({ length: 8 }, (_, i) => auth.authenticate(req(`made-up-${i}`)));
  t.match(await auth.authenticate(req('kargo-token')), { ok: true, identity: { name: KARGO_SA } }, 'Kargo is reviewed in the slot kept for known tokens');
  t.equal(reviewedTokens(fake).filter((x) => x === 'kargo-token').length, 2, 'reviewed again, not served from a stale answer');
  const flooded = await Promise.all(flood);
  t.equal(flooded.filter((r) => !r.ok && r.status === 503).length, 5, 'the flood filled the 3 shared slots, the rest shed');

  // revoked: refused at the next review, and no longer known, so a flood now sheds it too
  fake.users.delete('kargo-token');
  now += 10_001;
  t.match(await auth.authenticate(req('kargo-token')), { ok: false, status: 401 }, 'the revocation takes effect within the cache time');
  now += 10_001;
  const again = Array.from({ length: 3 }, (_, i) => auth.authenticate(req(`made-up-again-${i}`)));
  t.match(await auth.authenticate(req('kargo-token')), { ok: false, status: 503, error: 'auth_saturated' }, 'a rejected token keeps no kept slot');
  await Promise.all(again);
  t.equal(auth.reviewsShed(), 6);
});

t.test('one identity with many accepted tokens cannot take every kept slot: each user holds at most 2', async (t) => {
  // any pod can be given fresh tokens of its ServiceAccount, each one the API server accepts
  const fake = await fakeWithUsers(t);
  const mallory = 'system:serviceaccount:tenant:mallory';
  for (let i = 0; i < 5; i++) fake.users.set(`mallory-${i}`, { username: mallory, groups: [] });
  let now = 1_000_000;
  // 12 in flight: 3 kept for known tokens, 9 shared
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig(), maxReviewsInFlight: 12, now: () => now });
  for (const token of ['kargo-token', 'mallory-0', 'mallory-1', 'mallory-2', 'mallory-3', 'mallory-4']) t.match(await auth.authenticate(req(token)), { ok: true }, `${token}: accepted, now known`);
  fake.behaviour.tokenreviews = { kind: 'delay', ms: 300 };
  now += 10_001; // every cached identity expired
  const flood = Array.from({ length: 9 }, (_, i) => auth.authenticate(req(`made-up-${i}`)));
  const hers = Array.from({ length: 5 }, (_, i) => auth.authenticate(req(`mallory-${i}`)));
  // while hers are still in flight
  const kargo = auth.authenticate(req('kargo-token'));
  t.same((await Promise.all(hers)).map((r) => (r.ok ? 'accepted' : r.status)), ['accepted', 'accepted', 503, 503, 503], 'her first two take kept slots, the rest are shed');
  t.match(await kargo, { ok: true, identity: { name: KARGO_SA } }, 'the third kept slot is still there for Kargo');
  await Promise.all(flood);
  t.equal(auth.reviewsShed(), 3);
});

t.test('a review that fails gives its slot back: a failing API server does not use up the bound', async (t) => {
  const fake = await fakeWithUsers(t);
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig(), maxReviewsInFlight: 2, timeoutMs: 200 });
  const failures: Behaviour[] = [{ kind: 'status', code: 500 }, { kind: 'hangup' }, { kind: 'raw', body: 'not json' }, { kind: 'delay', ms: 400 }];
  for (const [i, failure] of failures.entries()) {
    fake.behaviour.tokenreviews = failure;
    // one at a time: the bound of 2 leaves one shared slot, which each failed review must give back
    for (let j = 0; j < 3; j++) t.match(await auth.authenticate(req(`made-up-${i}-${j}`)), { ok: false, status: 503 }, `${failure.kind} ${j}: 503`);
  }
  t.equal(auth.reviewsShed(), 0, 'none was shed: every failed review gave its slot back');
  fake.behaviour.tokenreviews = { kind: 'normal' };
  t.match(await auth.authenticate(req('olivia-token')), { ok: true });
});

t.test('the shed TokenReviews reach /metrics as gate_token_reviews_shed_total', async (t) => {
  const fake = await fakeWithUsers(t);
  fake.behaviour.tokenreviews = { kind: 'delay', ms: 300 };
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig(), maxReviewsInFlight: 2 });
  const g = await buildTestApp(t, { auth, deps: { tokenReviewsShed: auth.reviewsShed } });
  const answers = await Promise.all(Array.from({ length: 4 }, (_, i) => g.as(`made-up-${i}`, { method: 'POST', url: '/v1/decisions', payload: decisionBody() })));
  t.same(answers.map((a) => a.statusCode).sort(), [401, 503, 503, 503]);
  t.equal(answers.filter((a) => a.statusCode === 503).every((a) => a.json().error === 'auth_saturated'), true);
  const text = (await g.app.inject({ url: '/metrics' })).body;
  t.match(text, /^gate_token_reviews_shed_total 3$/m);
  t.match(text, /^gate_refusals_total\{status="503",error="auth_saturated"\} 3$/m, 'and each is a refusal, under its own code: the critical StonksGateAuthUnavailable (error auth_unavailable) does not take a flood for an API server it cannot reach');
  t.notMatch(text, /error="auth_unavailable"/);
});

t.test('end to end: kubernetes.maxReviewsInFlight bounds the running gate\'s TokenReviews, and its /metrics counts the shed ones', async (t) => {
  const fake = await fakeWithUsers(t);
  const gate = await spawnKubeGate(t, fake, 'kubernetes: { maxReviewsInFlight: 2 }\n');
  fake.behaviour.tokenreviews = { kind: 'delay', ms: 500 };
  // 2 in flight, 1 of them kept for known tokens: one of four made-up tokens is reviewed
  const answers = await Promise.all(Array.from({ length: 4 }, (_, i) => fetch(`${gate.url}/v1/whoami`, { headers: { authorization: `Bearer made-up-${i}` } })));
  t.same(answers.map((a) => a.status).sort(), [401, 503, 503, 503]);
  t.equal(reviewedTokens(fake).length, 1, 'one TokenReview reached the API server');
  t.match(await (await fetch(`${gate.url}/metrics`)).text(), /^gate_token_reviews_shed_total 3$/m);
});

t.test('one client holds at most a quarter of the shared review slots: its flood leaves the rest to other clients\' new tokens', async (t) => {
  // one pod sending made-up tokens as fast as it liked filled every shared slot, so a new
  // caller's token (each CI job's pod has a fresh one, a token pasted into the console) got 503
  // for as long as the flood went on
  const fake = await fakeWithUsers(t);
  let now = 1_000_000;
  // 16 in flight: 4 kept for known tokens, 12 shared, at most 3 of those for one client
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig(), maxReviewsInFlight: 16, now: () => now });
  t.match(await auth.authenticate(req('kargo-token', '10.0.0.7')), { ok: true }, 'Kargo, accepted from the same address as the flood below: now known');
  fake.behaviour.tokenreviews = { kind: 'delay', ms: 300 };
  now += 10_001; // Kargo's cached identity expired
  const flood = Array.from({ length: 8 }, (_, i) => auth.authenticate(req(`made-up-${i}`, '10.0.0.7')));
  const others = Array.from({ length: 8 }, (_, i) => auth.authenticate(req(`other-${i}`, `10.0.1.${i}`)));
  const newcomer = auth.authenticate(req('olivia-token', '10.0.2.1'));
  const kargo = auth.authenticate(req('kargo-token', '10.0.0.7'));
  const flooded = await Promise.all(flood);
  t.same(flooded.map((r) => (r.ok ? 'accepted' : r.status)), [401, 401, 401, 503, 503, 503, 503, 503], 'the flooding client: 3 reviewed, the rest shed at once');
  t.match(flooded[3], { message: /saturated.*from all clients or from this one.*retry/ });
  t.same((await Promise.all(others)).map((r) => (r.ok ? 'accepted' : r.status)), Array(8).fill(401), 'eight other clients: each reviewed');
  t.match(await newcomer, { ok: true, identity: { name: 'olivia@celestium.life' } }, 'a new good token of another client is reviewed in the last shared slot');
  t.match(await kargo, { ok: true, identity: { name: KARGO_SA } }, 'a known token of the flooding client takes a kept slot');
  t.equal(auth.reviewsShed(), 5);
  t.equal(reviewedTokens(fake).filter((x) => x?.startsWith('made-up-')).length, 3, 'only 3 of the flood reached the API server');

  // the flood's reviews are back: its slots are free again
  fake.behaviour.tokenreviews = { kind: 'normal' };
  t.match(await auth.authenticate(req('made-up-9', '10.0.0.7')), { ok: false, status: 401 }, 'the client is reviewed again');
  const peer = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig(), maxReviewsInFlight: 16 });
  fake.behaviour.tokenreviews = { kind: 'delay', ms: 300 };
  const noClient = await Promise.all(Array.from({ length: 4 }, (_, i) => peer.authenticate({ headers: { authorization: `Bearer peer-${i}` }, remoteAddress: '10.0.3.3' })));
  t.same(noClient.map((r) => r.ok || r.status), [401, 401, 401, 503], 'without a client, the TCP peer is the client');
});

t.test('with a small bound, one client still gets 2 reviews at once: two CI jobs behind one address are not refused with shared slots free', async (t) => {
  const fake = await fakeWithUsers(t);
  fake.behaviour.tokenreviews = { kind: 'delay', ms: 300 };
  for (const [max, cap] of [[2, 1], [3, 2], [8, 2], [16, 3], [64, 12]] as const) {
    const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig(), maxReviewsInFlight: max });
    const answers = await Promise.all(Array.from({ length: cap + 1 }, (_, i) => auth.authenticate(req(`ci-${max}-${i}`, '10.0.4.4'))));
    t.same(answers.map((r) => r.ok || r.status), [...Array(cap).fill(401), 503], `maxReviewsInFlight ${max}: ${cap} at once for one client`);
  }
});

t.test('through the app: a trusted proxy\'s clients are told apart, and a direct peer is its own client', async (t) => {
  const fake = await fakeWithUsers(t);
  fake.behaviour.tokenreviews = { kind: 'delay', ms: 300 };
  // 6 in flight: 1 kept, 5 shared, at most 2 for one client (a quarter, but never fewer than 2)
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig(), maxReviewsInFlight: 6 });
  const g = await buildTestApp(t, { auth, configYaml: 'http: { trustedProxies: ["10.0.0.1/32"] }\n' });
  const whoami = (token: string, remoteAddress: string, forwarded?: string) =>
    g.app.inject({ method: 'GET', url: '/v1/whoami', remoteAddress, headers: { authorization: `Bearer ${token}`, ...(forwarded ? { 'x-forwarded-for': forwarded } : {}) } });
  const answers = await Promise.all([
    whoami('made-up-0', '10.0.0.1', '192.0.2.5'),
    whoami('made-up-1', '10.0.0.1', '192.0.2.5'),
    whoami('made-up-2', '10.0.0.1', '192.0.2.5'),
    whoami('olivia-token', '10.0.0.1', '192.0.2.6'),
    whoami('made-up-3', '10.0.0.9'),
    whoami('made-up-4', '10.0.0.9'),
  ]);
  t.same(answers.map((a) => a.statusCode), [401, 401, 503, 200, 401, 401], 'two reviews per client: 192.0.2.5 (its third shed) and 192.0.2.6 behind the proxy, 10.0.0.9 direct');
  t.same(reviewedTokens(fake).sort(), ['made-up-0', 'made-up-1', 'made-up-3', 'made-up-4', 'olivia-token']);
});

t.test('a wall clock set back (an NTP step) does not stretch a cached review past its time', async (t) => {
  const realNow = Date.now;
  let offsetMs = 0;
  Date.now = () => realNow() + offsetMs;
  t.teardown(() => {
    Date.now = realNow;
  });
  const fake = await fakeWithUsers(t);
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig(), cacheSeconds: 0.3 });
  const id = { name: KARGO_SA, groups: [], via: 'kubernetes' as const };
  const decisions = { resource: 'decisions', verb: 'create' } as const;
  t.match(await auth.authenticate(req('kargo-token')), { ok: true });
  t.same(await auth.authorize(id, decisions, 'stonks-pipeline'), { ok: true });
  offsetMs = -3_600_000;
  fake.users.delete('kargo-token'); // the token revoked in the cluster
  fake.allow = () => ({ allowed: false, reason: 'RoleBinding removed' });
  await new Promise((r) => setTimeout(r, 400));
  t.match(await auth.authenticate(req('kargo-token')), { ok: false, status: 401 }, 'the TokenReview is asked again once its time is up');
  t.match(await auth.authorize(id, decisions, 'stonks-pipeline'), { ok: false, status: 403 }, 'and so is the SubjectAccessReview');
});

t.test('GATE_AUTH=kubernetes with no Kubernetes configuration (no pod, no KUBECONFIG, no ~/.kube/config) does not start', async (t) => {
  // the client library falls back to http://localhost:8080, unauthenticated and in plain text: the
  // gate started, said apiServer http://localhost:8080, and sent every caller's bearer token in a
  // TokenReview to whatever listened there (the gate's own default port), answering 503s
  const { join } = await import('node:path');
  const { spawnGate } = await import('../helpers/spawn-gate.ts');
  const { tempDir } = await import('../helpers/temp-dir.ts');
  const home = await tempDir(t, 'gate-home-');
  const dataDir = join(await tempDir(t, 'gate-kdata-'), 'data');
  const started = await spawnGate({ t, dataDir, env: { GATE_AUTH: 'kubernetes', HOME: home } }).then(
    async (gate) => {
      await gate.stop('SIGKILL');
      return null;
    },
    (err: Error & { code?: number; stderr?: string }) => err,
  );
  t.ok(started, 'it refuses to start');
  t.equal(started?.code, 2, 'exit 2: a setting to fix');
  t.match(started?.stderr, /cannot start: GATE_AUTH=kubernetes: no Kubernetes configuration/, 'and says why');
  const { existsSync } = await import('node:fs');
  t.notOk(existsSync(dataDir), 'before the data directory was made or locked');

  // with KUBECONFIG it starts, and reviews tokens with that API server
  const { writeFile } = await import('node:fs/promises');
  const fake = await fakeWithUsers(t);
  const kubeconfig = join(home, 'kubeconfig');
  await writeFile(kubeconfig, fake.kubeConfig().exportConfig());
  const gate = await spawnGate({ t, env: { GATE_AUTH: 'kubernetes', HOME: home, KUBECONFIG: kubeconfig } });
  t.teardown(() => gate.stop());
  const res = await fetch(`${gate.url}/v1/whoami`, { headers: { authorization: 'Bearer kargo-token' } });
  t.equal(res.status, 200);
  t.match(await res.json(), { name: KARGO_SA, via: 'kubernetes', can: { decisions: true } });
});

t.test('through the app: the reviewed identity is the actor, the body actor is requestedBy; refusals audited', async (t) => {
  const fake = await fakeWithUsers(t);
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig() });
  const g = await buildTestApp(t, { now: '2026-11-25T22:00:00Z', auth, configYaml: 'stages:\n  beta: { requireIntegrationTests: false }\n' });
  const ok = await g.as('kargo-token', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ actor: 'admin@celestium.life', promotion: 'beta.1' }) });
  t.equal(ok.statusCode, 200);
  const rec = g.audit.records().at(-1);
  t.equal(rec?.actor.name, KARGO_SA);
  t.same(rec?.actor.groups, ['system:serviceaccounts', 'system:serviceaccounts:stonks-pipeline']);
  t.equal(rec?.actor.via, 'kubernetes');
  t.equal(rec?.requestedBy, 'admin@celestium.life');
  const forbidden = await g.as('olivia-token', { method: 'POST', url: '/v1/decisions', payload: decisionBody() });
  t.equal(forbidden.statusCode, 403);
  const grant = await g.as('olivia-token', { method: 'POST', url: '/v1/break-glass', payload: { project: 'stonks-pipeline', stage: 'paper', imageTag: 'abc123', justification: 'production fix for the fill router' } });
  t.equal(grant.statusCode, 201, 'RBAC on breakglassgrants lets the oncall group in');
  t.equal(grant.json().requestedBy, 'olivia@celestium.life');
  fake.behaviour.tokenreviews = { kind: 'status', code: 500 };
  const down = await g.as('new-token', { method: 'POST', url: '/v1/decisions', payload: decisionBody() });
  t.equal(down.statusCode, 503);
  t.equal(down.json().error, 'auth_unavailable');
  t.notOk('decision' in down.json());
  const refusals = g.audit.records().filter((r) => r.type === 'refusal').map((r) => [r.data?.['status'], r.actor.name]);
  t.same(refusals, [
    [403, 'olivia@celestium.life'],
    [503, refusals[1]?.[1]],
  ]);
});

t.test('reading the audit log asks a SubjectAccessReview for get auditrecords: any ServiceAccount or user of the cluster is not enough', async (t) => {
  const fake = await fakeWithUsers(t);
  fake.users.set('carol-token', { username: 'carol@celestium.life', groups: ['compliance'] });
  const granted = fake.allow;
  fake.allow = (spec) =>
    spec.groups?.includes('compliance') === true &&
    spec.resourceAttributes?.group === 'gate.stonks-oracle.io' &&
    spec.resourceAttributes.resource === 'auditrecords' &&
    spec.resourceAttributes.verb === 'get' &&
    spec.resourceAttributes.namespace === 'stonks-pipeline'
      ? { allowed: true }
      : granted(spec);
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig() });
  const g = await buildTestApp(t, { now: '2026-11-25T22:00:00Z', auth });
  const sars = () => fake.requests.filter((r) => r.path === '/apis/authorization.k8s.io/v1/subjectaccessreviews').map((r) => (r.body as { spec: SarSpec }).spec);
  for (const url of ['/v1/audit', '/v1/audit/verify']) {
    const before = g.audit.records().length;
    const kargo = await g.as('kargo-token', { url });
    t.equal(kargo.statusCode, 403, `${url}: Kargo's ServiceAccount, authenticated, may not read it`);
    t.match(kargo.json().message, /may not get auditrecords\.gate\.stonks-oracle\.io in namespace stonks-pipeline/);
    t.match(g.audit.records().slice(before), [{ type: 'refusal', actor: { name: KARGO_SA, via: 'kubernetes' }, data: { status: 403, path: url } }], `${url}: the 403 is audited`);
    t.equal((await g.as('olivia-token', { url })).statusCode, 403, `${url}: a user with other gate permissions but not this one`);
    t.equal((await g.as('carol-token', { url })).statusCode, 200, `${url}: RBAC get auditrecords lets the compliance group in`);
  }
  const carolReviews = sars().filter((s) => s.user === 'carol@celestium.life');
  t.equal(carolReviews.length, 1, 'one review in all');
  t.match(
    carolReviews,
    [{ groups: ['compliance'], resourceAttributes: { group: 'gate.stonks-oracle.io', resource: 'auditrecords', verb: 'get', namespace: 'stonks-pipeline' } }],
    'one review of get auditrecords (the second route reuses it from the cache)',
  );
  const carol = (await g.as('carol-token', { url: '/v1/whoami' })).json();
  t.match(carol.can, { auditrecords: true, breakglassgrants: false, decisions: false }, 'whoami reports it');
  t.match((await g.as('kargo-token', { url: '/v1/whoami' })).json().can, { auditrecords: false, decisions: true });
});

t.test('Kargo stages: the tag of each stage current freight, polled; failures keep the last known tags', async (t) => {
  const fake = await fakeWithUsers(t);
  fake.stages = [kargoStage('beta', '1111111111111111111111111111111111111111'), kargoStage('paper', '2222222222222222222222222222222222222222'), kargoStage('not-ours', 'x'), { metadata: { name: 'live' }, status: {} }];
  const errors: string[] = [];
  const reader = createKargoStageReader({ kubeConfig: fake.kubeConfig(), namespace: 'stonks-pipeline', pollMs: 30_000, timeoutMs: 2000, repoPrefix: 'ghcr.io/celesrenata/stonks-oracle/', onError: (e) => errors.push(e.message) });
  await reader.start();
  t.teardown(() => reader.stop());
  t.same(reader.tags(), {
    beta: { imageTag: '1111111111111111111111111111111111111111', at: '2026-11-25T21:05:00Z' },
    paper: { imageTag: '2222222222222222222222222222222222222222', at: '2026-11-25T21:05:00Z' },
  });
  t.equal(fake.requests.at(-1)?.path, '/apis/kargo.akuity.io/v1alpha1/namespaces/stonks-pipeline/stages');
  fake.behaviour.stages = { kind: 'status', code: 403 };
  await reader.poll();
  t.equal(Object.keys(reader.tags()).length, 2, 'kept');
  t.match(errors.at(-1), /HTTP 403/);
  fake.behaviour.stages = { kind: 'raw', body: '{"items": "nope"}' };
  await reader.poll();
  t.match(errors.at(-1), /no items/);
  fake.behaviour.stages = { kind: 'normal' };
  fake.stages = [kargoStage('beta', '3333333333333333333333333333333333333333')];
  await reader.poll();
  t.same(Object.keys(reader.tags()), ['beta']);

  const g = await buildTestApp(t, { deps: { deployedTags: reader.tags } });
  const status = (await g.app.inject({ url: '/v1/status' })).json();
  t.match(status.stages[2], { name: 'beta', deployed: { imageTag: '3333333333333333333333333333333333333333', source: 'kargo' } });
});

t.test('the SubjectAccessReview carries the reviewed uid and extra, as the API server would', async (t) => {
  const fake = await fakeWithUsers(t);
  fake.users.set('oidc-token', { username: 'oidc:olivia', groups: ['oncall'], uid: 'u-1234', extra: { 'authentication.kubernetes.io/credential-id': ['JTI=abc'] } });
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig() });
  const who = await auth.authenticate(req('oidc-token'));
  if (!who.ok) throw new Error('not authenticated');
  t.same(who.identity, { name: 'oidc:olivia', groups: ['oncall'], via: 'kubernetes' }, 'the audit actor is name and groups');
  await auth.authorize(who.identity, { resource: 'breakglassgrants', verb: 'create' }, 'stonks-pipeline');
  const sar = fake.requests.find((r) => r.path.endsWith('/subjectaccessreviews'));
  t.match(sar?.body, { spec: { user: 'oidc:olivia', groups: ['oncall'], uid: 'u-1234', extra: { 'authentication.kubernetes.io/credential-id': ['JTI=abc'] } } });
});

t.test('a token the API server rejects is a 401, in the shape the API server really writes', async (t) => {
  // TokenReviewStatus.authenticated is `json:"authenticated,omitempty"`: a rejected token comes
  // back without the key, with an empty user and an error (kube-apiserver v1.2x, verbatim shape)
  const fake = await fakeWithUsers(t);
  fake.behaviour.tokenreviews = {
    kind: 'raw',
    body: '{"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1","metadata":{"creationTimestamp":null},"spec":{"token":"expired"},"status":{"user":{},"error":"[invalid bearer token, service account token has expired]"}}',
  };
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig() });
  t.match(await auth.authenticate(req('expired')), { ok: false, status: 401, error: 'unauthorized', message: /service account token has expired/ }, 'not a 503: Kargo fails the step instead of polling for hours');
  fake.behaviour.tokenreviews = { kind: 'raw', body: '{"status":{"authenticated":false,"user":{}}}' };
  t.match(await createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig() }).authenticate(req('x')), { ok: false, status: 401 }, 'authenticated: false written out');
  fake.behaviour.tokenreviews = { kind: 'raw', body: '{"status":{"authenticated":"false","user":{"username":"x"}}}' };
  t.match(await createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig() }).authenticate(req('x')), { ok: false, status: 503 }, 'a non-boolean authenticated is still nonsense: 503');

  const g = await buildTestApp(t, { auth: createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig() }) });
  fake.behaviour.tokenreviews = { kind: 'normal' };
  const res = await g.as('revoked-token', { method: 'POST', url: '/v1/decisions', payload: decisionBody() });
  t.equal(res.statusCode, 401, 'Kargo reads 401 as Failed (a bad token), not as 5xx (keep polling)');
});

t.test('behind the sign-in proxy, over real HTTP: a repeated identity header is not merged into one identity', async (t) => {
  // Node joins a repeated custom header into one string ("a, b"): the proxy's user and groups
  // and a client's own copy, if the proxy appends instead of replacing, would become one name
  // and one group list. The SubjectAccessReview must never see the client's groups.
  const { createProxyHeaderAuthenticator } = await import('../../src/auth/proxy-header.ts');
  const net = await import('node:net');
  const fake = await fakeWithUsers(t);
  const auth = createProxyHeaderAuthenticator(createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig() }), {
    trustedCidrs: ['127.0.0.1'],
    userHeader: 'X-Auth-Request-User',
    groupsHeader: 'X-Auth-Request-Groups',
  });
  const g = await buildTestApp(t, { now: '2026-11-25T22:00:00Z', auth });
  await g.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (g.app.server.address() as { port: number }).port;
  const raw = (headerLines: string[]) =>
    new Promise<number>((resolve, reject) => {
      const body = JSON.stringify({ project: 'stonks-pipeline', stage: 'paper', imageTag: 'abc123', justification: 'production fix for the fill router' });
      const c = net.connect(port, '127.0.0.1', () =>
        c.write(['POST /v1/break-glass HTTP/1.1', 'Host: gate', 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close', ...headerLines, '', body].join('\r\n')),
      );
      let got = '';
      c.on('data', (d) => (got += d));
      c.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(got)?.[1])));
      c.on('error', reject);
    });
  t.equal(await raw(['X-Auth-Request-User: olivia@celestium.life', 'X-Auth-Request-Groups: oncall']), 201, 'one user header, one groups header: the oncall group may request grants');
  const sars = () => fake.requests.filter((r) => r.path.endsWith('/subjectaccessreviews')).map((r) => (r.body as { spec: SarSpecLike }).spec);
  fake.requests.length = 0;
  const twice = await raw(['X-Auth-Request-User: mallory', 'X-Auth-Request-Groups: oncall', 'X-Auth-Request-User: bob', 'X-Auth-Request-Groups: traders']);
  t.not(twice, 201, 'a repeated groups header does not lend the oncall group to anyone');
  t.notOk(sars().some((s) => s.user === 'mallory, bob' || s.groups?.includes('oncall')), 'no review for a merged name or the client-supplied group');
  fake.requests.length = 0;
  const groupsTwice = await raw(['X-Auth-Request-User: bob', 'X-Auth-Request-Groups: oncall', 'X-Auth-Request-Groups: traders']);
  t.not(groupsTwice, 201, 'a repeated groups header alone: no oncall either');
  t.notOk(sars().some((s) => s.groups?.includes('oncall')));
});

interface SarSpecLike {
  user?: string;
  groups?: string[];
}

t.test('a failure says what failed (refused, TLS), and never carries a credential or the answer it could not read', async (t) => {
  // whatever the API call's error says goes to the caller's 503, the audit log's refusal record
  // and the public /v1/status (kargo.lastError): the library's "fetch failed" named neither a
  // refused connection nor a TLS error, and its other messages quoted the server URL (with any
  // user:password in it) or the unparsable body (a TokenReview answer echoes the caller's token)
  const fake = await fakeWithUsers(t);
  const kubeConfigFor = (server: string) => {
    const kc = fake.kubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server, skipTLSVerify: !server.startsWith('https:') }],
      users: [{ name: 'gate', token: GATE_SA_TOKEN }],
      contexts: [{ name: 'c', cluster: 'c', user: 'gate' }],
      currentContext: 'c',
    });
    return kc;
  };
  const failures = async (kc: ReturnType<typeof kubeConfigFor>) => {
    const who = await createKubernetesAuthenticator({ kubeConfig: kc }).authenticate(req('kargo-token'));
    const reader = createKargoStageReader({ kubeConfig: kc, namespace: 'stonks-pipeline', pollMs: 30_000, timeoutMs: 2000, repoPrefix: 'ghcr.io/celesrenata/stonks-oracle/' });
    await reader.poll();
    return [who.ok ? 'no failure' : `${who.status} ${who.message}`, reader.health().lastError ?? 'no failure'];
  };

  // TLS spoken to a server that answers in plain HTTP: a TLS error, named
  const [tlsAuth = '', tlsStages = ''] = await failures(kubeConfigFor(fake.url.replace('http:', 'https:')));
  t.match(tlsAuth, /^503 identity could not be checked: TokenReview: .*ERR_SSL_WRONG_VERSION_NUMBER/, `TokenReview over TLS to plain HTTP (${tlsAuth})`);
  t.match(tlsStages, /^list Kargo Stages: .*ERR_SSL_WRONG_VERSION_NUMBER/, `Stage list (${tlsStages})`);

  // credentials in the server URL (the library refuses such a URL, quoting it)
  const secretUrl = fake.url.replace('http://', 'http://admin:s3cr3t-pa55@');
  t.equal(serverOf(kubeConfigFor(secretUrl)), fake.url.replace('http://', 'http://[redacted]@'), 'nor in the start-up log line naming the API server');
  for (const text of await failures(kubeConfigFor(secretUrl))) {
    t.notMatch(text, /s3cr3t-pa55/, `no password in "${text}"`);
    t.match(text, /credentials/, 'it still says what is wrong');
  }

  // an answer that is not JSON, around the token the TokenReview echoes
  fake.behaviour.tokenreviews = { kind: 'raw', body: '{"kind":"TokenReview","spec":{"token":kargo-token}}' };
  fake.behaviour.stages = { kind: 'raw', body: '{"items":[{"metadata":{"name":beta}}]}' };
  const [garbledAuth, garbledStages] = await failures(fake.kubeConfig());
  t.match(garbledAuth, /^503 identity could not be checked: TokenReview: .*not valid JSON/);
  t.notMatch(garbledAuth, /kargo-token|"token"/, `the answer is not quoted (${garbledAuth})`);
  t.match(garbledStages, /^list Kargo Stages: .*not valid JSON/);
  t.notMatch(garbledStages, /beta/, `the answer is not quoted (${garbledStages})`);
  fake.behaviour.tokenreviews = { kind: 'normal' };
  fake.behaviour.stages = { kind: 'normal' };

  // a refused connection, named
  const kc = fake.kubeConfig();
  await fake.close();
  const [refusedAuth = '', refusedStages = ''] = await failures(kc);
  t.match(refusedAuth, /^503 identity could not be checked: TokenReview: .*ECONNREFUSED/, refusedAuth);
  t.match(refusedStages, /^list Kargo Stages: .*ECONNREFUSED/, refusedStages);
});

t.test('TokenReviews the API server did not answer do not spend a client\'s budget for new tokens: after an outage its token is reviewed at once', async (t) => {
  const fake = await fakeWithUsers(t);
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig(), unknownReviewsPerClientMinute: 3, now: () => 0 });
  fake.behaviour.tokenreviews = { kind: 'status', code: 500 };
  // Kargo's token, unknown to a gate just started, retried through the outage
  for (let i = 0; i < 5; i++) t.match(await auth.authenticate({ ...req('kargo-token'), client: 'pod-a' }), { ok: false, status: 503, error: 'auth_unavailable' }, `outage, try ${i + 1}`);
  fake.behaviour.tokenreviews = { kind: 'normal' };
  t.match(await auth.authenticate({ ...req('kargo-token'), client: 'pod-a' }), { ok: true }, 'the API server back: reviewed and accepted, in the same minute');
  t.equal(auth.reviewsShed(), 0, 'nothing counted as shed');
  // answered reviews still spend it: the accepted one above, and two made-up tokens
  for (let i = 0; i < 2; i++) t.match(await auth.authenticate({ ...req(`made-up-${i}`), client: 'pod-a' }), { ok: false, status: 401 });
  t.match(await auth.authenticate({ ...req('made-up-2'), client: 'pod-a' }), { ok: false, status: 503, error: 'auth_saturated' }, 'past the budget: 503');
});

t.test('made-up tokens from one client: at most its budget of TokenReviews a minute, the rest a 503 at once; other clients and known tokens go on', async (t) => {
  // in-flight slots bound how many reviews run at once, not how many one client starts: a
  // client looping made-up tokens one after the other made the API server review every one
  const fake = await fakeWithUsers(t);
  let clock = 0;
  const auth = createKubernetesAuthenticator({ kubeConfig: fake.kubeConfig(), unknownReviewsPerClientMinute: 5, now: () => clock });
  const from = (token: string, client: string) => auth.authenticate({ ...req(token), client });
  t.match(await from('kargo-token', 'pod-a'), { ok: true }, "kargo's token, accepted: known from now on");
  for (let i = 0; i < 4; i++) t.match(await from(`made-up-${i}`, 'pod-a'), { ok: false, status: 401 }, `made-up-${i}: reviewed`);
  const over = await from('made-up-4', 'pod-a');
  t.match(over, { ok: false, status: 503, error: 'auth_saturated', message: /new tokens from this client in the last minute/ }, 'the 6th new token of the minute: 503');
  t.notOk(reviewedTokens(fake).includes('made-up-4'), 'without a TokenReview');
  t.match(await from('made-up-5', 'pod-b'), { ok: false, status: 401 }, 'another client: reviewed');
  clock += 11_000; // past the 10 s cache: kargo's token is reviewed again
  t.match(await from('kargo-token', 'pod-a'), { ok: true }, 'a token the API server accepted is reviewed whatever the budget');
  clock += 60_000;
  t.match(await from('made-up-6', 'pod-a'), { ok: false, status: 401 }, 'a minute on: reviewed again');
  t.equal(auth.reviewsShed(), 1, 'the one refused is counted as shed');
});

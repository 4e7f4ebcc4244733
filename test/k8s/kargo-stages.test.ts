import t from 'tap';
import { createKargoStageReader } from '../../src/k8s/kargo-stages.ts';
import { eventually } from '../helpers/eventually.ts';
import { kargoStage, spawnKubeGate, startFakeKube } from '../helpers/fake-kube-api.ts';

const PREFIX = 'ghcr.io/celesrenata/stonks-oracle/';
const sha = (c: string) => c.repeat(40);

t.test('a poll never starts while the previous one is in flight: a slow, older answer cannot overwrite a newer one', async (t) => {
  // stagePollSeconds may be shorter than apiTimeoutMs (1 s and 2000 ms): the interval fires again
  // while the first list is still on its way
  const fake = await startFakeKube();
  t.teardown(() => fake.close());
  fake.stages = [kargoStage('beta', sha('1'))];
  const reader = createKargoStageReader({ kubeConfig: fake.kubeConfig(), namespace: 'stonks-pipeline', pollMs: 100, timeoutMs: 2000, repoPrefix: PREFIX });
  await reader.start();
  t.teardown(() => reader.stop());
  t.equal(reader.tags().beta?.imageTag, sha('1'));

  const seen: string[] = [];
  const sampler = setInterval(() => {
    const tag = reader.tags().beta?.imageTag ?? 'none';
    if (seen.at(-1) !== tag) seen.push(tag);
  }, 2);
  t.teardown(() => clearInterval(sampler));
  // the next list is slow (600 ms) and says 2…; once it is on its way, Kargo promotes 3…
  const before = fake.requests.length;
  fake.behaviour.stages = { kind: 'delay', ms: 600 };
  fake.stages = [kargoStage('beta', sha('2'))];
  t.ok(await eventually(() => fake.requests.length > before), 'the slow list is asked for');
  fake.behaviour.stages = { kind: 'normal' };
  fake.stages = [kargoStage('beta', sha('3'))];
  t.ok(await eventually(() => reader.tags().beta?.imageTag === sha('3')), 'the newest tag arrives');
  // a few more polls: the 3… must stay
  await new Promise((r) => setTimeout(r, 800));
  clearInterval(sampler);
  t.equal(fake.maxStageListsInFlight, 1, 'never two lists at once');
  t.same(seen.slice(seen.indexOf(sha('3'))), [sha('3')], `once 3… is applied nothing older replaces it (seen: ${seen.map((s) => s[0]).join(' ')})`);
  t.equal(reader.tags().beta?.imageTag, sha('3'));
});

t.test('a Stage with a null or malformed entry is skipped (logged once), the others are read', async (t) => {
  const fake = await startFakeKube();
  t.teardown(() => fake.close());
  const stage = (name: string, tag: string, edit: (s: { status: { freightHistory: { items: Record<string, unknown> }[]; lastPromotion: { finishedAt: unknown } } }) => void = () => {}) => {
    const s = kargoStage(name, tag) as Parameters<typeof edit>[0];
    edit(s);
    return s;
  };
  const current = (s: Parameters<Parameters<typeof stage>[2] & object>[0]) => s.status.freightHistory[0] as { items: Record<string, { images: unknown }> };
  fake.stages = ['ci', 'integration', 'beta', 'paper', 'live'].map((n) => kargoStage(n, sha('a')));
  const errors: string[] = [];
  const skipped: [string, string[]][] = [];
  const reader = createKargoStageReader({
    kubeConfig: fake.kubeConfig(),
    namespace: 'stonks-pipeline',
    pollMs: 30_000,
    timeoutMs: 2000,
    repoPrefix: PREFIX,
    onError: (e) => errors.push(e.message),
    onUnreadable: (name, what) => skipped.push([name, what]),
  });
  await reader.start();
  t.teardown(() => reader.stop());
  t.same(Object.keys(reader.tags()), ['ci', 'integration', 'beta', 'paper', 'live']);

  const malformed = () => [
    null,
    // a null freight reference next to the one with the image: the image is read
    stage('ci', sha('b'), (s) => {
      s.status.freightHistory[0]!.items = { 'Warehouse/other': null, ...s.status.freightHistory[0]!.items };
    }),
    // a null image before the one of the repository
    stage('integration', sha('b'), (s) => {
      const ref = Object.values(current(s).items)[0]!;
      ref.images = [null, ...(ref.images as unknown[])];
    }),
    // no readable current freight: the last known tag stays
    stage('beta', sha('b'), (s) => {
      (s.status.freightHistory as unknown[])[0] = null;
    }),
    stage('paper', sha('b'), (s) => {
      Object.values(current(s).items)[0]!.images = { repoURL: PREFIX, tag: sha('b') };
    }),
    // a finishedAt that is not a time is no time, not a /v1/status that cannot be written
    stage('live', sha('b'), (s) => {
      s.status.lastPromotion.finishedAt = 5;
    }),
  ];
  fake.stages = malformed();
  await reader.poll();
  t.same(errors, [], 'the poll did not fail');
  t.same(reader.tags(), {
    ci: { imageTag: sha('b'), at: '2026-11-25T21:05:00Z' },
    integration: { imageTag: sha('b'), at: '2026-11-25T21:05:00Z' },
    beta: { imageTag: sha('a'), at: '2026-11-25T21:05:00Z' },
    paper: { imageTag: sha('a'), at: '2026-11-25T21:05:00Z' },
    live: { imageTag: sha('b'), at: null },
  });
  t.same(
    skipped.map(([name]) => name),
    ['ci', 'integration', 'beta', 'paper'],
  );
  t.match(skipped, [
    ['ci', [/items\["Warehouse\/other"\]/]],
    ['integration', [/images\[0\]/]],
    ['beta', [/freightHistory\[0\]/]],
    ['paper', [/images/]],
  ]);
  await reader.poll();
  t.equal(skipped.length, 4, 'logged once, not at every poll');

  fake.stages = [kargoStage('beta', sha('c'))];
  await reader.poll();
  t.same(reader.tags(), { beta: { imageTag: sha('c'), at: '2026-11-25T21:05:00Z' } });
  fake.stages = malformed();
  await reader.poll();
  t.equal(skipped.length, 8, 'readable again, then malformed again: logged again');
  t.equal(reader.tags().beta?.imageTag, sha('c'), 'the last known tag of the stage');

  const { buildTestApp } = await import('../helpers/build-app.ts');
  const g = await buildTestApp(t, { deps: { deployedTags: reader.tags } });
  const res = await g.app.inject({ url: '/v1/status' });
  t.equal(res.statusCode, 200);
  t.match(res.json().stages[4], { name: 'live', deployed: { imageTag: sha('b'), source: 'kargo', at: null } });
});

t.test('end to end: a gate whose Kargo Stage list fails says in /v1/status that its tags are stale, and since when', async (t) => {
  const fake = await startFakeKube();
  t.teardown(() => fake.close());
  fake.stages = [kargoStage('beta', sha('1'))];
  const gate = await spawnKubeGate(t, fake, 'kubernetes: { stagePollSeconds: 1 }\n');
  const status = async () => (await (await fetch(`${gate.url}/v1/status`)).json()) as { kargo: Record<string, unknown>; stages: { deployed: unknown }[] };

  const read = await status();
  t.match(read.kargo, { source: 'kubernetes', lastReadAt: String, lastError: null, stale: false }, 'read');
  t.match(read.stages[2], { deployed: { imageTag: sha('1'), source: 'kargo' } });
  // the gate's RBAC on Stages is removed
  fake.behaviour.stages = { kind: 'status', code: 403 };
  const failing = Date.now();
  t.ok(await eventually(async () => (await status()).kargo['stale'] === true, 5000, 100), 'stale within a poll or two');
  const stale = await status();
  t.match(stale.kargo, { source: 'kubernetes', lastError: 'list Kargo Stages: HTTP 403', stale: true });
  t.ok(Date.parse(stale.kargo['lastReadAt'] as string) <= failing, `lastReadAt is the last good read (${stale.kargo['lastReadAt']})`);
  t.match(stale.stages[2], { deployed: { imageTag: sha('1'), source: 'kargo' } }, 'the tag of that read is still shown');
  fake.behaviour.stages = { kind: 'normal' };
  t.ok(await eventually(async () => (await status()).kargo['stale'] === false, 5000, 100), 'fresh again once the list is read');
  t.equal((await status()).kargo['lastError'], null);
});

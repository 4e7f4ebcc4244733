import t from 'tap';
import { createKargoStageReader } from '../../src/k8s/kargo-stages.ts';
import { eventually } from '../helpers/eventually.ts';
import { kargoStage, startFakeKube } from '../helpers/fake-kube-api.ts';

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

import t from 'tap';
import { waitUntilWritable } from '../../src/store/wait-until-writable.ts';

t.test('tries until a probe gets through, one attempt at a time, each failure heard', async (t) => {
  let attempts = 0;
  let running = 0;
  let most = 0;
  const failures: string[] = [];
  const ok = await waitUntilWritable(
    async () => {
      attempts += 1;
      running += 1;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 15)); // longer than the interval: a slow volume
      running -= 1;
      if (attempts < 3) throw new Error(`EIO ${attempts}`);
    },
    { intervalMs: 5, signal: new AbortController().signal, onFailure: (err) => failures.push((err as Error).message) },
  );
  t.equal(ok, true);
  t.equal(attempts, 3);
  t.equal(most, 1, 'never two attempts at once');
  t.same(failures, ['EIO 1', 'EIO 2']);
});

t.test('a stop ends the wait: false, and no attempt after it', async (t) => {
  const stop = new AbortController();
  let attempts = 0;
  const waiting = waitUntilWritable(
    async () => {
      attempts += 1;
      throw new Error('EIO');
    },
    { intervalMs: 60_000, signal: stop.signal },
  );
  await new Promise((r) => setTimeout(r, 20));
  stop.abort();
  t.equal(await waiting, false, 'ended at once, not after the interval');
  t.equal(attempts, 1);
});

t.test('a probe that gets through after the stop does not count', async (t) => {
  const stop = new AbortController();
  const ok = await waitUntilWritable(
    async () => {
      stop.abort();
    },
    { intervalMs: 5, signal: stop.signal },
  );
  t.equal(ok, false);
});

// Taking the data directory's lock on a volume that refuses writes (full, over quota, read-only)
// is tried again until it gets through, instead of failing the start into a crash loop.
import t from 'tap';
import { volumeRefusal, whenVolumeTakesWrites } from '../../src/store/when-volume-takes-writes.ts';

const failure = (code: string) => Object.assign(new Error(`${code}: injected`), { code });

t.test('a volume that refuses writes: tried again every interval until the attempt gets through, each refusal heard', async (t) => {
  const heard: string[] = [];
  let calls = 0;
  const started = performance.now();
  const lock = await whenVolumeTakesWrites(
    async () => {
      calls += 1;
      if (calls <= 2) throw failure(calls === 1 ? 'ENOSPC' : 'EDQUOT');
      return 'the lock';
    },
    { intervalMs: 30, signal: new AbortController().signal, onRefused: (code) => void heard.push(code) },
  );
  t.equal(lock, 'the lock');
  t.equal(calls, 3);
  t.same(heard, ['ENOSPC', 'EDQUOT']);
  t.ok(performance.now() - started >= 55, 'an interval between attempts');
});

t.test('any other failure is thrown at once, without a wait or a second attempt', async (t) => {
  let calls = 0;
  const heard: string[] = [];
  await t.rejects(
    whenVolumeTakesWrites(
      async () => {
        calls += 1;
        throw failure('EACCES');
      },
      { intervalMs: 10_000, signal: new AbortController().signal, onRefused: (code) => void heard.push(code) },
    ),
    { code: 'EACCES' },
  );
  t.equal(calls, 1);
  t.same(heard, []);
});

t.test('a stop signal ends the wait: its reason is thrown', async (t) => {
  const stop = new AbortController();
  const reason = new Error('stopped by SIGTERM during start-up');
  setTimeout(() => stop.abort(reason), 50);
  let calls = 0;
  const started = performance.now();
  await t.rejects(
    whenVolumeTakesWrites(
      async () => {
        calls += 1;
        throw failure('ENOSPC');
      },
      { intervalMs: 10_000, signal: stop.signal, onRefused: () => {} },
    ),
    reason,
  );
  t.equal(calls, 1, 'no attempt after the stop');
  t.ok(performance.now() - started < 5_000, 'without waiting out the interval');
});

t.test('volumeRefusal: the codes of a volume that may take writes again', async (t) => {
  for (const code of ['ENOSPC', 'EDQUOT', 'EROFS']) t.equal(volumeRefusal(failure(code)), code);
  for (const code of ['EACCES', 'EIO', 'ENOENT']) t.equal(volumeRefusal(failure(code)), null, code);
  t.equal(volumeRefusal(null), null);
  t.equal(volumeRefusal(new Error('no code')), null);
});

t.test('a stop signal that comes during an attempt the volume refuses: its reason is thrown, not the refusal', async (t) => {
  const stop = new AbortController();
  const reason = new Error('stopped by SIGTERM during start-up');
  await t.rejects(
    whenVolumeTakesWrites(
      async () => {
        stop.abort(reason);
        throw failure('ENOSPC');
      },
      { intervalMs: 10, signal: stop.signal, onRefused: () => void t.fail('no refusal is heard after the stop') },
    ),
    reason,
  );
});

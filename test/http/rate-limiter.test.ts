import t from 'tap';
import { createRateLimiter } from '../../src/http/rate-limiter.ts';

t.test('sliding window per key; identities whose window emptied are forgotten', async (t) => {
  const rl = createRateLimiter(2, 60_000);
  t.same(rl.take('a', 0), { ok: true });
  t.same(rl.take('a', 1000), { ok: true });
  t.same(rl.take('a', 2000), { ok: false, retryAfterSeconds: 58 });
  t.same(rl.take('b', 2000), { ok: true }, 'another key has its own window');
  t.same(rl.take('a', 60_001), { ok: true }, 'the first hit left the window');
  for (let i = 0; i < 100; i++) rl.take(`flood-${i}`, 70_000);
  t.equal(rl.size(), 102);
  rl.take('a', 200_000);
  t.equal(rl.size(), 1, 'a later take sweeps the identities whose window is empty');
});

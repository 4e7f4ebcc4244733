import t from 'tap';
import { createRateLimiter } from '../../src/http/rate-limiter.ts';

t.test('sliding window per key; identities whose window emptied are forgotten', async (t) => {
  const rl = createRateLimiter(2, 60_000);
  t.match(rl.take('a', 0), { ok: true });
  t.match(rl.take('a', 1000), { ok: true });
  t.same(rl.take('a', 2000), { ok: false, retryAfterSeconds: 58 });
  t.match(rl.take('b', 2000), { ok: true }, 'another key has its own window');
  t.match(rl.take('a', 60_001), { ok: true }, 'the first hit left the window');
  for (let i = 0; i < 100; i++) rl.take(`flood-${i}`, 70_000);
  t.equal(rl.size(), 102);
  rl.take('a', 200_000);
  t.equal(rl.size(), 1, 'a later take sweeps the identities whose window is empty');
});

t.test('a released hit is taken back once, and only that hit', async (t) => {
  const rl = createRateLimiter(2, 60_000);
  const first = rl.take('a', 0);
  const second = rl.take('a', 1000);
  t.same(rl.take('a', 2000), { ok: false, retryAfterSeconds: 58 }, 'full');
  if (!second.ok || !first.ok) throw new Error('unreachable');
  second.release();
  second.release(); // twice: still one hit taken back
  const third = rl.take('a', 3000);
  t.match(third, { ok: true }, 'the released place is free again');
  t.same(rl.take('a', 4000), { ok: false, retryAfterSeconds: 56 }, 'and only that one: the first hit still counts');
  first.release();
  t.match(rl.take('a', 5000), { ok: true }, 'releasing the first frees its place');
  t.equal(rl.size(), 1);
  if (third.ok) third.release();
  const last = rl.take('a', 6000);
  if (last.ok) last.release();
  (rl.take('a', 200_000) as { release?: () => void }).release?.();
  t.equal(rl.size(), 0, 'an identity whose every hit was released is forgotten');
});

t.test('retry-after rounds up: a retry at the time it names is taken (hits at sub-second offsets)', async (t) => {
  const rl = createRateLimiter(1, 60_000);
  t.match(rl.take('a', 500), { ok: true });
  const refused = rl.take('a', 1000);
  t.same(refused, { ok: false, retryAfterSeconds: 60 }, '59.5 s left: 60, not 59');
  if (refused.ok) throw new Error('unreachable');
  t.match(rl.take('a', 1000 + refused.retryAfterSeconds * 1000), { ok: true }, 'a retry when told is not refused again');
});

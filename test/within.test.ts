// within(): waiting for work at most so long, with the answer (or the error) for the wait cut short
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { within } from '../src/within.ts';

t.test('work that settles in time: its value, or its error', async (t) => {
  t.equal(await within(Promise.resolve('done'), 1000, () => 'late'), 'done');
  await t.rejects(within(Promise.reject(new Error('broke')), 1000, () => 'late'), { message: 'broke' });
});

t.test('work that does not: what late() returns, or throws, once the time is up', async (t) => {
  const started = performance.now();
  t.equal(await within(sleep(2000).then(() => 'done'), 50, () => 'late'), 'late');
  t.ok(performance.now() - started < 1000, 'not held for the work');
  await t.rejects(
    within(new Promise(() => undefined), 50, () => {
      throw new Error('no answer within 50 ms');
    }),
    { message: 'no answer within 50 ms' },
  );
});

t.test('late() is not called when the work wins', async (t) => {
  let called = 0;
  await within(Promise.resolve(1), 20, () => called++);
  await sleep(60);
  t.equal(called, 0);
});

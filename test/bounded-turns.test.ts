// boundedTurns(): one at a time, in order, with at most maxWaiting jobs waiting behind the running one
import t from 'tap';
import { TurnsFullError, boundedTurns } from '../src/bounded-turns.ts';

/** A job that records when it starts and settles when the test says. */
function startLog() {
  const started: string[] = [];
  const job = (name: string, outcome: Promise<unknown>) => () => {
    started.push(name);
    return outcome;
  };
  return { started, job };
}

function held() {
  let resolve: (v?: unknown) => void = () => {};
  let reject: (e: Error) => void = () => {};
  const promise = new Promise<unknown>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const tick = () => new Promise((r) => setImmediate(r));

t.test('jobs run one at a time in the order handed in; the running one is not counted as waiting', async (t) => {
  const inTurn = boundedTurns(2);
  const { started, job } = startLog();
  const a = held();
  const b = held();
  const c = held();
  const ra = inTurn(job('a', a.promise));
  const rb = inTurn(job('b', b.promise));
  const rc = inTurn(job('c', c.promise));
  await tick();
  t.same(started, ['a'], 'only the first has started');
  const rd = inTurn(job('d', Promise.resolve('d')));
  await t.rejects(rd, TurnsFullError, 'a third waiting job is refused');
  await t.rejects(rd, { maxWaiting: 2, message: 'the line is full: 2 waiting behind the running job' });
  a.resolve('a');
  t.equal(await ra, 'a');
  await tick();
  t.same(started, ['a', 'b']);
  b.resolve('b');
  c.resolve('c');
  t.same([await rb, await rc], ['b', 'c']);
  t.same(started, ['a', 'b', 'c'], 'the refused job never ran');
});

t.test('a refusal takes no place in the line: one place freed lets exactly one more in', async (t) => {
  const inTurn = boundedTurns(1);
  const { started, job } = startLog();
  const a = held();
  const ra = inTurn(job('a', a.promise));
  const rb = inTurn(job('b', Promise.resolve('b')));
  for (let i = 0; i < 5; i++) await t.rejects(inTurn(job(`x${i}`, Promise.resolve())), TurnsFullError);
  a.resolve('a');
  await ra;
  t.equal(await rb, 'b');
  // the line is empty again: the refusals left nothing behind
  const c = held();
  const rc = inTurn(job('c', c.promise));
  const rd = inTurn(job('d', Promise.resolve('d')));
  await t.rejects(inTurn(job('e', Promise.resolve())), TurnsFullError, 'one running and one waiting: full again');
  c.resolve('c');
  t.same([await rc, await rd], ['c', 'd']);
  t.same(started, ['a', 'b', 'c', 'd']);
});

t.test('a waiting job that fails, or is skipped by its own first check, frees its place', async (t) => {
  const inTurn = boundedTurns(2);
  const a = held();
  const ra = inTurn(() => a.promise);
  // skipped: throws at its turn without doing its work (as scanInTurn does for a client gone)
  const skipped = inTurn(() => {
    throw new Error('client gone');
  });
  const failing = inTurn(() => Promise.reject(new Error('scan failed')));
  await t.rejects(inTurn(() => Promise.resolve('x')), TurnsFullError, 'full while a runs');
  a.resolve('a');
  await ra;
  await t.rejects(skipped, { message: 'client gone' }, 'its error goes to its own caller');
  await t.rejects(failing, { message: 'scan failed' });
  // both places are free again: two more wait behind a held one
  const b = held();
  const rb = inTurn(() => b.promise);
  const r1 = inTurn(() => Promise.resolve(1));
  const r2 = inTurn(() => Promise.resolve(2));
  await t.rejects(inTurn(() => Promise.resolve(3)), TurnsFullError);
  b.resolve('b');
  t.same([await rb, await r1, await r2], ['b', 1, 2]);
});

t.test('a running job that fails frees its place and the next one runs', async (t) => {
  const inTurn = boundedTurns(0);
  const a = held();
  const ra = inTurn(() => a.promise);
  await t.rejects(inTurn(() => Promise.resolve('b')), TurnsFullError, 'maxWaiting 0: only the running one');
  a.reject(new Error('broke'));
  await t.rejects(ra, { message: 'broke' });
  t.equal(await inTurn(() => Promise.resolve('c')), 'c');
});

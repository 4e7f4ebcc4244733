/**
 * A queue of async jobs that run one at a time, in the order they were handed in: each starts
 * once the one before it has settled (resolved or rejected), and its own result or error goes
 * back to its caller only.
 */
export function takeTurns(): <T>(fn: () => Promise<T>) => Promise<T> {
  let turns: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const mine = turns.then(fn);
    turns = mine.catch(() => undefined);
    return mine;
  };
}

import type { GateState } from '../policy/state.ts';
import { type StateStore } from './store.ts';

/** In-memory StateStore for tests: same semantics, persistence is a no-op. */
export function createMemoryStore(initial: GateState): StateStore {
  const state = structuredClone(initial);
  return {
    read: () => state,
    update: async (fn) => fn(state),
    apply: (fn) => fn(state),
    flush: async () => undefined,
    lastWriteError: () => null,
  };
}

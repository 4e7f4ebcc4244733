import type { Actor } from '../audit/event.ts';

/** The actor of records the gate writes on its own (expiries noticed while deciding, sweeps). */
export const SYSTEM_ACTOR: Actor = { name: 'gate', groups: [], via: 'system' };

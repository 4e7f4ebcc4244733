import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import type { GateState } from '../policy/state.ts';
import { type StateStore, createWriteCoalescer } from './store.ts';

/**
 * StateStore on a lowdb JSON file (written atomically: temp file + rename). `fresh` gives the
 * state when the file does not exist yet. The file is validated loosely: a file of another
 * version is an error, never silently replaced.
 */
export async function openLowdbStore(file: string, fresh: () => GateState): Promise<StateStore> {
  const db = new Low<GateState>(new JSONFile<GateState>(file), fresh());
  await db.read();
  if (db.data.version !== 1) throw new Error(`state file ${file} has version ${String(db.data.version)}, expected 1`);
  // tolerate state files written before a field existed
  db.data = { ...fresh(), ...db.data, stages: { ...fresh().stages, ...db.data.stages } };
  const writer = createWriteCoalescer(() => db.write());
  return {
    read: () => db.data,
    update: async (fn) => {
      const result = fn(db.data);
      await writer.schedule();
      return result;
    },
    flush: async () => {
      await writer.schedule();
    },
    lastWriteError: writer.lastError,
  };
}

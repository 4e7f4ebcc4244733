import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What these helpers need of a tap test. */
export interface TapLike {
  teardown(fn: () => unknown): void;
}

// a process still writing in the directory as it goes (a gate stopping, a lock renewing) can
// make one pass of a recursive removal fail with ENOTEMPTY: try again a few times
const removal = { recursive: true, force: true, maxRetries: 5 } as const;

/**
 * A new directory in the OS temp dir, named `prefix` and six random characters, removed with all
 * in it when `t` ends, passed or failed. Teardowns run last registered first, so whatever a test
 * starts in it afterwards (a gate, a lock) and stops at teardown is stopped before it goes.
 */
export async function tempDir(t: TapLike, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, removal));
  return dir;
}

/** {@link tempDir} for the synchronous code of a test file's top level. */
export function tempDirSync(t: TapLike, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, removal));
  return dir;
}

import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * A temp file of this writer's own beside `file` (pid and a random suffix), for a write that is
 * then renamed over `file`. One name per write, never shared: two processes that both write
 * `file` (a gate that lost the data directory to another without knowing it yet, or two token
 * writers) must not truncate or rename each other's half-written temp file.
 */
export function writerTempOf(file: string): string {
  return `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/** Whether `name` (a directory entry beside `file`) is one writerTempOf(file) gives. */
function isWriterTemp(file: string, name: string): boolean {
  const base = basename(file);
  return name.startsWith(`${base}.tmp-`) && /^\d+-[0-9a-f]{12}$/.test(name.slice(base.length + 5));
}

/**
 * The paths of the temp files writerTempOf(file) gave that are still beside `file`, and of any
 * entry named in `alsoNames` (a name earlier releases used); none when the directory is not there.
 */
export async function writerTempsBeside(file: string, alsoNames: readonly string[] = []): Promise<string[]> {
  const dir = dirname(file);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names.filter((name) => alsoNames.includes(name) || isWriterTemp(file, name)).map((name) => join(dir, name));
}

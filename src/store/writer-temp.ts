import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';

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
export function isWriterTemp(file: string, name: string): boolean {
  const base = basename(file);
  return name.startsWith(`${base}.tmp-`) && /^\d+-[0-9a-f]{12}$/.test(name.slice(base.length + 5));
}

import { dirname } from 'node:path';

/**
 * `dir` and each directory above it, up to `top` (inclusive; or the root), innermost first: the
 * directories whose entries in their parents an fsync of each parent makes durable.
 */
export function dirsUpTo(dir: string, top: string): string[] {
  const dirs: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    dirs.push(d);
    if (d === top || dirname(d) === d) break;
  }
  return dirs;
}

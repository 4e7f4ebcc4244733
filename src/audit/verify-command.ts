import { join } from 'node:path';
import { verifyAuditLog } from './verify.ts';

/**
 * `audit verify`: checks the chain in `<dataDir>/audit/` and prints one line.
 * Returns the exit code: 0 intact, 1 broken, 2 the log could not be read.
 */
export async function runAuditVerify(dataDir: string, out: (line: string) => void): Promise<number> {
  const dir = join(dataDir, 'audit');
  let result;
  try {
    result = await verifyAuditLog(dir);
  } catch (err) {
    out(`audit log UNREADABLE at ${dir}: ${(err as Error).message}`);
    return 2;
  }
  if (result.ok) {
    out(`audit log OK: ${result.count} records in ${result.files} files, head seq ${result.head.seq} hash ${result.head.hash}`);
    return 0;
  }
  const b = result.firstBroken;
  out(`audit log BROKEN at record seq ${b.seq ?? '?'} (file ${b.file} line ${b.line}): ${b.reason}`);
  return 1;
}

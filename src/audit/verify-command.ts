import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { isAuditSeq } from '../policy/state.ts';
import { nodeAuditFs } from './audit-fs.ts';
import { listSegments } from './segments.ts';
import { verifyAuditLog } from './verify.ts';

/**
 * The audit seq the gate's state checkpoint (`<dataDir>/state.json`) has seen: null when there is
 * none to compare with (no file: a new data directory, or a copy of the log alone; or a file the
 * gate itself reads as a checkpoint at seq 0, `null` or one without auditSeq, and rebuilds from the
 * whole log), or why it cannot be read (what the gate refuses to start on). The chain anchors every
 * record to the one before it, but nothing in the log anchors its end: a newest file cut at a line
 * boundary, or removed, still verifies. The checkpoint is written only after the records it covers
 * are in the log, so a log that ends before it has lost acknowledged records.
 */
async function checkpointSeq(dataDir: string): Promise<number | null | { unreadable: string }> {
  let text: string;
  try {
    text = await readFile(join(dataDir, 'state.json'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return { unreadable: (err as Error).message };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { unreadable: `not JSON (${(err as Error).message})` };
  }
  if (value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value) || (value as { version?: unknown }).version !== 1) return { unreadable: 'not a version 1 state file' };
  const seq = (value as { auditSeq?: unknown }).auditSeq;
  if (seq === undefined) return null;
  return isAuditSeq(seq) ? seq : { unreadable: `its auditSeq ${JSON.stringify(seq)} is not a whole number >= 0` };
}

/** How long a last line without its newline is given to be finished by a running gate. */
const TORN_RECHECK_MS = 300;
/** How many times a torn last line is looked at again when it is a later line each time (a gate writing on). */
const TORN_RECHECKS = 5;

/**
 * `audit verify`: checks the chain in `<dataDir>/audit/`, and that it reaches the seq the state
 * checkpoint has seen, and prints one line. Returns the exit code: 0 intact, 1 broken, 2 the log
 * could not be read, or its end could not be checked (a state.json there that cannot be read:
 * the gate refuses to start on it too, and "OK" would vouch for an end nothing was compared with).
 */
export async function runAuditVerify(
  dataDir: string,
  out: (line: string) => void,
  /** the pause before a torn last line is looked at again (tests drive a writer from it) */
  pause: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<number> {
  const dir = join(dataDir, 'audit');
  // read before the log: a running gate only moves both on, so the log read after it reaches it
  const seen = await checkpointSeq(dataDir);
  let result;
  try {
    result = await verifyAuditLog(dir);
    // a running gate may be writing its newest line as it is read: a last line without its
    // newline is looked at again a moment later, and is torn only if that same line is still
    // unfinished (a busy gate may be writing a later one by then: looked at again, a few times)
    for (let looks = 0; looks < TORN_RECHECKS && !result.ok && result.firstBroken.reason.startsWith('torn last line'); looks++) {
      const before = result.firstBroken;
      await pause(TORN_RECHECK_MS);
      result = await verifyAuditLog(dir);
      if (!result.ok && result.firstBroken.file === before.file && result.firstBroken.line === before.line) break;
    }
  } catch (err) {
    out(`audit log UNREADABLE at ${dir}: ${(err as Error).message}`);
    return 2;
  }
  if (result.ok && seen !== null && typeof seen === 'object') {
    out(
      `audit log END UNCHECKED: the chain is intact (${result.count} records in ${result.files} files, head seq ${result.head.seq}) but the state checkpoint ` +
        `${join(dataDir, 'state.json')} cannot be read (${seen.unreadable}), so the log cannot be shown to reach the seq the gate has seen`,
    );
    return 2;
  }
  if (result.ok && typeof seen === 'number' && seen > result.head.seq) {
    const missing = seen === result.head.seq + 1 ? `record ${seen} is` : `records ${result.head.seq + 1}..${seen} are`;
    out(
      `audit log BROKEN at its end: the log ends at seq ${result.head.seq} but the state checkpoint (state.json) has seen seq ${seen}: ` +
        `${missing} missing (the newest file cut short or removed)`,
    );
    return 1;
  }
  if (result.ok) {
    out(`audit log OK: ${result.count} records in ${result.files} files, head seq ${result.head.seq} hash ${result.head.hash}`);
    return 0;
  }
  const b = result.firstBroken;
  out(`audit log BROKEN at record seq ${b.seq ?? '?'} (file ${b.file} line ${b.line}): ${b.reason}${(await crashEnd(dir, b)) ? CRASH_END : ''}`);
  return 1;
}

/**
 * What a torn last line of the newest file is, for the operator reading the verdict: the end a
 * crash leaves (a write is acknowledged only once it is whole and fsynced), which the gate's next
 * start keeps aside and cuts. Without it, "BROKEN" beside the README's "restore the file from a
 * backup" sends them to restore for nothing.
 */
const CRASH_END =
  ': the end a crash leaves in the newest file (a write cut short, never acknowledged: an answer leaves only once its record is whole on disk). ' +
  "The gate's next start keeps it beside the log (<file>.cut-<byte offset>) and cuts it: start the gate and verify again; restore from a backup only if start-up refuses";

/** The break is a torn last line of the newest audit file. */
async function crashEnd(dir: string, b: { file: string; reason: string }): Promise<boolean> {
  if (!b.reason.startsWith('torn last line')) return false;
  const segments = await listSegments(nodeAuditFs, dir).catch(() => []);
  return segments.length > 0 && basename(b.file) === segments.at(-1)!.name;
}

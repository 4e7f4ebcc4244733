import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { openFileAuditLog } from '../../src/audit/file-log.ts';
import { verifyAuditLog } from '../../src/audit/verify.ts';

const CHILD = fileURLToPath(new URL('./fixtures/crash-child.ts', import.meta.url));

/** Runs the child until it has reported `kill After` seqs, kills it with SIGKILL, returns the seqs it reported. */
function runAndKill(dir: string, killAfter: number): Promise<{ reported: number[]; startHead: number; signal: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const reported: number[] = [];
    let startHead = -1;
    let buf = '';
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child did not report ${killAfter} seqs in time; stderr: ${stderr}`));
    }, 60_000);
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        if (l.startsWith('ready ')) startHead = Number(l.slice(6));
        else reported.push(Number(l));
      }
      if (!killed && reported.length >= killAfter) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('exit', (_code, signal) => {
      clearTimeout(timer);
      // a partial last stdout line was never fully reported: ignore it
      resolve({ reported, startHead, signal });
    });
    child.on('error', reject);
  });
}

t.test('kill -9 mid-stream: every acknowledged seq is in the log, and it verifies', async (t) => {
  const dir = t.testdir();
  let expectedStart = 0;
  for (const [round, killAfter] of [150, 400, 75, 250].entries()) {
    const { reported, startHead, signal } = await runAndKill(dir, killAfter);
    t.equal(signal, 'SIGKILL', `round ${round}: child killed`);
    t.equal(startHead, expectedStart, `round ${round}: child started from head ${startHead}`);
    t.ok(reported.every((s) => Number.isInteger(s) && s > startHead), `round ${round}: reports are seqs above the start head`);
    t.ok(reported.length >= killAfter, `round ${round}: ${reported.length} seqs acknowledged before the kill`);

    const log = await openFileAuditLog({ dir });
    const head = log.head().seq;
    const inLog = new Set((await log.since(startHead)).map((r) => r.seq));
    const missing = reported.filter((s) => !inLog.has(s));
    t.same(missing, [], `round ${round}: no acknowledged seq lost (head ${head}, max reported ${Math.max(...reported)})`);
    t.ok(head >= Math.max(...reported), `round ${round}: head ${head} >= every reported seq`);
    await log.close();
    const v = await verifyAuditLog(dir);
    t.match(v, { ok: true, count: head }, `round ${round}: verify passes`);
    expectedStart = head;
  }
});

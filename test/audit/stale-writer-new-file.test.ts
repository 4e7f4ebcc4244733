import { readdirSync } from 'node:fs';
import t from 'tap';
import { nodeAuditFs, type AuditFs } from '../../src/audit/audit-fs.ts';
import { openFileAuditLog } from '../../src/audit/file-log.ts';
import { AuditUnavailableError } from '../../src/audit/log.ts';
import { verifyAuditLog } from '../../src/audit/verify.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { entry, waitFor } from './helpers.ts';

const DAY1 = '2026-11-26T10:00:00.000Z';
const DAY2 = '2026-11-27T00:00:01.000Z';

/** the real fs, whose opens for writing can be held (an NFS CREATE stuck in a partition) */
function holdingOpens() {
  const hold = { armed: false, waiting: [] as (() => void)[] };
  const fs: AuditFs = {
    ...nodeAuditFs,
    open: async (path, flags) => {
      if (hold.armed && flags !== 'r' && flags !== 'r+') await new Promise<void>((r) => hold.waiting.push(r));
      return nodeAuditFs.open(path, flags);
    },
  };
  return { fs, hold };
}

t.test('a stale gate whose file create lands after another gate took the directory over must not destroy that gate\'s acknowledged records', async (t) => {
  const dir = await tempDir(t, 'gate-stale-writer-');
  const a = holdingOpens();
  let aWriter = true;
  const gateA = await openFileAuditLog({ dir, fs: a.fs, recoveryProbeMs: 3_600_000, stallMs: 0, isWriter: () => aWriter });
  for (let i = 1; i <= 3; i++) await gateA.append([entry(i, { at: DAY1 })]);
  // just after midnight UTC gate A's next batch starts a new day's file; its create is stuck (a
  // partitioned NFS client retrying the CREATE) past its lease
  a.hold.armed = true;
  const stale = gateA.append([entry(4, { at: DAY2 })]);
  await waitFor(() => a.hold.waiting.length > 0);
  aWriter = false;
  // gate B takes the directory over, reads the log (head 3) and acknowledges two decisions
  const gateB = await openFileAuditLog({ dir, recoveryProbeMs: 3_600_000, stallMs: 0 });
  t.equal(gateB.head().seq, 3);
  const acked = [...(await gateB.append([entry(100, { at: DAY2 })])), ...(await gateB.append([entry(101, { at: DAY2 })]))];
  t.same(acked.map((r) => r.seq), [4, 5], 'gate B acknowledged seqs 4 and 5');
  t.comment(`files: ${readdirSync(dir).join(', ')}`);
  // the partition heals: gate A's create lands, its write and fsync follow, then it sees it lost the lock
  a.hold.armed = false;
  a.hold.waiting.splice(0).forEach((r) => r());
  await t.rejects(stale, AuditUnavailableError, 'gate A does not answer its stale write as recorded');
  await gateA.close();
  await gateB.close();
  t.comment(`files: ${readdirSync(dir).join(', ')}`);
  const fresh = await openFileAuditLog({ dir, recoveryProbeMs: 3_600_000 }).catch((err: Error) => err);
  if (fresh instanceof Error) {
    t.fail(`the log no longer opens: ${fresh.message}`);
  } else {
    const ids = (await fresh.since(0)).map((r) => r.id);
    await fresh.close();
    t.ok(ids.includes('dec-100') && ids.includes('dec-101'), `gate B's acknowledged records are still in the log (found ${ids.join(',')})`);
  }
  t.match(await verifyAuditLog(dir), { ok: true }, 'the log verifies');
});

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { openFileAuditLog } from '../../src/audit/file-log.ts';
import { verifyAuditLogInWorker } from '../../src/audit/verify-in-worker.ts';
import { verifyAuditLog } from '../../src/audit/verify.ts';
import { entry } from './helpers.ts';

t.test('on a worker thread: the same answer as in process, intact and broken', async (t) => {
  const dir = t.testdir();
  const log = await openFileAuditLog({ dir });
  for (let i = 1; i <= 20; i++) await log.append([entry(i)]);
  await log.close();
  const intact = await verifyAuditLogInWorker(dir);
  t.match(intact, { ok: true, count: 20, head: { seq: 20 } });
  t.same(intact, await verifyAuditLog(dir), 'intact: same result');

  const [file] = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
  const p = join(dir, file!);
  writeFileSync(p, readFileSync(p, 'utf8').replace('"dec-9"', '"dec-X"'));
  const broken = await verifyAuditLogInWorker(dir);
  t.match(broken, { ok: false, count: 8, firstBroken: { seq: 9, line: 9, reason: 'hash does not match the record content' } });
  t.same(broken, await verifyAuditLog(dir), 'broken: same result');
});

t.test('a directory that cannot be read rejects with the reason', async (t) => {
  const dir = t.testdir({ 'not-a-dir': 'x' });
  await t.rejects(verifyAuditLogInWorker(join(dir, 'not-a-dir')), { code: 'ENOTDIR' });
});

t.test('a walk that does not finish in time is stopped and reported', async (t) => {
  const dir = t.testdir();
  const log = await openFileAuditLog({ dir, fsync: false });
  for (let i = 1; i <= 50; i++) await log.append(Array.from({ length: 100 }, (_, k) => entry(i * 1000 + k)));
  await log.close();
  // starting a worker alone takes longer than 1 ms
  await t.rejects(verifyAuditLogInWorker(dir, { timeoutMs: 1 }), { message: /did not finish within 0 s; stopped/ });
  t.match(await verifyAuditLogInWorker(dir), { ok: true, count: 5000 }, 'with time enough, the same log verifies');
});

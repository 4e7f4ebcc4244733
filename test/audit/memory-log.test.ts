import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { GENESIS_HASH } from '../../src/audit/event.ts';
import { AuditUnavailableError } from '../../src/audit/log.ts';
import { createMemoryAuditLog } from '../../src/audit/memory-log.ts';
import { segmentName } from '../../src/audit/segments.ts';
import { verifyAuditLog } from '../../src/audit/verify.ts';
import { entry } from './helpers.ts';
import { canonicalJson } from '../../src/audit/canonical-json.ts';

t.test('chain: the memory log records verify as a file log would', async (t) => {
  const log = createMemoryAuditLog();
  t.same(log.head(), { seq: 0, hash: GENESIS_HASH });
  await log.append([entry(1)]);
  await Promise.all([log.append([entry(2), entry(3)]), log.append([entry(4)])]);
  const recs = log.records();
  t.same(recs.map((r) => r.seq), [1, 2, 3, 4]);
  t.same(log.head(), { seq: 4, hash: recs[3]!.hash });
  const dir = t.testdir();
  writeFileSync(join(dir, segmentName('20261126', 1)), recs.map((r) => `${canonicalJson(r)}\n`).join(''));
  t.match(await verifyAuditLog(dir), { ok: true, count: 4 });
});

t.test('group commit: appends of the same tick share one batch', async (t) => {
  const log = createMemoryAuditLog();
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => log.append([entry(i)])));
  t.same(results.map((r) => r[0]!.seq), Array.from({ length: 200 }, (_, i) => i + 1));
  t.same(log.stats(), { batches: 1, records: 200, failedAppends: 0 });
  await log.append([entry(200)]);
  t.equal(log.stats().batches, 2);
});

t.test('failNextAppends: fail closed, then recover on the next append', async (t) => {
  const log = createMemoryAuditLog();
  await log.append([entry(1)]);
  const head = log.head();
  log.failNextAppends(2);
  t.equal(log.writable(), true, 'armed, not yet failed');
  const steps = [
    { name: 'first armed append', ok: false, writable: false, headSeq: 1 },
    { name: 'second armed append', ok: false, writable: false, headSeq: 1 },
    { name: 'next append succeeds', ok: true, writable: true, headSeq: 2 },
  ];
  for (const s of steps) {
    const p = log.append([entry(10)]);
    if (s.ok) t.equal((await p)[0]!.prev, head.hash, `${s.name}: chains from the last good head`);
    else await t.rejects(p, AuditUnavailableError, `${s.name}: rejected`);
    t.equal(log.writable(), s.writable, `${s.name}: writable()`);
    t.equal(log.head().seq, s.headSeq, `${s.name}: head`);
  }
  t.equal(log.stats().failedAppends, 2);
  t.throws(() => log.failNextAppends(-1), RangeError);
});

t.test('shape is checked; close flushes and then refuses', async (t) => {
  const log = createMemoryAuditLog();
  await t.rejects(log.append([{ ...entry(1), decision: 'maybe' } as never]), TypeError);
  t.same(await log.append([]), []);
  const pending = log.append([entry(1)]);
  await log.close();
  t.equal((await pending)[0]!.seq, 1, 'queued append flushed by close');
  await t.rejects(log.append([entry(2)]), AuditUnavailableError);
  t.equal(log.writable(), false);
});

// While a throttled checkpoint is due, the store must not hold on to the changes it was given:
// under load that is every recorded decision of the last second, kept alive and promoted into
// V8's old generation (scavenges of 8-27 ms were measured before this was fixed). Checked with
// WeakRefs in a child process run with --expose-gc.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { REPO_ROOT } from '../helpers/spawn-gate.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const script = `
import { join } from 'node:path';
import { openLowdbStore } from ${JSON.stringify(join(REPO_ROOT, 'src/store/lowdb-store.ts'))};
import { emptyState } from ${JSON.stringify(join(REPO_ROOT, 'src/policy/state.ts'))};
import { parseConfig } from ${JSON.stringify(join(REPO_ROOT, 'src/config.ts'))};
const dir = process.argv[1]; // a temp dir the test removes
const s = await openLowdbStore(join(dir, 'state.json'), () => emptyState(parseConfig({}).stages), { minIntervalMs: 60_000 });
await s.update(() => {}); // the first checkpoint is written at once: the next one waits a minute
// each change in its own function: objects made in one function share a context, and a method
// that kept one alive would keep the other too and blame both
const viaApply = () => {
  const change = { records: new Array(1000).fill('x') };
  s.apply((st) => void (st.auditSeq += change.records.length));
  return new WeakRef(change);
};
const viaUpdate = () => {
  const change = { records: new Array(1000).fill('y') };
  void s.update((st) => void (st.auditSeq += change.records.length));
  return new WeakRef(change);
};
const refs = { apply: viaApply(), update: viaUpdate() };
await new Promise((r) => setTimeout(r, 20));
gc();
await new Promise((r) => setTimeout(r, 20));
gc();
process.stdout.write(JSON.stringify({ seq: s.read().auditSeq, apply: refs.apply.deref() === undefined, update: refs.update.deref() === undefined }));
process.exit(0);
`;

t.test('a change waiting for the throttled checkpoint is not kept alive by the store', async (t) => {
  const dir = await tempDir(t, 'retention-');
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script, dir], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { seq: number; apply: boolean; update: boolean };
  t.equal(out.seq, 2000, 'both changes were applied');
  t.ok(out.apply, 'apply(): the change function and what it refers to are collectable at once');
  t.ok(out.update, 'update(): likewise, though its promise waits for the checkpoint');
});

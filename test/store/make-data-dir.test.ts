import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { makeDataDir, makeDirDurably } from '../../src/store/make-data-dir.ts';
import { tempDir } from '../helpers/temp-dir.ts';

t.test('a data directory created on a first start has every new directory entry fsynced, parent by parent', async (t) => {
  const base = await tempDir(t, 'gate-datadir-');
  const synced: string[] = [];
  const dataDir = join(base, 'volume', 'gate');
  const made = await makeDataDir(dataDir, async (d) => void synced.push(d));
  t.same(synced, [base, join(base, 'volume'), dataDir], 'the parents of volume/, gate/ and gate/audit/, outermost first');
  t.same(made, synced);
  t.ok((await stat(join(dataDir, 'audit'))).isDirectory());
  synced.length = 0;
  t.same(await makeDataDir(dataDir, async (d) => void synced.push(d)), [join(base, 'volume'), dataDir], 'a later start creates nothing');
  t.same(synced, [join(base, 'volume'), dataDir], 'and fsyncs the data directory and its parent again: it may come from a token create or a start killed before its fsyncs');
});

t.test('a data directory that exists without its audit directory: the data directory and its parent are fsynced', async (t) => {
  const base = await tempDir(t, 'gate-datadir-');
  await mkdir(join(base, 'gate'));
  const synced: string[] = [];
  await makeDataDir(join(base, 'gate'), async (d) => void synced.push(d));
  t.same(synced, [join(base, 'gate'), base], 'the entry of audit/ first (created), then the rest');
});

t.test('makeDirDurably (the token file\'s directory, made by token create): the parents of what it created; nothing when it was there', async (t) => {
  const base = await tempDir(t, 'gate-datadir-');
  const synced: string[] = [];
  t.same(await makeDirDurably(join(base, 'x', 'y'), async (d) => void synced.push(d)), [base, join(base, 'x')]);
  t.same(synced, [base, join(base, 'x')]);
  t.same(await makeDirDurably(join(base, 'x', 'y'), async () => void t.fail('nothing to sync')), []);
});

t.test('the default fsync runs on real directories without error', async (t) => {
  const base = await tempDir(t, 'gate-datadir-');
  t.same(await makeDataDir(join(base, 'a', 'b')), [base, join(base, 'a'), join(base, 'a', 'b')]);
});

t.test('a file where the data directory should be is mkdir\'s error, as before', async (t) => {
  const base = await tempDir(t, 'gate-datadir-');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(join(base, 'gate'), 'x');
  await t.rejects(makeDataDir(join(base, 'gate')), { code: 'ENOTDIR' });
});

t.test('a directory that cannot be made on a read-only volume fails with EROFS, not the ENOENT Node\'s recursive mkdir reports', async (t) => {
  const base = await tempDir(t, 'gate-datadir-');
  const fsp = await import('node:fs/promises');
  const readOnly = (path: string) => Object.assign(new Error(`EROFS: read-only file system, mkdir '${path}'`), { code: 'EROFS' });
  const made: string[] = [];
  const { makeDataDir: onReadOnly } = await t.mockImport<typeof import('../../src/store/make-data-dir.ts')>('../../src/store/make-data-dir.ts', {
    'node:fs/promises': {
      ...fsp,
      // as Node 24 does on a read-only mount: the recursive call says ENOENT for the directory it could not make
      mkdir: async (path: string, opts?: { recursive?: boolean }) => {
        if (opts?.recursive) throw Object.assign(new Error(`ENOENT: no such file or directory, mkdir '${path}'`), { code: 'ENOENT' });
        made.push(path);
        throw readOnly(path);
      },
    },
  });
  // the volume is there (base), the data directory not yet: a fresh volume mounted read-only
  await t.rejects(onReadOnly(join(base, 'gate'), async () => {}), { code: 'EROFS' });
  t.same(made, [join(base, 'gate')], 'the first missing directory, under the deepest one there, made on its own');
  // the data directory there, its audit directory not
  await mkdir(join(base, 'gate'));
  made.length = 0;
  await t.rejects(onReadOnly(join(base, 'gate'), async () => {}), { code: 'EROFS' });
  t.same(made, [join(base, 'gate', 'audit')]);
});

t.test('a recursive mkdir that fails with ENOENT for another reason, and whose directory can then be made: the ENOENT is what the caller gets', async (t) => {
  const base = await tempDir(t, 'gate-datadir-');
  const fsp = await import('node:fs/promises');
  const { makeDirDurably: flaky } = await t.mockImport<typeof import('../../src/store/make-data-dir.ts')>('../../src/store/make-data-dir.ts', {
    'node:fs/promises': {
      ...fsp,
      mkdir: async (path: string, opts?: { recursive?: boolean }) => {
        if (opts?.recursive) throw Object.assign(new Error(`ENOENT: no such file or directory, mkdir '${path}'`), { code: 'ENOENT' });
        return fsp.mkdir(path);
      },
    },
  });
  await t.rejects(flaky(join(base, 'a'), async () => {}), { code: 'ENOENT' });
  t.ok((await stat(join(base, 'a'))).isDirectory(), 'made on its own (the next start goes on from there)');
});

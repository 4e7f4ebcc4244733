// A test-result artifact is durable before its result is recorded: its data and its directory
// entry, and the entries of the directories made for the first one (a power cut must not keep
// the audit record and lose the file it names).
import { existsSync, readFileSync } from 'node:fs';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { tempDir } from '../helpers/temp-dir.ts';

t.test('the artifact\'s directory entry, and those of the directories made for it, are fsynced after its data', async (t) => {
  const synced: { dir: string; holds: string | null }[] = [];
  const { writeArtifact } = await t.mockImport<typeof import('../../src/routes/write-artifact.ts')>('../../src/routes/write-artifact.ts', {
    '../../src/store/sync-parent-dir.ts': {
      // what is in the file when its directory is synced
      syncParentDir: async (file: string) => {
        synced.push({ dir: join(file, '..'), holds: existsSync(file) && file.endsWith('.json') ? readFileSync(file, 'utf8') : null });
      },
    },
  });
  const data = await tempDir(t, 'artifact-');
  const dir = join(data, 'artifacts', 'inttest');
  t.equal(await writeArtifact(dir, 'abc123', Buffer.from('{"exitCode":0}')), 'abc123.json');
  t.same(synced.map((s) => s.dir).sort(), [data, join(data, 'artifacts'), dir].sort(), 'the data directory (artifacts), artifacts (inttest) and inttest (the file)');
  t.same(synced.find((s) => s.dir === dir)?.holds, '{"exitCode":0}', 'the file\'s entry once its data is written');
  synced.length = 0;
  t.equal(await writeArtifact(dir, 'abc123', Buffer.from('{"exitCode":1}')), 'abc123~2.json');
  t.same(synced.map((s) => s.dir).sort(), [data, join(data, 'artifacts'), dir].sort(), 'the next: the same three, though nothing was made (a write beside the first must not be recorded before they are durable)');
  t.same(synced.find((s) => s.dir === dir)?.holds, '{"exitCode":1}');
});

t.test('each upload is named above every file the tag has: a name freed by archiving is not taken again below a later one', async (t) => {
  const { writeArtifact } = await import('../../src/routes/write-artifact.ts');
  const dir = join(await tempDir(t, 'artifact-'), 'inttest');
  const put = (body: string) => writeArtifact(dir, 'abc', Buffer.from(body));
  t.equal(await put('1'), 'abc.json');
  t.equal(await put('2'), 'abc~2.json');
  t.equal(await put('3'), 'abc~3.json');
  await writeFile(join(dir, 'abcd~9.json'), 'another tag');
  await writeFile(join(dir, 'abc~x.json'), 'not one of its names');
  // the first and second archived: the next is above the third, not the freed first
  await rm(join(dir, 'abc.json'));
  await rm(join(dir, 'abc~2.json'));
  t.equal(await put('4'), 'abc~4.json', 'above the highest left, whatever was moved off');
  await rm(join(dir, 'abc~3.json'));
  t.equal(await put('5'), 'abc~5.json', 'a gap below changes nothing');
  await rm(join(dir, 'abc~4.json'));
  await rm(join(dir, 'abc~5.json'));
  t.equal(await put('6'), 'abc.json', 'all of them moved off: the first name again, the one file the tag has');
  t.equal(await put('7'), 'abc~2.json');
  t.same((await readdir(dir)).sort(), ['abc.json', 'abcd~9.json', 'abc~2.json', 'abc~x.json']);
});

t.test('a write the volume refuses is a retryable 503 and leaves no file', async (t) => {
  const real = await import('node:fs/promises');
  const fail = { at: 'none' as 'none' | 'open' | 'write' | 'sync' };
  const refuse = (code: string) => Object.assign(new Error(`${code}: refused`), { code });
  const { writeArtifact } = await t.mockImport<typeof import('../../src/routes/write-artifact.ts')>('../../src/routes/write-artifact.ts', {
    'node:fs/promises': {
      ...real,
      open: async (...args: Parameters<typeof real.open>) => {
        if (fail.at === 'open') throw refuse('EROFS');
        const fh = await real.open(...args);
        if (fail.at === 'write') fh.writeFile = async () => { throw refuse('ENOSPC'); };
        if (fail.at === 'sync') fh.sync = async () => { throw refuse('EIO'); };
        return fh;
      },
    },
  });
  const dir = join(await tempDir(t, 'artifact-'), 'inttest');
  t.equal(await writeArtifact(dir, 'abc', Buffer.from('1')), 'abc.json');
  for (const at of ['open', 'write', 'sync'] as const) {
    fail.at = at;
    const err = await writeArtifact(dir, 'abc', Buffer.from('2')).then(() => null, (e: unknown) => e);
    t.match(err, { status: 503, code: 'storage_unavailable', extra: { retryable: true }, cause: { code: at === 'open' ? 'EROFS' : at === 'write' ? 'ENOSPC' : 'EIO' } }, `refused at ${at}: 503, the cause kept for the log`);
    t.same(await readdir(dir), ['abc.json'], `refused at ${at}: no file left behind`);
  }
  fail.at = 'none';
  t.equal(await writeArtifact(dir, 'abc', Buffer.from('2')), 'abc~2.json', 'the volume back: the next name');
});

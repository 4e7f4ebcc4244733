// A test-result artifact is durable before its result is recorded: its data and its directory
// entry, and the entries of the directories made for the first one (a power cut must not keep
// the audit record and lose the file it names).
import { existsSync, readFileSync } from 'node:fs';
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

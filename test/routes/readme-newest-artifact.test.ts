// The README's command for the file to send again (a tag whose result summary was dropped) finds
// the newest upload the gate stored, with earlier ones archived in any order: it is run here as
// the README writes it, against files the gate's own writeArtifact made.
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { writeArtifact } from '../../src/routes/write-artifact.ts';
import { REPO_ROOT } from '../helpers/spawn-gate.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
const found = /kubectl -n stonks-gate exec deploy\/gate-service -- sh -c \\\n\s+'(cd \/data\/artifacts\/inttest && [^']+)' \\\n\s+sh <tag> > newest\.json/.exec(readme);
t.ok(found, 'the README has the command');
const script = found?.[1] ?? '';

t.test('the README command sends the newest upload of a tag', async (t) => {
  const dir = join(await tempDir(t, 'newest-'), 'inttest');
  const newest = async (tag: string) =>
    (await promisify(execFile)('sh', ['-c', script.replace('/data/artifacts/inttest', dir), 'sh', tag])).stdout;
  const put = (tag: string, body: string) => writeArtifact(dir, tag, Buffer.from(body));
  await put('abc', 'first');
  t.equal(await newest('abc'), 'first', 'one upload: <tag>.json');
  for (const b of ['2', '3', '4', '5', '6', '7', '8', '9', '10', '11']) await put('abc', b);
  await put('abc.1', 'another tag');
  await put('ab', 'another tag');
  t.equal(await newest('abc'), '11', 'the highest number, not the last in the shell\'s sort (~10, ~11 before ~2)');
  await rm(join(dir, 'abc.json'));
  await rm(join(dir, 'abc~5.json'));
  await put('abc', 'after archiving');
  t.equal(await newest('abc'), 'after archiving', 'with earlier files archived: the upload made after');
  await rm(join(dir, 'abc~12.json'));
  t.equal(await newest('abc'), '11', 'the newest archived too: the newest left');
});

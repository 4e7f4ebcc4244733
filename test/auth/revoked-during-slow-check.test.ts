// README: "a check counts as fresh for a second from when it started: a copy read long ago must
// not let a revoked token in"; `token revoke`: "the running gate refuses it within a second". A
// check of the token file can be slow (a read stalled on the data volume); no request may take
// what a check that started more than a second before it arrived read, nor the copy before it.
// A FIFO stands for the stalled volume: stat() answers, the read waits until a writer answers.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, writeSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import t from 'tap';
import { createLocalAuthenticator, createToken, revokeToken, tokenFilePath } from '../../src/auth/local-tokens.ts';
import { type TapLike, tempDir } from '../helpers/temp-dir.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` }, remoteAddress: '127.0.0.1' });

async function tokenFile(t: TapLike): Promise<{ file: string; token: string }> {
  const file = tokenFilePath(await tempDir(t, 'gate-slow-check-'));
  const { token } = await createToken(file, 'kargo', ['caller'], new Date('2026-01-01T00:00:00Z'), 'tok_kargo');
  return { file, token };
}

/** A writer of the FIFO at `file` (a reader must be waiting in open()), closed at teardown if the test did not. */
function fifoWriter(t: TapLike, file: string): { answer: (content: Buffer) => void } {
  const fd = openSync(file, constants.O_WRONLY | constants.O_NONBLOCK);
  let closed = false;
  const close = () => {
    if (!closed) closeSync(fd);
    closed = true;
  };
  t.teardown(close);
  return {
    answer: (content) => {
      writeSync(fd, content);
      close();
    },
  };
}

t.test('a request that arrives over a second after a stalled check began does not take what that check read', async (t) => {
  const { file, token } = await tokenFile(t);
  const auth = createLocalAuthenticator(file);
  t.match(await auth.authenticate(bearer(token)), { ok: true }, 'the token works');
  await sleep(1100);

  // the next check (T0) stalls in its read, which will get the file as it was before the revoke
  const before = readFileSync(file);
  await rename(file, `${file}.saved`);
  execFileSync('mkfifo', [file]);
  const first = auth.authenticate(bearer(token)).then(
    () => 'answered',
    (e: Error) => e.message,
  );
  await sleep(100);
  const volume = fifoWriter(t, file); // the read's open goes on; its read() waits
  // the revoke lands (the volume answers other requests meanwhile)
  await rename(`${file}.saved`, file);
  await revokeToken(file, 'kargo');
  t.match(await first, /no answer from the data volume within 2000 ms/, 'the request that started the check gets a 503 after 2 s');

  // T0 + 2.9 s: a request with the revoked token; the check under way began long before it came
  await sleep(800);
  const arrived = performance.now();
  const late = auth.authenticate(bearer(token));
  await sleep(500);
  volume.answer(before); // the stalled check ends with the copy from before the revoke
  const result = await late;
  const waited = performance.now() - arrived;
  t.match(result, { ok: false, status: 401 }, 'the revoked token is refused: the request checked the file again');
  t.ok(waited < 2000, `within the 2 s a request waits for the file (${Math.round(waited)} ms)`);
});

t.test('a request during a slow check does not take the copy read before it, however old', async (t) => {
  const { file, token } = await tokenFile(t);
  const auth = createLocalAuthenticator(file);
  t.match(await auth.authenticate(bearer(token)), { ok: true }, 'the token works (the copy)');
  await revokeToken(file, 'kargo');
  await sleep(1100);

  // the next check stalls in its read; a request comes 100 ms after it began
  const revoked = readFileSync(file);
  await rename(file, `${file}.saved`);
  execFileSync('mkfifo', [file]);
  const first = auth.authenticate(bearer(token));
  await sleep(100);
  const volume = fifoWriter(t, file);
  const second = auth.authenticate(bearer(token));
  await sleep(100);
  volume.answer(revoked);
  await rename(`${file}.saved`, file);
  t.match(await second, { ok: false, status: 401 }, 'the request waits for the check under way, not the copy from over a second ago');
  t.match(await first, { ok: false, status: 401 }, 'so does the request that started it');
});

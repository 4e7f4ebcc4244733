import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../../src/cli.ts';
import { parseConfig } from '../../src/config.ts';
import { REPO_ROOT } from '../helpers/spawn-gate.ts';

const SECRET = 'b6f0c1e2d3a4958677e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2';
const SHA = createHash('sha256').update(SECRET).digest('hex');

async function hash(stdin: string | null, args: string[] = ['proxy-secret', 'hash'], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, env, (s) => out.push(s), (s) => err.push(s), async () => null, async () => (stdin === null ? null : Buffer.from(stdin, 'latin1')));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

t.test('proxy-secret hash: the SHA-256 of the secret on stdin, which proxyAuth.secretSha256 takes', async (t) => {
  const res = await hash(SECRET);
  t.same(res, { code: 0, out: SHA, err: '' });
  t.same(parseConfig({}, `proxyAuth: { secretSha256: "${res.out}" }\n`).proxyAuth.secretSha256, [SHA], 'the config takes it');
  t.same(await hash(`${SECRET}\n`), { code: 0, out: SHA, err: '' }, 'one final newline (echo) is dropped');
  t.same(await hash(`${SECRET}\r\n`), { code: 0, out: SHA, err: '' }, 'and a CRLF');
  // a broken configuration does not stand in the way of making the hash that fixes it
  t.equal((await hash(SECRET, ['proxy-secret', 'hash'], { GATE_CONFIG: '/nonexistent/gate.yaml' })).code, 0);
});

t.test('proxy-secret hash refuses a secret on the command line, a terminal, and secrets a header cannot carry as they are', async (t) => {
  const argv = await hash(SECRET, ['proxy-secret', 'hash', 'hunter2-hunter2-hunter2-hunter2-hunter2']);
  t.equal(argv.code, 2);
  t.match(argv.err, /reads the secret from stdin and takes no argument/);
  t.notOk(argv.err.includes('hunter2') || argv.out.includes('hunter2'), 'the argument is not repeated');
  const tty = await hash(null);
  t.equal(tty.code, 2);
  t.match(tty.err, /stdin is a terminal/);
  for (const [label, input, why] of [
    ['empty', '', /stdin is empty/],
    ['only a newline', '\n', /stdin is empty/],
    ['two lines', `${SECRET}\n${SECRET}\n`, /other than printable ASCII/],
    ['a tab inside', `${SECRET}\t${SECRET}`, /other than printable ASCII/],
    ['a byte above 0x7e', `${SECRET}\u00e9`, /other than printable ASCII/],
    ['a trailing space', `${SECRET} `, /starts or ends with a space/],
    ['a leading space', ` ${SECRET}`, /starts or ends with a space/],
    ['short', 'hunter2', /shorter than 32 characters/],
  ] as const) {
    const r = await hash(input);
    t.equal(r.code, 2, label);
    t.equal(r.out, '', `${label}: no hash`);
    t.match(r.err, why, label);
    t.match(r.err, /openssl rand -hex 32/, `${label}: says how to make one`);
  }
  t.equal((await hash(SECRET, ['proxy-secret'])).code, 2, 'proxy-secret alone is no command');
  // the secret given where the command goes (hash left out): refused without printing it
  const noHash = await hash(SECRET, ['proxy-secret', 'hunter2-hunter2-hunter2-hunter2-hunter2']);
  t.equal(noHash.code, 2, 'proxy-secret <secret>: refused');
  t.match(noHash.err, /unknown command/);
  t.notOk(noHash.err.includes('hunter2') || noHash.out.includes('hunter2'), 'the word given is not repeated');
});

t.test('proxy-secret hash reads the real stdin of the CLI', async (t) => {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'src', 'cli.ts'), 'proxy-secret', 'hash'], { cwd: REPO_ROOT, env: { PATH: process.env['PATH'] ?? '' } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stdin.end(`${SECRET}\n`);
  const code = await new Promise((resolve) => child.on('exit', resolve));
  t.equal(code, 0);
  t.equal(out, `${SHA}\n`);
});

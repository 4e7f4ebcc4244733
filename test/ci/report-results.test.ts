// report-results.mjs against the real gate (node src/server.ts on loopback): what a passing and
// a failing inttest-results.json become at the gate (summary, verbatim artifact) and in the
// step (outputs, summary, exit code); malformed files, usage errors, missing, wrong and
// under-privileged tokens, a body the gate rejects, an oversized file, a gate that is down,
// hung, or answering 503 for a while. The token must never appear in anything printed.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { spawnGate } from '../helpers/spawn-gate.ts';
import { tempDirSync } from '../helpers/temp-dir.ts';
import type { Test } from 'tap';
import type { SpawnedGate } from '../helpers/spawn-gate.ts';
import { startGateProxy } from './lib/gate-proxy.ts';
import { createToken, deadPort, findNode20, runScript, scriptsDir } from './lib/harness.ts';
import type { ScriptRun } from './lib/harness.ts';

const SCRIPT = 'report-results.mjs';
const FAST = { GATE_RETRY_DELAY_MS: '20', GATE_TIMEOUT_MS: '3000' };
let seq = 0;
/** A fresh 40-hex tag per case, so each case starts with nothing recorded. */
const newTag = (): string => (Date.now().toString(16) + (++seq).toString(16).padStart(4, '0')).padEnd(40, 'a').slice(0, 40);

const work = tempDirSync(t, 'ci-report-');
function resultsFile(name: string, content: string | Buffer): string {
  const p = join(work, name);
  writeFileSync(p, content);
  return p;
}

let gate: SpawnedGate;
let ciToken: string;
const secrets: string[] = [];

let stopping = false;
t.before(async () => {
  gate = await spawnGate({ t, dataDir: join(work, 'gate-data'), timeoutMs: 60_000 });
  void gate.exited.then((e) => {
    if (!stopping) process.stderr.write(`the gate exited early: ${JSON.stringify(e)}\n${gate.stderr().slice(-2000)}\n${gate.stdout().slice(-4000)}\n`);
  });
  // after spawnGate's own teardowns, so it runs first (a clean stop, then the kill and removal)
  t.teardown(async () => {
    stopping = true;
    await gate.stop();
  });
  ciToken = await createToken(gate.dataDir, 'ci', 'ci');
  secrets.push(ciToken, gate.tokens['kargo'] ?? '', gate.tokens['admin'] ?? '');
});

/** The gate's public view of a tag's result (GET /v1/test-results/{tag}, always 200 JSON). */
async function gateResult(tag: string): Promise<Record<string, unknown>> {
  const r = await fetch(`${gate.url}/v1/test-results/${tag}`);
  if (r.status !== 200) throw new Error(`GET /v1/test-results/${tag} answered ${r.status}`);
  return (await r.json()) as Record<string, unknown>;
}

function report(file: string, tag: string, env: Record<string, string> = {}, gateUrl?: string, node?: string, extra: string[] = []): Promise<ScriptRun> {
  return runScript(SCRIPT, ['--file', file, '--image-tag', tag, '--gate-url', gateUrl ?? gate.url, ...extra], { GATE_CI_TOKEN: ciToken, ...FAST, ...env }, node);
}

function noSecretsPrinted(tt: Test, r: ScriptRun): void {
  for (const s of secrets.filter(Boolean)) {
    tt.notOk(r.output.includes(s) || r.summary.includes(s) || Object.values(r.outputs).some((v) => v.includes(s)), 'no token appears in the output, summary or step outputs');
  }
}

/** The workflow commands in a log: every line the runner reads as one (leading blanks trimmed, as the runner does). */
const commandsIn = (log: string): string[] => log.split(/\r\n|\r|\n/).map((l) => l.trimStart()).filter((l) => l.startsWith('::')).map((l) => l.slice(0, l.indexOf('::', 2) + 2).replace(/ title=.*/, ''));

/** Token-shaped strings (gate_ / gbg_ + 43 base64url characters) no gate issued. */
const FAKE_GATE_TOKEN = `gate_${'Ab9_-xYz0Q'.repeat(4)}k7P`;
const FAKE_BG_TOKEN = `gbg_${'Zq1-_Rt8Mw'.repeat(4)}u2L`;

const PASSING = JSON.stringify({ exitCode: 0, passed: 118, failed: 0, skipped: 2, total: 120, suite: 'pipeline', durationSeconds: 842.5 }, null, 2);
const FAILING = JSON.stringify(
  {
    exitCode: 1,
    tests: { passed: 110, failed: 3, skipped: 2, total: 115 },
    failures: [
      { name: 'test_order_roundtrip', message: 'broker-adapter returned 500' },
      { name: 'test_risk_limits', message: 'expected `max_notional` | got ```none```' },
      'test_lake_publish: timeout after 30s',
    ],
  },
  null,
  2,
);

t.test('a passing results file: recorded, eligible for beta, exit 0', async (t) => {
  const tag = newTag();
  const file = resultsFile('passing.json', PASSING);
  const r = await report(file, tag);
  t.equal(r.status, 0, 'exit 0');
  t.match(r.outputs, { recorded: 'true', passed: 'true', 'eligible-for-beta': 'true', 'exit-code': '0', 'passed-count': '118', 'failed-count': '0', 'skipped-count': '2', 'total-count': '120', 'image-tag': tag });
  t.match(r.summary, `### Integration tests for \`${tag}\`: ✅ passed`);
  t.match(r.summary, '| 0 | 118 | 0 | 2 | 120 |', 'counts table');
  t.match(r.summary, '**Eligible for beta:** yes');
  t.notMatch(r.summary, 'Failure details', 'no failure section for a pass');
  t.match(r.stdout, '::notice title=Eligible for beta::');

  const g = await gateResult(tag);
  t.match(g, { imageTag: tag, found: true, passed: true, exitCode: 0, counts: { passed: 118, failed: 0, skipped: 2, total: 120 }, recordedBy: 'ci' });
  t.equal(r.outputs['artifact'], g['artifact'], 'the artifact name in the step outputs is the one the gate stored');
  t.equal(readFileSync(join(gate.dataDir, String(g['artifact'])), 'utf8'), PASSING, 'the gate stored the file byte for byte');
  noSecretsPrinted(t, r);
});

t.test('a failing results file: recorded as failed, details in the summary, exit 1', async (t) => {
  const tag = newTag();
  const file = resultsFile('failing.json', FAILING);
  const r = await report(file, tag);
  t.equal(r.status, 1, 'exit 1');
  t.match(r.outputs, { recorded: 'true', passed: 'false', 'eligible-for-beta': 'false', 'exit-code': '1', 'failed-count': '3', 'total-count': '115' });
  t.match(r.summary, ': ❌ failed');
  t.match(r.summary, '| 1 | 110 | 3 | 2 | 115 |');
  t.match(r.summary, '**Eligible for beta:** no, the gate refuses to promote');
  t.match(r.summary, '#### Failure details');
  t.match(r.summary, '- the integration runner exited with code 1');
  t.match(r.summary, '- 3 test(s) failed');
  t.match(r.summary, '- test_order_roundtrip: broker-adapter returned 500');
  t.match(r.summary, "- test_risk_limits: expected 'max_notional' \\| got '''none'''", 'markdown in messages is neutralised');
  t.match(r.summary, '- test_lake_publish: timeout after 30s');
  t.match(r.summary, '````json\n', 'the raw file sits in a fence longer than any backtick run inside it');
  t.match(r.stdout, /::error title=Integration tests failed::exit code 1, 3 failed of 115/);

  const g = await gateResult(tag);
  t.match(g, { found: true, passed: false, exitCode: 1, counts: { passed: 110, failed: 3, skipped: 2, total: 115 } });
  t.equal(readFileSync(join(gate.dataDir, String(g['artifact'])), 'utf8'), FAILING, 'the failing file is stored verbatim too');
  noSecretsPrinted(t, r);
});

t.test('a failing file longer than the summary shows: a token across the cut is blanked, not shown in part', async (t) => {
  const head = '{"exitCode":1,"failed":1,"log":"';
  const content = `${head}${'x'.repeat(20_000 - 20 - head.length)}${FAKE_GATE_TOKEN} ${'y'.repeat(200)}"}`;
  t.equal(content.indexOf(FAKE_GATE_TOKEN), 20_000 - 20, 'the token starts 20 characters before the summary\'s cut');
  const tag = newTag();
  const r = await report(resultsFile('long-log.json', content), tag);
  t.equal(r.status, 1, 'exit 1: recorded, tests failed');
  t.match(r.summary, '(first 20000 characters; the whole file is in the run\'s artifacts)', 'the file is shown cut');
  t.notOk(r.summary.includes(FAKE_GATE_TOKEN.slice(0, 12)), 'no part of the token in the step summary');
  t.match(r.summary, 'xxxgate_[redacted]', 'the token blanked where it stood');
});

t.test('failure messages that are whole tracebacks: the step summary stays under GitHub\'s 1 MiB, every failed test named', async (t) => {
  // GitHub drops a step summary over 1 MiB whole ("upload aborted"): counts, verdict and details
  const failures = Array.from({ length: 50 }, (_, i) => ({ name: `test_case_${i}`, message: `Traceback ${i}: ${'<frame> '.repeat(2000)}` }));
  const content = JSON.stringify({ exitCode: 1, passed: 0, failed: 50, total: 50, failures });
  t.ok(content.length < 1000 * 1024, 'the file is within the gate\'s 1 MiB');
  const tag = newTag();
  const r = await report(resultsFile('tracebacks.json', content), tag);
  t.equal(r.status, 1, 'exit 1: recorded, tests failed');
  t.ok(Buffer.byteLength(r.summary) < 1024 * 1024, `the step summary is under 1 MiB (${Buffer.byteLength(r.summary)} bytes)`);
  t.match(r.summary, '| 1 | 0 | 50 | – | 50 |', 'the counts');
  for (let i = 0; i < 50; i++) t.match(r.summary, `- test_case_${i}: Traceback ${i}: &lt;frame&gt; `, `test_case_${i} named with the start of its message`);
  t.match(r.summary, '…\n', 'a cut message is marked');
});

t.test('exit code 0 with failed tests: the gate says failed, so does the step', async (t) => {
  const tag = newTag();
  const r = await report(resultsFile('inconsistent.json', '{"exitCode":0,"passed":9,"failed":1,"total":10}'), tag);
  t.equal(r.status, 1, 'exit 1');
  t.match(r.outputs, { recorded: 'true', passed: 'false', 'eligible-for-beta': 'false' });
  t.match(r.summary, '- 1 test(s) failed');
  t.match(await gateResult(tag), { found: true, passed: false });
});

t.test('a re-report of the same tag: the newest result counts', async (t) => {
  const tag = newTag();
  t.equal((await report(resultsFile('first.json', FAILING), tag)).status, 1);
  const second = await report(resultsFile('second.json', PASSING), tag);
  t.equal(second.status, 0);
  t.match(await gateResult(tag), { passed: true, exitCode: 0 });
});

const malformed: { name: string; content: string | Buffer | null; message: string }[] = [
  { name: 'missing file', content: null, message: 'file not found' },
  { name: 'empty file', content: '', message: 'the file is empty' },
  { name: 'not JSON', content: '{"exitCode": 1,', message: 'not valid JSON' },
  { name: 'an array', content: '[{"exitCode":0}]', message: 'must be a JSON object, got an array' },
  { name: 'no exitCode', content: '{"passed":3,"failed":0}', message: 'field "exitCode" is missing' },
  { name: 'exitCode as a string', content: '{"exitCode":"1"}', message: 'field "exitCode" must be an integer, got the string "1"' },
  { name: 'fractional exitCode', content: '{"exitCode":1.5}', message: 'field "exitCode" must be an integer, got number 1.5' },
  { name: 'tests not an object', content: '{"exitCode":0,"tests":[1,2]}', message: 'field "tests" must be an object' },
  { name: 'negative count', content: '{"exitCode":0,"failed":-1}', message: 'field "failed" must be a non-negative integer, got number -1' },
  { name: 'nested count not a number', content: '{"exitCode":0,"tests":{"total":"ten"}}', message: 'field "tests.total" must be a non-negative integer' },
  // the gate's schema also types `error` (the reviewer's cases: the script used to send these and get a 400)
  { name: 'error: null', content: '{"exitCode":0,"passed":10,"failed":0,"error":null}', message: 'field "error" must be a string (what went wrong), got null' },
  { name: 'error: an object', content: '{"exitCode":1,"error":{"type":"Timeout","message":"sandbox"}}', message: 'field "error" must be a string (what went wrong), got an object' },
  { name: 'error: 2001 characters', content: JSON.stringify({ exitCode: 1, error: 'x'.repeat(2001) }), message: 'field "error" must be at most 2000 characters, got 2001' },
  { name: 'exitCode beyond the safe integers', content: '{"exitCode":1e20}', message: 'field "exitCode" must be an integer, got number 100000000000000000000' },
  { name: 'a prototype key', content: '{"exitCode":0,"meta":{"__proto__":{"admin":true}}}', message: 'key "meta.__proto__" is not allowed' },
  { name: 'a key twice', content: '{"exitCode":1,"tests":{"failed":2,"failed":0},"exitCode":0}', message: 'key "tests.failed" appears more than once in its object' },
  // the gate refuses bytes that are not UTF-8 (it stores the file as it came): a broken run here
  { name: 'bytes that are not UTF-8', content: Buffer.concat([Buffer.from('{"exitCode":0,"passed":3,"suite":"Z'), Buffer.from([0xfc]), Buffer.from('rich"}')]), message: 'not valid UTF-8' },
  // a problem text cut at 2000 UTF-16 units inside an emoji must not leave half of it (the gate refuses a lone surrogate)
  { name: 'a long emoji key twice', content: `{"exitCode":1,"${'🚀'.repeat(1100)}":1,"${'🚀'.repeat(1100)}":2}`, message: `key "${'🚀'.repeat(10)}` },
  // the same one unit further on: one of the two is cut inside an emoji, whatever the path's length
  { name: 'a long emoji key twice, one unit on', content: `{"exitCode":1,"x${'🚀'.repeat(1100)}":1,"x${'🚀'.repeat(1100)}":2}`, message: `key "x${'🚀'.repeat(10)}` },
  // the problem is reported as the run's `error`, which the gate refuses with a token in it
  { name: 'a token-shaped key twice', content: `{"exitCode":1,"${FAKE_GATE_TOKEN}":1,"${FAKE_GATE_TOKEN}":2}`, message: 'key "gate_[redacted]" appears more than once in its object' },
  // a wrong value is quoted cut to 40 characters: blanked first, or the cut leaves most of a token
  { name: 'a token as exitCode', content: `{"exitCode":"${FAKE_GATE_TOKEN}"}`, message: 'field "exitCode" must be an integer, got the string "gate_[redacted]"' },
  { name: 'a token in a string instead of an object', content: JSON.stringify(`GATE_TOKEN=${FAKE_GATE_TOKEN}`), message: 'must be a JSON object, got the string "GATE_TOKEN=gate_[redacted]"' },
];

for (const c of malformed) {
  t.test(`malformed results file (${c.name}): exit 2, the problem named, reported to the gate as a failed run`, async (t) => {
    const tag = newTag();
    const file = c.content === null ? join(work, 'does-not-exist.json') : resultsFile(`bad-${seq}.json`, c.content);
    const r = await report(file, tag);
    t.equal(r.status, 2, 'exit 2');
    t.match(r.stdout, '::error title=Integration test results unusable::', 'an error annotation');
    t.match(r.stdout, c.message, 'the annotation names the problem');
    t.match(r.summary, c.message, 'the summary names the problem');
    t.match(r.summary, 'Reported to the gate as a failed run');
    t.match(r.outputs, { recorded: 'true', 'eligible-for-beta': 'false', passed: 'false' });
    const recorded = await gateResult(tag);
    t.match(recorded, { found: true, passed: false, exitCode: 1 }, 'the gate records a failed run for the tag');
    t.match(recorded['error'], c.message, 'with the problem as its error');
    const part = FAKE_GATE_TOKEN.slice(0, 20);
    t.notOk(r.output.includes(part) || r.summary.includes(part) || String(recorded['error']).includes(part), 'no token printed or sent, not even a part of one');
  });
}

t.test('--sha256: only the file the integration job recorded is reported as results', async (t) => {
  const { createHash } = await import('node:crypto');
  const sum = createHash('sha256').update(PASSING).digest('hex');
  const good = newTag();
  const ok = await report(resultsFile('sum-ok.json', PASSING), good, {}, undefined, undefined, ['--sha256', sum]);
  t.equal(ok.status, 0, 'matching checksum: recorded as it is');
  t.match(await gateResult(good), { found: true, passed: true });

  // another job of the run uploaded an artifact of that name first: a passing file that is not
  // the one the tests wrote must not make the tag eligible for beta
  const forged = newTag();
  const r = await report(resultsFile('sum-forged.json', PASSING.replace('118', '120')), forged, {}, undefined, undefined, ['--sha256', sum]);
  t.equal(r.status, 2, 'exit 2');
  t.match(r.stdout, `is not the ${sum} the integration job recorded: not the file the tests wrote`);
  const g = await gateResult(forged);
  t.match(g, { found: true, passed: false, exitCode: 1 }, 'reported as a broken run: beta refuses the tag');
  t.match(g['error'], 'not the file the tests wrote');

  const none = newTag();
  const n = await report(resultsFile('sum-none.json', PASSING), none, {}, undefined, undefined, ['--sha256', '']);
  t.equal(n.status, 2);
  t.match(n.stdout, 'the integration job recorded no results file, so this one is not its own');
  t.match(await gateResult(none), { found: true, passed: false });

  const missing = newTag();
  const m = await report(join(work, 'never-written.json'), missing, {}, undefined, undefined, ['--sha256', '']);
  t.equal(m.status, 2);
  t.match(m.stdout, 'file not found');
  t.match(await gateResult(missing), { found: true, passed: false }, 'no artifact at all: a broken run too');

  const bad = await report(resultsFile('sum-bad.json', PASSING), newTag(), {}, undefined, undefined, ['--sha256', 'abc']);
  t.equal(bad.status, 2);
  t.match(bad.stderr, '--sha256 must be 64 hex digits');
});

t.test('--tests-outcome: a passing file from a test step that failed is not recorded as a pass', async (t) => {
  // the runner wrote a passing file, then crashed or was killed (exit code non-zero): the job
  // is red, so the gate must not make the tag eligible for beta on the file alone
  for (const outcome of ['failure', 'cancelled', 'skipped']) {
    const tag = newTag();
    const r = await report(resultsFile(`outcome-${outcome}.json`, PASSING), tag, {}, undefined, undefined, ['--tests-outcome', outcome]);
    t.equal(r.status, 2, `${outcome}: exit 2`);
    t.match(r.outputs, { 'eligible-for-beta': 'false', passed: 'false' }, `${outcome}: not eligible for beta`);
    t.match(r.stdout, `the integration test step ended with outcome "${outcome}"`, `${outcome}: the reason is named`);
    const g = await gateResult(tag);
    t.match(g, { found: true, passed: false, exitCode: 1 }, `${outcome}: the gate records a failed run, so beta refuses the tag`);
    t.match(g['error'], `outcome "${outcome}"`);
    noSecretsPrinted(t, r);
  }

  const ok = newTag();
  const s = await report(resultsFile('outcome-success.json', PASSING), ok, {}, undefined, undefined, ['--tests-outcome', 'success']);
  t.equal(s.status, 0, 'success: the passing file is recorded as it is');
  t.match(await gateResult(ok), { found: true, passed: true });

  const failed = newTag();
  const f = await report(resultsFile('outcome-failed.json', FAILING), failed, {}, undefined, undefined, ['--tests-outcome', 'failure']);
  t.equal(f.status, 1, 'a failing file from a failed step: recorded as it is (exit 1)');
  t.match(await gateResult(failed), { found: true, passed: false, exitCode: 1 });
  t.match(f.outputs, { 'failed-count': '3' }, 'with its own counts');

  const bad = await report(resultsFile('outcome-bad.json', PASSING), newTag(), {}, undefined, undefined, ['--tests-outcome', 'passed']);
  t.equal(bad.status, 2);
  t.match(bad.stderr, '--tests-outcome must be');
});

t.test('a directory instead of a file: exit 2', async (t) => {
  const r = await report(work, newTag());
  t.equal(r.status, 2);
  t.match(r.stdout, 'not a regular file');
});

const usage: { name: string; args: string[]; env?: Record<string, string>; message: string }[] = [
  { name: 'no --file', args: ['--image-tag', 'a'.repeat(40)], message: '--file is required' },
  { name: 'short SHA', args: ['--file', 'x.json', '--image-tag', 'abc1234'], message: '--image-tag must be the full 40-character lowercase Git SHA, got "abc1234"' },
  { name: 'uppercase SHA', args: ['--file', 'x.json', '--image-tag', 'A'.repeat(40)], message: '--image-tag must be the full 40-character' },
  { name: 'unknown option', args: ['--file', 'x.json', '--tag', 'a'.repeat(40)], message: "Unknown option '--tag'" },
  { name: 'credentials in the gate URL', args: ['--file', 'x.json', '--image-tag', 'a'.repeat(40), '--gate-url', 'http://ci:secret@127.0.0.1:1'], message: 'must not carry credentials' },
  { name: 'not a URL', args: ['--file', 'x.json', '--image-tag', 'a'.repeat(40), '--gate-url', 'gate-service:8080'], message: 'must be http or https' },
  { name: 'bad retry count', args: ['--file', 'x.json', '--image-tag', 'a'.repeat(40)], env: { GATE_RETRY_ATTEMPTS: 'lots' }, message: 'GATE_RETRY_ATTEMPTS must be an integer from 1 to 20, got "lots"' },
];

for (const c of usage) {
  t.test(`usage error (${c.name}): exit 2 with the problem and the usage`, async (t) => {
    const r = await runScript(SCRIPT, c.args, { GATE_URL: gate.url, GATE_CI_TOKEN: ciToken, ...(c.env ?? {}) });
    t.equal(r.status, 2, 'exit 2');
    t.match(r.stderr, c.message);
    t.match(r.stderr, 'usage: node report-results.mjs');
  });
}

t.test('a usage error quoting a value with line breaks: the value is printed on one line', async (t) => {
  // the error names the value it was given, which is not the script's own text
  const r = await runScript(SCRIPT, ['--file', 'x.json', '--image-tag', 'abc\n::add-mask::x\n  ::stop-commands::y'], { GATE_URL: gate.url, GATE_CI_TOKEN: ciToken });
  t.equal(r.status, 2, 'exit 2');
  t.match(r.stderr, 'report-results: --image-tag must be the full 40-character lowercase Git SHA, got "abc ::add-mask::x ::stop-commands::y"');
  t.same(commandsIn(r.stderr), [], 'no command on stderr');
  t.same(commandsIn(r.stdout), ['::error'], 'the only command on stdout is the usage annotation');
});

t.test('--help: exit 0 with the exit codes listed', async (t) => {
  const r = await runScript(SCRIPT, ['--help']);
  t.equal(r.status, 0);
  t.match(r.stdout, '3 gate refused (4xx, 507), 4 gate unavailable after retries');
});

t.test('no token anywhere: exit 2, results still summarised, nothing sent', async (t) => {
  const tag = newTag();
  const r = await report(resultsFile('nt.json', PASSING), tag, { GATE_CI_TOKEN: '' });
  t.equal(r.status, 2);
  t.match(r.stdout, 'no ci token: set the repository secret GATE_CI_TOKEN');
  t.match(r.summary, '| 0 | 118 | 0 | 2 | 120 |', 'the counts are still shown');
  t.equal((await gateResult(tag))['found'], false);
});

t.test('a token with a line break inside (the whole `token create` output pasted): exit 2 at once, the token never printed', async (t) => {
  const pasted = `created token "ci" (roles ci) in /data/tokens.json\nit is shown only now; store it in a secret manager:\n${ciToken}`;
  for (const [name, env] of [
    ['GATE_CI_TOKEN', { GATE_CI_TOKEN: pasted }],
    ['GATE_CI_TOKEN_FILE', { GATE_CI_TOKEN: '', GATE_CI_TOKEN_FILE: resultsFile('pasted-token', `${pasted}\n`) }],
  ] as const) {
    for (const content of [PASSING, '{"exitCode": 1,']) {
      const tag = newTag();
      const r = await report(resultsFile(`pasted-${seq}.json`, content), tag, env);
      t.equal(r.status, 2, `${name}: exit 2 (no usable token), not retried as an outage`);
      t.match(r.output, 'holds a line break, a space or another character a bearer token cannot (3 line(s))', `${name}: the problem named`);
      t.notMatch(r.stderr, /attempt \d+\/\d+ failed/, `${name}: nothing sent, nothing retried`);
      t.equal((await gateResult(tag))['found'], false, `${name}: nothing recorded`);
      noSecretsPrinted(t, r);
    }
  }
});

t.test('token from GATE_CI_TOKEN_FILE (the ServiceAccount token path in the cluster)', async (t) => {
  const tag = newTag();
  const tokenFile = resultsFile('sa-token', `${ciToken}\n`);
  const r = await report(resultsFile('sa.json', PASSING), tag, { GATE_CI_TOKEN: '', GATE_CI_TOKEN_FILE: tokenFile });
  t.equal(r.status, 0);
  t.match(r.stdout, `token from the token file ${tokenFile}`);
  t.match(await gateResult(tag), { found: true, passed: true });
  noSecretsPrinted(t, r);
});

const refusals: { name: string; token: () => string; status: number; code: string; hint: string }[] = [
  { name: 'a wrong token', token: () => 'gate_not-a-real-token', status: 401, code: 'unauthorized', hint: 'check the GATE_CI_TOKEN secret' },
  { name: 'a token without the ci role (Kargo caller)', token: () => gate.tokens['kargo'] ?? '', status: 403, code: 'forbidden', hint: 'lacks the ci role' },
];

for (const c of refusals) {
  t.test(`${c.name}: the gate refuses (${c.status}), exit 3 at once, nothing recorded`, async (t) => {
    t.ok(c.token(), 'token available');
    const counter = await startGateProxy(gate.url, () => 'forward');
    t.teardown(counter.close);
    const tag = newTag();
    const r = await report(resultsFile(`ref-${c.status}.json`, FAILING), tag, { GATE_CI_TOKEN: c.token(), GATE_RETRY_ATTEMPTS: '5' }, counter.url);
    t.equal(r.status, 3, 'exit 3');
    t.equal(counter.count(), 1, 'sent once: a refusal is not retried');
    t.match(r.stdout, `::error title=Gate refused the test results::the gate refused the result: HTTP ${c.status} ${c.code}`);
    t.match(r.stdout, c.hint);
    t.match(r.summary, `**Not recorded by the gate:** the gate refused the result: HTTP ${c.status}`);
    t.match(r.summary, '#### Failure details', 'the failure details are in the summary anyway');
    t.match(r.outputs, { recorded: 'false', 'eligible-for-beta': 'false' });
    t.equal((await gateResult(tag))['found'], false);
    secrets.push(c.token());
    noSecretsPrinted(t, r);
  });
}

t.test('a results file over the gate limit (1 MiB): refused with 413, exit 3, reported as a failed run', async (t) => {
  const tag = newTag();
  const big = JSON.stringify({ exitCode: 0, passed: 1, failed: 0, total: 1, log: 'x'.repeat(1024 * 1024) });
  const r = await report(resultsFile('big.json', big), tag);
  t.equal(r.status, 3);
  t.match(r.stdout, 'HTTP 413 payload_too_large');
  t.match(r.stdout, 'larger than the gate accepts (1 MiB)');
  t.match(r.stdout, 'reported to the gate as a failed run');
  t.match(r.summary, 'Reported to the gate as a failed run instead');
  t.match(r.outputs, { recorded: 'true', passed: 'false', 'eligible-for-beta': 'false' });
  const g = await gateResult(tag);
  t.match(g, { found: true, passed: false, exitCode: 1 }, 'beta gets a definite answer (refused) instead of waiting for its timeout');
  t.match(g['error'], /^results file rejected by the gate: HTTP 413 payload_too_large/);
});

t.test('the gate\'s data volume is nearly full (507): refused at once with the hint, exit 3, not retried', async (t) => {
  const proxy = await startGateProxy(gate.url, () => ({
    status: 507,
    body: JSON.stringify({ error: 'insufficient_storage', message: 'the data volume has 200 MiB free; test results are refused below 256 MiB, kept for the audit log' }),
  }));
  t.teardown(proxy.close);
  const tag = newTag();
  const r = await report(resultsFile('full.json', PASSING), tag, { GATE_RETRY_ATTEMPTS: '3' }, proxy.url);
  t.equal(r.status, 3, 'exit 3: the gate refused, retrying within the job cannot free the volume');
  t.equal(proxy.count(), 1, 'sent once');
  t.match(r.stdout, 'the gate refused the result: HTTP 507 insufficient_storage');
  t.match(r.stdout, 'data volume is nearly full');
  t.match(r.outputs, { recorded: 'false', 'eligible-for-beta': 'false' });
});

t.test("the script's checks are the gate's: a corpus of bodies sent to the real gate, accepted and summarised alike", async (t) => {
  const lib = (await import(pathToFileURL(join(scriptsDir, 'lib', 'results.mjs')).href)) as {
    parseResults: (text: string) => Record<string, unknown>;
    summarize: (body: Record<string, unknown>) => { passed: boolean; exitCode: number; counts: Record<string, number | null>; error: string | null };
    cleanErrorText: (text: string) => { text: string; tokens: boolean; controls: boolean };
  };
  const values: unknown[] = [0, 1, -1, 1.5, 2 ** 53 - 1, 2 ** 53, -(2 ** 53), 1e20, '1', '', null, true, [], {}];
  const strings = ['', '   ', ' boom ', 'x'.repeat(2000), 'x'.repeat(2001), '😀'.repeat(2000), '😀'.repeat(2001), 'e\u0301'.repeat(1000), 'e\u0301'.repeat(1001)];
  const bodies: string[] = [];
  const json = (o: unknown) => bodies.push(JSON.stringify(o));
  for (const v of values) {
    json({ exitCode: v });
    json({ exitCode: 0, passed: v, failed: 0 });
    json({ exitCode: 1, tests: { failed: v } });
    json({ exitCode: 0, error: v });
    json({ exitCode: 0, tests: v });
  }
  for (const e of strings) {
    json({ exitCode: 0, passed: 3, failed: 0, error: e });
    json({ exitCode: 2, error: e });
  }
  json({ exitCode: 0, passed: 9, failed: 1 });
  // no test passed: not a pass at either end, exit code 0 or not
  json({ exitCode: 0, passed: 0, failed: 0, skipped: 4, total: 4 });
  json({ exitCode: 0, tests: { total: 0 } });
  json({ exitCode: 0, total: 12, skipped: 12 });
  json({ exitCode: 0, tests: { total: 12, skipped: 12, failed: 0 } });
  json({ exitCode: 0, total: 12, skipped: 11 });
  json({ exitCode: 0, tests: { passed: 0 }, total: 3 });
  json({ exitCode: 0, failed: 0, tests: { failed: 4, passed: 2, total: 6 } });
  json({ exitCode: 0, tests: { passed: 5, failed: 0, skipped: 1, total: 6, extra: 'kept' }, suite: { name: 'x' } });
  json({ exitCode: 0, passed: 1, failed: 0, constructor: 'a string is fine' });
  json({ exitCode: 0, constructor: { name: 'no prototype key: fine' } });
  bodies.push(
    '', '   ', 'null', '42', '"x"', '[]', '[{"exitCode":0}]', '{"exitCode":0', '{"exitCode":0} trailing',
    '\uFEFF{"exitCode":0,"passed":1,"failed":0}',
    '{"exitCode":0,"__proto__":{"x":1}}',
    '{"exitCode":0,"extra":{"__proto__":{}}}',
    '{"exitCode":0,"list":[1,{"\\u005f_proto__":null}]}',
    '{"exitCode":0,"constructor":{"prototype":{}}}',
    '{"exitCode":0,"a":[{"constructor":{"prototype":1}}]}',
    '{"exitCode":0,"passed":1,"passed":-1}',
    '{"exitCode":1,"exitCode":0}',
    '{"exitCode":0,"tests":{"failed":1,"failed":0}}',
    '{"exitCode":0,"runs":[{"a":1},{"id":"x","id":"x"}]}',
    '{"exitCode":0,"a":1,"\\u0061":2}',
    '{"exitCode":0,"a":{"k":1},"b":{"k":1},"s":"\\"k\\":{\\"k\\""}',
  );
  // a gate or break-glass token in `error` (gate_/gbg_ + 43 of [A-Za-z0-9_-]): the gate refuses
  // the body as it is, the script refuses it as it is too and blanks the token before sending
  const withToken: string[] = [];
  const tokenJson = (o: unknown) => withToken.push(JSON.stringify(o));
  for (const e of [`runner crashed, env: GATE_TOKEN=${FAKE_GATE_TOKEN}`, FAKE_BG_TOKEN, `x${FAKE_GATE_TOKEN}y`, `${FAKE_GATE_TOKEN}${FAKE_BG_TOKEN}`, `gate_${'A'.repeat(44)}`, `GATE_gate_${'-'.repeat(43)}`]) {
    tokenJson({ exitCode: 1, error: e });
    tokenJson({ exitCode: 0, passed: 3, failed: 0, error: e });
  }
  withToken.push(
    `{"exitCode":1,"error":"gate\\u005f${'A'.repeat(43)}"}`, // the "_" escaped in the JSON text
    `{"exitCode":1,"error":"\\u0067bg_${'z'.repeat(43)} and more"}`,
    `\uFEFF{"exitCode":1,"error":"${FAKE_GATE_TOKEN}"}`,
    `{ "exitCode" : 1 , "tests" : { "error" : "nested, not read" } , "error"\n:\t"${FAKE_GATE_TOKEN}" , "after" : [1, {"error": "x"}] }`,
    JSON.stringify({ exitCode: 1, error: `${'x'.repeat(1960)} ${FAKE_GATE_TOKEN}` }), // 2009 characters as written, 1976 once blanked
    // a Kubernetes ServiceAccount token (a JWT) from an env dump
    JSON.stringify({ exitCode: 1, error: `env: KUBE_TOKEN=eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.eyJpc3MiOiJrdWJlcm5ldGVzIn0.${'c2ln'.repeat(20)}` }),
  );
  // control characters and bidirectional overrides in `error` (a runner's coloured output): the
  // gate refuses the body as it is, the script refuses it as it is too and cleans it before sending
  const withControls: { text: string; sent: string }[] = [];
  const controlJson = (error: string, sent: string) => withControls.push({ text: JSON.stringify({ exitCode: 1, error }), sent });
  controlJson('\u001b[31mFAIL\u001b[0m suite crashed', 'FAIL suite crashed');
  controlJson('\u001b[1;38;5;196mred\u001b[m \u001b]0;title\u0007done \u001b]8;;https://x\u001b\\link\u001b]8;;\u001b\\', 'red done link');
  controlJson('\u009b2Jcleared', 'cleared');
  controlJson('10%\r50%\r100%\r\nok', '10%\n50%\n100%\r\nok');
  controlJson('nul\u0000 bel\u0007 del\u007f c1\u0085 rlo\u202eX lri\u2066Y\u2069', 'nul\ufffd bel\ufffd del\ufffd c1\ufffd rlo\ufffdX lri\ufffdY\ufffd');
  // nothing but escape sequences: still a non-blank error, so still a failed run
  // (a run whose exit code and counts say it passed: the error alone makes it failed)
  for (const error of ['\u001b[31m\u001b[0m', ' \r \u001b[2K']) {
    withControls.push({ text: JSON.stringify({ exitCode: 0, passed: 5, failed: 0, total: 5, error }), sent: 'the error text held only terminal escapes or control characters' });
  }
  // a token that a colour code cut in two: joined by the cleaning, then blanked
  controlJson(`env: ${FAKE_GATE_TOKEN.slice(0, 20)}\u001b[0m${FAKE_GATE_TOKEN.slice(20)}`, 'env: gate_[redacted]');
  // not a token, or not in `error`: accepted by both and sent as it is
  for (const e of [`gate_${'A'.repeat(42)}`, `GATE_${'A'.repeat(43)}`, `gate-${'A'.repeat(43)}`, `gbg_${'A'.repeat(42)}+${'A'.repeat(10)}`, 'gate_[redacted] and gbg_[redacted]', 'gate_', 'gbg_']) json({ exitCode: 1, error: e });
  json({ exitCode: 0, passed: 1, failed: 0, note: FAKE_GATE_TOKEN, tests: { passed: 1, error: FAKE_BG_TOKEN } });
  json({ exitCode: 1, error: 'tabs\tand lines\r\nand\nlf, joiners 👩‍💻 and شلام' });
  /** Sends `text` to the gate and checks that the script accepts it and summarises it alike; returns the gate's answer. */
  async function sameAtBoth(text: string, label: string): Promise<{ status: number; answer: Record<string, unknown> }> {
    const shown = `${label}${text.length > 70 ? `${text.slice(0, 60)}…(${text.length} chars)` : JSON.stringify(text)}`;
    let local: Record<string, unknown> | null = null;
    let why = '';
    try {
      local = lib.parseResults(text);
    } catch (err) {
      why = (err as Error).message;
    }
    const tag = newTag();
    const res = await fetch(`${gate.url}/v1/test-results/${tag}`, { method: 'PUT', headers: { authorization: `Bearer ${ciToken}`, 'content-type': 'application/json' }, body: text });
    const answer = (await res.json()) as Record<string, unknown>;
    t.ok(res.status === 200 || res.status === 400, `${shown}: the gate answers 200 or 400 (${res.status})`);
    t.equal(local !== null, res.status === 200, `${shown}: script ${local ? 'accepts' : `rejects (${why})`}, gate ${res.status === 200 ? 'accepts' : `rejects (${String(answer['message'])})`}`);
    if (local && res.status === 200) {
      const mine = lib.summarize(local);
      t.same({ passed: mine.passed, exitCode: mine.exitCode, counts: mine.counts, error: mine.error }, { passed: answer['passed'], exitCode: answer['exitCode'], counts: answer['counts'], error: answer['error'] ?? null }, `${shown}: the same summary`);
    }
    return { status: res.status, answer };
  }

  for (const text of [...bodies, ...withToken]) {
    const { status, answer } = await sameAtBoth(text, '');
    // what the script sends: the text with any token in `error` blanked, else the text as it is
    const sent = lib.cleanErrorText(text);
    if (!withToken.includes(text)) {
      t.same(sent, { text, tokens: false, controls: false }, `${JSON.stringify(text.slice(0, 60))}: sent as it is`);
      continue;
    }
    // (the over-long one is refused for its length first)
    t.match(answer, { field: 'body.error', message: /^body\.error: (contains what looks like a gate token|must be at most 2000 characters)/ }, `${JSON.stringify(text.slice(0, 60))}: the gate refuses the token in error (${status})`);
    t.same([sent.tokens, sent.controls], [true, false], 'the script blanks it');
    t.notMatch(sent.text, /(gate|gbg)(_|\\u005f)[A-Za-z0-9_-]{43}|eyJ[A-Za-z0-9_-]{8,}\.eyJ/, 'no token left in what it sends');
    const blanked = await sameAtBoth(sent.text, 'blanked: ');
    t.equal(blanked.status, 200, 'the gate accepts the blanked body');
    t.match(blanked.answer['error'], /(gate|gbg|jwt)_\[redacted\]/, 'and records the error text with the token blanked');
  }
  for (const c of withControls) {
    const { status, answer } = await sameAtBoth(c.text, '');
    t.match(answer, { field: 'body.error', message: /^body\.error: must not hold control characters or bidirectional overrides \(U\+[0-9A-F]{4} at character \d+\)/ }, `${JSON.stringify(c.text.slice(0, 60))}: the gate refuses it (${status})`);
    const sent = lib.cleanErrorText(c.text);
    t.equal(sent.controls, true, 'the script cleans it');
    t.equal(sent.tokens, c.sent.includes('[redacted]'), 'and blanks a token only where there was one');
    const cleaned = await sameAtBoth(sent.text, 'cleaned: ');
    t.equal(cleaned.status, 200, 'the gate accepts the cleaned body');
    t.equal(cleaned.answer['error'], c.sent, 'and records the cleaned text');
    t.equal(cleaned.answer['passed'], false, 'a failed run, as the error says');
  }
  // "error" twice: every one is blanked, and the body is refused by both all the same (a key twice)
  const twice = `{"exitCode":1,"error":"${FAKE_GATE_TOKEN}","error":"fine"}`;
  t.same(lib.cleanErrorText(twice), { text: '{"exitCode":1,"error":"gate_[redacted]","error":"fine"}', tokens: true, controls: false }, 'every "error" of the object is blanked');
  t.equal((await sameAtBoth(twice, '')).status, 400);
  t.equal((await sameAtBoth(lib.cleanErrorText(twice).text, 'blanked: ')).status, 400);
});

t.test('exit code 0 but an error: the gate says failed, so does the step (no disagreement)', async (t) => {
  const tag = newTag();
  const r = await report(resultsFile('err0.json', '{"exitCode":0,"passed":3,"failed":0,"error":"boom"}'), tag);
  t.equal(r.status, 1, 'exit 1');
  t.match(r.outputs, { recorded: 'true', passed: 'false', 'eligible-for-beta': 'false' });
  t.notMatch(r.stdout, 'Gate and script disagree');
  t.match(r.summary, '- the run reports an `error`, so it counts as failed despite exit code 0');
  t.match(r.summary, '- error: boom');
  t.match(await gateResult(tag), { found: true, passed: false, error: 'boom' });
});

t.test('an error holding tokens (a runner env dump): blanked before sending, recorded as a failed run with the blanked text, exit 1', async (t) => {
  const admin = gate.tokens['admin'] ?? '';
  t.ok(admin.startsWith('gate_'), 'a real gate token');
  const error = `runner crashed, env: GATE_TOKEN=${admin} GATE_BREAK_GLASS=${FAKE_BG_TOKEN}`;
  const blanked = 'runner crashed, env: GATE_TOKEN=gate_[redacted] GATE_BREAK_GLASS=gbg_[redacted]';
  const file = JSON.stringify({ exitCode: 1, tests: { passed: 3, failed: 0 }, error, log: `kept as it is: ${FAKE_GATE_TOKEN}` }, null, 2);
  const escaped = `{"exitCode":1,"error":"crashed: gate\\u005f${admin.slice(5)}"}`; // "_" escaped in the JSON text
  for (const [content, recordedError, stored] of [
    [file, blanked, file.replace(JSON.stringify(error), JSON.stringify(blanked))],
    [escaped, 'crashed: gate_[redacted]', '{"exitCode":1,"error":"crashed: gate_[redacted]"}'],
  ] as const) {
    const tag = newTag();
    const r = await report(resultsFile(`env-dump-${seq}.json`, content), tag);
    t.equal(r.status, 1, 'exit 1: recorded, tests failed');
    t.match(r.outputs, { recorded: 'true', passed: 'false', 'eligible-for-beta': 'false', 'exit-code': '1' });
    t.match(r.stdout, '::warning title=Token blanked in the results::');
    t.match(r.stdout, 'rotate');
    t.match(r.summary, `- error: ${recordedError}`);
    const g = await gateResult(tag);
    t.match(g, { found: true, passed: false, exitCode: 1, error: recordedError }, 'the gate holds the run with the blanked error');
    t.equal(readFileSync(join(gate.dataDir, String(g['artifact'])), 'utf8'), stored, 'what was sent: the file with only `error` blanked, the rest byte for byte');
    noSecretsPrinted(t, r);
    t.notOk(r.output.includes(FAKE_BG_TOKEN) || r.summary.includes(FAKE_BG_TOKEN), 'the break-glass token is not printed either');
    t.notOk(r.summary.includes(FAKE_GATE_TOKEN), 'nor a token elsewhere in the file (its log), which the step summary shows');
  }
});

t.test('an error in colour (terminal escapes), and a broken file quoting a bidirectional override: cleaned before sending, recorded', async (t) => {
  const error = '\u001b[31m✖ 3 tests failed\u001b[0m\r\nsee \u001b]8;;https://ci/log\u0007the log\u001b]8;;\u0007';
  const cleaned = '✖ 3 tests failed\r\nsee the log';
  const content = JSON.stringify({ exitCode: 1, error, log: 'kept \u001b[1mas it is\u001b[0m' });
  const tag = newTag();
  const r = await report(resultsFile(`colour-${seq}.json`, content), tag);
  t.equal(r.status, 1, 'exit 1: recorded, tests failed');
  t.match(r.outputs, { recorded: 'true', passed: 'false', 'exit-code': '1' });
  t.match(r.stdout, '::warning title=Control characters removed from the results::');
  t.notMatch(r.stdout, 'Token blanked', 'no token warning: there was none');
  const g = await gateResult(tag);
  t.match(g, { found: true, passed: false, error: cleaned }, 'the gate holds the run with the cleaned error');
  t.equal(readFileSync(join(gate.dataDir, String(g['artifact'])), 'utf8'), content.replace(JSON.stringify(error), JSON.stringify(cleaned)), 'what was sent: the file with only `error` cleaned, the rest byte for byte');

  // a file the script cannot use is reported as a broken run whose error quotes the bad value:
  // JSON.stringify escapes C0 controls but not a right-to-left override
  const brokenTag = newTag();
  const broken = await report(resultsFile(`bidi-${seq}.json`, JSON.stringify({ exitCode: 'ok\u202e1' })), brokenTag);
  t.equal(broken.status, 2, 'exit 2: no usable results');
  const b = await gateResult(brokenTag);
  t.match(b, { found: true, passed: false, error: /^no usable results file: .*field "exitCode" must be an integer, got the string "ok\ufffd1"/ }, 'reported as a broken run, the override replaced');

  // the problem quotes a key in full: cut to 2000 characters, a CRLF parted by the cut must not
  // leave a lone carriage return, which the gate refuses (the broken run would go unreported)
  const keyFile = resultsFile(`crlf-key-${seq}.json`, '{}');
  const prefix = `no usable results file: ${keyFile}: key "`;
  const key = `${'k'.repeat(1999 - prefix.length)}\r\nrest`;
  writeFileSync(keyFile, `{"exitCode":1,${JSON.stringify(key)}:1,${JSON.stringify(key)}:2}`);
  const keyTag = newTag();
  const cut = await report(keyFile, keyTag);
  t.equal(cut.status, 2, 'exit 2: no usable results');
  t.match(cut.outputs, { recorded: 'true' }, 'reported to the gate as a broken run');
  t.match(await gateResult(keyTag), { found: true, passed: false, error: /key "k+$/ }, 'its error cut where the carriage return was');
});

t.test('a body the gate rejects all the same (400: the checks drifted): exit 3, reported as a failed run', async (t) => {
  // A proxy stands in for a gate whose schema moved on: it drops exitCode from the first PUT
  // only, so the real gate answers 400; the failed-run report after it passes through unchanged.
  const proxy = await startGateProxy(gate.url, (n) => (n === 1 ? {
    rewriteBody: (b) => {
      const o = JSON.parse(b.toString()) as Record<string, unknown>;
      delete o['exitCode'];
      return Buffer.from(JSON.stringify(o));
    },
  } : 'forward'));
  t.teardown(proxy.close);
  const tag = newTag();
  const r = await report(resultsFile('strict.json', PASSING), tag, {}, proxy.url);
  t.equal(r.status, 3);
  t.match(r.stdout, /HTTP 400 invalid_request: body\.exitCode: .*\(field: body\.exitCode\)/);
  t.match(r.stdout, 'no longer match the gate');
  t.equal(proxy.count(), 2, 'the 400 is not retried; one failed-run report follows');
  t.match(r.outputs, { recorded: 'true', passed: 'false', 'eligible-for-beta': 'false' });
  const g = await gateResult(tag);
  t.match(g, { found: true, passed: false, exitCode: 1 }, 'the gate holds a failed run: beta is refused at once');
  t.match(g['error'], /^results file rejected by the gate: HTTP 400 invalid_request: body\.exitCode/);
});

t.test('the gate is down (nothing listening): bounded retries, exit 4', async (t) => {
  const port = await deadPort();
  const r = await report(resultsFile('down.json', PASSING), newTag(), { GATE_RETRY_ATTEMPTS: '3' }, `http://127.0.0.1:${port}`);
  t.equal(r.status, 4, 'exit 4');
  t.match(r.stderr, 'gate: attempt 1/3 failed: connection failed: ECONNREFUSED; retrying in 20 ms');
  t.match(r.stderr, 'gate: attempt 2/3 failed: connection failed: ECONNREFUSED; retrying in 40 ms');
  t.match(r.stderr, 'gate: attempt 3/3 failed: connection failed: ECONNREFUSED\n');
  t.notMatch(r.stderr, 'attempt 4/', 'no fourth attempt');
  t.match(r.stdout, `::error title=Gate unavailable::the gate at http://127.0.0.1:${port} was unavailable after 3 attempt(s): connection failed: ECONNREFUSED`);
  t.match(r.summary, '**Not recorded by the gate:** the gate at');
  t.match(r.outputs, { recorded: 'false', 'eligible-for-beta': 'false', 'exit-code': '0' });
});

t.test('the gate answers 503 (audit log down) twice, then records: exit 0 after retrying', async (t) => {
  const proxy = await startGateProxy(gate.url, (n) =>
    n <= 2 ? { status: 503, body: JSON.stringify({ error: 'audit_unavailable', message: 'The audit log cannot be written', retryable: true }) } : 'forward',
  );
  t.teardown(proxy.close);
  const tag = newTag();
  const r = await report(resultsFile('flaky.json', PASSING), tag, { GATE_RETRY_ATTEMPTS: '4' }, proxy.url);
  t.equal(r.status, 0);
  t.equal(proxy.count(), 3, 'two refusals and one success');
  t.match(r.stderr, 'gate: attempt 1/4 failed: HTTP 503 audit_unavailable: The audit log cannot be written; retrying');
  t.match(r.stderr, 'gate: attempt 2/4 failed: HTTP 503');
  t.match(await gateResult(tag), { found: true, passed: true });
});

t.test('the gate answers 503 every time: exactly the bounded number of attempts, exit 4', async (t) => {
  const proxy = await startGateProxy(gate.url, () => ({ status: 503, body: '{"error":"audit_unavailable","message":"down"}' }));
  t.teardown(proxy.close);
  const r = await report(resultsFile('always503.json', FAILING), newTag(), { GATE_RETRY_ATTEMPTS: '3' }, proxy.url);
  t.equal(r.status, 4, 'exit 4 even though the tests failed: the result never reached the gate');
  t.equal(proxy.count(), 3, 'three attempts, no more');
  t.match(r.stdout, 'was unavailable after 3 attempt(s): HTTP 503 audit_unavailable: down');
  t.match(r.summary, '#### Failure details', 'the test failure is still summarised');
});

t.test("a gate message on several lines cannot issue a workflow command on the job log", async (t) => {
  // the runner reads every line of stdout and stderr that starts with `::` as a command; the
  // gate's `message` (or a proxy's, or whatever answers at GATE_URL) is not the script's own text
  const forged = 'down\n::add-mask::gate\r\n  ::stop-commands::x\r::error title=forged::forged\u001b[31m';
  for (const status of [503, 403]) {
    const proxy = await startGateProxy(gate.url, () => ({ status, body: JSON.stringify({ error: 'audit_unavailable', message: forged, field: 'f\n::warning::w' }) }));
    t.teardown(proxy.close);
    const r = await report(resultsFile(`forged-${status}.json`, PASSING), newTag(), { GATE_RETRY_ATTEMPTS: '2' }, proxy.url);
    t.equal(r.status, status === 503 ? 4 : 3, `HTTP ${status}: exit ${status === 503 ? 4 : 3}`);
    t.same(commandsIn(r.stderr), [], `HTTP ${status}: no command on stderr`);
    t.same(commandsIn(r.stdout), ['::error'], `HTTP ${status}: the only command on stdout is the script's own annotation`);
    t.notMatch(r.output, '\u001b', `HTTP ${status}: no escape character reaches the log`);
    t.match(r.output, 'audit_unavailable: down ::add-mask::gate ::stop-commands::x ::error title=forged::forged [31m (field: f ::warning::w)', `HTTP ${status}: the message is shown, on one line`);
  }
});

t.test('a recorded answer whose recordedAt and artifact hold line breaks cannot issue a workflow command on the job log', async (t) => {
  // the "recorded" line quotes the PUT answer of whatever answers at GATE_URL
  const tag = newTag();
  const forged = (s: string) => `${s}\n::add-mask::gate\r\n::error title=forged::forged\u001b[31m`;
  const body = JSON.stringify({ imageTag: tag, found: true, passed: true, exitCode: 0, counts: null, recordedAt: forged('2025-01-01T00:00:00.000Z'), recordedBy: 'ci', artifact: forged('artifacts/inttest/x.json') });
  const proxy = await startGateProxy(gate.url, () => ({ status: 200, body }));
  t.teardown(proxy.close);
  const r = await report(resultsFile('forged-recorded.json', PASSING), tag, {}, proxy.url);
  t.equal(r.status, 0, 'exit 0: the answer says recorded and passed');
  t.same(commandsIn(r.stderr), [], 'no command on stderr');
  t.same(commandsIn(r.stdout), ['::notice'], "the only command on stdout is the script's own notice");
  t.notMatch(r.output, '\u001b', 'no escape character reaches the log');
  t.match(r.stdout, 'at 2025-01-01T00:00:00.000Z ::add-mask::gate ::error title=forged::forged [31m (artifacts/inttest/x.json ::add-mask::gate', 'the answer is shown, on one line');
});

t.test('a proxy page instead of JSON (200 HTML) is retried like an outage', async (t) => {
  const proxy = await startGateProxy(gate.url, () => ({ status: 200, body: '<html>maintenance</html>', contentType: 'text/html' }));
  t.teardown(proxy.close);
  const r = await report(resultsFile('html.json', PASSING), newTag(), { GATE_RETRY_ATTEMPTS: '2' }, proxy.url);
  t.equal(r.status, 4);
  t.equal(proxy.count(), 2);
  t.match(r.stdout, 'HTTP 200: <html>maintenance</html> (not a JSON object)');
});

t.test('a hung gate (process stopped): each attempt times out, exit 4', async (t) => {
  const hung = await spawnGate({ t, dataDir: join(work, 'hung-data'), timeoutMs: 60_000 });
  t.teardown(async () => {
    hung.child.kill('SIGCONT');
    await hung.stop();
  });
  hung.child.kill('SIGSTOP');
  const r = await report(resultsFile('hung.json', PASSING), newTag(), { GATE_RETRY_ATTEMPTS: '2', GATE_TIMEOUT_MS: '300' }, hung.url);
  t.equal(r.status, 4);
  t.match(r.stderr, 'gate: attempt 1/2 failed: no answer within 300 ms');
  t.match(r.stderr, 'gate: attempt 2/2 failed: no answer within 300 ms');
  t.ok(r.ms < 15_000, `bounded in time (${r.ms} ms)`);
});

t.test('runs on Node 20 (the oldest Node the scripts promise)', async (t) => {
  const node20 = findNode20();
  if (!node20) {
    if (process.env['CI'] === 'true') t.fail('no Node 20 binary found and CI=true (bash .ci/tools.sh installs one into .tools/node20)');
    else {
      process.stderr.write('NOTICE: no Node 20 binary found (bash .ci/tools.sh installs one into .tools/node20): compatibility check skipped\n');
      t.comment('NOTICE: no Node 20 binary found; compatibility check skipped');
    }
    return;
  }
  const pass = newTag();
  const r = await report(resultsFile('n20.json', PASSING), pass, {}, undefined, node20);
  t.equal(r.status, 0, `exit 0 under ${node20}`);
  const fail = await report(resultsFile('n20f.json', FAILING), newTag(), {}, undefined, node20);
  t.equal(fail.status, 1);
  const down = await report(resultsFile('n20d.json', PASSING), newTag(), { GATE_RETRY_ATTEMPTS: '2' }, `http://127.0.0.1:${await deadPort()}`, node20);
  t.equal(down.status, 4);
  t.match(down.stderr, 'connection failed: ECONNREFUSED');
  const bad = await report(resultsFile('n20b.json', '{"exitCode":"x"}'), newTag(), {}, undefined, node20);
  t.equal(bad.status, 2);
  t.match(await gateResult(pass), { found: true, passed: true });
});

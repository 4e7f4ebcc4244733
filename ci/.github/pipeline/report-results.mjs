#!/usr/bin/env node
// Reports inttest-results.json to the promotion gate (PUT /v1/test-results/<sha>) whether the
// tests passed or failed, writes the step summary and outputs, and exits:
//   0  recorded by the gate, tests passed: the tag is eligible for beta
//   1  recorded by the gate, tests failed (non-zero exit code or failed tests)
//   2  usage error, or the results file is missing or malformed: the run is then reported to the
//      gate as a failed run with the problem as its `error` (beta is refused for the tag at once,
//      instead of waiting for a result that will never come)
//   3  the gate refused the result (4xx: bad token, wrong role, body rejected, too large; or 507:
//      its data volume is nearly full, which no retry within the job can change); when
//      it rejected the body (400, 413), the run is reported as a failed run instead (`error`: the
//      gate's answer), so beta is refused at once rather than waiting for its timeout
//   4  the gate was unavailable (5xx, timeouts, connection errors) after the bounded retries
//   5  an unexpected error in this script (a bug, or GITHUB_OUTPUT not writable)
// Node >= 20, no dependencies. The token comes from GATE_CI_TOKEN (or GATE_CI_TOKEN_FILE) and
// is only ever sent in the Authorization header. With --sha256 only the file the integration job
// recorded is reported as results (the workflow's report job downloads it as an artifact). With
// --tests-outcome (the integration test step's outcome) a file that says the tests passed is
// reported as a failed run unless that step succeeded: a runner that wrote a passing file and
// then failed or was stopped must not make the tag eligible for beta.
// A gate or break-glass token in the file's `error` (a runner's env dump) is blanked
// (gate_[redacted]) before it is checked and sent, and terminal escapes and other control
// characters (a runner's coloured output) are taken out: the gate refuses an `error` holding any.
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { EXIT, UsageError, annotate, appendSummary, runScript, setOutputs, singleLine } from './lib/actions-io.mjs';
import { DEFAULT_GATE_URL, parseGateUrl, requestGate, resolveToken, retryPolicyFromEnv } from './lib/gate-client.mjs';
import { redactTokens } from './lib/redact-tokens.mjs';
import { cleanText } from './lib/safe-text.mjs';
import { ResultsFileError, readResultsFile, renderSummary, summarize } from './lib/results.mjs';

const USAGE = `usage: node report-results.mjs --file PATH --image-tag SHA [--sha256 HEX] [--tests-outcome OUTCOME] [--gate-url URL]

  --file       the integration runner's results (inttest-results.json)
  --image-tag  the full 40-character Git SHA the images were tagged with
  --sha256     the file's SHA-256 as the integration job recorded it ("" = it recorded none); a
               file that does not match is not reported as results but as a broken run
  --tests-outcome  the integration test step's outcome (success, failure, cancelled, skipped;
               "" = unknown, not checked): unless success, a file that says the tests passed is
               not reported as results but as a broken run
  --gate-url   the gate's base URL (default: GATE_URL, else ${DEFAULT_GATE_URL})

environment: GATE_CI_TOKEN (bearer token with role ci) or GATE_CI_TOKEN_FILE (default: the pod's
ServiceAccount token), GATE_RETRY_ATTEMPTS (5), GATE_RETRY_DELAY_MS (2000, doubled per retry),
GATE_TIMEOUT_MS (15000), GITHUB_OUTPUT, GITHUB_STEP_SUMMARY.
exit codes: 0 passed and recorded, 1 failed and recorded, 2 usage or bad results file,
3 gate refused (4xx, 507), 4 gate unavailable after retries, 5 unexpected error`;

const SHA = /^[0-9a-f]{40}$/;
/** What GitHub gives as steps.<id>.outcome ("" when the workflow passes none). */
const OUTCOMES = new Set(['success', 'failure', 'cancelled', 'skipped', '']);
/** The gate's answers that reject the results body itself (not the caller): schema, size. */
const BODY_REJECTED = new Set([400, 413]);

function hintFor(status) {
  if (status === 401) return 'the token was not accepted: check the GATE_CI_TOKEN secret (or, in Kubernetes mode, that the job runs on the reporter scale set, whose pods have the gate-ci ServiceAccount token)';
  if (status === 403) return 'the token is valid but lacks the ci role (local: token create --roles ci; cluster: the job must run on the reporter scale set, ServiceAccount gate-ci, bound to the ci role)';
  if (status === 413) return 'the results file is larger than the gate accepts (1 MiB)';
  if (status === 507) return 'the gate\'s data volume is nearly full (it keeps 256 MiB for its audit log): free space or grow the volume, then re-run this job';
  if (status === 400) return 'the gate rejected the results body: the local checks in lib/results.mjs no longer match the gate\'s schema';
  return null;
}

async function main(argv, env) {
  let args;
  try {
    args = parseArgs({ args: argv, options: { file: { type: 'string' }, 'image-tag': { type: 'string' }, sha256: { type: 'string' }, 'tests-outcome': { type: 'string' }, 'gate-url': { type: 'string' }, help: { type: 'boolean', short: 'h' } } }).values;
  } catch (err) {
    throw new UsageError(err.message);
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.OK;
  }
  if (!args.file) throw new UsageError('--file is required (the path of inttest-results.json)');
  const imageTag = (args['image-tag'] ?? '').trim();
  if (!SHA.test(imageTag)) throw new UsageError(`--image-tag must be the full 40-character lowercase Git SHA, got "${imageTag}"`);
  const expected = args.sha256?.trim().toLowerCase();
  if (expected && !/^[0-9a-f]{64}$/.test(expected)) throw new UsageError(`--sha256 must be 64 hex digits (or "" when the integration job recorded none), got "${args.sha256}"`);
  const testsOutcome = args['tests-outcome']?.trim() ?? '';
  if (!OUTCOMES.has(testsOutcome)) throw new UsageError(`--tests-outcome must be success, failure, cancelled, skipped or "" (the test step's outcome), got "${args['tests-outcome']}"`);
  const gateUrl = parseGateUrl(args['gate-url'] ?? (env.GATE_URL || DEFAULT_GATE_URL));
  const policy = retryPolicyFromEnv(env, { attempts: 5, delayMs: 2000, timeoutMs: 15_000 });

  const base = { recorded: 'false', 'eligible-for-beta': 'false', 'image-tag': imageTag };
  let raw;
  let send;
  let tokens;
  let controls;
  let body;
  try {
    ({ raw, send, tokens, controls, body } = readResultsFile(args.file));
    if (expected !== undefined) {
      // the file came from an artifact: only the one the integration job itself wrote counts
      const actual = createHash('sha256').update(raw).digest('hex');
      if (!expected) throw new ResultsFileError(`${args.file}: the integration job recorded no results file, so this one is not its own`);
      if (actual !== expected) throw new ResultsFileError(`${args.file}: its SHA-256 ${actual} is not the ${expected} the integration job recorded: not the file the tests wrote`);
    }
    if (testsOutcome && testsOutcome !== 'success' && summarize(body).passed) {
      // the runner exited non-zero (or was stopped) after writing a passing file: the job is
      // red, so the file alone must not make the tag eligible for beta
      throw new ResultsFileError(`${args.file}: says the tests passed, but the integration test step ended with outcome "${testsOutcome}" (the runner exited non-zero, or was stopped): not taken as a pass`);
    }
  } catch (err) {
    if (!(err instanceof ResultsFileError)) throw err;
    // a key of the file can be a token: the problem is printed and sent as the run's `error`
    const problem = redactTokens(err.message);
    const reported = await reportBrokenRun(`no usable results file: ${problem}`);
    setOutputs({ ...base, recorded: String(reported.ok), passed: 'false', 'exit-code': '' }, env);
    const told = reported.ok
      ? `Reported to the gate as a failed run (\`error\`: the problem above), so beta refuses \`${imageTag}\` until a new run reports real results.`
      : `It could not be reported to the gate either (${reported.problem}), so beta keeps waiting for a result for this tag.`;
    appendSummary(`### Integration tests for \`${imageTag}\`: ❌ no usable results\n\n${problem}\n\n${told}\n`, env);
    annotate('error', 'Integration test results unusable', `${problem}; ${reported.ok ? 'reported to the gate as a failed run' : `not reported to the gate: ${reported.problem}`}`);
    return EXIT.USAGE;
  }

  /** Tells the gate the run broke: exit code 1, no counts, `error` saying what went wrong (cleaned: a problem can quote the file). */
  async function reportBrokenRun(error) {
    const token = resolveToken(env);
    if (!token?.token) return { ok: false, problem: token?.problem ?? 'no ci token' };
    // cut after the cleaning, and a carriage return or half of a surrogate pair the cut parted
    // from the rest dropped (the gate refuses either)
    const failure = Buffer.from(`${JSON.stringify({ exitCode: 1, error: redactTokens(cleanText(error)).slice(0, 2000).replace(/[\r\uD800-\uDBFF]$/, '') })}\n`);
    const answer = await requestGate({ url: `${gateUrl}/v1/test-results/${imageTag}`, method: 'PUT', token: token.token, body: failure, policy, log: (l) => process.stderr.write(`${l}\n`) });
    return answer.kind === 'ok' ? { ok: true } : { ok: false, problem: answer.detail };
  }
  if (controls) {
    annotate('warning', 'Control characters removed from the results', `field "error" of ${args.file} holds terminal escapes or other control characters, which the gate refuses: it is reported with escape sequences removed and the other characters replaced with U+FFFD`);
  }
  if (tokens) {
    annotate('warning', 'Token blanked in the results', `field "error" of ${args.file} holds what looks like a gate or break-glass token (gate_… or gbg_…): it is reported with the token blanked (gate_[redacted]); rotate that token, the runner printed it`);
  }
  const summary = summarize(body);
  // what is sent: the file, with `error` cleaned
  const rawText = send.toString('utf8');
  const countOutputs = Object.fromEntries(Object.entries(summary.counts).map(([k, v]) => [`${k}-count`, v ?? '']));
  const outputs = { ...base, ...countOutputs, passed: String(summary.passed), 'exit-code': String(summary.exitCode) };
  const c = summary.counts;
  process.stdout.write(`results: exit code ${summary.exitCode}, passed ${c.passed ?? '-'}, failed ${c.failed ?? '-'}, skipped ${c.skipped ?? '-'}, total ${c.total ?? '-'}\n`);

  const token = resolveToken(env);
  if (!token?.token) {
    const problem = token?.problem ?? 'no ci token: set the repository secret GATE_CI_TOKEN (or GATE_CI_TOKEN_FILE)';
    setOutputs(outputs, env);
    appendSummary(renderSummary({ imageTag, summary, body, rawText, gateProblem: problem }), env);
    annotate('error', 'Results not reported to the gate', problem);
    return EXIT.USAGE;
  }

  const url = `${gateUrl}/v1/test-results/${imageTag}`;
  process.stdout.write(`gate: PUT ${url} (token from ${token.source})\n`);
  const answer = await requestGate({ url, method: 'PUT', token: token.token, body: send, policy, log: (l) => process.stderr.write(`${l}\n`) });

  if (answer.kind === 'ok') {
    const g = answer.body;
    if (g.found !== true || g.imageTag !== imageTag || typeof g.passed !== 'boolean') {
      const problem = `the gate answered HTTP ${answer.status} without a recorded result for ${imageTag}`;
      setOutputs(outputs, env);
      appendSummary(renderSummary({ imageTag, summary, body, rawText, gateProblem: problem }), env);
      annotate('error', 'Results not recorded by the gate', problem);
      return EXIT.UNAVAILABLE;
    }
    if (g.passed !== summary.passed) annotate('warning', 'Gate and script disagree', `the gate recorded passed=${g.passed}, this script computed passed=${summary.passed}; the gate's verdict counts`);
    setOutputs({ ...outputs, recorded: 'true', passed: String(g.passed), 'eligible-for-beta': String(g.passed), 'recorded-at': g.recordedAt ?? '', artifact: g.artifact ?? '' }, env);
    appendSummary(renderSummary({ imageTag, summary, body, rawText, gate: g }), env);
    // the answer's own text, made one line: a line break in it could issue a workflow command
    process.stdout.write(`gate: recorded ${imageTag} as ${g.passed ? 'passed' : 'failed'} at ${singleLine(g.recordedAt)} (${singleLine(g.artifact)})\n`);
    if (g.passed) {
      annotate('notice', 'Eligible for beta', `integration tests passed for ${imageTag}; the gate lets beta promote it`);
      return EXIT.OK;
    }
    annotate('error', 'Integration tests failed', `exit code ${summary.exitCode}, ${c.failed ?? 0} failed of ${c.total ?? '?'}; recorded by the gate, beta will refuse ${imageTag}`);
    return EXIT.TESTS_FAILED;
  }

  if (answer.kind === 'refused') {
    const hint = hintFor(answer.status);
    const problem = `the gate refused the result: ${answer.detail}${hint ? ` (${hint})` : ''}`;
    if (BODY_REJECTED.has(answer.status)) {
      // The file passed the local checks but not the gate's: tell the gate the run broke, so
      // beta gets a definite answer (refused) instead of waiting until its timeout.
      const reported = await reportBrokenRun(`results file rejected by the gate: ${answer.detail}`);
      setOutputs({ ...outputs, recorded: String(reported.ok), passed: 'false', 'eligible-for-beta': 'false' }, env);
      const told = reported.ok
        ? `Reported to the gate as a failed run instead (\`error\`: its answer above), so beta refuses \`${imageTag}\` until a new run reports results the gate accepts.`
        : `It could not be reported as a failed run either (${reported.problem}), so beta keeps waiting for a result for this tag.`;
      appendSummary(renderSummary({ imageTag, summary, body, rawText, gateProblem: `${problem}. ${told}` }), env);
      annotate('error', 'Gate refused the test results', `${problem}; ${reported.ok ? 'reported to the gate as a failed run' : `not reported as a failed run either: ${reported.problem}`}`);
      return EXIT.REFUSED;
    }
    setOutputs(outputs, env);
    appendSummary(renderSummary({ imageTag, summary, body, rawText, gateProblem: problem }), env);
    annotate('error', 'Gate refused the test results', problem);
    return EXIT.REFUSED;
  }
  setOutputs(outputs, env);
  const problem = `the gate at ${gateUrl} was unavailable after ${answer.attempts} attempt(s): ${answer.detail}`;
  appendSummary(renderSummary({ imageTag, summary, body, rawText, gateProblem: problem }), env);
  annotate('error', 'Gate unavailable', `${problem}; re-run this job once the gate is back`);
  return EXIT.UNAVAILABLE;
}

await runScript('report-results', USAGE, main);

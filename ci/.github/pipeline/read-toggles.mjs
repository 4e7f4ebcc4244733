#!/usr/bin/env node
// Reads the gate's `ci` and `integration` stage toggles (GET /v1/stages, public) and sets the
// step outputs ci, integration and gate-reachable ("true"/"false"). A disabled stage is
// reported as skipped (annotation and step summary). When the gate cannot be reached or its
// answer cannot be used, every stage runs and the summary says so: the later stages are guarded
// by the gate itself, so CI fails open here and the gate stays fail-closed.
// Exit codes: 0 decided (including "gate unreachable, run everything"), 2 usage error,
// 5 unexpected error. Node >= 20, no dependencies.
import { parseArgs } from 'node:util';
import { EXIT, UsageError, annotate, appendSummary, mdEscape, runScript, setOutputs } from './lib/actions-io.mjs';
import { DEFAULT_GATE_URL, parseGateUrl, requestGate, retryPolicyFromEnv } from './lib/gate-client.mjs';

const USAGE = `usage: node read-toggles.mjs [--gate-url URL]

  --gate-url  the gate's base URL (default: GATE_URL, else ${DEFAULT_GATE_URL})

environment: GATE_RETRY_ATTEMPTS (3), GATE_RETRY_DELAY_MS (1000), GATE_TIMEOUT_MS (5000),
GITHUB_OUTPUT, GITHUB_STEP_SUMMARY.
outputs: ci, integration, gate-reachable (true/false). exit codes: 0 decided, 2 usage, 5 unexpected error`;

const WHAT = {
  ci: 'lint, tests and the image builds are skipped',
  integration: 'the integration tests are skipped and no result is reported (the gate does not require test results while integration is disabled)',
};

/**
 * Picks the ci and integration toggles out of a /v1/stages answer. Returns
 * {ci, integration} with {enabled, note, changedBy, changedAt} each, or a string saying why
 * the answer cannot be used.
 */
function pickToggles(body) {
  if (!body || !Array.isArray(body.stages)) return 'the answer has no "stages" list';
  const found = {};
  for (const name of ['ci', 'integration']) {
    const s = body.stages.find((x) => x && x.stage === name);
    if (!s) return `the answer lists no "${name}" stage`;
    if (typeof s.enabled !== 'boolean') return `stage "${name}" has no boolean "enabled"`;
    found[name] = s;
  }
  return found;
}

/**
 * The note, the name and the time come from whatever answers at GATE_URL (the note and the name
 * are the gate's admins' text) and are printed on the job's log, where a line
 * that starts with `::` is a workflow command (`::add-mask::`, `::stop-commands::`, `::error::`):
 * a note on two lines could issue one. JSON quoting keeps it on one line (\n, \r and the other
 * control characters escaped).
 */
function oneLine(text) {
  return JSON.stringify(String(text)).slice(1, -1).replace(/[\u0080-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function describeChange(s) {
  const parts = [];
  if (s.note) parts.push(`note: "${oneLine(s.note)}"`);
  if (s.changedBy) parts.push(`by ${oneLine(s.changedBy)}`);
  if (s.changedAt) parts.push(`at ${oneLine(s.changedAt)}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

async function main(argv, env) {
  let args;
  try {
    args = parseArgs({ args: argv, options: { 'gate-url': { type: 'string' }, help: { type: 'boolean', short: 'h' } } }).values;
  } catch (err) {
    throw new UsageError(err.message);
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.OK;
  }
  const gateUrl = parseGateUrl(args['gate-url'] ?? (env.GATE_URL || DEFAULT_GATE_URL));
  const policy = retryPolicyFromEnv(env, { attempts: 3, delayMs: 1000, timeoutMs: 5000 });

  const url = `${gateUrl}/v1/stages`;
  process.stdout.write(`gate: GET ${url}\n`);
  const answer = await requestGate({ url, policy, log: (l) => process.stderr.write(`${l}\n`) });
  const toggles = answer.kind === 'ok' ? pickToggles(answer.body) : null;

  if (!toggles || typeof toggles === 'string') {
    const why = answer.kind === 'ok' ? `its answer could not be used: ${toggles}` : answer.kind === 'refused' ? `it answered ${answer.detail}` : `${answer.detail} after ${answer.attempts} attempt(s)`;
    const message = `could not read the stage toggles from the gate at ${gateUrl} (${why}); running every stage`;
    setOutputs({ ci: 'true', integration: 'true', 'gate-reachable': 'false' }, env);
    annotate('warning', 'Gate unreachable: running everything', message);
    appendSummary(`### Pipeline stages\n\n⚠️ **Gate unreachable:** ${mdEscape(message)}.\n`, env);
    process.stdout.write(`${message}\n`);
    return EXIT.OK;
  }

  setOutputs({ ci: String(toggles.ci.enabled), integration: String(toggles.integration.enabled), 'gate-reachable': 'true' }, env);
  const rows = ['### Pipeline stages (toggles read from the gate)', '', '| stage | state | |', '|---|---|---|'];
  for (const name of ['ci', 'integration']) {
    const s = toggles[name];
    if (s.enabled) {
      rows.push(`| ${name} | ▶️ runs | |`);
      process.stdout.write(`stage ${name}: enabled, runs\n`);
    } else {
      const change = describeChange(s);
      rows.push(`| ${name} | ⏭️ **skipped**: disabled in the gate | ${mdEscape(WHAT[name] + change)} |`);
      annotate('notice', `Stage ${name} skipped`, `the ${name} stage is disabled in the gate: ${WHAT[name]}${change}`);
      process.stdout.write(`stage ${name}: disabled in the gate, skipped: ${WHAT[name]}${change}\n`);
    }
  }
  if (!toggles.ci.enabled && toggles.integration.enabled) rows.push('', 'With ci disabled no images are built, so there is nothing for the integration tests to run against either.');
  appendSummary(`${rows.join('\n')}\n`, env);
  return EXIT.OK;
}

await runScript('read-toggles', USAGE, main);

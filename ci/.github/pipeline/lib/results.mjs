// inttest-results.json: reading, validation and the step-summary text. Pure apart from
// readResultsFile. The rules match the gate's (src/routes/test-results.ts): a JSON object with
// an integer exitCode; counts {passed, failed, skipped, total} at the top level or, where
// absent there, under `tests`; every other field is kept and sent verbatim.
import { readFileSync, statSync } from 'node:fs';
import { mdEscape } from './actions-io.mjs';

export const COUNT_KEYS = Object.freeze(['passed', 'failed', 'skipped', 'total']);

/** The results file is missing, unreadable or malformed; the message names the problem. */
export class ResultsFileError extends Error {
  name = 'ResultsFileError';
}

const kindOf = (v) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? `the string ${JSON.stringify(v.slice(0, 40))}` : `${typeof v} ${JSON.stringify(v)}`);

/**
 * Validates the text of a results file. Returns the parsed object; throws ResultsFileError
 * with `<label>: <problem>` (not JSON, not an object, exitCode missing or not an integer, a
 * count that is not a non-negative integer, `tests` that is not an object).
 */
export function parseResults(text, label = 'inttest-results.json') {
  const src = text.replace(/^\uFEFF/, '');
  if (!src.trim()) throw new ResultsFileError(`${label}: the file is empty`);
  let body;
  try {
    body = JSON.parse(src);
  } catch (err) {
    throw new ResultsFileError(`${label}: not valid JSON: ${err.message}`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ResultsFileError(`${label}: must be a JSON object, got ${kindOf(body)}`);
  if (!Object.hasOwn(body, 'exitCode')) throw new ResultsFileError(`${label}: field "exitCode" is missing (the integration runner's exit code, an integer)`);
  if (!Number.isInteger(body.exitCode)) throw new ResultsFileError(`${label}: field "exitCode" must be an integer, got ${kindOf(body.exitCode)}`);
  if (Object.hasOwn(body, 'tests') && (body.tests === null || typeof body.tests !== 'object' || Array.isArray(body.tests))) {
    throw new ResultsFileError(`${label}: field "tests" must be an object with passed/failed/skipped/total, got ${kindOf(body.tests)}`);
  }
  for (const [prefix, obj] of [['', body], ['tests.', body.tests ?? {}]]) {
    for (const k of COUNT_KEYS) {
      if (!Object.hasOwn(obj, k)) continue;
      const v = obj[k];
      if (!Number.isInteger(v) || v < 0) throw new ResultsFileError(`${label}: field "${prefix}${k}" must be a non-negative integer, got ${kindOf(v)}`);
    }
  }
  return body;
}

/**
 * Reads and validates a results file. Returns {raw, body}; throws ResultsFileError for a
 * missing, unreadable, non-regular or malformed file.
 */
export function readResultsFile(path) {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    if (err.code === 'ENOENT') throw new ResultsFileError(`${path}: file not found (infra/inttest/run_pipeline.sh writes it; did the run get that far?)`);
    throw new ResultsFileError(`${path}: cannot be read: ${err.code ?? err.message}`);
  }
  if (!st.isFile()) throw new ResultsFileError(`${path}: not a regular file`);
  let raw;
  try {
    raw = readFileSync(path);
  } catch (err) {
    throw new ResultsFileError(`${path}: cannot be read: ${err.code ?? err.message}`);
  }
  return { raw, body: parseResults(raw.toString('utf8'), path) };
}

/**
 * The summary the gate keeps, computed the same way: counts from the top level, else from
 * `tests` (null when absent); passed only with exit code 0 and no failed test.
 */
export function summarize(body) {
  const pick = (k) => body[k] ?? body.tests?.[k] ?? null;
  const counts = Object.fromEntries(COUNT_KEYS.map((k) => [k, pick(k)]));
  return { passed: body.exitCode === 0 && (counts.failed ?? 0) === 0, exitCode: body.exitCode, counts };
}

const FAILURE_LISTS = ['failures', 'failedTests', 'failed_tests', 'errors'];

/**
 * Failure details found in the file, as short lines: items of `failures`, `failedTests`,
 * `failed_tests` or `errors` (top level or under `tests`; strings, or objects with a
 * name/test/id and a message/error/reason), then a top-level `error` or `message` string.
 * At most `limit` lines; returns [] when the file names none.
 */
export function failureDetails(body, limit = 50) {
  const lines = [];
  const push = (s) => lines.length < limit && lines.push(s);
  for (const holder of [body, body.tests ?? {}]) {
    for (const key of FAILURE_LISTS) {
      const list = holder[key];
      if (!Array.isArray(list)) continue;
      for (const item of list) {
        if (typeof item === 'string') push(item);
        else if (item && typeof item === 'object') {
          const name = item.name ?? item.test ?? item.id ?? item.nodeid;
          const why = item.message ?? item.error ?? item.reason ?? item.details;
          push([name, why].filter((x) => x !== undefined && x !== null).map(String).join(': ') || JSON.stringify(item));
        }
      }
    }
  }
  for (const key of ['error', 'message']) if (typeof body[key] === 'string' && body[key].trim()) push(`${key}: ${body[key]}`);
  return lines;
}

const fmt = (n) => (n === null || n === undefined ? '–' : String(n));

/** A code fence longer than any backtick run in `text`, so the text cannot close it. */
function fence(text) {
  const longest = Math.max(2, ...Array.from(String(text).matchAll(/`+/g), (m) => m[0].length));
  return '`'.repeat(longest + 1);
}

/**
 * The step-summary markdown of one report. `gate` is what the gate recorded (its PUT answer)
 * or null; `gateProblem` says why nothing was recorded.
 */
export function renderSummary({ imageTag, summary, body, rawText, gate = null, gateProblem = null, maxRawChars = 20_000 }) {
  const passed = gate ? gate.passed === true : summary.passed;
  const head = passed ? '✅ passed' : '❌ failed';
  const out = [`### Integration tests for \`${imageTag}\`: ${head}`, ''];
  out.push('| exit code | passed | failed | skipped | total |', '|---:|---:|---:|---:|---:|');
  out.push(`| ${summary.exitCode} | ${fmt(summary.counts.passed)} | ${fmt(summary.counts.failed)} | ${fmt(summary.counts.skipped)} | ${fmt(summary.counts.total)} |`, '');
  if (gate) {
    out.push(`Recorded by the gate at ${mdEscape(gate.recordedAt ?? '?')} (by ${mdEscape(gate.recordedBy ?? '?')}, stored as \`${mdEscape(gate.artifact ?? '?')}\`).`);
    out.push(passed ? `**Eligible for beta:** yes, the gate lets beta promote \`${imageTag}\`.` : `**Eligible for beta:** no, the gate refuses to promote \`${imageTag}\` to beta (tests_failed).`);
  } else {
    out.push(`**Not recorded by the gate:** ${mdEscape(gateProblem ?? 'unknown reason')}`);
    out.push(`**Eligible for beta:** no, the gate has no passing result for \`${imageTag}\`.`);
  }
  if (!passed) {
    const details = failureDetails(body);
    out.push('', '#### Failure details', '');
    if (summary.exitCode !== 0) out.push(`- the integration runner exited with code ${summary.exitCode}`);
    if ((summary.counts.failed ?? 0) > 0) out.push(`- ${summary.counts.failed} test(s) failed`);
    for (const d of details) out.push(`- ${mdEscape(d)}`);
    if (rawText !== undefined) {
      let shown = rawText;
      let note = '';
      if (shown.length > maxRawChars) {
        shown = shown.slice(0, maxRawChars);
        note = ` (first ${maxRawChars} characters; the whole file is in the run's artifacts)`;
      }
      const f = fence(shown);
      out.push('', `<details><summary>inttest-results.json${note}</summary>`, '', `${f}json`, shown.trimEnd(), f, '', '</details>');
    }
  }
  return `${out.join('\n')}\n`;
}

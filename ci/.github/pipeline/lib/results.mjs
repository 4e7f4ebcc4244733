// inttest-results.json: reading, validation and the step-summary text. Pure apart from
// readResultsFile. The rules are the gate's (src/routes/test-results.ts, TestResultsBody, behind
// fastify's JSON parser with prototype poisoning refused), and test/ci/report-results.test.ts
// sends a corpus of bodies to the real gate to keep them equal:
// - a JSON object (a leading BOM is ignored), with no "__proto__" key anywhere, no
//   "constructor" object that has a "prototype" key, and no key twice in one object (the
//   summary would take the last value, a reader of the verbatim artifact perhaps the first);
// - exitCode: an integer (a safe one: |n| <= 2^53 - 1);
// - passed, failed, skipped, total, at the top level or under `tests` (an object): when present,
//   non-negative safe integers;
// - error: when present, a string of at most 2000 characters (Unicode code points) holding no
//   control character or bidirectional override (lib/safe-text.mjs) and no gate or break-glass
//   token (lib/redact-tokens.mjs), what went wrong when the run itself broke; a non-blank error
//   makes the run failed whatever exitCode says;
// - every other field is kept and sent verbatim.
// A runner's error text may hold an env dump or coloured output: readResultsFile cleans the
// top-level `error` (cleanErrorText: terminal escapes removed, other control characters replaced,
// tokens blanked as gate_[redacted]) before validating, so the run is still reported.
// The gate's 1 MiB body limit is not checked here: a 413 is handled like any rejected body.
import { readFileSync, statSync } from 'node:fs';
import { mdEscape } from './actions-io.mjs';
import { hasNoToken, redactTokens } from './redact-tokens.mjs';
import { cleanText, hasNoUnsafeCharacter } from './safe-text.mjs';

export const COUNT_KEYS = Object.freeze(['passed', 'failed', 'skipped', 'total']);
/** The longest `error` the gate accepts, in Unicode code points (zod's string max). */
export const ERROR_MAX_CHARS = 2000;

/** The results file is missing, unreadable or malformed; the message names the problem. */
export class ResultsFileError extends Error {
  name = 'ResultsFileError';
}

/** What a wrong value is, for a message; a string's tokens blanked before it is cut (a cut through one would leave most of it unmatched). */
const kindOf = (v) =>
  v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? `the string ${JSON.stringify(redactTokens(v).slice(0, 40))}` : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;

/** Code points, not UTF-16 units: how zod measures a string's length. */
const codePoints = (s) => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

/**
 * The path of the first "__proto__" key, or of a "constructor" object with a "prototype" key,
 * anywhere in a parsed value (fastify refuses both with 400), or null.
 */
function poisonedKey(value) {
  let next = [[value, '']];
  while (next.length) {
    const nodes = next;
    next = [];
    for (const [node, path] of nodes) {
      if (Object.hasOwn(node, '__proto__')) return `${path}__proto__`;
      const c = Object.hasOwn(node, 'constructor') ? node.constructor : null;
      if (c !== null && typeof c === 'object' && Object.hasOwn(c, 'prototype')) return `${path}constructor.prototype`;
      for (const key of Object.keys(node)) {
        const v = node[key];
        if (v !== null && typeof v === 'object') next.push([v, `${path}${key}.`]);
      }
    }
  }
  return null;
}

/**
 * The path of the first key that appears twice in one object of a JSON text JSON.parse has
 * accepted (".tests.failed", ".list[2].name"), or null. Keys are compared as parsed ("a" and
 * "\u0061" are the same key).
 */
export function duplicateKey(text) {
  const stack = []; // {keys: Set|null (array), at: key or index}
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack.at(-1);
      if (expectKey && top?.keys) {
        const key = JSON.parse(text.slice(i, j + 1));
        top.at = key;
        if (top.keys.has(key)) return stack.map((f) => (f.keys ? `.${f.at}` : `[${f.at}]`)).join('');
        top.keys.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === '{') {
      stack.push({ keys: new Set(), at: '' });
      expectKey = true;
    } else if (c === '[') stack.push({ keys: null, at: 0 });
    else if (c === '}' || c === ']') {
      stack.pop();
      expectKey = false;
    } else if (c === ',') {
      const top = stack.at(-1);
      if (top?.keys) expectKey = true;
      else if (top) top.at += 1;
    }
  }
  return null;
}

/**
 * The [start, end) offsets of the string values of the top-level key `name` in a JSON text
 * JSON.parse has accepted as an object, every one of them if the key is repeated.
 */
function topLevelStringValues(text, name) {
  const spans = [];
  let depth = 0;
  let expectKey = false;
  let isName = false; // the last top-level key was `name`: its value comes next
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) {
        isName = JSON.parse(text.slice(i, j + 1)) === name;
        expectKey = false;
      } else if (depth === 1 && isName) {
        spans.push([i, j + 1]);
        isName = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = c === '{' && depth === 1;
      isName = false;
    } else if (c === '}' || c === ']') depth--;
    else if (c === ',' && depth === 1) {
      expectKey = true;
      isName = false;
    }
  }
  return spans;
}

/** What a non-blank `error` left blank by the cleaning says instead: it still makes the run failed. */
export const ERROR_ONLY_CONTROLS = 'the error text held only terminal escapes or control characters';

/**
 * The text of a results file with its top-level `error` as the gate accepts it, the rest byte for
 * byte: terminal escapes and other control characters out (cleanText: a runner's coloured
 * output), then every gate or break-glass token blanked (gate_[redacted], as the gate's own
 * redaction: a runner's env dump), so that a token an escape sequence cut in two is blanked too.
 * A non-blank `error` that the cleaning leaves blank (nothing but escape sequences) is sent as
 * ERROR_ONLY_CONTROLS: a non-blank `error` makes the run failed, and must go on doing so.
 * Returns {text, tokens, controls}, saying what was changed; a text that is not a JSON object, or
 * has nothing to clean there, comes back as it is.
 */
export function cleanErrorText(text) {
  const untouched = { text, tokens: false, controls: false };
  let body;
  try {
    body = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    return untouched;
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return untouched;
  let out = '';
  let from = 0;
  let tokens = false;
  let controls = false;
  for (const [start, end] of topLevelStringValues(text, 'error')) {
    const value = JSON.parse(text.slice(start, end));
    const cleaned = cleanText(value);
    const readable = cleaned.trim() === '' && value.trim() !== '' ? ERROR_ONLY_CONTROLS : cleaned;
    const clean = redactTokens(readable);
    if (clean === value) continue;
    controls ||= readable !== value;
    tokens ||= clean !== readable;
    out += text.slice(from, start) + JSON.stringify(clean);
    from = end;
  }
  return from === 0 ? untouched : { text: out + text.slice(from), tokens, controls };
}

/**
 * Validates the text of a results file by the gate's rules (see the top of this file). Returns
 * the parsed object; throws ResultsFileError with `<label>: <problem>`.
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
  const poisoned = poisonedKey(body);
  if (poisoned) throw new ResultsFileError(`${label}: key "${poisoned}" is not allowed (the gate refuses prototype keys)`);
  const twice = duplicateKey(src);
  if (twice) throw new ResultsFileError(`${label}: key "${twice.slice(1)}" appears more than once in its object`);
  if (!Object.hasOwn(body, 'exitCode')) throw new ResultsFileError(`${label}: field "exitCode" is missing (the integration runner's exit code, an integer)`);
  if (!Number.isSafeInteger(body.exitCode)) throw new ResultsFileError(`${label}: field "exitCode" must be an integer, got ${kindOf(body.exitCode)}`);
  if (Object.hasOwn(body, 'error')) {
    if (typeof body.error !== 'string') throw new ResultsFileError(`${label}: field "error" must be a string (what went wrong), got ${kindOf(body.error)}`);
    const n = codePoints(body.error);
    if (n > ERROR_MAX_CHARS) throw new ResultsFileError(`${label}: field "error" must be at most ${ERROR_MAX_CHARS} characters, got ${n}`);
    if (!hasNoUnsafeCharacter(body.error)) throw new ResultsFileError(`${label}: field "error" holds a control character or bidirectional override, which the gate refuses (cleanErrorText removes them)`);
    if (!hasNoToken(body.error)) throw new ResultsFileError(`${label}: field "error" contains what looks like a gate token (gate_… or gbg_…) or a JWT, which the gate refuses (cleanErrorText blanks it)`);
  }
  if (Object.hasOwn(body, 'tests') && (body.tests === null || typeof body.tests !== 'object' || Array.isArray(body.tests))) {
    throw new ResultsFileError(`${label}: field "tests" must be an object with passed/failed/skipped/total, got ${kindOf(body.tests)}`);
  }
  for (const [prefix, obj] of [['', body], ['tests.', body.tests ?? {}]]) {
    for (const k of COUNT_KEYS) {
      if (!Object.hasOwn(obj, k)) continue;
      const v = obj[k];
      if (!Number.isSafeInteger(v) || v < 0) throw new ResultsFileError(`${label}: field "${prefix}${k}" must be a non-negative integer, got ${kindOf(v)}`);
    }
  }
  return body;
}

/**
 * Reads a results file, cleans its `error` (cleanErrorText) and validates it. Returns {raw, send,
 * tokens, controls, body}: raw the file's bytes, send the bytes to report (raw unless `error` was
 * cleaned), tokens and controls what was taken out of it, body the parsed `send`. Throws
 * ResultsFileError for a missing, unreadable, non-regular or malformed file.
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
  // read as strictly as the gate reads it: bytes that are not UTF-8 are refused there (400), and
  // a file the gate would refuse is a broken run here, said as such
  let decoded;
  try {
    decoded = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw);
  } catch {
    throw new ResultsFileError(`${path}: not valid UTF-8 (a results file is JSON, which is UTF-8; the gate refuses other bytes)`);
  }
  const { text, tokens, controls } = cleanErrorText(decoded);
  return { raw, send: tokens || controls ? Buffer.from(text) : raw, tokens, controls, body: parseResults(text, path) };
}

/**
 * Whether the counts say no test passed (none found or run, none passed, or the skipped and
 * failed ones make up the total, the passes not counted): such a run
 * proves nothing, so it is not a pass even with exit code 0. Absent counts say nothing. The
 * gate's twin: src/policy/no-test-passed.ts.
 */
export function noTestPassed(counts) {
  if (counts.passed === 0 || counts.total === 0) return true;
  return counts.passed === null && counts.total !== null && (counts.skipped ?? 0) + (counts.failed ?? 0) >= counts.total;
}

/**
 * The summary the gate keeps, computed the same way: counts from the top level, else from
 * `tests` (null when absent); `error` trimmed (null when absent or blank); passed only with
 * exit code 0, no failed test, no error and, where the counts say, a test that passed.
 */
export function summarize(body) {
  const pick = (k) => body[k] ?? body.tests?.[k] ?? null;
  const counts = Object.fromEntries(COUNT_KEYS.map((k) => [k, pick(k)]));
  const error = (typeof body.error === 'string' ? body.error.trim() : '') || null;
  return { passed: body.exitCode === 0 && (counts.failed ?? 0) === 0 && error === null && !noTestPassed(counts), exitCode: body.exitCode, counts, error };
}

const FAILURE_LISTS = ['failures', 'failedTests', 'failed_tests', 'errors'];

/**
 * Failure details found in the file, as short lines: items of `failures`, `failedTests`,
 * `failed_tests` or `errors` (top level or under `tests`; strings, or objects with a
 * name/test/id and a message/error/reason), then a top-level `error` or `message` string.
 * At most `limit` lines of at most `maxChars` characters each (tokens blanked before the cut,
 * a cut marked with "…"): a runner's messages can be whole tracebacks, and GitHub drops a step
 * summary over 1 MiB entirely. Returns [] when the file names none.
 */
export function failureDetails(body, limit = 50, maxChars = 1000) {
  const lines = [];
  const push = (s) => {
    if (lines.length >= limit) return;
    const clean = redactTokens(s);
    lines.push(clean.length > maxChars ? `${clean.slice(0, maxChars)}…` : clean);
  };
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
    if (summary.error && summary.exitCode === 0 && !((summary.counts.failed ?? 0) > 0)) out.push('- the run reports an `error`, so it counts as failed despite exit code 0');
    if (summary.exitCode === 0 && noTestPassed(summary.counts)) out.push('- no test passed (none ran, or every one was skipped), so it counts as failed despite exit code 0');
    for (const d of details) out.push(`- ${mdEscape(d)}`);
    if (rawText !== undefined) {
      // tokens blanked before the cut: one cut through at the end would keep most of it unmatched
      let shown = redactTokens(rawText);
      let note = '';
      if (shown.length > maxRawChars) {
        shown = shown.slice(0, maxRawChars);
        note = ` (first ${maxRawChars} characters; the whole file is in the run's artifacts)`;
      }
      const f = fence(shown);
      out.push('', `<details><summary>inttest-results.json${note}</summary>`, '', `${f}json`, shown.trimEnd(), f, '', '</details>');
    }
  }
  // the step summary is read by anyone who can read the repository: a token anywhere in the
  // file (an env dump in a failure message or log) is blanked there too
  return `${redactTokens(out.join('\n'))}\n`;
}

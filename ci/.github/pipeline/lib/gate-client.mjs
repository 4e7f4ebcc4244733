// HTTP to the promotion gate with a per-request timeout and a bounded number of attempts.
// Node >= 20, no dependencies (global fetch). The bearer token only ever travels in the
// Authorization header; it is never printed and never put in a URL.
import { readFileSync } from 'node:fs';
import { UsageError, singleLine } from './actions-io.mjs';

/** In-cluster address of the gate (the workflow passes GATE_URL, overridable per repository). */
export const DEFAULT_GATE_URL = 'http://gate-service.stonks-gate.svc.cluster.local:8080';

/**
 * Where Kubernetes mounts a pod's ServiceAccount token. Only the reporter scale set's pods have
 * one, as gate-ci in arc-runners; the general runners mount none.
 */
export const SERVICE_ACCOUNT_TOKEN_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Checks and normalises the gate's base URL: http(s), no credentials, no query or fragment,
 * no trailing slash. Throws UsageError naming the problem.
 */
export function parseGateUrl(raw) {
  const text = String(raw ?? '').trim();
  if (!text) throw new UsageError('the gate URL is empty: set GATE_URL or pass --gate-url');
  let url;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`the gate URL "${text}" is not a URL (expected e.g. ${DEFAULT_GATE_URL})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`the gate URL must be http or https, got ${url.protocol}`);
  if (url.username || url.password) throw new UsageError('the gate URL must not carry credentials: the token goes in the Authorization header');
  if (url.search || url.hash) throw new UsageError('the gate URL must not have a query or fragment');
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/**
 * Reads the retry policy from the environment: GATE_RETRY_ATTEMPTS (1-20), GATE_RETRY_DELAY_MS
 * (first back-off, doubled after each failed attempt, 0-60000) and GATE_TIMEOUT_MS (per request,
 * 100-300000). Unset values take `defaults`; a malformed one throws UsageError.
 */
export function retryPolicyFromEnv(env, defaults) {
  const read = (name, fallback, min, max) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
    return n;
  };
  return {
    attempts: read('GATE_RETRY_ATTEMPTS', defaults.attempts, 1, 20),
    delayMs: read('GATE_RETRY_DELAY_MS', defaults.delayMs, 0, 60_000),
    timeoutMs: read('GATE_TIMEOUT_MS', defaults.timeoutMs, 100, 300_000),
  };
}

/**
 * A token a bearer header can carry as it is: visible ASCII only. fetch refuses a line break in a
 * header with an error that quotes the whole value, token included.
 */
const HEADER_SAFE = /^[\x21-\x7e]+$/;

/**
 * Finds the ci token: the GATE_CI_TOKEN variable (the repository secret) when set, else the
 * file named by GATE_CI_TOKEN_FILE (default: the pod's ServiceAccount token, which the gate
 * accepts in its Kubernetes mode). Returns {token, source} with a printable source, or null.
 * A token with a line break, a space or another character outside visible ASCII inside it (say,
 * the whole output of `token create` pasted as the secret) comes back as {token: null, source,
 * problem}: sent, it would never authenticate, and fetch's error would print it.
 */
export function resolveToken(env) {
  const checked = (token, source) =>
    HEADER_SAFE.test(token)
      ? { token, source }
      : { token: null, source, problem: `the ci token from ${source} holds a line break, a space or another character a bearer token cannot (${token.split(/\r\n|\r|\n/).length} line(s)): store the token alone, on one line` };
  const fromEnv = (env.GATE_CI_TOKEN ?? '').trim();
  if (fromEnv) return checked(fromEnv, 'GATE_CI_TOKEN');
  const file = env.GATE_CI_TOKEN_FILE || SERVICE_ACCOUNT_TOKEN_FILE;
  try {
    const token = readFileSync(file, 'utf8').trim();
    if (token) return checked(token, `the token file ${file}`);
  } catch {
    // no such file: fall through
  }
  return null;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Human text of a fetch failure: the cause's code (ECONNREFUSED, ENOTFOUND...) or a timeout. */
function describeNetworkError(err, timeoutMs) {
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  const cause = err?.cause;
  const code = cause?.code ?? cause?.errno;
  const detail = code ? `${code}${cause?.message && !String(cause.message).includes(code) ? ` (${cause.message})` : ''}` : cause?.message ?? err?.message ?? String(err);
  return `connection failed: ${singleLine(detail)}`;
}

/**
 * One line describing an HTTP answer: status, the gate's error code and message, the field. It
 * goes to the job log as it is (each failed attempt, read-toggles' message), so the answer's own
 * text is made one line (singleLine): a message with line breaks could issue workflow commands.
 */
export function describeAnswer(status, body, text) {
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const parts = [`HTTP ${status}`];
    if (typeof body.error === 'string') parts.push(singleLine(body.error));
    let line = parts.join(' ');
    if (typeof body.message === 'string') line += `: ${singleLine(body.message)}`;
    if (typeof body.field === 'string') line += ` (field: ${singleLine(body.field)})`;
    return line;
  }
  const snippet = singleLine(text ?? '').slice(0, 200);
  return `HTTP ${status}${snippet ? `: ${snippet}` : ' with an empty body'}`;
}

const RETRYABLE_4XX = new Set([408, 429]);
/** 5xx answers that are refusals, not outages: 507 (the gate's data volume is nearly full) lasts until an operator frees space. */
const REFUSING_5XX = new Set([507]);

/**
 * Sends one request to the gate, retrying network failures, timeouts, 408/429, 5xx other than 507
 * and 2xx answers that are not JSON (a proxy's page) up to `policy.attempts` times with doubling
 * back-off (a Retry-After of up to 60 s is honoured). `log(line)` receives one line per failed
 * attempt. Resolves (never rejects) with
 *   {kind: 'ok', status, body}                       a 2xx JSON answer;
 *   {kind: 'refused', status, body, text, detail}    any other 4xx, or 507: the gate said no, do not retry;
 *   {kind: 'unavailable', attempts, detail}          every attempt failed; `detail` is the last reason.
 */
export async function requestGate({ url, method = 'GET', token, body, policy, log = () => {} }) {
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let detail = 'not attempted';
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    let retryAfterMs = null;
    try {
      const res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(policy.timeoutMs), redirect: 'manual' });
      const text = await res.text();
      let json = null;
      try {
        json = text ? JSON.parse(text) : null;
      } catch {
        json = null;
      }
      if (res.status >= 200 && res.status < 300 && json !== null && typeof json === 'object') return { kind: 'ok', status: res.status, body: json };
      detail = describeAnswer(res.status, json, text);
      if (res.status >= 200 && res.status < 300) detail += ' (not a JSON object)';
      if (res.status >= 300 && res.status < 400) detail += ` (redirect to ${res.headers.get('location') ?? '?'}: point GATE_URL at the final address)`;
      const retryable = (res.status >= 500 && !REFUSING_5XX.has(res.status)) || RETRYABLE_4XX.has(res.status) || (res.status >= 200 && res.status < 300);
      if (!retryable) return { kind: 'refused', status: res.status, body: json, text, detail };
      const ra = Number(res.headers.get('retry-after'));
      if (Number.isFinite(ra) && ra > 0) retryAfterMs = Math.min(ra, 60) * 1000;
    } catch (err) {
      detail = describeNetworkError(err, policy.timeoutMs);
    }
    if (attempt < policy.attempts) {
      const wait = retryAfterMs ?? Math.min(policy.delayMs * 2 ** (attempt - 1), 60_000);
      log(`gate: attempt ${attempt}/${policy.attempts} failed: ${detail}; retrying in ${wait} ms`);
      await sleep(wait);
    } else {
      log(`gate: attempt ${attempt}/${policy.attempts} failed: ${detail}`);
    }
  }
  return { kind: 'unavailable', attempts: policy.attempts, detail };
}

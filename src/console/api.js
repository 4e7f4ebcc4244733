// Talking to the gate. The sign-in token lives in sessionStorage (this tab only) and is sent only
// in the Authorization header: never in a URL, never logged, never in local storage.

const KEY = 'gate.console.token';

export const session = {
  token: () => sessionStorage.getItem(KEY),
  set: (token) => sessionStorage.setItem(KEY, token),
  clear: () => sessionStorage.removeItem(KEY),
};

const SIGNED_OUT = 'has a sign-in proxy\'s session expired? Reload the page to sign in again';

/** A non-2xx answer: status, the gate's error code and its message. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `the gate answered HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = body?.error ?? null;
    this.field = body?.field ?? null;
  }
}

/** The gate could not be reached (network error or timeout). */
export class Unreachable extends Error {
  constructor(cause) {
    super('the gate is unreachable');
    this.name = 'Unreachable';
    this.cause = cause;
  }
}

/**
 * Calls the gate (paths are relative to the page, so a path prefix in front of the gate works).
 * Resolves with the JSON body; rejects with ApiError or Unreachable. `auth: false` sends no token.
 */
export async function api(method, path, body, { auth = true, timeoutMs = 5000 } = {}) {
  const headers = { accept: 'application/json' };
  const token = auth ? session.token() : null;
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'same-origin',
      // the gate never redirects: a redirect is something in front of it (a sign-in proxy whose
      // session expired sends its sign-in page), which, followed, fails as a cross-origin request
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new Unreachable(err);
  }
  if (res.type === 'opaqueredirect') throw new ApiError(0, { error: 'redirected', message: `the request was redirected away from the gate: ${SIGNED_OUT}` });
  let data = null;
  try {
    data = await res.json();
  } catch (err) {
    // a body that could not be read (the connection lost, the time out mid-answer) is no answer:
    // the gate may have made the change its status line reports. Only a body read whole that is
    // not JSON (a SyntaxError) is something else's answer.
    if (err?.name !== 'SyntaxError') throw new Unreachable(err);
    data = null;
  }
  // a 401 or 407 that is not the gate's JSON error comes from a proxy in front of it
  if (!res.ok && (res.status === 401 || res.status === 407) && typeof data?.error !== 'string') {
    throw new ApiError(res.status, { error: 'proxy_auth', message: `HTTP ${res.status} from in front of the gate: ${SIGNED_OUT}` });
  }
  if (!res.ok) throw new ApiError(res.status, data);
  // e.g. an authenticating proxy's sign-in page after its session expired
  if (data === null) throw new ApiError(res.status, { error: 'not_json', message: `the answer was not JSON: ${SIGNED_OUT}` });
  return data;
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

// Talking to the gate. The sign-in token lives in sessionStorage (this tab only) and is sent only
// in the Authorization header: never in a URL, never logged, never in local storage.

const KEY = 'gate.console.token';

export const session = {
  token: () => sessionStorage.getItem(KEY),
  set: (token) => sessionStorage.setItem(KEY, token),
  clear: () => sessionStorage.removeItem(KEY),
};

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
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new Unreachable(err);
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) throw new ApiError(res.status, data);
  // e.g. an authenticating proxy's sign-in page after its session expired
  if (data === null) throw new ApiError(res.status, { error: 'not_json', message: 'the answer was not JSON (has a proxy sign-in expired? reload the page)' });
  return data;
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

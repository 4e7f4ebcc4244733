import { withUnsafeReplaced } from '../unsafe-characters.ts';

/**
 * The gate's own secrets by their shape: local tokens ("gate_", generateToken) and break-glass
 * tokens ("gbg_", newBreakGlassToken), each followed by 43 base64url characters. A client that
 * pastes one where it does not belong (a path segment, a JSON key) must not have it copied into
 * a log line, an audit record or an error message. Its twin in the CI scripts, which cannot
 * import from src/: ci/.github/pipeline/lib/redact-tokens.mjs (report-results blanks tokens in a
 * results file's `error` with it, since the gate refuses them there). Change both together.
 */
const TOKEN = /(gate|gbg)_[A-Za-z0-9_-]{43}/g;

/**
 * A JSON Web Token in compact form: header and payload are base64url JSON objects, so each starts
 * "eyJ" ('{"'). In Kubernetes mode the gate's callers present these (ServiceAccount tokens, OIDC
 * ID tokens): pasted where it does not belong, one is blanked as the gate's own are. A match
 * starts only where a run of base64url characters does (the lookbehind): on "eyJeyJeyJ…" without
 * a dot, every "eyJ" would otherwise start a scan to the run's end, and the time grow with the
 * square of the text (seconds for a 60 KB field, any client's URL among them).
 */
const JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g;

/**
 * The text with every gate or break-glass token in it replaced by "<prefix>_[redacted]", and every
 * JWT by "jwt_[redacted]".
 */
export function redactTokens(text: string): string {
  const gate = text.includes('_') ? text.replace(TOKEN, '$1_[redacted]') : text;
  return gate.includes('eyJ') ? gate.replace(JWT, 'jwt_[redacted]') : gate;
}

/**
 * A client's text as an answer or a record names it: its tokens blanked first (a cut through one
 * would leave most of it unmatched) and the characters that could rewrite what a terminal or the
 * console shows replaced (withUnsafeReplaced), then cut to `max` characters (UTF-16 units, never
 * half of a surrogate pair), a cut marked with "…".
 */
export function redactedExcerpt(text: string, max: number): string {
  const clean = withUnsafeReplaced(redactTokens(text));
  return clean.length <= max ? clean : `${cutWhole(clean, max)}…`;
}

/**
 * The first `max` UTF-16 units of a text, one fewer where the cut would keep half of a surrogate
 * pair: a lone one is text UTF-8 cannot hold (and the gate refuses), and no query could name it.
 */
export function cutWhole(text: string, max: number): string {
  const cut = text.slice(0, max);
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}

/** Whether a text holds no gate or break-glass token and no JWT (what a client may put in a query string or free text). */
export const hasNoToken = (text: string): boolean => redactTokens(text) === text;

/** A JSON value with every token in its text blanked: the value itself when it holds none. */
export function redactTokensInJson<T>(value: T): T {
  if (value === null || value === undefined) return value;
  const text = JSON.stringify(value);
  const clean = redactTokens(text);
  return clean === text ? value : (JSON.parse(clean) as T);
}

/** Runs of percent-escapes, decoded byte by byte: bytes that are not UTF-8 become U+FFFD, the rest their characters. */
const ESCAPES = /(?:%[0-9A-Fa-f]{2})+/g;
const lenientUtf8 = new TextDecoder('utf-8', { fatal: false });
function decodeLeniently(path: string): string {
  return path.replace(ESCAPES, (run) => lenientUtf8.decode(Uint8Array.from(run.slice(1).split('%'), (hex) => parseInt(hex, 16))));
}

/**
 * A URL path with every token in it blanked, percent-encoded ones too (gbg_%41…), even in a path
 * whose encoding is broken elsewhere (fastify refuses those, and the refusal is logged): when
 * decoding the path uncovers a token, the decoded path is returned blanked; otherwise the path as
 * sent.
 */
export function redactTokensInPath(path: string): string {
  const raw = redactTokens(path);
  if (!path.includes('%')) return raw;
  const decoded = decodeLeniently(path);
  const blanked = redactTokens(decoded);
  return blanked === decoded ? raw : blanked;
}

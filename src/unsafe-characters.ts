/**
 * Characters free text may not hold at all: the C0 controls but tab and line feed (a carriage
 * return only before a line feed), DEL, the C1 controls, the bidirectional embeddings,
 * overrides and isolates (U+202A-U+202E, U+2066-U+2069) and marks (U+200E, U+200F, U+061C: an
 * invisible right-to-left mark around each digit group shows "release 1.4.2, 100-900 shares"
 * as "release 2.4.1, 900-100 shares"). The text is recorded for good and read
 * in terminals (the CLI, `jq` over the audit log: an escape sequence there moves the cursor,
 * rewrites the line, or sets a window title; a lone carriage return prints what follows over
 * what came before; C1's CSI is an escape on its own) and in the console, where a
 * right-to-left override shows the characters after it in reverse order (Trojan Source,
 * CVE-2021-42574): an approval note that reads one way and is stored another. A lone UTF-16
 * surrogate (U+D800-U+DFFF not in a pair; the `u` flag reads a pair as one code point) is not
 * a character at all: UTF-8 cannot hold it, so a reader of the log in another language would
 * see, and hash, something else. Invisible
 * characters that cannot do this (zero-width spaces and joiners, the BOM, variation selectors)
 * stay allowed: scripts and emoji need them, and they do not count towards a minimum length.
 * Free text holding one is refused (recordedText in src/routes/common-schemas.ts); other
 * client text the gate quotes (a refused request's decoded path parameters, an unknown key) has
 * them replaced (withUnsafeReplaced). Its twin in the CI scripts, which cannot import from src/:
 * ci/.github/pipeline/lib/safe-text.mjs (report-results cleans a test run's `error` with it).
 * Change both together.
 */
const UNSAFE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]|\r(?!\n)/u;
const EVERY_UNSAFE = new RegExp(UNSAFE.source, 'gu');

/** The first character of `text` that free text may not hold (UNSAFE), as "U+001B at character 7" (code points from 1), or null. */
export function firstUnsafeCharacter(text: string): string | null {
  const m = UNSAFE.exec(text);
  if (!m) return null;
  const code = m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
  return `U+${code} at character ${[...text.slice(0, m.index)].length + 1}`;
}

/**
 * Client text the gate quotes in an answer, a log line or an audit record, with every UNSAFE
 * character replaced by U+FFFD: JSON escapes the C0 controls but not the C1 ones or the
 * bidirectional overrides, which would reach a terminal or the console as they are.
 */
export function withUnsafeReplaced(text: string): string {
  return UNSAFE.test(text) ? text.replace(EVERY_UNSAFE, '\uFFFD') : text;
}

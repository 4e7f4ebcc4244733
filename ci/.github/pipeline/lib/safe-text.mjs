// The characters the gate refuses in free text (a results file's `error` among it): the C0
// controls but tab and line feed (a carriage return only before a line feed), DEL, the C1
// controls, the bidirectional embeddings, overrides, isolates and marks, and lone surrogates. The twin of UNSAFE in
// src/unsafe-characters.ts, which these scripts cannot import: change both together.
// test/ci/report-results.test.ts sends bodies holding them to the real gate to keep the two equal.
const UNSAFE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]|\r(?!\n)/u;
const EVERY_UNSAFE = new RegExp(UNSAFE.source, 'gu');

// Terminal escape sequences, as a runner's coloured output holds them: CSI (ESC [ or the C1 CSI,
// parameter bytes, intermediate bytes, a final byte: colours, cursor moves), OSC (ESC ] or the C1
// OSC up to BEL or the string terminator: window titles, hyperlinks), and ESC with one more
// character.
const ESCAPES = /(?:\u001b\[|\u009b)[\u0030-\u003f]*[\u0020-\u002f]*[\u0040-\u007e]|(?:\u001b\]|\u009d)[^\u0007\u001b\u009c]*(?:\u0007|\u001b\\|\u009c)|\u001b[\u0020-\u007e]/gu;

/** Whether a text holds none of the characters the gate refuses in free text. */
export const hasNoUnsafeCharacter = (text) => !UNSAFE.test(text);

/**
 * The text as the gate accepts it: terminal escape sequences removed, a lone carriage return (a
 * progress line redrawn) made a line feed, any other refused character replaced with U+FFFD.
 * A text without any comes back as it is.
 */
export function cleanText(text) {
  if (hasNoUnsafeCharacter(text)) return text;
  return text.replace(ESCAPES, '').replace(/\r(?!\n)/g, '\n').replace(EVERY_UNSAFE, '\uFFFD');
}

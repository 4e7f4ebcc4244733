/**
 * Who is the same person, for separation of duties and for unique token names. Names are kept as
 * given everywhere they are shown or recorded; only comparisons go through personKey.
 */

// Invisible in any rendering: zero-width space and joiners, soft hyphen, BOM, word joiner,
// variation selectors, bidi controls, Hangul fillers, ...
const IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;

/** True when `name` holds a character that renders as nothing (format or default-ignorable). */
export function hasInvisible(name: string): boolean {
  return /[\p{Cf}\p{Default_Ignorable_Code_Point}]/u.test(name);
}

/**
 * The canonical key of a person's name: two names with the same key are one person. Unicode NFKC
 * (fullwidth and other compatibility forms, composed accents: 'é' and 'e' + U+0301 are one),
 * default-ignorable code points removed, case folded, surrounding whitespace trimmed.
 *
 * Case folding is toUpperCase then toLowerCase, with the Greek final sigma read as sigma: the
 * locale-independent default case mappings (never toLocale*Case, which depends on the runtime's
 * ICU data), and close to Unicode full case folding ('ß' and 'SS' are one, 'ᾳ' and 'ΑΙ' are one).
 * Erring towards "same person" only ever refuses an approval or a token name.
 */
export function personKey(name: string): string {
  const folded = name.normalize('NFKC').replace(IGNORABLE, '').toUpperCase().toLowerCase().replaceAll('\u03C2', '\u03C3');
  // removing an ignorable or folding case can leave a sequence NFKC would compose (e + ZWSP + U+0301)
  return folded.normalize('NFKC').replace(IGNORABLE, '').trim();
}

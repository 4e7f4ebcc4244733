// Separation of duties compares people, not byte strings: two spellings of one name that a reader
// cannot tell apart (case, compatibility width, invisible characters, decomposed accents) must give
// the same key, and different names must not.
import t from 'tap';
import { personKey } from '../../src/policy/person-key.ts';

t.test('spellings of one name give one key', async (t) => {
  const same: [string, string, string][] = [
    ['identical', 'olivia', 'olivia'],
    ['case', 'olivia', 'Olivia'],
    ['all caps', 'olivia', 'OLIVIA'],
    ['fullwidth letter (NFKC)', 'olivia', '\uFF4Flivia'],
    ['all fullwidth, upper case', 'olivia', '\uFF2F\uFF2C\uFF29\uFF36\uFF29\uFF21'],
    ['zero-width space', 'olivia', 'olivia\u200B'],
    ['zero-width joiner inside', 'olivia', 'oli\u200Dvia'],
    ['soft hyphen', 'olivia', 'oli\u00ADvia'],
    ['byte-order mark in front', 'olivia', '\uFEFFolivia'],
    ['word joiner', 'olivia', 'olivia\u2060'],
    ['variation selector', 'olivia', 'olivia\uFE0F'],
    ['surrounding whitespace', 'olivia', '  olivia\t'],
    ['ideographic space around (NFKC to a space, then trimmed)', 'olivia', '\u3000olivia\u3000'],
    ['precomposed é vs e + combining acute', 'ren\u00E9e', 'rene\u0301e'],
    ['É vs E + combining acute', 'ren\u00E9e', 'RENE\u0301E'],
    ['combining sequence broken by a zero-width space', 'ren\u00E9e', 'rene\u200B\u0301e'],
    ['ligature ﬀ (NFKC)', 'jeffrey', 'je\uFB00rey'],
    ['sharp s vs SS (full case folding)', 'stra\u00DFe', 'STRASSE'],
    ['Greek final sigma vs sigma', '\u039F\u0394\u03A5\u03A3\u03A3\u0395\u03A5\u03A3', '\u03BF\u03B4\u03C5\u03C3\u03C3\u03B5\u03C5\u03C3'],
    ['Kelvin sign vs K', 'kim', '\u212Aim'],
    ['email address, case', 'olivia@corp.example', 'Olivia@Corp.Example'],
  ];
  for (const [name, a, b] of same) {
    t.equal(personKey(a), personKey(b), `${name}: key`);
  }
});

t.test('different names stay different', async (t) => {
  const different: [string, string, string][] = [
    ['another name', 'olivia', 'alice'],
    ['a suffix', 'olivia', 'olivia.2'],
    ['a domain', 'olivia', 'olivia@corp'],
    ['an accent is not dropped', 'renee', 'ren\u00E9e'],
    ['an inner space is kept', 'olivia smith', 'oliviasmith'],
    ['Cyrillic о is another letter (a confusable, not a spelling)', 'olivia', '\u043Elivia'],
  ];
  for (const [name, a, b] of different) t.notOk(personKey(a) === personKey(b), name);
});

t.test('the key is a plain string; names as given are not touched', async (t) => {
  t.equal(personKey('  \uFF2Flivia\u200B '), 'olivia');
  t.equal(personKey('Ren\u00E9e'), 'ren\u00E9e', 'NFKC composes: the key of a composed name is composed');
  t.equal(personKey('\u200B'), '', 'nothing visible: empty key');
});

// The free text a person must write for the record (a break-glass justification, approval notes,
// a stage toggle's note) has a minimum length so that it says something: characters that show
// nothing (zero-width spaces, joiners, the BOM, controls, blank-looking letters) do not count
// towards it. Real text of the minimum length passes, in any script.
import t from 'tap';
import { visibleLength } from '../../src/routes/common-schemas.ts';
import { buildTestApp } from '../helpers/build-app.ts';

const routes = [
  { what: 'justification', min: 20, role: 'operator', method: 'POST', url: '/v1/break-glass', body: (text: string) => ({ project: 'stonks-pipeline', stage: 'paper', imageTag: 'abc123', justification: text }), ok: 201 },
  { what: 'notes', min: 10, role: 'approver', method: 'POST', url: '/v1/approvals', body: (text: string) => ({ project: 'stonks-pipeline', stage: 'live', imageTag: 'abc123', notes: text }), ok: 201 },
  { what: 'note', min: 3, role: 'admin', method: 'PUT', url: '/v1/stages/beta', body: (text: string) => ({ enabled: true, note: text }), ok: 200 },
] as const;

const blanks = ['\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad', '\u202e', '\u0000', '\u001b', '\u3164', '\u2800', '\u115f',
  // default-ignorable marks outside Cc/Cf: variation selectors (emoji presentation, the supplement), the
  // combining grapheme joiner, Khmer's inherent vowels, a Mongolian free variation selector
  '\ufe0f', '\u{e0100}', '\u034f', '\u17b4', '\u180b'];

t.test('visibleLength counts what shows', async (t) => {
  t.equal(visibleLength('abc'), 3);
  t.equal(visibleLength('\u200babc\u200d'), 3);
  t.equal(visibleLength('\u200b \u200b'), 0, 'spaces between invisible characters are the ends once they are gone');
  t.equal(visibleLength('a b'), 3, 'spaces inside text count');
  t.equal(visibleLength('日本語'), 3, 'code points, not UTF-16 units');
  t.equal(visibleLength('👍🏽'), 2, 'an emoji and its modifier');
  t.equal(visibleLength('❤\ufe0f'), 1, 'an emoji and its variation selector: one that shows');
  t.equal(visibleLength('क्षमा'), 5, 'Devanagari: the virama and the vowel sign count');
  t.equal(visibleLength('می\u200cخواهم'), 7, 'Persian: the zero-width non-joiner between the parts does not, the letters do');
});

for (const r of routes) {
  t.test(`${r.what}: ${r.min} characters that show`, async (t) => {
    const g = await buildTestApp(t, { configYaml: 'breakGlass: { requestsPerMinute: 1000 }\n' });
    const send = (text: string) => g.as(r.role, { method: r.method, url: r.url, payload: r.body(text) });
    for (const blank of blanks) {
      const text = blank.repeat(r.min + 5);
      const res = await send(text);
      t.equal(res.statusCode, 400, `${r.min + 5} × U+${blank.codePointAt(0)!.toString(16).padStart(4, '0')}: refused`);
      t.match(res.json(), { field: `body.${r.what}`, message: new RegExp(`must be at least ${r.min} characters`) }, 'naming the field');
    }
    const padded = await send(`\u200b${'x'.repeat(r.min - 1)}\u200b\u200b`);
    t.equal(padded.statusCode, 400, `${r.min - 1} that show, padded with invisible ones: refused`);
    t.equal(g.audit.records().filter((x) => x.type !== 'refusal').length, 0, 'nothing recorded but refusals');
    // real text, just long enough, in another script and with a joiner inside an emoji sequence
    const real = 'Ä'.repeat(r.min - 2) + '👩‍💻';
    t.equal(visibleLength(real), r.min, 'the joiner does not count, the two people do');
    t.equal((await send(real)).statusCode, r.ok, 'real text of the minimum length passes');
  });
}

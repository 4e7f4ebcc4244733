// Free text a client sends is recorded for good and read in terminals and the console: control
// characters (terminal escapes, a lone carriage return, C1's CSI) and bidirectional overrides
// (Trojan Source) are refused with a 400 naming the field and the character; the invisible
// characters real text needs (joiners, variation selectors), tabs and line breaks are not.
import { Writable } from 'node:stream';
import t from 'tap';
import { createLogger } from '../../src/logger.ts';
import { firstUnsafeCharacter, withUnsafeReplaced } from '../../src/unsafe-characters.ts';
import { buildTestApp } from '../helpers/build-app.ts';

const fields = [
  { field: 'justification', role: 'operator', method: 'POST', url: '/v1/break-glass', body: (text: string) => ({ project: 'stonks-pipeline', stage: 'paper', imageTag: 'abc123', justification: text }), ok: 201 },
  { field: 'notes', role: 'approver', method: 'POST', url: '/v1/approvals', body: (text: string) => ({ project: 'stonks-pipeline', stage: 'live', imageTag: 'abc123', notes: text }), ok: 201 },
  { field: 'note', role: 'admin', method: 'PUT', url: '/v1/stages/beta', body: (text: string) => ({ enabled: true, note: text }), ok: 200 },
  { field: 'actor', role: 'caller', method: 'POST', url: '/v1/decisions', body: (text: string) => ({ project: 'stonks-pipeline', stage: 'beta', imageTag: 'abc123', actor: text }), ok: 200 },
  { field: 'error', role: 'ci', method: 'PUT', url: '/v1/test-results/abc123', body: (text: string) => ({ exitCode: 1, error: text }), ok: 200 },
] as const;

const base = 'rolled forward after checking the fills dashboard';
const unsafe = [
  { what: 'an ANSI escape (clears the screen)', text: `${base}\u001b[2J`, code: '001B', at: base.length + 1 },
  { what: 'C1 CSI', text: `${base}\u009b31m`, code: '009B', at: base.length + 1 },
  { what: 'BEL', text: `\u0007${base}`, code: '0007', at: 1 },
  { what: 'NUL', text: `${base}\u0000x`, code: '0000', at: base.length + 1 },
  { what: 'DEL', text: `${base}\u007f`, code: '007F', at: base.length + 1 },
  { what: 'a lone carriage return (prints over the line)', text: `approved\rDENIED ${base}`, code: '000D', at: 9 },
  { what: 'a right-to-left override', text: `${base} \u202edeveloper`, code: '202E', at: base.length + 2 },
  { what: 'a right-to-left isolate', text: `${base} \u2067x\u2069`, code: '2067', at: base.length + 2 },
  { what: 'a vertical tab', text: `${base}\u000bx`, code: '000B', at: base.length + 1 },
  { what: 'a right-to-left mark (reverses digit groups)', text: `release \u200f1\u200f.\u200f4\u200f.\u200f2 ${base}`, code: '200F', at: 9 },
  { what: 'a left-to-right mark', text: `${base}\u200e`, code: '200E', at: base.length + 1 },
  { what: 'an Arabic letter mark', text: `\u061c${base}`, code: '061C', at: 1 },
  { what: 'a lone high surrogate', text: `${base}\ud800x`, code: 'D800', at: base.length + 1 },
  { what: 'a lone low surrogate after an astral character', text: `🚀\udfff${base}`, code: 'DFFF', at: 2 },
  { what: 'after an astral character (counted as one)', text: `🚀${base}\u001b`, code: '001B', at: base.length + 2 },
];
const safe = [
  { what: 'tabs and line breaks', text: `${base}\n\tsecond line\r\nthird line` },
  { what: 'joiners and variation selectors', text: `${base} 👩‍💻 ❤\ufe0f می\u200cخواهم` },
  { what: 'right-to-left script without controls', text: `${base} שלום עולם` },
];

t.test('firstUnsafeCharacter names the first one by code point and position', async (t) => {
  for (const u of unsafe) t.equal(firstUnsafeCharacter(u.text), `U+${u.code} at character ${u.at}`, u.what);
  for (const s of safe) t.equal(firstUnsafeCharacter(s.text), null, s.what);
});

for (const f of fields) {
  t.test(`${f.field}: control characters and bidirectional overrides are refused`, async (t) => {
    const g = await buildTestApp(t, { configYaml: 'breakGlass: { requestsPerMinute: 1000 }\n' });
    const send = (text: string) => g.as(f.role, { method: f.method, url: f.url, payload: f.body(text) });
    for (const u of unsafe) {
      const res = await send(u.text);
      t.equal(res.statusCode, 400, `${u.what}: 400`);
      t.match(res.json(), { error: 'invalid_request', field: `body.${f.field}`, message: `U+${u.code} at character ${u.at}` }, `${u.what}: the field and the character named`);
    }
    t.equal(g.audit.records().filter((r) => r.type !== 'refusal').length, 0, 'nothing recorded but the refusals');
    for (const s of safe) {
      const res = await send(s.text);
      t.equal(res.statusCode, f.ok, `${s.what}: accepted`);
      t.ok(JSON.stringify(g.audit.records().at(-1)).includes(JSON.stringify(s.text).slice(1, -1)), `${s.what}: recorded as sent`);
    }
  });
}

t.test('withUnsafeReplaced puts U+FFFD for each, and leaves other text as it is', async (t) => {
  t.equal(withUnsafeReplaced('a\u009b2J\u202eb\rc\r\nd\te\u0000'), 'a\ufffd2J\ufffdb\ufffdc\r\nd\te\ufffd');
  for (const s of safe) t.equal(withUnsafeReplaced(s.text), s.text, s.what);
});

// Client text the gate quotes rather than refuses (a refused request's decoded path parameters,
// an unknown key): JSON escapes the C0 controls but not C1 or the bidirectional overrides, so
// they are replaced before they reach an answer, a log line or a record.
t.test('refusal records and answers quote no control character or bidirectional override a client sent', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk, _enc, cb) => void (lines.push(String(chunk)), cb()) });
  const g = await buildTestApp(t, { deps: { logger: createLogger('info', sink) } });
  const evil = '%C2%9B2J%E2%80%AEevil';
  const toggled = await g.as('admin', { method: 'PUT', url: `/v1/stages/${evil}`, payload: { enabled: true, note: 'a fine note' } });
  const unknownKey = await g.as('approver', { method: 'POST', url: '/v1/approvals', payload: { project: 'stonks-pipeline', stage: 'live', imageTag: 'abc123', notes: 'checked the dashboard', 'x\u009b2J\u202eevil': 1 } });
  const anonymous = await g.app.inject({ method: 'PUT', url: `/v1/stages/${evil}`, payload: { enabled: true, note: 'x' } });
  t.same([toggled.statusCode, unknownKey.statusCode, anonymous.statusCode], [400, 400, 401]);
  const refusals = g.audit.records().filter((r) => r.type === 'refusal');
  t.ok(refusals.length >= 3, 'the refusals recorded');
  for (const r of refusals) t.equal(firstUnsafeCharacter(JSON.stringify(r)), null, `record of ${String((r as { data?: { path?: string } }).data?.path)}: none`);
  t.match(refusals.map((r) => r['stage']), ['\ufffd2J\ufffdevil', null, '\ufffd2J\ufffdevil'], 'the stage path parameter recorded with U+FFFD in their place');
  for (const res of [toggled, unknownKey, anonymous]) t.equal(firstUnsafeCharacter(res.body), null, `answer: ${res.body.slice(0, 120)}`);
  t.match(unknownKey.json(), { field: 'body.x\ufffd2J\ufffdevil' }, 'the unknown key named with U+FFFD in their place');
  t.equal(lines.filter((l) => firstUnsafeCharacter(l) !== null).length, 0, 'and no log line holds one');
});

import { Writable } from 'node:stream';
import t from 'tap';
import { redactTokens, redactTokensInPath } from '../../src/auth/redact-tokens.ts';
import { generateToken } from '../../src/auth/local-tokens.ts';
import { newBreakGlassToken } from '../../src/routes/grants.ts';
import { createLogger, redactUrl } from '../../src/logger.ts';
import { buildTestApp, decisionBody } from '../helpers/build-app.ts';

/** A Kubernetes ServiceAccount token's shape (a JWT; not a real one). */
const JWT = `eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50In0.${'c2ln'.repeat(40)}_-x`;

t.test('redactTokens blanks both kinds of gate token wherever they stand, and nothing else', async (t) => {
  const gate = generateToken();
  const bg = newBreakGlassToken();
  t.equal(redactTokens(`/v1/test-results/${bg}`), '/v1/test-results/gbg_[redacted]');
  t.equal(redactTokens(`unknown field ${gate}, x${gate}`), 'unknown field gate_[redacted], xgate_[redacted]');
  t.equal(redactTokens('/v1/test-results/gbg_short'), '/v1/test-results/gbg_short', 'not a token: too short');
  t.equal(redactTokens('/v1/decisions'), '/v1/decisions');
  // a Kubernetes ServiceAccount token (a JWT): what a caller in Kubernetes mode holds
  const jwt = JWT;
  t.equal(redactTokens(`/v1/whoami/${jwt}`), '/v1/whoami/jwt_[redacted]');
  t.equal(redactTokens(`Authorization: Bearer ${jwt} and ${gate}`), 'Authorization: Bearer jwt_[redacted] and gate_[redacted]');
  t.equal(redactTokens('eyJ.eyJ. and eyJhbGciOiJ alone'), 'eyJ.eyJ. and eyJhbGciOiJ alone', 'not a JWT: no payload, or too short');
  // linear in the text: a run of "eyJ" without a dot is one failed match, not one per "eyJ" (each
  // scanning to the run's end: 2.5 s for 64 KB, minutes for the 1 MiB a results file may hold).
  // A bound ten times what it takes, against a hang, not a timing
  for (const text of ['eyJ'.repeat(350_000), `eyJabcdefghij.eyJ${'x'.repeat(1_000_000)}`, 'eyJabcdefghij.'.repeat(75_000)]) {
    const started = performance.now();
    redactTokens(text);
    const ms = performance.now() - started;
    t.ok(ms < 2000, `${text.length} characters of ${JSON.stringify(text.slice(0, 16))}…: ${ms.toFixed(0)} ms`);
  }
  t.equal(redactUrl(`/x/${gate}?a=1&token=${bg}`), '/x/gate_[redacted]?a=1&token=%5Bredacted%5D');
  t.equal(redactUrl(`/x?note=${bg}`), '/x?note=gbg_[redacted]');
  const encoded = `/v1/test-results/gbg_%${bg.charCodeAt(4).toString(16)}${bg.slice(5)}`;
  t.equal(redactTokensInPath(encoded), '/v1/test-results/gbg_[redacted]', 'a percent-encoded token is found in the decoded path');
  t.equal(redactUrl(`${encoded}?a=1`), '/v1/test-results/gbg_[redacted]?a=1');
  t.equal(redactTokensInPath('/x/a%20b/%E0%A4%A'), '/x/a%20b/%E0%A4%A', 'a path without a token (or not decodable) is kept as sent');
  const hex = (c: string) => `%${c.charCodeAt(0).toString(16)}`;
  // escapes of a token's characters next to bytes that are not UTF-8, at either end
  t.equal(redactTokensInPath(`/v1/stages/${gate.slice(0, -1)}${hex(gate.at(-1)!)}%E0`), '/v1/stages/gate_[redacted]\uFFFD');
  t.equal(redactTokensInPath(`/v1/stages/%E0${hex('g')}${gate.slice(1)}`), '/v1/stages/\uFFFDgate_[redacted]');
});

t.test('a token pasted into a path or a JSON key is not copied into the log, the audit log or the answer', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk, _enc, cb) => void (lines.push(String(chunk)), cb()) });
  const g = await buildTestApp(t, { deps: { logger: createLogger('info', sink) } });
  const gate = g.tokens['caller']!;
  const bg = newBreakGlassToken();

  // a break-glass token where a tag goes (the shape of a valid tag): a public read, refused and logged
  const read = await g.app.inject({ url: `/v1/test-results/${bg}` });
  t.equal(read.statusCode, 400);
  t.equal(read.json().field, 'params.imageTag');
  // a refused write to that path: audited with its path
  const put = await g.as('caller', { method: 'PUT', url: `/v1/test-results/${bg}`, payload: { exitCode: 0 } });
  t.equal(put.statusCode, 403);
  // the caller's own token as a JSON key
  const bad = await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: { ...decisionBody(), [gate]: 1 } });
  t.equal(bad.statusCode, 400);
  t.match(bad.json(), { error: 'invalid_request', field: 'body.gate_[redacted]', message: 'body.gate_[redacted]: unknown field gate_[redacted]' });
  // a token as the image tag of a decision (a valid OCI tag): refused, so never recorded or logged as a tag
  const asTag = await g.as('caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody({ imageTag: bg }) });
  t.equal(asTag.statusCode, 400);
  t.match(asTag.json(), { field: 'body.imageTag', message: /^body\.imageTag: looks like a gate token/ });
  const stored = await g.as('ci', { method: 'PUT', url: `/v1/test-results/${gate}`, payload: { exitCode: 0 } });
  t.equal(stored.statusCode, 400, 'nor does one become a stored result and its file name');
  // an unknown path
  const lost = await g.app.inject({ url: `/${gate}` });
  t.equal(lost.statusCode, 404);
  t.notMatch(lost.body, gate);
  // a Kubernetes ServiceAccount token in a path: the 404's message, the log lines and a refusal record blank it
  const lostJwt = await g.app.inject({ url: `/v1/whoami/${JWT}` });
  t.equal(lostJwt.statusCode, 404);
  t.match(lostJwt.json().message, 'jwt_[redacted]');
  const jwtTag = await g.as('ci', { method: 'PUT', url: `/v1/test-results/${JWT}`, payload: { exitCode: 0 } });
  t.equal(jwtTag.statusCode, 400, 'nor is a JWT a tag');
  const asset = await g.app.inject({ url: `/console/${bg}` });
  t.equal(asset.statusCode, 404);
  t.equal(asset.json().message, 'no console file gbg_[redacted]', 'the console route answers its own 404s');
  // control and bidirectional characters are replaced there as in every other text quoted, and a long name cut
  const odd = await g.app.inject({ url: '/console/%1b%5b2J%e2%80%ae.js' });
  t.equal(odd.statusCode, 404);
  t.equal(odd.json().message, 'no console file \ufffd[2J\ufffd.js', 'ESC and U+202E replaced');
  t.equal((await g.app.inject({ url: `/console/${'a'.repeat(500)}.js` })).json().message, `no console file ${'a'.repeat(200)}…`, 'cut at 200');
  // percent-encoded in the path of a refused write
  const enc = await g.as('caller', { method: 'PUT', url: `/v1/test-results/gbg_%${bg.charCodeAt(4).toString(16)}${bg.slice(5)}`, payload: { exitCode: 0 } });
  t.equal(enc.statusCode, 403);

  const audit = JSON.stringify(g.audit.records());
  t.equal(g.audit.records().filter((r) => r.type === 'refusal').length, 6, 'the two 403s and the four 400s are audited');
  t.match(audit, 'gbg_[redacted]', 'the refusal names the path, blanked');
  const log = lines.join('');
  t.match(log, 'gbg_[redacted]');
  for (const [what, text] of [['audit log', audit], ['log', log], ['answers', read.body + put.body + bad.body + lost.body + asset.body + enc.body + asTag.body + stored.body + lostJwt.body + jwtTag.body]] as const) {
    t.notMatch(text, bg, `no break-glass token in the ${what}`);
    t.notMatch(text, gate, `no gate token in the ${what}`);
    t.notMatch(text, JWT.slice(0, 40), `no JWT in the ${what}`);
  }
});

t.test('free text holding a token (justification, notes, a toggle note, the actor) is refused, so it is never recorded or shown on /v1/status', async (t) => {
  const g = await buildTestApp(t);
  const bg = newBreakGlassToken();
  const gate = g.tokens['operator']!;
  const cases = [
    ['operator', 'POST', '/v1/break-glass', { project: 'stonks-pipeline', stage: 'paper', imageTag: 'abc123', justification: `hotfix, the old grant was ${bg}` }, 'body.justification'],
    ['approver', 'POST', '/v1/approvals', { project: 'stonks-pipeline', stage: 'live', imageTag: 'abc123', notes: `checked with ${gate}` }, 'body.notes'],
    ['admin', 'PUT', '/v1/stages/beta', { enabled: false, note: `paused ${bg}` }, 'body.note'],
    ['caller', 'POST', '/v1/decisions', decisionBody({ actor: `kargo ${gate}` }), 'body.actor'],
    // a Kubernetes ServiceAccount token, what callers hold in Kubernetes mode
    ['caller', 'POST', '/v1/decisions', decisionBody({ actor: `kargo ${JWT}` }), 'body.actor'],
    ['approver', 'POST', '/v1/approvals', { project: 'stonks-pipeline', stage: 'live', imageTag: 'abc123', notes: `checked with ${JWT}` }, 'body.notes'],
  ] as const;
  for (const [role, method, url, payload, field] of cases) {
    const res = await g.as(role, { method, url, payload });
    t.equal(res.statusCode, 400, field);
    t.match(res.json(), { field, message: `${field}: contains what looks like a gate token (gate_… or gbg_…) or a JWT (eyJ….eyJ….…): tokens are never written into text, which is recorded and shown` });
  }
  const status = (await g.app.inject({ url: '/v1/status' })).body;
  const audit = JSON.stringify(g.audit.records());
  for (const text of [status, audit]) {
    t.notMatch(text, bg);
    t.notMatch(text, gate);
    t.notMatch(text, JWT.slice(0, 40));
  }
  t.equal(g.audit.records().filter((r) => r.type === 'refusal').length, 6, 'each refusal audited');
  t.equal(g.audit.records().filter((r) => r.type !== 'refusal').length, 0, 'and nothing else recorded');
  // the same text without the token is fine
  const ok = await g.as('operator', { method: 'POST', url: '/v1/break-glass', payload: { project: 'stonks-pipeline', stage: 'paper', imageTag: 'abc123', justification: 'hotfix for a broken order router, gbg_ prefix named' } });
  t.equal(ok.statusCode, 201);
});

t.test('a token in a long path parameter is blanked before the refusal record cuts the parameter to its length', async (t) => {
  const g = await buildTestApp(t);
  const gate = g.tokens['admin']!;
  const bg = newBreakGlassToken();
  // 17 characters before the token: the record keeps 64 of the stage, which would end one
  // character short of the token and hold the other 42 of its 43 (6 bits left to guess); the
  // same for the 128 of an image tag with 82 before a break-glass token
  const stage = await g.as('caller', { method: 'PUT', url: `/v1/stages/${'s'.repeat(17)}${gate}`, payload: { enabled: true, note: 'probe' } });
  t.equal(stage.statusCode, 403);
  const tag = await g.as('caller', { method: 'PUT', url: `/v1/test-results/${'t'.repeat(82)}${bg}`, payload: { exitCode: 0 } });
  t.equal(tag.statusCode, 403);
  const [first, second] = g.audit.records().filter((r) => r.type === 'refusal');
  t.equal(first?.stage, `${'s'.repeat(17)}gate_[redacted]`);
  t.equal(second?.imageTag, `${'t'.repeat(82)}gbg_[redacted]`);
  const audit = JSON.stringify(g.audit.records());
  t.notMatch(audit, gate.slice(5, 47), 'no 42 characters of the gate token');
  t.notMatch(audit, bg.slice(4, 46), 'no 42 characters of the break-glass token');
});

import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import t from 'tap';
import type { AuthRequest, Authenticator } from '../../src/auth/identity.ts';
import { createLocalAuthenticator, tokenFilePath } from '../../src/auth/local-tokens.ts';
import { createProxyHeaderAuthenticator, proxyAuthNotices } from '../../src/auth/proxy-header.ts';
import { ConfigError, parseConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { buildTestApp } from '../helpers/build-app.ts';

// the secret the proxy adds to every request it forwards, and what the gate's configuration holds
const SECRET = 'b6f0c1e2d3a4958677e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2';
const SHA = createHash('sha256').update(SECRET).digest('hex');
// the secret it is being rotated to (proxyAuth.secretSha256 holds both hashes for a while)
const NEW_SECRET = '0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e';
const NEW_SHA = createHash('sha256').update(NEW_SECRET).digest('hex');

/** An inner authenticator that knows one bearer token. */
const inner: Authenticator = {
  mode: 'local',
  async authenticate(req) {
    if (req.headers['authorization'] === 'Bearer good') return { ok: true, identity: { name: 'token-user', groups: ['operator'], via: 'local-token' } };
    return { ok: false, status: 401, error: 'unauthorized', message: 'Authorization: Bearer <token> required', presented: { name: 'anonymous', groups: [], via: 'none' } };
  },
  async authorize() {
    return { ok: true };
  },
};

const OPTS = { trustedCidrs: ['10.42.0.0/16'], userHeader: 'X-Auth-Request-User', groupsHeader: 'X-Auth-Request-Groups', secretSha256: [SHA], secretHeader: 'X-Gate-Proxy-Secret' };
const req = (remoteAddress: string, headers: AuthRequest['headers'], rawHeaders?: string[]): AuthRequest => ({ remoteAddress, headers, ...(rawHeaders ? { rawHeaders } : {}) });
const claim = { 'x-auth-request-user': 'admin', 'x-auth-request-groups': 'gate-admin' };

t.test('with secretSha256 the identity headers need the address AND the secret', async (t) => {
  const auth = createProxyHeaderAuthenticator(inner, OPTS);
  const ok = await auth.authenticate(req('10.42.3.9', { ...claim, 'x-gate-proxy-secret': SECRET }));
  t.same(ok.ok && ok.identity, { name: 'admin', groups: ['gate-admin'], via: 'proxy-header' }, 'trusted peer, right secret: the proxy identity');

  // a pod on the node's pod subnet (arc-runners) that sends the user header without the secret
  const missing = await auth.authenticate(req('10.42.3.9', claim));
  t.match(missing, { ok: false, status: 401, presented: { name: 'anonymous', via: 'none' } }, 'no secret: the identity headers are ignored, the token decides (none here)');
  if (!missing.ok) t.match(missing.message, /x-auth-request-user header was not used: the request did not carry x-gate-proxy-secret/, 'and the 401 says why');
  const missingWithToken = await auth.authenticate(req('10.42.3.9', { ...claim, authorization: 'Bearer good' }));
  t.same(missingWithToken.ok && missingWithToken.identity.name, 'token-user', 'no secret but a token: the token identity, as from an untrusted peer');

  for (const [label, value] of [
    ['another secret', 'guessed'],
    ['the secret with a suffix', `${SECRET}x`],
    ['its hash instead of it', SHA],
    ['an empty value', ''],
  ] as const) {
    const r = await auth.authenticate(req('10.42.3.9', { ...claim, 'x-gate-proxy-secret': value, authorization: 'Bearer good' }));
    t.match(r, { ok: false, status: 401, error: 'unauthorized', presented: { name: 'anonymous', groups: [], via: 'proxy-header' } }, `${label}: refused, even with a good token`);
    if (!r.ok) {
      t.match(r.message, /x-gate-proxy-secret header does not hold the authenticating proxy's secret \(proxyAuth\.secretSha256\)/, `${label}: the message names the key`);
      t.notOk(r.message.includes(SECRET) || r.message.includes(SHA) || (value !== '' && r.message.includes(value)), `${label}: no secret, no hash in the message`);
    }
  }

  // Node joins a repeated custom header into "a, b"; the raw header lines show the repetition
  const twice = await auth.authenticate(
    req('10.42.3.9', { ...claim, 'x-gate-proxy-secret': `${SECRET}, ${SECRET}` }, ['X-Auth-Request-User', 'admin', 'X-Gate-Proxy-Secret', SECRET, 'x-gate-proxy-secret', SECRET]),
  );
  t.match(twice, { ok: false, status: 401, message: /x-gate-proxy-secret header came more than once/ }, 'the secret header twice (even both right): refused');
  const asArray = await auth.authenticate(req('10.42.3.9', { ...claim, 'x-gate-proxy-secret': [SECRET, SECRET] }));
  t.match(asArray, { ok: false, status: 401 }, 'the same without raw header lines');

  const untrusted = await auth.authenticate(req('10.43.0.1', { ...claim, 'x-gate-proxy-secret': SECRET }));
  t.match(untrusted, { ok: false, status: 401, presented: { via: 'none' } }, 'right secret from an untrusted peer: ignored, the address check stays');
  const untrustedWrong = await auth.authenticate(req('10.43.0.1', { ...claim, 'x-gate-proxy-secret': 'guessed', authorization: 'Bearer good' }));
  t.same(untrustedWrong.ok && untrustedWrong.identity.name, 'token-user', 'an untrusted peer: the secret header is not looked at, as the identity headers are not');
  const noUser = await auth.authenticate(req('10.42.3.9', { 'x-gate-proxy-secret': 'guessed', authorization: 'Bearer good' }));
  t.same(noUser.ok && noUser.identity.name, 'token-user', 'no user header: nothing to prove, the token decides');

  const bad = await auth.authenticate(req('10.42.3.9', { 'x-auth-request-user': 'system:admin', 'x-gate-proxy-secret': SECRET }));
  t.match(bad, { ok: false, status: 401, message: /Kubernetes system user/ }, 'with the right secret the name is still checked');
  const unproven = await auth.authenticate(req('10.42.3.9', { 'x-auth-request-user': 'system:admin' }));
  t.match(unproven, { ok: false, message: /was not used/ }, 'without it the name is never looked at');
});

t.test('the hash of an empty secret (printf %s "$SECRET" | sha256sum with SECRET unset) is refused, and an empty header never signs in', async (t) => {
  const empty = createHash('sha256').update('').digest('hex');
  t.throws(() => parseConfig({ GATE_CONFIG: 'gate.yaml' }, `proxyAuth: { trustedCidrs: ["10.42.0.0/16"], secretSha256: "${empty}" }\n`), {
    constructor: ConfigError,
    message: /^invalid config file gate\.yaml: proxyAuth\.secretSha256: is the SHA-256 of an empty secret/,
  });
  // the authenticator on its own: an in-range pod sending an empty secret header (or spaces, which
  // Node trims to empty) must not become admin
  const auth = createProxyHeaderAuthenticator(inner, { ...OPTS, secretSha256: [empty] });
  const r = await auth.authenticate(req('10.42.3.9', { ...claim, 'x-gate-proxy-secret': '' }, ['X-Auth-Request-User', 'admin', 'X-Auth-Request-Groups', 'gate-admin', 'X-Gate-Proxy-Secret', '']));
  t.match(r, { ok: false, status: 401, message: /does not hold the authenticating proxy's secret/ }, 'an empty secret header is refused');
});

t.test('the secret header is matched case-insensitively by name, and the configured name is the one read', async (t) => {
  const auth = createProxyHeaderAuthenticator(inner, { ...OPTS, secretHeader: 'X-Proxy-Proof' });
  t.ok((await auth.authenticate(req('10.42.0.1', { ...claim, 'x-proxy-proof': SECRET }))).ok, 'the configured header');
  t.notOk((await auth.authenticate(req('10.42.0.1', { ...claim, 'x-gate-proxy-secret': SECRET }))).ok, 'not the default one');
  const byDefault = createProxyHeaderAuthenticator(inner, { ...OPTS, secretHeader: undefined });
  t.ok((await byDefault.authenticate(req('10.42.0.1', { ...claim, 'x-gate-proxy-secret': SECRET }))).ok, 'X-Gate-Proxy-Secret by default');
  t.throws(() => createProxyHeaderAuthenticator(inner, { ...OPTS, secretSha256: ['abc'] }), /proxyAuth\.secretSha256\[0\]/);
});

t.test('without secretSha256 the address alone decides, as before', async (t) => {
  const auth = createProxyHeaderAuthenticator(inner, { ...OPTS, secretSha256: [] });
  const r = await auth.authenticate(req('10.42.0.1', claim));
  t.same(r.ok && r.identity.name, 'admin', 'existing installs keep working');
  const wrong = await auth.authenticate(req('10.42.0.1', { ...claim, 'x-gate-proxy-secret': 'whatever' }));
  t.ok(wrong.ok, 'a secret header is not looked at when no secret is configured');
});

t.test('two hashes (a rotation): the old secret and the new one both sign in; a third is refused as any wrong secret; the header twice or missing as before', async (t) => {
  for (const hashes of [[SHA, NEW_SHA], [NEW_SHA, SHA]]) {
    const auth = createProxyHeaderAuthenticator(inner, { ...OPTS, secretSha256: hashes });
    const order = hashes[0] === SHA ? 'old hash first' : 'new hash first';
    for (const [which, secret] of [['the old secret', SECRET], ['the new secret', NEW_SECRET]] as const) {
      const r = await auth.authenticate(req('10.42.3.9', { ...claim, 'x-gate-proxy-secret': secret }, ['X-Auth-Request-User', 'admin', 'X-Auth-Request-Groups', 'gate-admin', 'X-Gate-Proxy-Secret', secret]));
      t.same(r.ok && r.identity, { name: 'admin', groups: ['gate-admin'], via: 'proxy-header' }, `${order}: ${which} signs in`);
    }
    for (const [label, value] of [['a third secret', 'b6f0c1e2d3a4958677e8f9a0b1c2d3e4f5a6b7c8d9e0f1a3'], ['the old secret with a suffix', `${SECRET}x`], ['the new hash instead of the secret', NEW_SHA], ['an empty value', '']] as const) {
      const r = await auth.authenticate(req('10.42.3.9', { ...claim, 'x-gate-proxy-secret': value, authorization: 'Bearer good' }));
      t.match(r, { ok: false, status: 401, error: 'unauthorized', presented: { name: 'anonymous', groups: [], via: 'proxy-header' } }, `${order}: ${label}: refused, even with a good token`);
      if (!r.ok) {
        t.match(r.message, /^the x-gate-proxy-secret header does not hold the authenticating proxy's secret \(proxyAuth\.secretSha256\): the x-auth-request-user header is not trusted$/, `${order}: ${label}: the message of one hash`);
        t.notOk([SECRET, SHA, NEW_SECRET, NEW_SHA].some((v) => r.message.includes(v)), `${order}: ${label}: no secret, no hash in the message`);
      }
    }
    // the old secret and the new one, each once: still a repeated header
    const both = await auth.authenticate(req('10.42.3.9', { ...claim, 'x-gate-proxy-secret': `${SECRET}, ${NEW_SECRET}` }, ['X-Auth-Request-User', 'admin', 'X-Gate-Proxy-Secret', SECRET, 'X-Gate-Proxy-Secret', NEW_SECRET]));
    t.match(both, { ok: false, status: 401, message: /x-gate-proxy-secret header came more than once/ }, `${order}: the old and the new secret together: refused as repeated`);
    const missing = await auth.authenticate(req('10.42.3.9', claim));
    t.match(missing, { ok: false, status: 401, presented: { via: 'none' }, message: /was not used: the request did not carry x-gate-proxy-secret/ }, `${order}: no secret: the headers are not used`);
  }
  // which secret came, by position in the list: what tells the operator the proxy has switched
  const counted = createProxyHeaderAuthenticator(inner, { ...OPTS, secretSha256: [SHA, NEW_SHA] });
  const send = (secret: string) => counted.authenticate(req('10.42.3.9', { ...claim, 'x-gate-proxy-secret': secret }));
  for (const secret of [SECRET, SECRET, NEW_SECRET, 'wrong', SECRET]) await send(secret);
  await counted.authenticate(req('10.42.3.9', claim)); // none sent
  t.same(counted.secretMatches(), [3, 1], 'the old secret 3 times, the new one once; a wrong or missing one counts for neither');
  const one = createProxyHeaderAuthenticator(inner, { ...OPTS, secretSha256: [SHA] });
  await one.authenticate(req('10.42.3.9', { ...claim, 'x-gate-proxy-secret': SECRET }));
  t.same(one.secretMatches(), [1], 'one hash: one count, though it is compared twice');
  t.same(createProxyHeaderAuthenticator(inner, { ...OPTS, secretSha256: [] }).secretMatches(), [], 'no secret: nothing to count');
  // before and after the rotation one hash: the other secret is wrong
  const before = createProxyHeaderAuthenticator(inner, { ...OPTS, secretSha256: [SHA] });
  t.match(await before.authenticate(req('10.42.3.9', { ...claim, 'x-gate-proxy-secret': NEW_SECRET })), { ok: false, status: 401 }, 'the old hash alone: the new secret is refused');
  const after = createProxyHeaderAuthenticator(inner, { ...OPTS, secretSha256: [NEW_SHA] });
  t.match(await after.authenticate(req('10.42.3.9', { ...claim, 'x-gate-proxy-secret': SECRET })), { ok: false, status: 401 }, 'the new hash alone: the old secret is refused');
  t.throws(() => createProxyHeaderAuthenticator(inner, { ...OPTS, secretSha256: [SHA, NEW_SHA, 'c'.repeat(64)] }), /^proxyAuth\.secretSha256: expected at most 2 hashes/, 'three hashes');
  t.throws(() => createProxyHeaderAuthenticator(inner, { ...OPTS, secretSha256: [SHA, 'abc'] }), /^proxyAuth\.secretSha256\[1\]: expected the SHA-256/, 'a malformed second hash, by its index');
});

t.test('start-up notices: a warning naming proxyAuth.secretSha256 when the address alone is trusted; never the hash', async (t) => {
  const base = { trustedCidrs: ['10.42.0.0/16'], userHeader: 'x-auth-request-user', groupsHeader: 'x-auth-request-groups' };
  const alone = proxyAuthNotices({ ...base, secretSha256: [] });
  t.match(alone, [{ level: 'warn', fields: { key: 'proxyAuth.secretSha256', trustedCidrs: ['10.42.0.0/16'] }, message: /by peer address alone.*set proxyAuth\.secretSha256/ }]);
  const withSecret = proxyAuthNotices({ ...base, secretSha256: [SHA], secretHeader: 'x-gate-proxy-secret' });
  t.match(withSecret, [{ level: 'info', fields: { secretHeader: 'x-gate-proxy-secret' }, message: /carry its secret/ }]);
  t.notOk(JSON.stringify(withSecret).includes(SHA), 'the hash is not logged');
  t.same(proxyAuthNotices({ ...base, trustedCidrs: [], secretSha256: [] }), [], 'proxy sign-in off: nothing');
  t.match(proxyAuthNotices({ ...base, trustedCidrs: [], secretSha256: [SHA] }), [{ level: 'warn', message: /trustedCidrs is empty/ }], 'a secret with no trusted address: said');
  t.equal(withSecret.length, 1, 'one hash: no word of a rotation');
  const rotating = proxyAuthNotices({ ...base, secretSha256: [SHA, NEW_SHA], secretHeader: 'x-gate-proxy-secret' });
  t.match(
    rotating,
    [
      { level: 'info', fields: { secretHeader: 'x-gate-proxy-secret' }, message: /carry its secret/ },
      { level: 'warn', fields: { key: 'proxyAuth.secretSha256', hashes: 2 }, message: /rotation .* in progress.*remove the old hash/ },
    ],
    'two hashes: a warning that a rotation is in progress, and what ends it',
  );
  t.equal(rotating.length, 2);
  t.notOk(JSON.stringify(rotating).includes(SHA) || JSON.stringify(rotating).includes(NEW_SHA), 'neither hash is logged');
});

t.test('config: secretSha256 and secretHeader are checked, naming the key', async (t) => {
  const good = parseConfig({}, `proxyAuth: { trustedCidrs: ["10.42.0.0/16"], secretSha256: "${SHA}" }\n`).proxyAuth;
  t.same(good, { trustedCidrs: ['10.42.0.0/16'], userHeader: 'x-auth-request-user', groupsHeader: 'x-auth-request-groups', secretSha256: [SHA], secretHeader: 'x-gate-proxy-secret' });
  t.same(parseConfig({}, null).proxyAuth.secretSha256, [], 'unset by default');
  t.equal(parseConfig({}, 'proxyAuth: { secretHeader: X-Proxy-Proof }\n').proxyAuth.secretHeader, 'x-proxy-proof', 'lower-cased');
  // a rotation: a list of one or two hashes, in the order given
  t.same(parseConfig({}, `proxyAuth: { secretSha256: ["${SHA}"] }\n`).proxyAuth.secretSha256, [SHA], 'a list of one');
  t.same(parseConfig({}, `proxyAuth: { secretSha256: ["${SHA}", "${NEW_SHA}"] }\n`).proxyAuth.secretSha256, [SHA, NEW_SHA], 'a list of two');
  t.same(parseConfig({}, `proxyAuth:\n  secretSha256:\n    - ${NEW_SHA}\n    - ${SHA}\n`).proxyAuth.secretSha256, [NEW_SHA, SHA], 'as a block list');
  const empty = createHash('sha256').update('').digest('hex');
  const badLists: [string, RegExp][] = [
    ['proxyAuth: { secretSha256: [] }', /^invalid config file gate\.yaml: proxyAuth\.secretSha256: expected 1 or 2 hashes/],
    [`proxyAuth: { secretSha256: ["${SHA}", "${NEW_SHA}", "${'c'.repeat(64)}"] }`, /^invalid config file gate\.yaml: proxyAuth\.secretSha256: expected at most 2 hashes/],
    [`proxyAuth: { secretSha256: ["${SHA}", "${SHA}"] }`, /^invalid config file gate\.yaml: proxyAuth\.secretSha256\[1\]: is the same hash as proxyAuth\.secretSha256\[0\]$/],
    [`proxyAuth: { secretSha256: ["${SHA}", "${NEW_SHA.toUpperCase()}"] }`, /^invalid config file gate\.yaml: proxyAuth\.secretSha256\[1\]: expected the SHA-256 of the secret as 64 lowercase hex digits/],
    [`proxyAuth: { secretSha256: ["${NEW_SECRET}", "${SHA}"] }`, /^invalid config file gate\.yaml: proxyAuth\.secretSha256\[0\]: expected the SHA-256/],
    [`proxyAuth: { secretSha256: ["${SHA}", "${empty}"] }`, /^invalid config file gate\.yaml: proxyAuth\.secretSha256\[1\]: is the SHA-256 of an empty secret/],
    [`proxyAuth: { secretSha256: ["${SHA}", ""] }`, /^invalid config file gate\.yaml: proxyAuth\.secretSha256\[1\]: expected the SHA-256/],
    [`proxyAuth: { secretSha256: ["${SHA}", 42] }`, /^invalid config file gate\.yaml: proxyAuth\.secretSha256\[1\]: /],
    ['proxyAuth: { secretSha256: 42 }', /^invalid config file gate\.yaml: proxyAuth\.secretSha256: expected the SHA-256 of the secret as 64 lowercase hex digits, or a list of 1 or 2 of them$/],
    [`proxyAuth: { secretSha256: { old: "${SHA}" } }`, /^invalid config file gate\.yaml: proxyAuth\.secretSha256: expected .* or a list of 1 or 2/],
  ];
  for (const [yaml, message] of badLists) {
    t.throws(() => parseConfig({ GATE_CONFIG: 'gate.yaml' }, yaml), { constructor: ConfigError, message }, yaml);
    try {
      parseConfig({ GATE_CONFIG: 'gate.yaml' }, yaml);
    } catch (err) {
      t.notOk([SHA, NEW_SHA, NEW_SECRET, empty].some((v) => (err as Error).message.includes(v)), `${yaml}: no hash in the message`);
    }
  }
  const bad: [string, RegExp][] = [
    [`proxyAuth: { secretSha256: "${SHA.toUpperCase()}" }`, /^invalid config file gate\.yaml: proxyAuth\.secretSha256: expected the SHA-256 of the secret as 64 lowercase hex digits/],
    [`proxyAuth: { secretSha256: "${SHA.slice(1)}" }`, /proxyAuth\.secretSha256: expected/],
    [`proxyAuth: { secretSha256: "${SHA}\\n" }`, /proxyAuth\.secretSha256: expected/],
    [`proxyAuth: { secretSha256: "${SECRET}" }`, /proxyAuth\.secretSha256: expected/],
    ['proxyAuth: { secretSha256: "" }', /proxyAuth\.secretSha256: expected/],
    ['proxyAuth: { secretHeader: "X Secret" }', /proxyAuth\.secretHeader: expected an HTTP header name/],
    ['proxyAuth: { secretHeader: Authorization }', /proxyAuth\.secretHeader: must not be a header that carries credentials/],
    ['proxyAuth: { secretHeader: X-Forwarded-For }', /proxyAuth\.secretHeader: must be a header of its own/],
    ['proxyAuth: { secretHeader: host }', /proxyAuth\.secretHeader: must be a header of its own/],
    ['proxyAuth: { secretHeader: X-Auth-Request-User }', /^invalid config file gate\.yaml: proxyAuth\.secretHeader: must not be the same header as proxyAuth\.userHeader$/],
    ['proxyAuth: { secretHeader: x-groups, groupsHeader: X-Groups }', /proxyAuth\.secretHeader: must not be the same header as proxyAuth\.groupsHeader/],
    // the user's name read as their groups: in local mode a user named "admin" would be an admin
    ['proxyAuth: { userHeader: X-User, groupsHeader: x-user }', /^invalid config file gate\.yaml: proxyAuth\.groupsHeader: must not be the same header as proxyAuth\.userHeader$/],
  ];
  for (const [yaml, message] of bad) t.throws(() => parseConfig({ GATE_CONFIG: 'gate.yaml' }, yaml), { constructor: ConfigError, message }, yaml);
});

/** Log lines written by the gate's own logger, kept in memory. */
t.test('every request with a secret is compared with both hashes, whichever matches and however many are configured: the time tells neither', async (t) => {
  const crypto = await import('node:crypto');
  let compared = 0;
  const { createProxyHeaderAuthenticator: counting } = await t.mockImport<typeof import('../../src/auth/proxy-header.ts')>('../../src/auth/proxy-header.ts', {
    'node:crypto': {
      ...crypto,
      timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
        compared++;
        return crypto.timingSafeEqual(a, b);
      },
    },
  });
  for (const hashes of [[SHA], [SHA, NEW_SHA]]) {
    const auth = counting(inner, { ...OPTS, secretSha256: hashes });
    for (const [which, secret] of [['the old secret', SECRET], ['the new secret', NEW_SECRET], ['a wrong one', 'not-the-secret']] as const) {
      compared = 0;
      await auth.authenticate(req('10.42.3.9', { ...claim, 'x-gate-proxy-secret': secret }));
      t.equal(compared, 2, `${hashes.length} hash(es), ${which}: two comparisons`);
    }
  }
});

t.test('a right secret is counted even when the user header it came with is then refused: the count is of the secret', async (t) => {
  const auth = createProxyHeaderAuthenticator(inner, { ...OPTS, secretSha256: [SHA, NEW_SHA] });
  const refused = await auth.authenticate(req('10.42.3.9', { 'x-auth-request-user': 'system:admin', 'x-gate-proxy-secret': NEW_SECRET }));
  t.match(refused, { ok: false, status: 401, message: /Kubernetes system user/ });
  t.same(auth.secretMatches(), [0, 1]);
});

function captureLog() {
  const lines: string[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { lines, dest };
}

/** The test app behind the proxy authenticator of `configYaml`, logging to memory at trace. */
async function proxyApp(t: Parameters<typeof buildTestApp>[0], configYaml: string) {
  const config = parseConfig({}, configYaml);
  const log = captureLog();
  const logger = createLogger('trace', log.dest, [config.proxyAuth.secretHeader]);
  // the test app's own token file (in its data directory, made by buildTestApp) behind the proxy authenticator
  let local: Authenticator | null = null;
  const tokens: Authenticator = { mode: 'local', authenticate: (r) => local!.authenticate(r), authorize: (i, p, n) => local!.authorize(i, p, n) };
  const proxy = createProxyHeaderAuthenticator(tokens, config.proxyAuth);
  const g = await buildTestApp(t, { configYaml, auth: proxy, deps: { logger, proxySecretMatches: config.proxyAuth.secretSha256.length > 0 ? proxy.secretMatches : null } });
  local = createLocalAuthenticator(tokenFilePath(g.dataDir));
  return { g, log, logger };
}

t.test('through the app: right secret signs in, a missing one leaves a token to decide, a wrong or repeated one is an audited 401; the secret reaches no log, record or answer', async (t) => {
  const configYaml = `proxyAuth: { trustedCidrs: ["127.0.0.0/8"], secretSha256: "${SHA}" }\naudit: { refusalRecordsPerMinute: 100 }\n`;
  const { g, log, logger } = await proxyApp(t, configYaml);

  const answers: string[] = [];
  const call = async (headers: Record<string, string | string[]>, url = '/v1/whoami', role: string | null = null) => {
    const res = await g.as(role, { url, headers, ...(url === '/v1/decisions' ? { method: 'POST', payload: JSON.stringify({ project: 'stonks-pipeline', stage: 'beta', imageTag: 'abc' }) } : {}) });
    answers.push(JSON.stringify(res.headers), res.body);
    return res;
  };

  const right = await call({ 'x-auth-request-user': 'pat', 'x-auth-request-groups': 'gate-approver', 'x-gate-proxy-secret': SECRET });
  t.equal(right.statusCode, 200, 'right secret: signed in');
  t.match(right.json(), { name: 'pat', via: 'proxy-header', can: { approvals: true } });

  const missing = await call({ 'x-auth-request-user': 'admin', 'x-auth-request-groups': 'gate-admin' });
  t.equal(missing.statusCode, 401, 'missing secret: the headers are ignored, and no token');
  t.match(missing.json(), { error: 'unauthorized', message: /was not used: the request did not carry x-gate-proxy-secret/ });
  const missingWithToken = await call({ 'x-auth-request-user': 'admin', 'x-auth-request-groups': 'gate-admin' }, '/v1/whoami', 'caller');
  t.match(missingWithToken.json(), { name: 'caller', via: 'local-token' }, 'missing secret with a token: the token identity, not the header');

  const wrong = await call({ 'x-auth-request-user': 'admin', 'x-auth-request-groups': 'gate-admin', 'x-gate-proxy-secret': `${SECRET.slice(0, -1)}0` });
  t.equal(wrong.statusCode, 401, 'wrong secret: 401');
  t.match(wrong.json(), { error: 'unauthorized', message: /does not hold the authenticating proxy's secret \(proxyAuth\.secretSha256\)/ });
  const wrongWithToken = await call({ 'x-auth-request-user': 'admin', 'x-gate-proxy-secret': 'guess' }, '/v1/whoami', 'admin');
  t.equal(wrongWithToken.statusCode, 401, 'wrong secret with a good token: still refused');

  // two header lines (inject keeps them apart in the raw header lines, as Node does)
  const repeated = await g.app.inject({ url: '/v1/whoami', headers: { 'x-auth-request-user': 'admin', 'x-gate-proxy-secret': [SECRET, SECRET] } });
  answers.push(JSON.stringify(repeated.headers), repeated.body);
  t.equal(repeated.statusCode, 401, 'the secret header twice: refused');

  // a refused decision request and an unknown path carry the header too
  const decision = await call({ 'x-auth-request-user': 'admin', 'x-gate-proxy-secret': 'nope', 'content-type': 'application/json' }, '/v1/decisions');
  t.equal(decision.statusCode, 401);
  const notFound = await call({ 'x-gate-proxy-secret': SECRET }, '/v1/nowhere');
  t.equal(notFound.statusCode, 404);

  const records = g.audit.records();
  const refusals = records.filter((r) => r.type === 'refusal');
  t.ok(refusals.some((r) => /does not hold the authenticating proxy's secret/.test(r.reasons?.[0]?.message ?? '')), 'the wrong secret is in the audit log');
  t.ok(refusals.some((r) => /came more than once/.test(r.reasons?.[0]?.message ?? '')), 'and the repeated one');
  t.ok(refusals.some((r) => /was not used/.test(r.reasons?.[0]?.message ?? '')), 'and the missing one');

  const everything = [...log.lines, JSON.stringify(records), ...answers].join('\n');
  t.ok(log.lines.length > 0, 'the logger wrote');
  t.notOk(everything.includes(SECRET), 'the secret is in no log line, audit record or answer');
  t.notOk(everything.includes(SHA), 'nor its hash');
  t.notOk(everything.includes('guess'), 'nor a wrong secret');

  // the logger blanks the header should anything log a request's headers
  log.lines.length = 0;
  logger.info({ headers: { 'x-gate-proxy-secret': SECRET, 'x-auth-request-user': 'pat' } }, 'headers');
  t.match(log.lines.join(''), /"x-auth-request-user":"pat"/, 'other headers are written');
  t.notOk(log.lines.join('').includes(SECRET), 'redacted by the logger');
});

t.test('through the app, during a rotation (two hashes): the old and the new secret both sign in, a third is an audited 401; no secret or hash reaches a log, record or answer', async (t) => {
  const { g, log } = await proxyApp(t, `proxyAuth: { trustedCidrs: ["127.0.0.0/8"], secretSha256: ["${SHA}", "${NEW_SHA}"] }\n`);
  const answers: string[] = [];
  const call = async (secret: string) => {
    const res = await g.as(null, { url: '/v1/whoami', headers: { 'x-auth-request-user': 'pat', 'x-auth-request-groups': 'gate-approver', 'x-gate-proxy-secret': secret } });
    answers.push(JSON.stringify(res.headers), res.body);
    return res;
  };
  // the proxy still sends the old secret (Traefik not yet reloaded), then the new one
  for (const [which, secret] of [['the old secret', SECRET], ['the new secret', NEW_SECRET]] as const) {
    const res = await call(secret);
    t.equal(res.statusCode, 200, `${which}: signed in`);
    t.match(res.json(), { name: 'pat', via: 'proxy-header', can: { approvals: true } }, which);
  }
  const third = await call('b6f0c1e2d3a4958677e8f9a0b1c2d3e4f5a6b7c8d9e0f1a3');
  t.equal(third.statusCode, 401, 'a third secret: 401');
  t.match(third.json(), { error: 'unauthorized', message: /does not hold the authenticating proxy's secret \(proxyAuth\.secretSha256\)/ });
  const refusals = g.audit.records().filter((r) => r.type === 'refusal');
  t.equal(refusals.length, 1, 'the one refusal is audited');
  t.match(refusals[0]?.reasons?.[0]?.message, /does not hold the authenticating proxy's secret/);
  // the proxy has switched: the old hash's count no longer grows, and the operator can drop it
  await call(NEW_SECRET);
  await call(NEW_SECRET);
  const metrics = (await g.app.inject({ url: '/metrics' })).body;
  t.match(metrics, /^gate_proxy_secret_matches_total\{secret="1"\} 1$/m, 'the old secret (first in the list) came once');
  t.match(metrics, /^gate_proxy_secret_matches_total\{secret="2"\} 3$/m, 'the new one three times; the wrong one is counted by neither');
  const everything = [...log.lines, JSON.stringify(g.audit.records()), ...answers, metrics].join('\n');
  t.notOk([SECRET, NEW_SECRET, SHA, NEW_SHA].some((v) => everything.includes(v)), 'neither secret nor hash in a log line, audit record, answer or metric');
});

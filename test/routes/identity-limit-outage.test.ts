// The per-identity limits of break-glass requests (10 a minute) and approvals (30) count "only
// requests that pass every check" (README): one the audit log refused (503, nothing issued or
// recorded) gives its place back, so an operator who retries through an audit outage is not
// locked out of break-glass for a minute once it ends. What was issued still counts.
import t from 'tap';
import { createLocalAuthenticator, createToken, tokenFilePath } from '../../src/auth/local-tokens.ts';
import { createProxyHeaderAuthenticator } from '../../src/auth/proxy-header.ts';
import { buildTestApp } from '../helpers/build-app.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const OPEN = '2026-11-25T15:00:00Z';
const CASES = [
  { what: 'break-glass requests', role: 'operator', url: '/v1/break-glass', limit: 10, kept: 'grants', payload: { project: 'stonks-pipeline', stage: 'live', imageTag: 'abc123', justification: 'The hotfix for the pricing outage cannot wait' } },
  { what: 'approvals', role: 'approver', url: '/v1/approvals', limit: 30, kept: 'approvals', payload: { project: 'stonks-pipeline', stage: 'live', imageTag: 'abc123', notes: 'checked the dashboards and the canary' } },
] as const;

for (const c of CASES) {
  t.test(`${c.what} answered 503 do not use up the per-identity limit; those that succeed do`, async (t) => {
    const g = await buildTestApp(t, { now: OPEN });
    const post = () => g.as(c.role, { method: 'POST', url: c.url, payload: c.payload });
    g.audit.failNextAppends(c.limit);
    for (let i = 0; i < c.limit; i++) t.equal((await post()).statusCode, 503, `attempt ${i + 1} during the outage: 503`);
    t.same(Object.keys(g.store.read()[c.kept]), [], 'nothing was issued');
    for (let i = 0; i < c.limit; i++) t.equal((await post()).statusCode, 201, `request ${i + 1} once the log is back: 201`);
    const over = await post();
    t.match({ status: over.statusCode, body: over.json() }, { status: 429, body: { error: 'rate_limited' } }, `the ${c.limit + 1}th that would succeed is limited`);
    t.equal(Object.keys(g.store.read()[c.kept]).length, c.limit);
  });
}

// One budget per sign-in path and person: the sign-in proxy's "operator" and the local token
// named "operator" are two identities (each spends its own), and two spellings of one proxy
// name are one person (separation of duties compares them so).
t.test('the per-identity limit is kept per sign-in path and person', async (t) => {
  const dir = await tempDir(t, 'gate-limit-proxy-');
  const local = createLocalAuthenticator(tokenFilePath(dir));
  const auth = createProxyHeaderAuthenticator(local, { trustedCidrs: ['127.0.0.0/8'], userHeader: 'X-Auth-Request-User', groupsHeader: 'X-Auth-Request-Groups' });
  const g = await buildTestApp(t, { now: OPEN, auth });
  const { token: operatorToken } = await createToken(tokenFilePath(dir), 'operator', ['operator'], new Date('2026-01-01T00:00:00Z'), 'tok_op');
  const grant = CASES[0].payload;
  const viaProxy = (user: string) =>
    g.app.inject({ method: 'POST', url: '/v1/break-glass', headers: { 'x-auth-request-user': user, 'x-auth-request-groups': 'gate-operator' }, payload: grant });
  for (let i = 0; i < 10; i++) t.equal((await viaProxy(i % 2 === 0 ? 'operator' : 'Operator')).statusCode, 201, `proxy request ${i + 1}`);
  t.equal((await viaProxy('OPERATOR')).statusCode, 429, 'the 11th by any spelling of that proxy name: 429');
  // without the user header the request signs in with its token
  const token = await g.app.inject({ method: 'POST', url: '/v1/break-glass', headers: { authorization: `Bearer ${operatorToken}` }, payload: grant });
  t.equal(token.statusCode, 201, `the local token named "operator" has its own budget (${token.body})`);
});

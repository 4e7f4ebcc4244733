import t from 'tap';
import * as policy from '../../src/policy/index.ts';

t.test('the decision core exports exactly these values (a change here is a change of the public surface)', async (t) => {
  t.same(Object.keys(policy).sort(), [
    'MARKET_ZONE',
    'POLICIES',
    'PROMOTIONS_KEPT',
    'REASON_CODES',
    'SUPPORTED_YEARS',
    'TEST_RESULTS_KEPT',
    'WAITING_KEPT',
    'applyRecord',
    'clockFrom',
    'createMarketCalendar',
    'decide',
    'emptyState',
    'findApprovals',
    'findCoveringGrant',
    'findExpiredApprovals',
    'findExpiredGrants',
    'findGrantByTokenHash',
    'fixedClock',
    'formatTimeLeft',
    'grantMatches',
    'isApprovalLive',
    'isGrantLive',
    'isoOf',
    'marketState',
    'marketStateToJson',
    'promotionKey',
    'reason',
    'strictest',
    'summarize',
  ]);
});

t.test('the core is pure: no module under src/policy imports I/O, the process or a clock', async (t) => {
  const { readdir, readFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const dir = join(import.meta.dirname, '..', '..', 'src', 'policy');
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.ts'))) {
    const text = await readFile(join(dir, file), 'utf8');
    t.notMatch(text, /from 'node:(fs|net|http|child_process|os|process)/, `${file}: no I/O modules`);
    t.notMatch(text, /from '(fastify|lowdb|pino|@kubernetes)/, `${file}: no framework or store`);
    t.notMatch(text, /\bprocess\.|Date\.now\(\)|new Date\(\)|DateTime\.(now|local|utc)\(\)/, `${file}: no environment or clock reads`);
  }
});

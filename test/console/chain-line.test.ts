import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { REPO_ROOT } from '../helpers/spawn-gate.ts';

// the browser module (plain JS, no types): loaded by URL so the typecheck leaves it alone
const v: any = await import(pathToFileURL(join(REPO_ROOT, 'src', 'console', 'views.js')).href);

// The console's chain line claims no more than the gate checked: on the oldest page after the
// files before it were archived, the first record's link to the one before was not checked
// (GET /v1/audit/verify: scope "range", unlinked 1).
t.test('the chain line of a page says which link it did not check', async (t) => {
  t.equal(v.verifiedWhat({ scope: 'range', from: 21, to: 40, checked: 21, unlinked: 0 }), ' for records 21–40: 21 hashes recomputed, each linked to the one before.');
  const archived = v.verifiedWhat({ scope: 'range', from: 5, to: 20, checked: 16, unlinked: 1 });
  t.notMatch(archived, /each linked to the one before\./, 'not "each linked" when one was not');
  t.match(archived, /but record 5, whose predecessor was archived before the gate started \(not checked here\)/);
  t.match(v.verifiedWhat({ scope: 'records', from: 3, to: 90, checked: 4, unlinked: 2 }), /2 not linked here/);
});

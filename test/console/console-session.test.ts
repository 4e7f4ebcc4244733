import t from 'tap';
import { TAG, UPDATE_MS, consoleFixture, expectPageText, paperPromotionWaits, requireChromium } from './browser.ts';

/**
 * The console across sign-in and sign-out: what a sign-out takes away and a sign-in brings back,
 * and the identity checks of a stored token or a sign-in that fail or hang. The real gate
 * (GATE_NOW = Wednesday 2026-11-25 10:00 ET, market open) and the console in headless Chromium.
 * Each step opens its own page.
 */

// browser globals inside page.evaluate callbacks (this project's tsconfig has no DOM lib)
declare const document: any;
declare const sessionStorage: any;

if (requireChromium(t)) run();

function run(): void {
  const fx = consoleFixture(t, { olivia: 'operator' });
  const { tokens, call, decide, open } = fx;
  paperPromotionWaits(t, fx);

  t.test('signing out and in again shows the audit history again, also when a load was under way at sign-out', async (t) => {
    const { page, text, expectText, signIn, problems } = await open(t);
    await page.goto(`${fx.gate.url}/`);
    await signIn('admin');
    await expectText('#audit', /decision .*kargo/, 'audit history after the first sign-in');
    await expectText('#au-chain', /Chain verified/, 'with its chain line');
    await page.click('#signout');
    t.match(await text('#audit'), /Sign in to see the audit history/, 'signed out: the history is gone');
    t.equal(await page.locator('#au-page').innerText(), '', 'and the pager line');
    t.equal(await page.locator('#au-chain').innerText(), '', 'and the chain line');
    await signIn('olivia');
    await expectText('#audit', /decision .*kargo/, 'signed in again: the history is shown again');
    await expectText('#au-page', /Records \d+–\d+ of \d+/, 'with its pager line');
    // a sign-out while the page's chain check hangs, then a sign-in
    let hold = true;
    const held: (() => void)[] = [];
    await page.route('**/v1/audit/verify*', async (route) => {
      if (hold) await new Promise<void>((r) => held.push(r));
      await route.continue().catch(() => {});
    });
    t.equal((await decide('paper', 'paper-promo-1')).status, 200, 'a new record');
    for (let i = 0; i < 50 && held.length === 0; i++) await page.waitForTimeout(100);
    t.ok(held.length > 0, 'the console reloads the page and its chain check hangs');
    await page.click('#signout');
    hold = false;
    for (const r of held) r();
    await signIn('olivia');
    t.equal((await decide('paper', 'paper-promo-1')).status, 200, 'another record');
    const head = (await call(tokens['admin'] as string, 'GET', '/v1/audit?limit=1')).body.head.seq as number;
    await expectText('#au-page', new RegExp(`Records \\d+–${head} of ${head}`), 'the history loads again and follows new records', 8000);
    await page.unroute('**/v1/audit/verify*');
    t.same(problems, [], 'no script errors');
  });

  t.test('signing out leaves nothing the next person could send or read: typed justification and notes, answers and errors', async (t) => {
    const { page, text, signIn, problems } = await open(t);
    await page.goto(`${fx.gate.url}/`);
    await signIn('admin');
    // a justification half-written, an approval made, a refused form
    await page.fill('#bg-just', 'broker outage, the fix must go out before');
    await page.selectOption('#ap-stage', 'live');
    await page.fill('#ap-tag', TAG);
    await page.fill('#ap-notes', 'paper P&L checked, diff reviewed by admin');
    await page.click('#ap-submit');
    await expectPageText(t, page, '#ap-done', /Approved .* as admin/, 'the approval is confirmed', UPDATE_MS);
    // notes the gate refuses (nothing in them shows), which the page's own count lets through
    await page.fill('#ap-notes', '\u200b'.repeat(12));
    await page.click('#ap-submit');
    await expectPageText(t, page, '#ap-error', /Not approved: .*characters that show/, 'a refused second approval', UPDATE_MS);
    await page.click('#signout');
    t.equal(await page.inputValue('#bg-just'), '', 'the justification is gone');
    t.equal(await page.inputValue('#ap-notes'), '', 'the notes are gone');
    t.equal(await text('#ap-done'), '', 'the approval confirmation is gone');
    t.equal(await text('#ap-error'), '', 'the refusal is gone');
    t.equal(await page.locator('[aria-invalid="true"]').count(), 0, 'no field is left marked');
    t.match(await text('#bg-just-count'), /^\(0 of /, 'the counter follows');
    t.same(problems, [], 'no script errors');
  });

  t.test('an identity check that fails at page load (not with a 401) is shown and tried again while the token is kept', async (t) => {
    const { page, expectText, signIn, text } = await open(t);
    await page.goto(`${fx.gate.url}/`);
    await signIn('olivia');
    let fail = true;
    await page.route('**/v1/whoami', (route) =>
      fail ? route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: 'auth_unavailable', message: 'identity could not be checked' }) }) : route.continue(),
    );
    await page.reload();
    await expectText('#signin-error', /Could not check the sign-in of this tab \(identity could not be checked\); its token is kept and checked again every 2 s\./, 'the failed check is shown');
    t.equal(await text('#whoami'), 'Not signed in');
    t.ok(await page.evaluate(() => !!sessionStorage.getItem('gate.console.token')), 'the token is kept');
    fail = false;
    await expectText('#whoami', /Signed in as olivia \(operator\) via local token/, 'signed in at a later poll once the check answers');
    t.equal(await page.locator('#signin-error').innerText(), '', 'the error is gone');
    await expectText('#audit', /decision .*kargo/, 'and the audit history loads');
    await page.unroute('**/v1/whoami');
  });

  t.test("a sign-in that a proxy in front of the gate answers with its own 401 is not said to be the gate refusing the token", async (t) => {
    const { page, problems } = await open(t);
    await page.goto(`${fx.gate.url}/`);
    await page.route('**/v1/whoami', (route) => route.fulfill({ status: 401, contentType: 'text/html', body: '<html><body>Unauthorized</body></html>' }));
    await page.fill('#signin-token', tokens['olivia'] as string);
    await page.click('#signin-form button[type=submit]');
    await page.waitForFunction(() => document.getElementById('signin-error').textContent !== '', undefined, { timeout: UPDATE_MS });
    const said = await page.locator('#signin-error').innerText();
    t.notMatch(said, /The gate does not accept this token/, 'not the gate refusing the token');
    t.match(said, /Could not sign in: HTTP 401 from in front of the gate: has a sign-in proxy's session expired\? Reload the page to sign in again/, 'the proxy named');
    await page.unroute('**/v1/whoami');
    t.same(problems, [], 'no script errors');
  });

  t.test('an identity check that hangs does not hold the status poll', async (t) => {
    const { page, expectText, signIn } = await open(t);
    await page.goto(`${fx.gate.url}/`);
    await signIn('olivia');
    let calls = 0;
    let unblock: () => void = () => {};
    const blocked = new Promise<void>((r) => (unblock = r));
    t.teardown(() => unblock());
    // the first check fails, every later one hangs (a slow TokenReview) until its 5 s timeout
    await page.route('**/v1/whoami', async (route) => {
      if (calls++ === 0) return route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: 'auth_unavailable', message: 'identity could not be checked' }) });
      await blocked;
      await route.abort().catch(() => {});
    });
    await page.reload();
    await expectText('#signin-error', /Could not check the sign-in of this tab/, 'the failed check is shown');
    const statusAt: number[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/v1/status')) statusAt.push(Date.now());
    });
    await page.waitForTimeout(6_500);
    t.ok(calls >= 2, 'the check is tried again');
    t.ok(statusAt.length >= 3, `the status is still polled about every 2 s (${statusAt.length} requests in 6.5 s)`);
    unblock();
    await page.unroute('**/v1/whoami');
  });
}

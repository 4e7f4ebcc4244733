import t, { type Test } from 'tap';
import { PROJECT, TAG, UPDATE_MS, consoleFixture, expectPageText, openPage, requestBreakGlass, requireChromium } from './browser.ts';

/**
 * The console's state across sign-in, sign-out and re-renders, its dialogs while a request is
 * under way, and what it shows of the gate's health: the real gate (GATE_NOW = Wednesday
 * 2026-11-25 10:00 ET, market open) and the console in headless Chromium. Each step opens its own
 * page.
 */

// browser globals inside page.evaluate callbacks (this project's tsconfig has no DOM lib)
declare const document: any;
declare const sessionStorage: any;

if (requireChromium(t)) run();

function run(): void {
  const fx = consoleFixture(t, { olivia: 'operator' });
  const { tokens, call } = fx;
  const decide = (stage: string, promotion: string, imageTag = TAG) => call(tokens['kargo'] as string, 'POST', '/v1/decisions', { project: PROJECT, stage, imageTag, promotion });
  /** A live break-glass grant olivia asks for over the API (the page then lists it). */
  const grantLive = (justification: string) => call(tokens['olivia'] as string, 'POST', '/v1/break-glass', { project: PROJECT, stage: 'live', imageTag: TAG, justification });

  /** A fresh page (its own sessionStorage) in `timezoneId`, with the script errors it meets, and where the focus is. */
  const open = async (tt: Test, timezoneId = 'Europe/Berlin') => {
    const opened = await openPage(tt, fx.browser, tokens, timezoneId);
    const active = () => opened.page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName);
    return { ...opened, active };
  };

  /** A fresh page signed in as olivia, listing a live grant she asked for over the API (`listed`: how the list shows it). */
  const openWithGrant = async (tt: Test, justification: string, listed = new RegExp(justification)) => {
    const opened = await open(tt);
    const grant = await grantLive(justification);
    tt.equal(grant.status, 201, 'an open grant');
    await opened.page.goto(`${fx.gate.url}/`);
    await opened.signIn('olivia');
    await opened.expectText('#grants', listed, 'listed');
    return { ...opened, grant };
  };

  t.before(async () => {
    t.equal((await decide('paper', 'paper-promo-1')).body.decision, 'wait', 'a paper promotion the market holds');
  });

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

  t.test('a new record keeps the audit details the operator has open, and the focus on them', async (t) => {
    const { page, expectText, signIn, active } = await open(t);
    await page.goto(`${fx.gate.url}/`);
    await signIn('admin');
    await expectText('#audit', /decision .*kargo/, 'audit history shown');
    const seq = await page.$eval('#audit tbody tr:nth-child(2)', (tr: any) => tr.dataset.seq);
    await page.click(`#audit tr[data-seq="${seq}"] details summary`);
    t.ok(await page.$eval(`#audit tr[data-seq="${seq}"] details`, (d: any) => d.open), `record ${seq}: All fields open`);
    t.equal(await page.evaluate(() => document.activeElement?.textContent), 'All fields', 'focus on its summary');
    const before = await page.$eval('#audit tbody tr', (tr: any) => tr.dataset.seq);
    t.equal((await decide('paper', 'paper-promo-1')).status, 200, 'Kargo checks the waiting promotion again: a new record');
    await page.waitForFunction((s) => document.querySelector('#audit tbody tr')?.dataset.seq !== s, before, { timeout: UPDATE_MS });
    t.ok(await page.$eval(`#audit tr[data-seq="${seq}"] details`, (d: any) => d.open), 'still open after the table was redrawn');
    t.equal(await page.locator('#audit details[open]').count(), 1, 'and no other');
    t.equal(await page.evaluate(() => document.activeElement?.closest('tr')?.dataset.seq), seq, 'the focus is still on its summary');
    t.not(await active(), 'BODY', 'focus not lost to the page body');
  });

  t.test('while the audit log cannot be written, a banner says the gate refuses every decision, grant and approval', async (t) => {
    const { page, text, expectText } = await open(t);
    let unwritable = true;
    // the gate's answer, with audit.writable as a gate whose log cannot be written says it
    await page.route('**/v1/status', async (route) => {
      const res = await route.fetch();
      const body = await res.json();
      if (unwritable) body.audit.writable = false;
      await route.fulfill({ response: res, json: body });
    });
    await page.goto(`${fx.gate.url}/`);
    await expectText('#conn', /Connected/, 'connected');
    await expectText('#audit-banner', /The audit log cannot be written\. The gate refuses every decision, break-glass grant and approval \(HTTP 503\) until its audit log can be written again: Kargo promotions are held\./, 'the banner says what it means');
    t.ok(await page.locator('#audit-banner').isVisible(), 'shown');
    t.equal(await page.locator('#audit-banner').getAttribute('role'), 'alert', 'announced');
    const box = await page.locator('#audit-banner').boundingBox();
    t.ok(box && box.y < 200, `near the top of the page (y=${box?.y})`);
    unwritable = false;
    await page.waitForFunction(() => document.getElementById('audit-banner').hidden, undefined, { timeout: UPDATE_MS });
    t.pass('gone once the log can be written again');
    t.equal(await text('#conn'), 'Connected: live updates every 2 s');
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

  t.test('Escape does not close a dialog while its request is under way', async (t) => {
    const { page, expectText, signIn, text } = await open(t);
    await page.goto(`${fx.gate.url}/`);
    await signIn('olivia');
    // a slow gate that then refuses: the answer must be seen
    await page.route('**/v1/break-glass', async (route) => {
      await new Promise((r) => setTimeout(r, 1500));
      await route.fulfill({ status: 429, contentType: 'application/json', body: JSON.stringify({ error: 'rate_limited', message: 'at most 10 break-glass requests a minute per identity; retry in 40 s' }) });
    });
    await requestBreakGlass(page, 'paper', TAG, 'production incident needs a hotfix now');
    await page.waitForTimeout(200);
    await page.keyboard.press('Escape');
    await page.waitForTimeout(100);
    await page.keyboard.press('Escape');
    await page.waitForTimeout(200);
    t.ok(await page.$eval('#bg-dialog', (d: any) => d.open), 'break-glass: still open after Escape (twice) during the request');
    await expectText('#bg-c-error', /Not granted: at most 10 break-glass requests a minute/, 'and the refusal is shown in it');
    await page.keyboard.press('Escape');
    t.notOk(await page.$eval('#bg-dialog', (d: any) => d.open), 'Escape closes it once the answer is in');
    await page.unroute('**/v1/break-glass');

    // the stage toggle's dialog, the same
    await page.click('#signout');
    await signIn('admin');
    await page.route('**/v1/stages/*', async (route) => {
      await new Promise((r) => setTimeout(r, 1500));
      await route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: 'audit_unavailable', message: 'audit log is not writable' }) });
    });
    await page.fill('#tg-ci-note', 'ci runners are being replaced');
    await page.click('#tg-ci-btn');
    await page.fill('#tg-c-confirm', 'ci');
    await page.click('#tg-c-ok');
    await page.waitForTimeout(200);
    t.ok(await page.locator('#tg-c-ok').isDisabled(), 'toggle: the confirm button is disabled while the request runs');
    // twice: Chromium lets a page refuse one Escape by preventDefault, not a second
    await page.keyboard.press('Escape');
    await page.waitForTimeout(100);
    await page.keyboard.press('Escape');
    await page.waitForTimeout(200);
    t.ok(await page.$eval('#tg-dialog', (d: any) => d.open), 'toggle: still open after Escape (twice) during the request');
    await expectText('#tg-c-error', /Not changed: audit log is not writable/, 'and the refusal is shown in it');
    t.notOk(await page.locator('#tg-c-ok').isDisabled(), 'confirm enabled again');
    t.equal(await page.evaluate(() => document.activeElement?.id), 'tg-c-ok', 'and focused again (it lost the focus when it was disabled)');
    await page.keyboard.press('Escape');
    t.notOk(await page.$eval('#tg-dialog', (d: any) => d.open), 'Escape closes it once the answer is in');
    t.match(await text('#tg-ci-state'), /ENABLED/, 'ci is still on');
    await page.unroute('**/v1/stages/*');
  });

  t.test('after a confirmed revoke the focus is on the open-grants heading, not lost to the page', async (t) => {
    const { page, expectText, active, grant: g } = await openWithGrant(t, 'granted to be revoked from the keyboard', /live · 3f2c1a9 Copy · by olivia/);
    await page.focus(`#grants [data-key="revoke-${g.body.id}"]`);
    await page.keyboard.press('Enter');
    t.ok(await page.locator('#rv-dialog').isVisible(), 'the revoke dialog');
    await page.focus('#rv-c-ok');
    await page.keyboard.press('Enter');
    await expectText('#grants', /No open grants/, 'revoked');
    await page.waitForTimeout(300);
    t.equal(await active(), 'grants-h', 'focus on the Open grants heading');
  });

  t.test('a revoke dialog cancelled after the grant list changed under it puts the focus back on that grant\'s revoke button', async (t) => {
    const { page, expectText, active, grant: a } = await openWithGrant(t, 'kept while another grant arrives');
    await page.focus(`#grants [data-key="revoke-${a.body.id}"]`);
    await page.keyboard.press('Enter');
    t.ok(await page.locator('#rv-dialog').isVisible(), 'the revoke dialog');
    const b = await grantLive('issued while the revoke dialog is open');
    await expectText('#grants', /issued while the revoke dialog is open/, 'another operator\'s grant redraws the list');
    await page.keyboard.press('Escape');
    t.ok(await page.locator('#rv-dialog').isHidden(), 'cancelled');
    await page.waitForTimeout(100);
    t.equal(await page.evaluate(() => document.activeElement?.dataset?.key), `revoke-${a.body.id}`, 'the focus is on the revoke button of the grant it asked about');
    t.not(await active(), 'BODY', 'not lost to the page');
    for (const g of [a, b]) t.equal((await call(tokens['olivia'] as string, 'DELETE', `/v1/break-glass/${g.body.id}`)).status, 200, `${g.body.id} revoked`);
  });

  t.test('a revoke the gate answers with a 401 signs out with the focus on the token field, which the closing dialog does not take back (its grant gone meanwhile)', async (t) => {
    const { page, expectText, active, grant: g } = await openWithGrant(t, 'revoked by a withdrawn token');
    // the gate's own 401: the token of this tab was withdrawn meanwhile
    await page.route('**/v1/break-glass/*', (route) =>
      route.fulfill({ status: 401, contentType: 'application/json', body: JSON.stringify({ error: 'unauthorized', message: 'missing or invalid bearer token' }) }),
    );
    await page.click(`#grants [data-key="revoke-${g.body.id}"]`);
    // another operator revokes it while the dialog is open: its revoke button goes with the list
    t.equal((await call(tokens['admin'] as string, 'DELETE', `/v1/break-glass/${g.body.id}`)).status, 200, 'revoked by another operator');
    await page.waitForFunction(() => !document.getElementById('grants').innerText.includes('revoked by a withdrawn token'), undefined, { timeout: UPDATE_MS });
    await page.click('#rv-c-ok');
    await expectText('#signin-error', /The gate no longer accepts your token; sign in again\./, 'signed out by the 401');
    t.ok(await page.locator('#rv-dialog').isHidden(), 'the dialog is closed');
    await page.waitForTimeout(200);
    t.equal(await active(), 'signin-token', 'the focus is on the token field, not on the Open grants heading');
    await page.unroute('**/v1/break-glass/*');
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

  t.test('a local time on another date than the ET one names the local date (viewer in Tokyo)', async (t) => {
    const { page, expectText, signIn } = await open(t, 'Asia/Tokyo');
    await page.goto(`${fx.gate.url}/`);
    // Wed 16:00 ET is Thu 06:00 in Tokyo
    await expectText('#market-countdown', /^Closes in 5h \d\dm \d\ds — at 16:00 ET on Wed, 25 Nov 2026 \(Thu, 26 Nov 2026 06:00 your time\)$/, 'the countdown names Thursday');
    // Wed 10:0x ET is Thu 00:0x in Tokyo
    await expectText('#gate-time', /^gate clock Wed, 25 Nov 2026 10:\d\d:\d\d ET · your time Thu, 26 Nov 2026 00:\d\d:\d\d$/, 'so does the header clock');
    await signIn('olivia');
    await requestBreakGlass(page, 'paper', TAG, 'checking the local date of the token expiry');
    // about 10:0x ET + 30 min: Thursday 00:3x in Tokyo
    await expectText('#bg-token-expiry', /Expires at 10:[34]\d:\d\d ET on Wed, 25 Nov 2026 \(Thu, 26 Nov 2026 00:[34]\d:\d\d your time\), in/, 'the token expiry names Thursday');
    await page.click('#bg-token-done');
  });

  t.test('a status poll under way when a change is confirmed does not leave the state from before the change on screen for another poll interval', async (t) => {
    const { page, expectText, signIn, text, problems } = await open(t);
    await page.goto(`${fx.gate.url}/`);
    await signIn('admin');
    await expectText('#tg-ci-state', /ENABLED/, 'ci on');
    // the next status is read from the gate at once (before the switch) and delivered only when released
    let hold = false;
    let release: () => void = () => {};
    const released = new Promise<void>((r) => (release = r));
    let heldOne: () => void = () => {};
    const held = new Promise<void>((r) => (heldOne = r));
    t.teardown(() => release());
    const slow = async (route: any) => {
      if (!hold) return route.continue();
      hold = false;
      const res = await route.fetch();
      heldOne();
      await released;
      await route.fulfill({ response: res }).catch(() => {});
    };
    await page.fill('#tg-ci-note', 'runners replaced during the poll');
    await page.click('#tg-ci-btn');
    await page.fill('#tg-c-confirm', 'ci');
    await page.route('**/v1/status', slow);
    hold = true;
    await held;
    await page.click('#tg-c-ok');
    await page.waitForFunction(() => !document.getElementById('tg-dialog').open, undefined, { timeout: UPDATE_MS });
    t.pass('switched off');
    // the older status is still under way when the page asks for a new one
    await page.waitForTimeout(300);
    const t0 = Date.now();
    release();
    await page.waitForFunction(() => /DISABLED/.test(document.getElementById('tg-ci-state').innerText), undefined, { timeout: UPDATE_MS });
    const ms = Date.now() - t0;
    t.ok(ms < 1000, `the row shows the switch ${ms} ms after the older status came in (not a poll interval later)`);
    t.match(await text('#stage-ci'), /DISABLED/, 'and so does the pipeline');
    await page.unroute('**/v1/status', slow);
    t.equal((await call(tokens['admin'] as string, 'PUT', '/v1/stages/ci', { enabled: true, note: 'back on after the poll-race test' })).status, 200, 'ci on again');
    await expectText('#tg-ci-state', /ENABLED/, 'ci on again on the page');
    t.same(problems, [], 'no script errors');
  });

  t.test('a change the gate made but whose answer never came is not reported as refused, and asking again for a grant takes the stage name again', async (t) => {
    const { page, expectText, signIn, text, active, problems } = await open(t);
    await page.goto(`${fx.gate.url}/`);
    await signIn('admin');
    // the request reaches the gate, which makes the change; its answer is lost (a timeout, a dropped connection)
    const lose = async (route: any) => {
      if (route.request().method() === 'GET') return route.continue();
      await route.fetch();
      await route.abort('timedout');
    };
    await page.route('**/v1/break-glass', lose);
    await requestBreakGlass(page, 'live', TAG, 'hotfix for the order router, answer lost');
    await expectText('#bg-c-error', /^No answer from the gate \(unreachable or too slow\): the grant may have been issued, and its token cannot be shown again\. Check Open grants before asking again/, 'break-glass: the grant may exist');
    t.notMatch(await text('#bg-c-error'), /Not granted/, 'not reported as refused');
    t.equal(await page.inputValue('#bg-c-confirm'), '', 'the typed stage name is cleared');
    t.ok(await page.locator('#bg-c-ok').isDisabled(), 'so confirming again is not one click or Enter away');
    t.equal(await active(), 'bg-c-confirm', 'the focus is on the stage-name field');
    await expectText('#grants', /live · 3f2c1a9 Copy · by admin.*answer lost/, 'the grant the gate made is listed under Open grants');
    await page.fill('#bg-c-confirm', 'live');
    t.notOk(await page.locator('#bg-c-ok').isDisabled(), 'typing the stage name again allows a deliberate second request');
    await page.click('#bg-c-cancel');
    await page.unroute('**/v1/break-glass', lose);
    const open1 = (await call(tokens['admin'] as string, 'GET', '/v1/break-glass')).body.grants.filter((g: any) => g.justification.includes('answer lost'));
    t.equal(open1.length, 1, 'one grant at the gate');

    // revoking it: the same
    await page.route('**/v1/break-glass/*', lose);
    await page.click(`#grants [data-key="revoke-${open1[0].id}"]`);
    await page.click('#rv-c-ok');
    await expectText('#rv-c-error', new RegExp(`^No answer from the gate \\(unreachable or too slow\\): ${open1[0].id} may have been revoked`), 'revoke: it may have been revoked');
    await page.click('#rv-c-cancel');
    await page.waitForFunction(() => !document.getElementById('grants').innerText.includes('answer lost'), undefined, { timeout: UPDATE_MS });
    t.pass('and the list shows it gone');
    await page.unroute('**/v1/break-glass/*', lose);

    // an approval
    await page.route('**/v1/approvals', lose);
    await page.fill('#ap-tag', TAG);
    await page.fill('#ap-notes', 'checked the canary, answer lost');
    await page.click('#ap-submit');
    await expectText('#ap-error', new RegExp(`^No answer from the gate \\(unreachable or too slow\\): ${TAG} may have been approved for live\\. Check Pending approvals before approving again\\.$`), 'approval: it may have been recorded');
    await expectText('#approvals', /answer lost/, 'and Pending approvals shows it');
    await page.unroute('**/v1/approvals', lose);

    // a stage switch: the dialog then follows the stage and sends nothing more
    await page.route('**/v1/stages/*', lose);
    await page.fill('#tg-ci-note', 'runners replaced, answer lost');
    await page.click('#tg-ci-btn');
    await page.fill('#tg-c-confirm', 'ci');
    await page.click('#tg-c-ok');
    await expectText('#tg-c-error', /ci was turned off meanwhile by admin .*nothing to send/, 'toggle: once the gate shows the switch, the dialog says there is nothing to send');
    t.ok(await page.locator('#tg-c-ok').isDisabled(), 'and cannot send it again');
    await page.click('#tg-c-cancel');
    await page.unroute('**/v1/stages/*', lose);
    t.equal((await call(tokens['admin'] as string, 'PUT', '/v1/stages/ci', { enabled: true, note: 'back on after the lost-answer test' })).status, 200, 'ci on again');
    t.same(problems, [], 'no script errors');
  });

  t.test('a grant whose answer is cut off after its status line (the connection lost mid-body) is not reported as refused', async (t) => {
    const { page, expectText, signIn, text, problems } = await open(t);
    // the gate's 201 arrives, its body does not: the stream fails as a dropped connection makes it fail
    await page.addInitScript(() => {
      const w = globalThis as any;
      const real = w.fetch.bind(w);
      w.fetch = async (input: any, init: any) => {
        const res = await real(input, init);
        if (init?.method !== 'POST' || !String(input).endsWith('v1/break-glass')) return res;
        const body = new w.ReadableStream({
          start(c: any) {
            c.enqueue(new w.TextEncoder().encode('{"id":"bg_'));
            c.error(new TypeError('network error'));
          },
        });
        return new w.Response(body, { status: res.status, headers: res.headers });
      };
    });
    await page.goto(`${fx.gate.url}/`);
    await signIn('admin');
    await requestBreakGlass(page, 'live', TAG, 'hotfix for the order router, body cut off');
    await expectText('#bg-c-error', /^No answer from the gate \(unreachable or too slow\): the grant may have been issued/, 'the grant may exist');
    t.notMatch(await text('#bg-c-error'), /Not granted/, 'not reported as refused');
    await expectText('#grants', /body cut off/, 'the grant the gate made is listed under Open grants');
    await page.click('#bg-c-cancel');
    const made = (await call(tokens['admin'] as string, 'GET', '/v1/break-glass')).body.grants.filter((g: any) => g.justification.includes('body cut off'));
    t.equal(made.length, 1, 'one grant at the gate');
    for (const g of made) t.equal((await call(tokens['admin'] as string, 'DELETE', `/v1/break-glass/${g.id}`)).status, 200, `${g.id} revoked`);
    t.same(problems, [], 'no script errors');
  });

  t.test("a grant answered with the gate's 500 internal_error (its handler failed, maybe after recording) is not reported as refused", async (t) => {
    const { page, expectText, signIn, text, problems } = await open(t);
    const failAfter = async (route: any) => {
      if (route.request().method() === 'GET') return route.continue();
      await route.fetch();
      await route.fulfill({ status: 500, contentType: 'application/json', body: JSON.stringify({ error: 'internal_error', message: 'The gate failed to handle this request; it has been logged.' }) });
    };
    await page.route('**/v1/break-glass', failAfter);
    await page.goto(`${fx.gate.url}/`);
    await signIn('admin');
    await requestBreakGlass(page, 'live', TAG, 'hotfix for the order router, handler failed');
    await expectText('#bg-c-error', /the grant may have been issued/, 'the grant may exist');
    t.notMatch(await text('#bg-c-error'), /Not granted/, 'not reported as refused');
    t.ok(await page.locator('#bg-c-ok').isDisabled(), 'asking again takes the stage name again');
    await page.click('#bg-c-cancel');
    await page.unroute('**/v1/break-glass', failAfter);
    const made = (await call(tokens['admin'] as string, 'GET', '/v1/break-glass')).body.grants.filter((g: any) => g.justification.includes('handler failed'));
    t.equal(made.length, 1, 'one grant at the gate');
    for (const g of made) t.equal((await call(tokens['admin'] as string, 'DELETE', `/v1/break-glass/${g.id}`)).status, 200, `${g.id} revoked`);
    t.same(problems, [], 'no script errors');
  });
}

import t, { type Test } from 'tap';
import { PROJECT, TAG, UPDATE_MS, consoleFixture, paperPromotionWaits, requestBreakGlass, requireChromium } from './browser.ts';

/**
 * The console's dialogs while a request is under way, where the focus goes after them, and changes
 * whose answer never came or was cut off (not reported as refused). The real gate (GATE_NOW =
 * Wednesday 2026-11-25 10:00 ET, market open) and the console in headless Chromium. Each step opens
 * its own page.
 */

// browser globals inside page.evaluate callbacks (this project's tsconfig has no DOM lib)
declare const document: any;

if (requireChromium(t)) run();

function run(): void {
  const fx = consoleFixture(t, { olivia: 'operator' });
  const { tokens, call, open } = fx;
  /** A live break-glass grant olivia asks for over the API (the page then lists it). */
  const grantLive = (justification: string) => call(tokens['olivia'] as string, 'POST', '/v1/break-glass', { project: PROJECT, stage: 'live', imageTag: TAG, justification });

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

  paperPromotionWaits(t, fx);

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

import type { Page } from 'playwright-core';
import t, { type Test } from 'tap';
import { TAG, UPDATE_MS, consoleFixture, expectFocus, requestBreakGlass, requireChromium } from './browser.ts';

/**
 * The identity read again with the settings (after a reconnect) while the page holds what the
 * person signed in typed, opened or was shown: another person now (a sign-in proxy's session
 * switched) is a sign-out and a sign-in, and a 401 leaves no confirmation dialog open over the
 * signed-out page. The real gate (GATE_NOW) and the console in headless Chromium; whoami's answer
 * is changed by the test.
 */

// browser globals inside page.evaluate callbacks (this project's tsconfig has no DOM lib)
declare const document: any;

if (requireChromium(t)) run();

function run(): void {
  const fx = consoleFixture(t, {});

  /** A fresh page signed in as admin, whose whoami answer and status poll the test controls. */
  const open = async (tt: Test) => {
    const { page, problems, expectText, signIn } = await fx.open(tt);
    const ctl = { whoami: 'real' as 'real' | 'someone-else' | 'more-groups' | '401', down: false };
    await page.route('**/v1/whoami', async (route) => {
      if (ctl.whoami === '401') return route.fulfill({ status: 401, contentType: 'application/json', body: JSON.stringify({ error: 'unauthenticated', message: 'invalid token' }) });
      const res = await route.fetch();
      const body = await res.json();
      if (ctl.whoami === 'someone-else') body.name = 'mallory';
      if (ctl.whoami === 'more-groups') body.groups = [...body.groups, 'extra-group'];
      await route.fulfill({ response: res, json: body });
    });
    await page.route('**/v1/status', (route) => (ctl.down ? route.abort('connectionrefused') : route.continue()));
    /** the gate away and back: the settings, and with them whoami, are read again */
    const reconnect = async () => {
      ctl.down = true;
      await expectText('#conn', /DISCONNECTED/, 'the gate is away');
      ctl.down = false;
      await expectText('#conn', /^Connected/, 'and back');
    };
    await page.goto(`${fx.gate.url}/`);
    await signIn('admin');
    return { page, problems, ctl, expectText, reconnect };
  };

  /** A paper grant asked for on the page, its one-time token on screen (the test's grants revoked when it ends). */
  const grantWithTokenOnScreen = async (tt: Test, page: Page) => {
    tt.teardown(async () => {
      for (const g of (await fx.call(fx.tokens['admin'] as string, 'GET', '/v1/break-glass')).body.grants as any[]) await fx.call(fx.tokens['admin'] as string, 'DELETE', `/v1/break-glass/${g.id}`);
    });
    await requestBreakGlass(page, 'paper', TAG, 'paper order router hotfix, cannot wait for the close');
    await page.locator('#bg-token').waitFor({ state: 'visible' });
  };

  const isOpen = (page: any, id: string) => page.evaluate((i: string) => document.getElementById(i).open === true, id);

  t.test('whoami answering for another person: the token on screen, what was typed and an open dialog go, as at a sign-out', async (t) => {
    const { page, problems, ctl, expectText, reconnect } = await open(t);
    await grantWithTokenOnScreen(t, page);
    // half-written text, and a stage switch waiting for its confirmation
    await page.fill('#bg-just', 'live needs the same fix, written by admin');
    await page.fill('#ap-notes', 'diff reviewed by admin, fills reconciled');
    await page.fill('#tg-paper-note', 'admin pauses paper for the broker maintenance');
    await page.click('#tg-paper-btn');
    t.ok(await isOpen(page, 'tg-dialog'), 'the stage dialog is open');

    ctl.whoami = 'someone-else';
    await reconnect();
    await expectText('#whoami', /Signed in as mallory /, 'the page follows the identity the gate now sees');
    await page.waitForFunction(() => document.getElementById('tg-dialog').open === false, undefined, { timeout: UPDATE_MS }).then(
      () => t.pass("admin's stage dialog is closed"),
      () => t.fail("admin's stage dialog is closed"),
    );
    t.ok(await page.locator('#bg-token').isHidden(), "admin's one-time token is no longer on screen");
    t.equal(await page.inputValue('#bg-token-value'), '', 'nor in the page');
    t.equal(await page.inputValue('#bg-just'), '', "admin's justification is not left for mallory to send");
    t.equal(await page.inputValue('#ap-notes'), '', "nor admin's approval notes");
    t.equal(await page.inputValue('#tg-paper-note'), '', "nor admin's note for switching paper");
    t.same(problems, [], 'no script errors');
  });

  t.test('the same person with other permissions keeps what was typed and the dialog open', async (t) => {
    const { page, problems, ctl, expectText, reconnect } = await open(t);
    await page.fill('#ap-notes', 'diff reviewed by admin, fills reconciled');
    await page.fill('#tg-paper-note', 'admin pauses paper for the broker maintenance');
    await page.click('#tg-paper-btn');
    ctl.whoami = 'more-groups';
    await reconnect();
    await expectText('#whoami', /extra-group/, 'the groups read again are shown');
    t.ok(await isOpen(page, 'tg-dialog'), 'the stage dialog stays open');
    t.equal(await page.inputValue('#ap-notes'), 'diff reviewed by admin, fills reconciled', 'the notes typed are kept');
    t.same(problems, [], 'no script errors');
  });

  t.test('a 401 to the re-read signs out and closes the confirmation dialog left open', async (t) => {
    const { page, problems, ctl, expectText, reconnect } = await open(t);
    await page.fill('#tg-paper-note', 'admin pauses paper for the broker maintenance');
    await page.click('#tg-paper-btn');
    t.ok(await isOpen(page, 'tg-dialog'), 'the stage dialog is open');
    ctl.whoami = '401';
    await reconnect();
    await expectText('#whoami', /^Not signed in$/, 'signed out');
    await page.waitForFunction(() => document.getElementById('tg-dialog').open === false, undefined, { timeout: UPDATE_MS }).then(
      () => t.pass('no dialog left asking to switch paper for an identity signed out'),
      () => t.fail('no dialog left asking to switch paper for an identity signed out'),
    );
    await expectFocus(t, page, 'signin-token', 'the focus goes to the sign-in field');
    t.same(problems, [], 'no script errors');
  });
  t.test('a 401 that hides the one-time token also takes back the refusal that named it', async (t) => {
    const { page, problems, ctl, expectText, reconnect } = await open(t);
    await grantWithTokenOnScreen(t, page);
    await page.fill('#bg-just', 'live needs the same router hotfix before the close');
    await page.click('#bg-submit');
    await expectText('#bg-error', /^The token of grant \S+ is still on screen/, 'a second request is refused while the token is on screen');
    ctl.whoami = '401';
    await reconnect();
    await expectText('#whoami', /^Not signed in$/, 'the 401 signs out');
    t.ok(await page.locator('#bg-token').isHidden(), 'the token goes with the session');
    t.equal((await page.textContent('#bg-error')) ?? '', '', 'and the refusal that named it');
    ctl.whoami = 'real';
    await page.fill('#signin-token', fx.tokens['admin'] as string);
    await page.click('#signin-form button[type=submit]');
    await expectText('#whoami', /Signed in as admin /, 'signed in again');
    t.equal((await page.textContent('#bg-error')) ?? '', '', 'no refusal naming a token that is not on screen');
    t.same(problems, [], 'no script errors');
  });
  t.test('a sign-out forgets the note written for a stage switch, as it does a justification', async (t) => {
    const { page, problems, expectText } = await open(t);
    await page.fill('#tg-paper-note', 'admin pauses paper for the broker maintenance');
    await page.fill('#bg-just', 'written by admin before signing out');
    await page.click('#signout');
    await expectText('#whoami', /^Not signed in$/, 'signed out');
    t.equal(await page.inputValue('#bg-just'), '', 'the justification is forgotten');
    t.equal(await page.inputValue('#tg-paper-note'), '', 'and the stage switch note, which the next person would send under their name');
    t.same(problems, [], 'no script errors');
  });
}

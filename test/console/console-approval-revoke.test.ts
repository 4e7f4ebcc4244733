import type { Page } from 'playwright-core';
import t, { type Test } from 'tap';
import { PROJECT, TAG, consoleFixture, expectFocus, requireChromium } from './browser.ts';

/**
 * Approving from the console's form and revoking a pending approval: the real gate (GATE_NOW =
 * Wednesday 2026-11-25 10:00 ET) and the console in headless Chromium. Each step opens its own page.
 */

// browser globals inside page.evaluate callbacks (this project's tsconfig has no DOM lib)
declare const document: any;

if (requireChromium(t)) run();

function run(): void {
  const fx = consoleFixture(t, { olivia: 'operator', amir: 'approver' });
  const { tokens, call } = fx;
  const auditOf = async (type: string) => (await call(tokens['admin'] as string, 'GET', `/v1/audit?type=${encodeURIComponent(type)}&limit=500`)).body.records as any[];
  const pending = async () => (await call(tokens['admin'] as string, 'GET', '/v1/approvals')).body.approvals as { id: string }[];

  /** A live approval amir gives over the API; the page then lists it. */
  const approveLive = async (tt: Test, notes: string) => {
    const res = await call(tokens['amir'] as string, 'POST', '/v1/approvals', { project: PROJECT, stage: 'live', imageTag: TAG, notes });
    tt.equal(res.status, 201, 'a pending approval');
    return res.body as { id: string };
  };

  /** A fresh page signed in as `name`, listing the pending approvals (`listed`: how the list shows the one wanted). */
  const openSignedIn = async (tt: Test, name: string, listed: RegExp, prepare?: (page: Page) => Promise<void>) => {
    const opened = await fx.open(tt);
    await prepare?.(opened.page);
    await opened.page.goto(`${fx.gate.url}/`);
    await opened.signIn(name);
    await opened.expectText('#approvals', listed, 'the approval is listed');
    return opened;
  };

  t.test('an approver revokes a pending approval from the list: it asks first, a cancel sends nothing, a confirm revokes it', async (t) => {
    const ap = await approveLive(t, 'approved to be revoked by the console test');
    const { page, problems, expectText, text } = await openSignedIn(t, 'amir', /live · 3f2c1a9 Copy · approved by amir/);
    const button = `#approvals [data-key="revoke-${ap.id}"]`;
    t.equal(await text(button), 'Revoke approval for live', 'each pending approval has a revoke button');
    t.ok(await page.locator(button).isEnabled(), 'enabled for an approver');
    const deletes: string[] = [];
    page.on('request', (req) => {
      if (req.method() === 'DELETE') deletes.push(req.url());
    });

    await page.click(button);
    t.ok(await page.locator('#ar-dialog').isVisible(), 'revoking asks first');
    t.match(
      await text('#ar-dialog'),
      new RegExp(`Revoke approval\\?.*waits for another approval.*Approval ${ap.id} Stage live Image tag ${TAG} Approved by amir Notes approved to be revoked by the console test`),
      'naming the approval, its stage, tag, approver and notes',
    );
    await expectFocus(t, page, 'ar-c-cancel', 'the focus on “Keep the approval”');
    await page.click('#ar-c-cancel');
    t.ok(await page.locator('#ar-dialog').isHidden(), 'cancelled');
    await page.waitForFunction((key) => document.activeElement?.dataset?.key === key, `revoke-${ap.id}`, { timeout: 2000 });
    t.pass('the focus back on its revoke button');
    await page.waitForTimeout(300);
    t.same(deletes, [], 'nothing was sent');
    t.same((await pending()).map((a) => a.id), [ap.id], 'the approval is still pending');

    await page.click(button);
    await page.click('#ar-c-ok');
    await expectText('#approvals', /No pending approvals/, 'gone after confirming');
    await expectFocus(t, page, 'approvals-h', 'the focus on the Pending approvals heading');
    t.equal(deletes.length, 1, 'one revoke sent');
    t.same(await pending(), [], 'not pending at the gate either');
    t.match(await auditOf('approval.revoked'), [{ id: ap.id, actor: { name: 'amir' }, stage: 'live', imageTag: TAG, approval: { approvedBy: 'amir' } }], 'recorded with who revoked it');
    t.same(problems, [], 'no script errors');
  });

  t.test('an operator sees the revoke button disabled; an admin may revoke', async (t) => {
    const ap = await approveLive(t, 'approved, then looked at by others');
    const button = `#approvals [data-key="revoke-${ap.id}"]`;
    const olivia = await openSignedIn(t, 'olivia', /approved, then looked at by others/);
    t.ok(await olivia.page.locator(button).isDisabled(), 'disabled for an operator');
    t.match(await olivia.text('#ap-perm'), /olivia may not approve releases: role “approver” required/, 'and the section says why');
    const admin = await openSignedIn(t, 'admin', /approved, then looked at by others/);
    t.ok(await admin.page.locator(button).isEnabled(), 'enabled for an admin');
    await admin.page.click(button);
    await admin.page.click('#ar-c-ok');
    await admin.expectText('#approvals', /No pending approvals/, 'revoked by the admin');
    t.match((await auditOf('approval.revoked')).find((r) => r.id === ap.id), { actor: { name: 'admin' } });
  });

  t.test('RBAC that lets an approver approve but not revoke (whoami says approvals.delete false): the button is disabled, the approve form is not', async (t) => {
    const ap = await approveLive(t, 'approved where revoking is not granted');
    // the gate's own answer, with the one permission a Kubernetes Role can leave out
    const withoutDelete = async (page: Page) => {
      await page.route('**/v1/whoami', async (route) => {
        const res = await route.fetch();
        const me = await res.json();
        await route.fulfill({ response: res, json: { ...me, can: { ...me.can, 'approvals.delete': false } } });
      });
    };
    const { page } = await openSignedIn(t, 'amir', /approved where revoking is not granted/, withoutDelete);
    t.ok(await page.locator(`#approvals [data-key="revoke-${ap.id}"]`).isDisabled(), 'the revoke button is disabled');
    t.ok(await page.locator('#ap-fieldset').isEnabled(), 'approving is still offered');
    t.equal((await call(tokens['admin'] as string, 'DELETE', `/v1/approvals/${ap.id}`)).status, 200, 'cleaned up');
  });

  t.test('a revoke the gate refuses (the approval revoked meanwhile by someone else) says why in the dialog', async (t) => {
    const ap = await approveLive(t, 'revoked twice, once from elsewhere');
    const { page, expectText, text, problems } = await openSignedIn(t, 'amir', /revoked twice, once from elsewhere/);
    await page.click(`#approvals [data-key="revoke-${ap.id}"]`);
    t.equal((await call(tokens['admin'] as string, 'DELETE', `/v1/approvals/${ap.id}`)).status, 200, 'revoked by an admin meanwhile');
    await expectText('#approvals', /No pending approvals/, 'the list follows while the dialog is open');
    await page.click('#ar-c-ok');
    await expectText('#ar-c-error', new RegExp(`Could not revoke ${ap.id}: approval ${ap.id} is already revoked`), 'the 409 is shown in the dialog');
    await expectFocus(t, page, 'ar-c-ok', 'with the focus on its button again');
    await page.keyboard.press('Escape');
    t.ok(await page.locator('#ar-dialog').isHidden(), 'Escape closes it');
    await expectFocus(t, page, 'approvals-h', 'the focus on the heading (its revoke button is gone)');
    t.equal(await text('#ap-error'), '', 'nothing left on the page');
    t.same(problems, [], 'no script errors');
  });

  t.test('the confirmation of an approval follows it: revoked from elsewhere, it no longer says the approval is valid', async (t) => {
    const { page, expectText, text, signIn, problems } = await fx.open(t);
    await page.goto(`${fx.gate.url}/`);
    await signIn('amir');
    await page.selectOption('#ap-stage', 'live');
    await page.fill('#ap-tag', TAG);
    await page.fill('#ap-notes', 'approved here, then revoked by an admin elsewhere');
    await page.click('#ap-submit');
    await expectText('#ap-done', /^Approved .* for live as amir; valid until /, 'recorded, valid until its expiry');
    await expectText('#approvals', /approved here, then revoked by an admin elsewhere/, 'listed as pending');
    const [ap] = await pending();
    t.ok(ap, 'pending at the gate');
    // a status poll or two later, still pending: the confirmation stands
    await page.waitForTimeout(2500);
    t.match(await text('#ap-done'), /valid until/, 'while it is pending the confirmation stands');
    t.equal((await call(tokens['admin'] as string, 'DELETE', `/v1/approvals/${ap?.id}`)).status, 200, 'an admin revokes it from elsewhere');
    await expectText('#approvals', /No pending approvals/, 'the list follows');
    await expectText('#ap-done', new RegExp(`^Approval ${ap?.id} is no longer pending: ${TAG} for live was used by a promotion, revoked or expired \\(the audit history says which\\)\\.$`), 'the confirmation says it is gone');
    t.notMatch(await text('#ap-done'), /valid until/, 'and no longer that it is valid');
    t.same(problems, [], 'no script errors');
  });

  t.test('an approval sent from the keyboard leaves the focus on Approve, not lost to the page, whether the gate records or refuses it; a 401 on the token field', async (t) => {
    const { page, expectText, signIn, problems } = await fx.open(t);
    await page.goto(`${fx.gate.url}/`);
    await signIn('amir');
    const send = async (notes: string) => {
      await page.fill('#ap-notes', notes);
      await page.focus('#ap-submit');
      await page.keyboard.press('Enter');
    };
    await page.selectOption('#ap-stage', 'live');
    await page.fill('#ap-tag', TAG);
    await send('diff reviewed, paper fills reconciled');
    await expectText('#ap-done', /Approved .* for live as amir/, 'recorded');
    await expectFocus(t, page, 'ap-submit', 'the focus is back on Approve (the button was disabled for the request)');
    // refused with no field to point at (a 429): the gate's message, the focus on the button too
    const refuse = (status: number, error: string, message: string) => (route: any) => route.fulfill({ status, contentType: 'application/json', body: JSON.stringify({ error, message }) });
    await page.route('**/v1/approvals', refuse(429, 'rate_limited', 'at most 30 approvals a minute per identity; retry in 40 s'));
    await send('second look at the same tag, still fine');
    await expectText('#ap-error', /^Not approved: at most 30 approvals a minute per identity; retry in 40 s$/, "the refusal with the gate's message");
    await expectFocus(t, page, 'ap-submit', 'the focus is on Approve');
    await page.unroute('**/v1/approvals');
    // the gate's 401: signed out, the form disabled, the focus on the token field
    await page.route('**/v1/approvals', refuse(401, 'unauthorized', 'missing or invalid bearer token'));
    await send('third look at the same tag, still fine');
    await expectText('#signin-error', /no longer accepts your token/, 'signed out by the 401');
    await expectFocus(t, page, 'signin-token', 'the focus is on the token field');
    await page.unroute('**/v1/approvals');
    for (const a of await pending()) await call(tokens['admin'] as string, 'DELETE', `/v1/approvals/${a.id}`);
    t.same(problems, [], 'no script errors');
  });
}

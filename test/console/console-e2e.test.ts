import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import t, { type Test } from 'tap';
import { eventually } from '../helpers/eventually.ts';
import { type SpawnedGate, spawnGate } from '../helpers/spawn-gate.ts';
import { ARTIFACTS, NOW, PROJECT, TAG, UPDATE_MS, expectFocus, expectPageText, launchChromium, pageText, requestBreakGlass, requireChromium } from './browser.ts';
import { callGate, createToken } from './gate-calls.ts';

/**
 * End to end: the real gate (node src/server.ts, GATE_NOW = Wednesday 2026-11-25 10:00 ET, market
 * open) and the console in headless Chromium. One gate and one browser for the whole file; the
 * steps run in order and each builds on the one before.
 */

// browser globals inside page.evaluate callbacks (this project's tsconfig has no DOM lib)
declare const document: any;
declare const window: any;
declare const location: any;
declare const sessionStorage: any;
declare const localStorage: any;
declare const getComputedStyle: any;

if (requireChromium(t)) run();

function run(): void {
  let gate: SpawnedGate;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const tokens: Record<string, string> = {};
  const problems: string[] = [];
  let expectNetworkErrors = false;

  const call = (token: string | null, method: string, path: string, body?: unknown) => callGate(gate.url, token, method, path, body);
  const decide = (stage: string, promotion: string, imageTag = TAG) => call(tokens['kargo'] as string, 'POST', '/v1/decisions', { project: PROJECT, stage, imageTag, promotion });
  const auditOf = async (type: string) => (await call(tokens['admin'] as string, 'GET', `/v1/audit?type=${encodeURIComponent(type)}&limit=500`)).body.records as any[];
  const shot = (name: string, fullPage = true) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage });
  const text = (selector: string) => pageText(page, selector);

  const fieldsetDisabled = (selector: string) => page.$eval(selector, (el: any) => el.disabled === true);

  const expectText = (tt: Test, selector: string, re: RegExp, msg: string, ms = UPDATE_MS) => expectPageText(tt, page, selector, re, msg, ms);

  /** The URLs of the stage switches (PUT /v1/stages/…) the page sends from now until the test ends. */
  const stageSwitchesSent = (tt: Test): string[] => {
    const puts: string[] = [];
    const countPut = (req: { method(): string; url(): string }) => {
      if (req.method() === 'PUT' && /\/v1\/stages\//.test(req.url())) puts.push(req.url());
    };
    page.on('request', countPut);
    tt.teardown(() => page.off('request', countPut));
    return puts;
  };

  const signIn = async (tt: Test, name: string) => {
    if (await page.locator('#signout').isVisible()) await page.click('#signout');
    await page.fill('#signin-token', tokens[name] as string);
    await page.click('#signin-form button[type=submit]');
    await expectText(tt, '#whoami', new RegExp(`Signed in as ${name} `), `signed in as ${name}`);
  };

  t.before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    const launching = launchChromium();
    gate = await spawnGate({ t, env: { GATE_NOW: NOW } });
    // after spawnGate's own teardowns, so it runs first: it stops the gate a test restarts
    // (spawnGate's stops the first one), then spawnGate's removes the data directory
    t.teardown(async () => {
      await browser?.close().catch(() => {});
      await gate.stop('SIGKILL');
    });
    tokens['admin'] = gate.tokens['admin'] as string;
    tokens['kargo'] = gate.tokens['kargo'] as string;
    // one after the other: each CLI run rewrites the token file
    tokens['olivia'] = await createToken(gate.dataDir, 'olivia', 'operator');
    tokens['amir'] = await createToken(gate.dataDir, 'amir', 'approver');
    tokens['ci-bot'] = await createToken(gate.dataDir, 'ci-bot', 'ci');
    browser = await launching;
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'Europe/Berlin', locale: 'en-GB' });
    page = await context.newPage();
    page.setDefaultTimeout(5_000);
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && !expectNetworkErrors) problems.push(`console: ${m.text()}`);
    });
  });

  t.test('setup: a passing test result and a paper promotion the market holds', async (t) => {
    const put = await call(tokens['ci-bot'] as string, 'PUT', `/v1/test-results/${TAG}`, { exitCode: 0, passed: 42, failed: 0 });
    t.equal(put.status, 200);
    const d = await decide('paper', 'paper-promo-1');
    t.equal(d.body.decision, 'wait');
    t.same(
      d.body.reasons.filter((r: any) => r.effect !== 'allow').map((r: any) => r.code),
      ['market_open'],
      'the market is the only thing holding it',
    );
  });

  t.test('signed out: paper and live are blocked, the countdown runs on the gate clock', async (t) => {
    await page.goto(`${gate.url}/`);
    await expectText(t, '#conn', /Connected/, 'connected');
    await expectText(t, '#stage-paper [data-field=market-gate]', /BLOCKED for 5h 5\dm \d\ds/, 'paper: BLOCKED with how long');
    await expectText(t, '#stage-live [data-field=market-gate]', /BLOCKED for 5h 5\dm \d\ds/, 'live: BLOCKED with how long');
    t.equal(await page.locator('#stage-beta [data-field=market-gate]').count(), 0, 'beta has no market gate');
    t.match(await text('#market-state'), /Market OPEN/);
    t.match(await text('#market-reason'), /Regular session open until 16:00 ET/);
    const first = await text('#market-countdown');
    t.match(first, /^Closes in 5h 5\dm \d\ds — at 16:00 ET on Wed, 25 Nov 2026 · your time \(Europe\/Berlin\) 22:00$/, 'countdown to the close, in ET and in the viewer’s zone (Berlin)');
    const ticked = await page
      .waitForFunction((before) => document.getElementById('market-countdown').innerText.replace(/\s+/g, ' ').trim() !== before, first, { timeout: 3000 })
      .then(() => true, () => false);
    t.ok(ticked, 'the countdown ticks');
    t.match(await text('#market-countdown'), /^Closes in 5h 5\dm \d\ds/, 'and still counts to the close');
    t.match(await text('#market'), /Next session Date Fri, 27 Nov 2026 \(early close\) New York \(ET\) 09:30–13:00 Your time \(Europe\/Berlin\) Fri, 27 Nov 2026 15:30–19:00/, 'next session after Thanksgiving, ET and local');
    t.match(await text('#gate-time'), /gate clock Wed, 25 Nov 2026 10:0\d:\d\d ET/, 'the page shows the gate clock (GATE_NOW), not the machine’s');
    t.ok(await page.locator('#clock-banner').isVisible(), 'a gate on GATE_NOW is flagged on the page');
    t.match(await text('#clock-banner'), /^Simulated clock\. This gate's clock was started at Wed, 25 Nov 2026 10:00:00 ET \(GATE_NOW\), not the real time/);
    await expectText(t, '#waiting', /paper · 3f2c1a9 Copy · promotion paper-promo-1 Waiting for \d+s/, 'the waiting promotion, for how long');
    t.match(await text('#waiting'), /market_open \(wait\) NYSE regular session is open/, 'and why');
    t.match(await text('#stage-paper [data-field=deployed]'), /^Deployed: none$/, 'nothing deployed in paper yet');
    t.match(await text('#audit'), /Sign in to see the audit history/);
    t.ok(await fieldsetDisabled('#bg-fieldset'), 'break-glass form disabled until sign-in');
    await shot('01-overview-signed-out');
  });

  t.test('every control has a label, and the CSP allows the page to work', async (t) => {
    const unlabeled = await page.evaluate(() =>
      [...document.querySelectorAll('input, select, textarea, button')]
        .filter((el: any) => {
          const e = el;
          if (e.type === 'hidden' || e.getAttribute('aria-hidden') === 'true') return false;
          if (el.tagName === 'BUTTON') return !((el.textContent ?? '').trim() || el.getAttribute('aria-label'));
          return !(e.labels && e.labels.length > 0) && !el.getAttribute('aria-label');
        })
        .map((el: any) => el.id || el.outerHTML.slice(0, 80)),
    );
    t.same(unlabeled, [], 'no unlabeled control');
    const res = await fetch(`${gate.url}/`);
    t.match(res.headers.get('content-security-policy'), /default-src 'self'; script-src 'self'.*frame-ancestors 'none'/);
    t.equal(await page.evaluate(() => document.querySelectorAll('script:not([src])').length), 0, 'no inline script');
  });

  t.test('sign in as an operator: the token stays in this tab', async (t) => {
    await signIn(t, 'olivia');
    t.match(await text('#whoami'), /olivia \(operator\) via local token/);
    const storage = await page.evaluate(() => ({ session: { ...sessionStorage }, local: { ...localStorage }, url: location.href }));
    t.same(Object.values(storage.session), [tokens['olivia']], 'sessionStorage holds the sign-in token');
    t.same(storage.local, {}, 'localStorage holds nothing');
    t.notMatch(storage.url, /gate_/, 'no token in the URL');
    t.notOk(await fieldsetDisabled('#bg-fieldset'), 'break-glass form enabled for an operator');
    t.ok(await fieldsetDisabled('#ap-fieldset'), 'approval form disabled for an operator');
    t.match(await text('#ap-perm'), /olivia may not approve releases: role “approver” required/);
    await expectText(t, '#audit', /decision .*kargo/, 'audit history loads after sign-in');
  });

  t.test('break-glass: cancelling the confirmation creates nothing', async (t) => {
    await page.click('#waiting button:has-text("Break-glass for paper")');
    t.equal(await page.inputValue('#bg-stage'), 'paper', 'stage prefilled from the waiting promotion');
    t.equal(await page.inputValue('#bg-tag'), TAG, 'image tag prefilled');
    t.equal(await page.evaluate(() => document.activeElement?.id), 'bg-just', 'focus moves to the justification');
    t.match(await text('#bg-just-hint'), /At least 20 characters/, 'minimum length shown');
    await page.fill('#bg-just', 'too short');
    await page.click('#bg-submit');
    t.equal(await page.evaluate(() => document.getElementById('bg-dialog').open), false, 'no dialog for a short justification');
    t.match(await text('#bg-error'), /at least 20 characters \(now 9\)/);
    const why = 'Hotfix: paper order router double-submits fills since 09:45; cannot wait for the close.';
    await page.fill('#bg-just', why);
    // text the number field cannot read leaves its value empty: refused, not the default lifetime
    await page.focus('#bg-ttl');
    await page.keyboard.type('1e');
    t.ok(await page.evaluate(() => document.getElementById('bg-ttl').validity.badInput), 'the browser cannot read "1e" as a number');
    await page.click('#bg-submit');
    t.equal(await page.evaluate(() => document.getElementById('bg-dialog').open), false, 'no dialog for a lifetime the field cannot read');
    t.match(await text('#bg-error'), /Valid for: a whole number of minutes from 1 to 240/);
    await page.fill('#bg-ttl', '');
    await page.click('#bg-submit');
    t.ok(await page.evaluate(() => document.getElementById('bg-dialog').open), 'confirmation dialog opens');
    t.equal(await text('#bg-c-stage'), 'paper', 'dialog repeats the stage');
    t.equal(await text('#bg-c-tag'), TAG, 'dialog repeats the full tag');
    t.equal(await text('#bg-c-just'), why, 'dialog repeats the justification');
    t.equal(await page.evaluate(() => document.activeElement?.id), 'bg-c-confirm', 'focus is in the dialog');
    t.ok(await page.locator('#bg-c-ok').isDisabled(), 'confirm disabled until the stage name is typed');
    await page.fill('#bg-c-confirm', 'live');
    t.ok(await page.locator('#bg-c-ok').isDisabled(), 'the wrong stage name does not enable it');
    await shot('02-break-glass-confirm', false);
    await page.click('#bg-c-cancel');
    t.equal(await page.evaluate(() => document.getElementById('bg-dialog').open), false, 'cancel closes the dialog');
    await expectFocus(t, page, 'bg-submit', 'focus returns to the form');
    // Escape is a cancel too
    await page.click('#bg-submit');
    await page.fill('#bg-c-confirm', 'paper');
    await page.keyboard.press('Escape');
    t.equal(await page.evaluate(() => document.getElementById('bg-dialog').open), false, 'Escape closes the dialog');
    await page.waitForTimeout(300);
    t.same((await call(tokens['olivia'] as string, 'GET', '/v1/break-glass')).body.grants, [], 'no grant exists');
    t.same(await auditOf('breakglass.'), [], 'no break-glass record in the audit log');
    t.match(await text('#grants'), /No open grants/);
  });

  t.test('break-glass: confirming creates the grant and shows the token once', async (t) => {
    await page.click('#bg-submit');
    await page.fill('#bg-c-confirm', 'paper');
    t.notOk(await page.locator('#bg-c-ok').isDisabled(), 'typing the stage name enables confirm');
    await page.click('#bg-c-ok');
    await page.locator('#bg-token').waitFor({ state: 'visible' });
    const token = await page.inputValue('#bg-token-value');
    t.match(token, /^gbg_[A-Za-z0-9_-]{43}$/, 'the one-time token is shown');
    t.equal(await page.getByRole('region', { name: 'One-time token', exact: true }).count(), 1, 'in a region named by its heading, which a screen reader announces when the focus moves there');
    t.match(await text('#bg-token-expiry'), /Expires at 10:3\d:\d\d ET on Wed, 25 Nov 2026 · your time \(Europe\/Berlin\) 16:3\d:\d\d · in (29m \d\ds|30m 0[01]s)\./, 'with its expiry');
    t.match(await text('#bg-token-what'), /for paper · image tag 3f2c1a9b8e7d6c5b4a39281706f5e4d3c2b1a098, requested by olivia/);
    const grants = (await call(tokens['olivia'] as string, 'GET', '/v1/break-glass')).body.grants;
    t.equal(grants.length, 1, 'one grant');
    t.match(grants[0], { stage: 'paper', imageTag: TAG, requestedBy: 'olivia', status: 'open' });
    const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage }));
    t.notMatch(stored, /gbg_/, 'the break-glass token is not stored');
    await shot('03-break-glass-token');
    await expectText(t, '#grants', /paper · 3f2c1a9 Copy · by olivia .*Justification: Hotfix: paper order router/, 'the open grant is listed');
    t.equal(await page.locator('#grants button:has-text("Revoke")').count(), 1, 'with a revoke button');
    await page.click('#bg-token-done');
    t.ok(await page.locator('#bg-token').isHidden(), 'token box closed');
    const after = await page.evaluate(() => document.documentElement.outerHTML + [...document.querySelectorAll('input, textarea')].map((e: any) => e.value).join(' '));
    t.notMatch(after, new RegExp(token), 'the token is gone from the page: it was shown once');
    t.equal(await page.inputValue('#bg-just'), '', 'justification cleared for the next request');
  });

  t.test('the waiting paper promotion is then allowed, and the page follows within 5 s', async (t) => {
    const d = await decide('paper', 'paper-promo-1');
    t.equal(d.body.decision, 'allow', 'Kargo’s next poll is allowed by the grant');
    t.match(d.body.breakGlass, { requestedBy: 'olivia', consumed: true });
    await expectText(t, '#stage-paper [data-field=last-decision]', /ALLOW/, 'paper row: last decision ALLOW');
    await expectText(t, '#stage-paper [data-field=deployed]', /3f2c1a9/, 'paper row: the tag deployed there');
    t.equal(await page.locator('#stage-paper [data-field=deployed] code').getAttribute('title'), TAG, 'full SHA on hover');
    // the button's name (its aria-label, which a screen reader reads instead of the visible word) follows what the button says
    const copyNamed = (name: string) => page.locator('#stage-paper [data-field=deployed]').getByRole('button', { name, exact: true });
    t.equal(await copyNamed(`Copy image tag ${TAG}`).count(), 1, 'copyable, the button naming the full tag');
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
    await copyNamed(`Copy image tag ${TAG}`).click();
    await expectText(t, '#stage-paper [data-field=deployed] button', /^Copied$/, 'pressed, it says Copied', 1000);
    t.equal(await copyNamed(`Copied image tag ${TAG}`).count(), 1, 'and so does its name');
    await copyNamed(`Copy image tag ${TAG}`).waitFor({ timeout: 3000 });
    t.equal(await text('#stage-paper [data-field=deployed] button'), 'Copy', 'then both are back to Copy');
    await expectText(t, '#waiting', /Nothing is waiting/, 'no longer waiting');
    await expectText(t, '#grants', /No open grants/, 'the grant was consumed');
  });

  t.test('approve live with notes: pending approvals and audit history', async (t) => {
    t.equal((await decide('live', 'live-promo-1')).body.decision, 'deny', 'live denies while the market is open');
    await signIn(t, 'amir');
    t.notOk(await fieldsetDisabled('#ap-fieldset'), 'approval form enabled for an approver');
    t.equal(await page.inputValue('#ap-stage'), 'live');
    t.equal(await page.inputValue('#ap-tag'), TAG, 'tag prefilled with live’s candidate (the tag in paper)');
    await page.fill('#ap-notes', 'short');
    await page.click('#ap-submit');
    t.match(await text('#ap-error'), /Notes: required, at least 10 characters/, 'notes are required');
    const notes = 'Paper P&L and fills reconciled for 3f2c1a9; risk limits unchanged.';
    await page.fill('#ap-notes', notes);
    await page.click('#ap-submit');
    await expectText(t, '#ap-done', /Approved 3f2c1a9b8e7d6c5b4a39281706f5e4d3c2b1a098 for live as amir/, 'confirmation shown');
    await expectText(t, '#approvals', new RegExp(`live · 3f2c1a9 Copy · approved by amir .*Notes: ${notes.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), 'pending approvals list it');
    await expectText(t, '#audit tr[data-type="approval.recorded"]', /amir via local-token .*Approval notes: Paper P&L and fills reconciled/, 'in the audit history with its actor and notes');
    await shot('04-approval');
  });

  t.test('an admin turns a stage off with a note, after a confirmation naming the stage and its effect, and the row says so', async (t) => {
    await signIn(t, 'admin');
    t.notOk(await fieldsetDisabled('#tg-beta fieldset'), 'toggles enabled for an admin');
    await page.click('#tg-beta-btn');
    t.match(await text('#tg-beta-error'), /Note: say why/, 'a note is required');
    const puts = stageSwitchesSent(t);
    // one Enter in the wrong row's note only asks
    await page.fill('#tg-integration-note', 'wrong row, never confirmed');
    await page.press('#tg-integration-note', 'Enter');
    t.ok(await page.locator('#tg-dialog').isVisible(), 'Enter in the note opens a confirmation dialog');
    t.match(await text('#tg-dialog'), /Turn integration off\?.*drops the test requirement of beta, paper and live.*Stage integration Change on → OFF/, 'naming the stage and what turning it off does');
    t.equal(await page.evaluate(() => document.activeElement?.id), 'tg-c-confirm', 'focus on the stage-name field');
    t.ok(await page.locator('#tg-c-ok').isDisabled(), 'confirm disabled until the stage name is typed');
    await page.fill('#tg-c-confirm', 'beta');
    t.ok(await page.locator('#tg-c-ok').isDisabled(), 'another stage’s name does not confirm');
    await page.press('#tg-c-confirm', 'Enter');
    t.ok(await page.locator('#tg-dialog').isVisible(), 'nor does Enter');
    await page.click('#tg-c-cancel');
    t.ok(await page.locator('#tg-dialog').isHidden(), 'cancelled');
    await expectFocus(t, page, 'tg-integration-btn', 'focus back on the toggle');
    await page.waitForTimeout(300);
    t.same(puts, [], 'nothing was sent');
    t.match(await text('#tg-integration-state'), /ENABLED/, 'integration still on');
    await page.fill('#tg-integration-note', '');
    await page.fill('#tg-beta-note', 'beta cluster under maintenance until 14:00');
    await page.click('#tg-beta-btn');
    t.match(await text('#tg-dialog-desc'), /^Every promotion into beta is allowed at once \(skip\) with no checks, and the freight flows on to paper\. beta promotions need no passing integration-test result\.$/, 'beta: passed through');
    await page.fill('#tg-c-confirm', 'beta');
    await page.click('#tg-c-ok');
    await expectText(t, '#stage-beta [data-field=enabled]', /DISABLED/, 'beta row: DISABLED');
    await expectText(t, '#stage-beta', /Off: “beta cluster under maintenance until 14:00” — admin/, 'with the note and who');
    await expectText(t, '#tg-beta-state', /DISABLED — last changed by admin/, 'the toggle says so too');
    t.equal(await text('#tg-beta-btn'), 'Turn beta on', 'and offers to turn it back on');
    t.equal(puts.length, 1, 'one change sent, after the confirmation');
    await shot('05-stage-toggled');
  });

  t.test('revoking an open grant from the list', async (t) => {
    const g = await call(tokens['olivia'] as string, 'POST', '/v1/break-glass', { project: PROJECT, stage: 'live', imageTag: TAG, justification: 'granted to be revoked by the console test' });
    t.equal(g.status, 201);
    await expectText(t, '#grants', /live · 3f2c1a9 Copy · by olivia/, 'new grant appears within 5 s');
    await page.click(`#grants [data-key="revoke-${g.body.id}"]`);
    t.ok(await page.locator('#rv-dialog').isVisible(), 'revoking asks first');
    t.match(await text('#rv-dialog'), new RegExp(`Revoke break-glass grant\\?.*Grant ${g.body.id} Stage live Image tag ${TAG} Requested by olivia Justification granted to be revoked by the console test`), 'naming the grant, its stage, tag, requester and justification');
    await shot('05b-revoke-dialog');
    await page.click('#rv-c-cancel');
    t.ok(await page.locator('#rv-dialog').isHidden(), 'cancelled');
    await page.waitForTimeout(300);
    t.equal((await call(tokens['admin'] as string, 'GET', '/v1/break-glass')).body.grants?.filter((x: { id: string }) => x.id === g.body.id).length ?? -1, 1, 'the grant is still open after cancelling');
    t.same(await auditOf('breakglass.revoked'), [], 'and nothing was revoked');
    await page.click(`#grants [data-key="revoke-${g.body.id}"]`);
    await page.click('#rv-c-ok');
    await expectText(t, '#grants', /No open grants/, 'gone after confirming');
    t.match((await auditOf('breakglass.revoked'))[0], { actor: { name: 'admin' }, stage: 'live' });
  });

  t.test('the audit table shows each action with its actor, filters, pages and verifies', async (t) => {
    await page.selectOption('#au-limit', '100');
    const rows = async () =>
      page.$$eval('#audit tbody tr', (trs) =>
        trs.map((tr: any) => ({ type: tr.getAttribute('data-type'), seq: Number(tr.getAttribute('data-seq')), text: [...tr.cells].map((td: any) => td.textContent).join(' ').replace(/\s+/g, ' ') })),
      );
    const total = (await call(tokens['admin'] as string, 'GET', '/v1/audit?limit=1')).body.head.seq as number;
    await expectText(t, '#au-page', new RegExp(`Records 1–${total} of ${total}`), 'every record on one page');
    const all = await rows();
    t.equal(all.length, total);
    const seqs = all.map((r) => r.seq);
    t.same(seqs, [...seqs].sort((a, b) => b - a), 'newest first');
    const find = (type: string, re: RegExp) => {
      const hit = all.find((r) => r.type === type && re.test(r.text));
      if (!hit) t.comment(`no ${type} row matching ${re}; rows: ${JSON.stringify(all.map((r) => r.text.slice(0, 160)))}`);
      return hit;
    };
    t.ok(find('breakglass.issued', /olivia via local-token .*Break-glass justification: Hotfix: paper order router/), 'break-glass issued by olivia, with the justification');
    t.ok(find('breakglass.consumed', /paper/), 'break-glass consumed');
    t.ok(find('decision', /kargo via local-token .*paper .*ALLOW.*paper-promo-1/), 'the allowed paper decision by kargo');
    t.ok(find('decision', /kargo via local-token .*live .*DENY/), 'the denied live decision');
    t.ok(find('approval.recorded', /amir via local-token .*Approval notes: Paper P&L/), 'approval by amir with notes');
    t.ok(find('stage.toggled', /admin via local-token .*beta .*Turned off: “beta cluster under maintenance until 14:00”/), 'toggle by admin with note');
    t.ok(find('breakglass.revoked', /admin via local-token/), 'revocation by admin');
    t.ok(find('testresult.recorded', /ci-bot via local-token .*Tests passed/), 'test result by ci-bot');
    await expectText(t, '#au-chain', /Chain verified for records 1–\d+: \d+ hashes recomputed/, 'the page’s chain verifies');
    await expectText(t, '#au-chain', /Full log: verified through seq \d+ \(\d+ records in 1 file\(s\)\)/, 'the full walk of the file log verifies', 8000);
    // every field of a record
    await page.click('#audit tr[data-type="breakglass.issued"] details summary');
    t.match(await text('#audit tr[data-type="breakglass.issued"] details'), /seq \d+ at 2026-11-25T15:0.*actor \{"groups":\["operator"\],"name":"olivia","via":"local-token"\}.*justification.*prev [0-9a-f]{64} hash [0-9a-f]{64}/, 'all fields, hashes included');
    // filters
    // functions, not strings: a string would be eval'd in the page, which its CSP forbids
    const everyRow = async (msg: string, fn: (arg: string) => boolean, arg: string) => {
      try {
        await page.waitForFunction(fn, arg, { timeout: UPDATE_MS });
        t.pass(msg);
      } catch {
        t.fail(msg, {
          rows: (await rows()).map((r) => r.text.slice(0, 120)),
          diag: await page.evaluate(() => ({
            vis: document.visibilityState,
            chain: document.getElementById('au-chain').textContent,
            pager: document.getElementById('au-page').textContent,
            type: document.getElementById('au-type').value,
            stage: document.getElementById('au-stage').value,
            display: getComputedStyle(document.getElementById('audit')).display,
            conn: document.getElementById('conn').textContent,
            who: document.getElementById('whoami').textContent,
          })),
        });
      }
    };
    await page.selectOption('#au-type', 'approval.');
    await everyRow(
      'type filter: only approvals',
      (prefix) => {
        const trs = [...document.querySelectorAll('#audit tbody tr')];
        return trs.length > 0 && trs.every((tr: any) => tr.dataset.type.startsWith(prefix));
      },
      'approval.',
    );
    t.same([...new Set((await rows()).map((r) => r.type))], ['approval.recorded'], 'the one approval');
    await page.selectOption('#au-type', '');
    await page.selectOption('#au-stage', 'beta');
    await everyRow(
      'stage filter: only beta records',
      (stage) => {
        const trs = [...document.querySelectorAll('#audit tbody tr')];
        return trs.length > 0 && trs.every((tr: any) => tr.querySelector('td[data-label=Stage]').textContent === stage);
      },
      'beta',
    );
    t.ok((await rows()).some((r) => r.type === 'stage.toggled'), 'the toggle is among them');
    await expectText(t, '#au-chain', /Chain verified for records/, 'a filtered page verifies too');
    await page.selectOption('#au-stage', '');
    // paging: 25 more decisions, pages of 20
    for (let i = 0; i < 25; i++) await decide('integration', `int-${i}`, `tag${i}`);
    await page.selectOption('#au-limit', '20');
    await expectText(t, '#au-page', /Records \d+–\d+ of \d+/, 'page 1');
    const head = (await call(tokens['admin'] as string, 'GET', '/v1/audit?limit=1')).body.head.seq as number;
    await expectText(t, '#au-page', new RegExp(`Records ${head - 19}–${head} of ${head}`), 'newest 20');
    // a double click: the second click, made while the first's page loads, moves no further
    await page.dblclick('#au-older');
    const oldest = Math.max(1, head - 39);
    await expectText(t, '#au-page', new RegExp(`Records ${oldest}–${head - 20} of`), 'older page');
    t.notOk(await page.locator('#au-newer').isDisabled(), 'newer enabled');
    await expectText(t, '#au-chain', new RegExp(`Chain verified for records ${oldest}–${head - 20}`), 'older page verifies');
    await page.click('#au-newer');
    await expectText(t, '#au-page', new RegExp(`Records ${head - 19}–${head} of`), 'back to the newest');
    await shot('06-audit-history');
  });

  t.test('a partial audit page (the gate stopped searching before the page was full) says where, and Older goes on', async (t) => {
    const head = (await call(tokens['admin'] as string, 'GET', '/v1/audit?limit=1')).body.head.seq as number;
    // the gate answers a partial page only past 10,000 records examined: stand one in for the first page
    const firstPage = (url: URL) => url.pathname === '/v1/audit' && !url.searchParams.has('cursor');
    await page.route(firstPage, (route) => route.fulfill({ json: { records: [], nextCursor: head - 5, partial: true, head: { seq: head, hash: 'f'.repeat(64) } } }));
    t.teardown(() => page.unroute(firstPage));
    await page.selectOption('#au-limit', '50');
    await expectText(t, '#audit', /No matches among the records searched so far\. Older searches further back\./, 'an empty partial page is not "no records match"');
    await expectText(t, '#au-page', new RegExp(`Searched down to record ${head - 5}; Older goes on from there\\.`), 'where the search stopped');
    t.notOk(await page.locator('#au-older').isDisabled(), 'Older is enabled');
    await page.click('#au-older');
    await expectText(t, '#au-page', new RegExp(`Records ${Math.max(1, head - 55)}–${head - 6} of ${head}$`), 'Older: the page below the cursor, from the gate');
    await page.unroute(firstPage);
    // a partial page with records: the chain check covers exactly the records shown
    const newest = (await call(tokens['admin'] as string, 'GET', '/v1/audit?limit=2')).body.records;
    await page.route(firstPage, (route) => route.fulfill({ json: { records: newest, nextCursor: head - 1, partial: true, head: { seq: head, hash: newest[0].hash } } }));
    await page.click('#au-newest');
    await expectText(t, '#au-page', new RegExp(`Records ${head - 1}–${head} of ${head} · Searched down to record ${head - 1}`), 'a partial page with records');
    await expectText(t, '#au-chain', new RegExp(`Chain verified for records ${head - 1}–${head}\\b`), 'verified: the records shown, not the next 50 below them');
    await page.unroute(firstPage);
    await page.selectOption('#au-limit', '20');
    await page.selectOption('#au-limit', '50');
    await expectText(t, '#au-page', new RegExp(`Records ${Math.max(1, head - 49)}–${head} of ${head}$`), 'the real newest page again');
  });

  t.test('keyboard: the forms are reachable in order', async (t) => {
    await page.focus('#bg-stage');
    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      await page.keyboard.press('Tab');
      order.push(await page.evaluate(() => document.activeElement?.id ?? ''));
    }
    t.same(order, ['bg-tag', 'bg-just', 'bg-ttl', 'bg-submit'], 'Tab walks the break-glass form');
  });

  t.test('at 390 px the page has no horizontal scroll', async (t) => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    const m = await page.evaluate(() => ({ sw: document.scrollingElement.scrollWidth, cw: document.scrollingElement.clientWidth }));
    t.ok(m.sw <= m.cw, `scrollWidth ${m.sw} <= clientWidth ${m.cw}`);
    await shot('07-mobile-390');
    await page.click('#bg-submit').catch(() => {});
    // the dialog fits too (it opens only with a valid form, so fill one)
    await page.fill('#bg-tag', TAG);
    await page.fill('#bg-just', 'narrow screen dialog check, cancelled right away');
    await page.click('#bg-submit');
    const d = await page.evaluate(() => {
      const r = document.getElementById('bg-dialog').getBoundingClientRect();
      return { left: r.left, right: r.right, vw: window.innerWidth, sw: document.scrollingElement.scrollWidth };
    });
    t.ok(d.left >= 0 && d.right <= d.vw, `dialog inside the viewport (${d.left}..${d.right} of ${d.vw})`);
    await shot('08-mobile-dialog', false);
    await page.click('#bg-c-cancel');
    await page.setViewportSize({ width: 1280, height: 900 });
    t.same(problems, [], 'no script errors or CSP violations so far');
  });

  t.test('disconnected when the gate is unreachable, and recovery', async (t) => {
    const port = new URL(gate.url).port;
    await page.evaluate(() => document.getElementById('audit-section').scrollIntoView());
    // 125 refusals from this address within the minute: 120 recorded one by one (the default
    // budget), 5 counted; their summary is recorded when the gate stops
    for (let i = 0; i < 125; i++) {
      const r = await fetch(`${gate.url}/v1/decisions`, { method: 'POST', headers: { authorization: 'Bearer not-a-token', 'content-type': 'application/json' }, body: '{}' });
      await r.arrayBuffer();
    }
    expectNetworkErrors = true;
    await gate.stop('SIGTERM');
    await expectText(t, '#conn', /DISCONNECTED: the gate is unreachable/, 'disconnected state within 5 s');
    t.ok(await page.locator('#banner').isVisible(), 'banner shown');
    const box = await page.locator('#banner').boundingBox();
    t.ok(box && box.y >= 0 && box.y < 900, `the banner is on screen even when scrolled down (y=${box?.y})`);
    // a poll that reached the gate while it was closing got its 503, whose message the banner shows
    t.match(await text('#banner'), /Disconnected from the gate\. What you see is the gate's state at Wed, 25 Nov 2026 10:0\d:\d\d ET and may be stale\. (\(The gate is stopping and decides nothing more; ask again in a moment\.\) )?Retrying every 2 s\./);
    await shot('09-disconnected', false);
    gate = await spawnGate({ dataDir: gate.dataDir, env: { GATE_NOW: NOW, GATE_PORT: port } });
    await expectText(t, '#conn', /Connected/, 'recovers when the gate is back', 8000);
    t.ok(await page.locator('#banner').isHidden(), 'banner gone');
    await expectText(t, '#audit', /5 refusals from \S+ counted, not recorded one by one \(5 × 401 unauthorized\)/, 'the refusals over the budget, summarised at shutdown, in the history', 8000);
  });

  t.test('a token the gate stops accepting signs the tab out and takes a break-glass token off the screen', async (t) => {
    tokens['tess'] = await createToken(gate.dataDir, 'tess', 'operator');
    // the gate looks at the token file at most once a second
    t.ok(await eventually(async () => (await call(tokens['tess'] as string, 'GET', '/v1/whoami')).status === 200, 5000, 200), 'the gate accepts the new token');
    await signIn(t, 'tess');
    await requestBreakGlass(page, 'live', TAG, 'checking that a lost session takes the token off the screen');
    await page.locator('#bg-token').waitFor({ state: 'visible' });
    // tess starts on another justification, which whoever signs in next must not find
    await page.fill('#bg-just', 'tess: half written, not for anyone else');
    // tess's token is withdrawn (the gate re-reads the token file), and the next authenticated
    // call, made when the audit log moves on, gets a 401
    const file = join(gate.dataDir, 'tokens.json');
    const stored = JSON.parse(await readFile(file, 'utf8'));
    stored.tokens = stored.tokens.filter((x: { name: string }) => x.name !== 'tess');
    await writeFile(file, JSON.stringify(stored));
    // the gate looks at the token file at most once a second
    t.ok(await eventually(async () => (await call(tokens['tess'] as string, 'GET', '/v1/whoami')).status === 401, 5000, 200), 'the gate no longer accepts it');
    t.equal((await decide('ci', 'ci-after-withdrawal')).status, 200, 'the audit log moves on');
    await expectText(t, '#signin-error', /The gate no longer accepts your token; sign in again\./, 'signed out by the 401', 8000);
    t.ok(await page.locator('#bg-token').isHidden(), 'the one-time token is no longer on screen');
    t.equal(await page.inputValue('#bg-token-value'), '', 'nor in its field');
    t.equal(await page.inputValue('#bg-just'), '', 'the justification tess was writing goes with her session');
    await signIn(t, 'admin');
    t.equal(await page.inputValue('#bg-just'), '', 'the next person signed in does not find it');
  });

  t.test('only turning a stage off is a red button, and a token withdrawn while a dialog is open signs out with the focus on the token field', async (t) => {
    tokens['tina'] = await createToken(gate.dataDir, 'tina', 'admin');
    t.ok(await eventually(async () => (await call(tokens['tina'] as string, 'GET', '/v1/whoami')).status === 200, 5000, 200), 'the gate accepts the new token');
    await signIn(t, 'tina');
    const isDanger = () => page.$eval('#tg-c-ok', (el: any) => el.classList.contains('danger'));
    // integration is on: turning it off lets promotions through unchecked
    await page.fill('#tg-integration-note', 'checking the colour of the off button');
    await page.click('#tg-integration-btn');
    t.equal(await text('#tg-c-ok'), 'Turn integration off');
    t.ok(await isDanger(), 'turning a stage off: the red button');
    t.ok(await page.locator('#tg-c-field').isVisible(), 'turning a stage off: the stage name is asked for');
    await page.click('#tg-c-cancel');
    await page.fill('#tg-integration-note', '');
    // beta was turned off above: turning it back on checks promotions again
    t.equal(await text('#tg-beta-btn'), 'Turn beta on');
    await page.fill('#tg-beta-note', 'maintenance over, checks back on');
    await page.click('#tg-beta-btn');
    t.equal(await text('#tg-c-ok'), 'Turn beta on');
    t.notOk(await isDanger(), 'turning a stage on: not the red button');
    t.ok(await page.locator('#tg-c-field').isHidden(), 'turning a stage on: no stage name asked for (none is needed)');

    // tina's token is withdrawn while the dialog is open; confirming gets a 401
    const file = join(gate.dataDir, 'tokens.json');
    const stored = JSON.parse(await readFile(file, 'utf8'));
    stored.tokens = stored.tokens.filter((x: { name: string }) => x.name !== 'tina');
    await writeFile(file, JSON.stringify(stored));
    t.ok(await eventually(async () => (await call(tokens['tina'] as string, 'GET', '/v1/whoami')).status === 401, 5000, 200), 'the gate no longer accepts it');
    await page.click('#tg-c-ok');
    await expectText(t, '#signin-error', /The gate no longer accepts your token; sign in again\./, 'signed out by the 401', 8000);
    t.ok(await page.locator('#tg-dialog').isHidden(), 'the dialog is closed');
    t.equal(await page.evaluate(() => document.activeElement?.id), 'signin-token', 'the focus is on the token field, not on a control the signed-out page hides');
    t.match(await text('#stage-beta [data-field=enabled]'), /DISABLED/, 'beta not changed');
    await signIn(t, 'admin');
  });

  t.test('an open stage dialog follows the stage: a change another admin already made is not sent again', async (t) => {
    tokens['tom'] = await createToken(gate.dataDir, 'tom', 'admin');
    t.ok(await eventually(async () => (await call(tokens['tom'] as string, 'GET', '/v1/whoami')).status === 200, 5000, 200), 'the gate accepts the new token');
    const puts = stageSwitchesSent(t);
    await page.fill('#tg-integration-note', 'suite flaky today, letting freight through');
    await page.click('#tg-integration-btn');
    await page.fill('#tg-c-confirm', 'integration');
    t.notOk(await page.locator('#tg-c-ok').isDisabled(), 'ready to confirm');
    // meanwhile tom turns integration off himself
    t.equal((await call(tokens['tom'] as string, 'PUT', '/v1/stages/integration', { enabled: false, note: 'tom: suite flaky, switching it off' })).status, 200);
    await expectText(t, '#tg-c-error', /^integration was turned off meanwhile by tom .+: nothing to send\. Cancel to close\.$/, 'the dialog says so');
    t.ok(await page.locator('#tg-c-ok').isDisabled(), 'and cannot be confirmed');
    await page.press('#tg-c-confirm', 'Enter');
    await page.waitForTimeout(300);
    t.same(puts, [], 'nothing sent, not even by Enter');
    // and tom turns it back on: the dialog can be confirmed again
    t.equal((await call(tokens['tom'] as string, 'PUT', '/v1/stages/integration', { enabled: true, note: 'tom: suite fixed, back on again' })).status, 200);
    await expectText(t, '#tg-c-error', /^$/, 'the message goes');
    t.notOk(await page.locator('#tg-c-ok').isDisabled(), 'confirmable again (the stage name is still typed)');
    await page.click('#tg-c-cancel');
    await page.fill('#tg-integration-note', '');
    t.same(puts, [], 'nothing sent');
  });
}


import t from 'tap';
import { TAG, UPDATE_MS, consoleFixture, paperPromotionWaits, requestBreakGlass, requireChromium } from './browser.ts';

/**
 * What the console keeps and shows as it redraws: audit details left open across a new record,
 * a status poll under way when a change is confirmed, local times on another date than ET, and what
 * it shows of the gate's health (an audit log that cannot be written). The real gate (GATE_NOW =
 * Wednesday 2026-11-25 10:00 ET, market open) and the console in headless Chromium. Each step
 * opens its own page.
 */

// browser globals inside page.evaluate callbacks (this project's tsconfig has no DOM lib)
declare const document: any;

if (requireChromium(t)) run();

function run(): void {
  const fx = consoleFixture(t, { olivia: 'operator' });
  const { tokens, call, decide, open } = fx;
  paperPromotionWaits(t, fx);

  t.test('a new record keeps the audit details the operator has open, and the focus on them', async (t) => {
    // a second record to open (the fixture made one; this test once ran after others that made more)
    t.equal((await decide('paper', 'paper-promo-1')).status, 200, 'Kargo checks the waiting promotion: another record');
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

  t.test('a local time on another date than the ET one names the local date and the zone (viewer in Tokyo)', async (t) => {
    const { page, expectText, signIn } = await open(t, 'Asia/Tokyo');
    await page.goto(`${fx.gate.url}/`);
    // Wed 16:00 ET is Thu 06:00 in Tokyo
    await expectText('#market-countdown', /^Closes in 5h \d\dm \d\ds — at 16:00 ET on Wed, 25 Nov 2026 · your time \(Asia\/Tokyo\) Thu, 26 Nov 2026 06:00$/, 'the countdown names Thursday, and the zone');
    // Wed 10:0x ET is Thu 00:0x in Tokyo
    await expectText('#gate-time', /^gate clock Wed, 25 Nov 2026 10:\d\d:\d\d ET · your time \(Asia\/Tokyo\) Thu, 26 Nov 2026 00:\d\d:\d\d$/, 'so does the header clock');
    await signIn('olivia');
    await requestBreakGlass(page, 'paper', TAG, 'checking the local date of the token expiry');
    // about 10:0x ET + 30 min: Thursday 00:3x in Tokyo
    await expectText('#bg-token-expiry', /^Expires at 10:[34]\d:\d\d ET on Wed, 25 Nov 2026 · your time \(Asia\/Tokyo\) Thu, 26 Nov 2026 00:[34]\d:\d\d · in \d+m \d\ds\.$/, 'so does the token expiry');
    await page.click('#bg-token-done');
  });

  t.test('the stage switches claim no state before the first status nor after a failed status poll: they say so and cannot be pressed', async (t) => {
    const { page, expectText, text, signIn } = await open(t);
    const stages = ['ci', 'integration', 'beta', 'paper', 'live'];
    // the first status is held until released; then they fail while `failing`
    let release: () => void = () => {};
    const released = new Promise<void>((r) => (release = r));
    t.teardown(() => release());
    let failing = false;
    const status = async (route: any) => {
      await released;
      if (failing) return route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: 'unavailable', message: 'status unavailable' }) }).catch(() => {});
      await route.continue().catch(() => {});
    };
    await page.route('**/v1/status', status);
    await page.goto(`${fx.gate.url}/`);
    await signIn('admin');
    const unknown = async (said: RegExp, when: string) => {
      for (const name of stages) {
        t.ok(await page.locator(`#tg-${name}-btn`).isDisabled(), `${when}: ${name}'s switch cannot be pressed`);
        t.notMatch(await text(`#tg-${name}-btn`), /Turn/, `${when}: it names no change (${await text(`#tg-${name}-btn`)})`);
        t.match(await text(`#tg-${name}-state`), said, `${when}: ${name}'s state line says so`);
      }
    };
    t.notOk(await page.locator('#tg-ci fieldset').isDisabled(), 'signed in as an admin: the switches are offered');
    await unknown(/^LOADING — waiting for the gate's status$/, 'no status yet');

    release();
    await expectText('#tg-ci-state', /^ENABLED/, 'the status loaded: ci is on');
    t.ok(await page.locator('#tg-ci-btn').isEnabled(), 'its switch can be pressed');
    t.equal(await text('#tg-ci-btn'), 'Turn ci off', 'and names the change');

    failing = true;
    await expectText('#conn', /DISCONNECTED/, 'a status poll fails');
    await expectText('#tg-ci-state', /^UNKNOWN/, 'ci no longer claims a state');
    await unknown(/^UNKNOWN — the last status poll failed; (ENABLED|DISABLED) at Wed, 25 Nov 2026 10:\d\d:\d\d ET$/, 'after a failed poll');

    failing = false;
    await expectText('#tg-ci-state', /^ENABLED/, 'the status answers again: ci is on');
    t.ok(await page.locator('#tg-ci-btn').isEnabled(), 'its switch can be pressed again');
    t.equal(await text('#tg-ci-btn'), 'Turn ci off', 'and names the change again');
    await page.unroute('**/v1/status', status);
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
}

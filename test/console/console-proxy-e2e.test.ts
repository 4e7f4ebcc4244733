import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import t from 'tap';
import { type SpawnedGate, spawnGate } from '../helpers/spawn-gate.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { ARTIFACTS, NOW, launchChromium, requireChromium } from './browser.ts';

/**
 * The console behind an authenticating proxy: the gate trusts the identity header from the
 * loopback range (configured), and Chromium sends the headers a proxy such as oauth2-proxy would.
 */

declare const document: any;
declare const sessionStorage: any;

if (requireChromium(t)) run();

function run(): void {
  let gate: SpawnedGate;
  let browser: Browser;

  t.before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    const file = join(await tempDir(t, 'gate-proxy-config-'), 'gate.yaml');
    await writeFile(file, 'proxyAuth:\n  trustedCidrs: ["127.0.0.0/8", "::1/128"]\n');
    const launching = launchChromium();
    gate = await spawnGate({ t, env: { GATE_NOW: NOW, GATE_CONFIG: file } });
    browser = await launching;
  });
  t.teardown(async () => {
    await browser?.close().catch(() => {});
    await gate?.stop('SIGKILL');
  });

  const open = async (headers: Record<string, string>): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, extraHTTPHeaders: headers });
    const page = await context.newPage();
    page.setDefaultTimeout(5000);
    await page.goto(`${gate.url}/`);
    await page.waitForFunction(() => /Signed in as|Not signed in/.test(document.getElementById('whoami').textContent) && document.getElementById('conn').textContent.includes('Connected'));
    await page.waitForTimeout(200);
    return page;
  };
  const text = async (page: Page, sel: string) => (await page.locator(sel).innerText()).replace(/\s+/g, ' ').trim();

  t.test('a proxy identity in an admin group signs in without a token and is audited as such', async (t) => {
    t.match(gate.stdout(), /"level":40[^\n]*trusting the identity headers of an authenticating proxy by peer address alone[^\n]*set proxyAuth\.secretSha256/, 'the gate warns that it trusts the header by address alone, naming the key to set');
    const page = await open({ 'X-Auth-Request-User': 'pat@example.com', 'X-Auth-Request-Groups': 'gate-admin,traders' });
    t.match(await text(page, '#whoami'), /Signed in as pat@example\.com \(gate-admin, traders\) via sign-in proxy/);
    t.ok(await page.locator('#signin').isHidden(), 'no token form');
    t.ok(await page.locator('#signout').isHidden(), 'no sign-out: the proxy owns the session');
    t.same(await page.evaluate(() => ({ ...sessionStorage })), {}, 'no token stored');
    await page.fill('#tg-integration-note', 'integration sandbox rebuilt tonight');
    await page.click('#tg-integration-btn');
    // turning a stage off asks first, with the stage name typed
    await page.fill('#tg-c-confirm', 'integration');
    await page.click('#tg-c-ok');
    await page.waitForFunction(() => /DISABLED/.test(document.querySelector('#stage-integration [data-field=enabled]').textContent), undefined, { timeout: 5000 });
    await page.waitForFunction(() => !!document.querySelector('#audit tr[data-type="stage.toggled"]'), undefined, { timeout: 5000 });
    t.match(await text(page, '#audit tr[data-type="stage.toggled"]'), /pat@example\.com via proxy-header \(gate-admin, traders\) .*Turned off: “integration sandbox rebuilt tonight”/);
    await page.screenshot({ path: join(ARTIFACTS, '10-proxy-signed-in.png') });
    await page.context().close();
  });

  t.test('a proxy identity without a gate role sees what it may not do', async (t) => {
    const page = await open({ 'X-Auth-Request-User': 'quinn', 'X-Auth-Request-Groups': 'traders' });
    t.match(await text(page, '#whoami'), /Signed in as quinn \(traders\) via sign-in proxy/);
    t.equal(await page.$eval('#bg-fieldset', (el: any) => el.disabled), true, 'break-glass disabled');
    t.match(await text(page, '#bg-perm'), /quinn may not request break-glass: role “operator” required/);
    t.equal(await page.$eval('#tg-beta fieldset', (el: any) => el.disabled), true, 'toggles disabled');
    await page.context().close();
  });

  t.test('a proxy identity whose check fails at load is told so and checked again, without a reload', async (t) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, extraHTTPHeaders: { 'X-Auth-Request-User': 'pat@example.com', 'X-Auth-Request-Groups': 'gate-admin' } });
    t.teardown(() => context.close().catch(() => {}));
    const page = await context.newPage();
    page.setDefaultTimeout(5000);
    let fail = true;
    await page.route('**/v1/whoami', (route) =>
      fail ? route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: 'auth_unavailable', message: 'identity could not be checked' }) }) : route.continue(),
    );
    await page.goto(`${gate.url}/`);
    await page.waitForFunction(() => /Could not check the sign-in proxy's identity/.test(document.getElementById('signin-error').textContent));
    t.match(await text(page, '#signin-error'), /identity could not be checked\); checked again every 2 s\./, 'the failed check is shown');
    fail = false;
    await page.waitForFunction(() => /Signed in as pat@example\.com/.test(document.getElementById('whoami').textContent), undefined, { timeout: 6000 });
    t.pass('signed in at a later poll');
    t.equal(await text(page, '#signin-error'), '', 'the error is gone');
  });

  t.test('a sign-in proxy whose session expired (a redirect to its sign-in page, or its own 401) is named, not taken for a gate that is down or refuses', async (t) => {
    const page = await open({ 'X-Auth-Request-User': 'pat@example.com', 'X-Auth-Request-Groups': 'gate-admin' });
    t.teardown(() => page.context().close().catch(() => {}));
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    const banner = async (re: RegExp, msg: string) => {
      try {
        await page.waitForFunction((src) => new RegExp(src).test(document.getElementById('banner').textContent), re.source, { timeout: 5000 });
        t.pass(msg);
      } catch {
        t.fail(msg, { found: await text(page, '#banner'), wanted: String(re) });
      }
    };
    // oauth2-proxy or a forward-auth service sends the browser to the identity provider
    let answer: 'redirect' | '401' | null = 'redirect';
    await page.route('**/v1/**', (route) =>
      answer === 'redirect'
        ? route.fulfill({ status: 302, headers: { location: 'https://sso.example.invalid/oauth2/start?rd=%2F' }, body: '' })
        : answer === '401'
          ? route.fulfill({ status: 401, contentType: 'text/html', body: '<html><body>Unauthorized</body></html>' })
          : route.continue(),
    );
    await banner(/Disconnected from the gate\. .*\(the request was redirected away from the gate: has a sign-in proxy's session expired\? Reload the page to sign in again\)/, 'a redirect: the banner names the sign-in proxy');
    answer = null;
    await page.waitForFunction(() => document.getElementById('conn').textContent.includes('Connected'), undefined, { timeout: 5000 });
    // a switch asked for while the gate answers (while the status polls fail a switch claims no
    // state and cannot be pressed), confirmed once the proxy refuses
    await page.fill('#tg-beta-note', 'beta cluster drained for the night');
    await page.click('#tg-beta-btn');
    await page.fill('#tg-c-confirm', 'beta');
    answer = '401';
    await banner(/\(HTTP 401 from in front of the gate: has a sign-in proxy's session expired\? Reload the page to sign in again\)/, 'its own 401 (not the gate\'s JSON error): so does the banner');
    t.notMatch(await text(page, '#banner'), /the gate answered HTTP 401/, 'not said to be the gate\'s answer');
    // a change refused by the proxy says the same
    await page.click('#tg-c-ok');
    await page.waitForFunction(() => /Not changed: HTTP 401 from in front of the gate: has a sign-in proxy's session expired\?/.test(document.getElementById('tg-c-error').textContent), undefined, { timeout: 5000 });
    t.pass('a switch refused by the proxy names it');
    await page.click('#tg-c-cancel');
    answer = null;
    t.same(problems, [], 'no script errors');
  });

  t.test('a gate restarted without the sign-in proxy signs the proxy identity out of an open page', async (t) => {
    const page = await open({ 'X-Auth-Request-User': 'pat@example.com', 'X-Auth-Request-Groups': 'gate-admin' });
    t.teardown(() => page.context().close().catch(() => {}));
    t.match(await text(page, '#whoami'), /Signed in as pat@example\.com/, 'signed in by the proxy');
    // what pat typed: the next person to sign in on this tab must not find it and send it as theirs
    await page.fill('#bg-just', 'written by pat before the proxy went away');
    await page.fill('#ap-notes', 'notes pat was writing');
    // the gate comes back with no trusted proxy: its settings say so, and it takes no identity header
    let down = true;
    await page.route('**/v1/status', (route) => (down ? route.abort('connectionrefused') : route.continue()));
    await page.route('**/v1/console/settings', async (route) => {
      const res = await route.fetch();
      const body = await res.json();
      body.proxyAuth = false;
      await route.fulfill({ response: res, json: body });
    });
    await page.route('**/v1/whoami', (route) => route.fulfill({ status: 401, contentType: 'application/json', body: JSON.stringify({ error: 'unauthorized', message: 'missing bearer token' }) }));
    await page.waitForFunction(() => document.getElementById('conn').textContent.includes('DISCONNECTED'), undefined, { timeout: 5000 });
    down = false;
    await page.waitForFunction(() => /Not signed in/.test(document.getElementById('whoami').textContent), undefined, { timeout: 6000 }).then(
      () => t.pass('the page no longer shows the proxy identity signed in'),
      async () => t.fail('the page no longer shows the proxy identity signed in', { found: await text(page, '#whoami') }),
    );
    t.ok(await page.locator('#signin').isVisible(), 'the token form is offered');
    t.equal(await page.$eval('#bg-fieldset', (el: any) => el.disabled), true, 'break-glass no longer enabled');
    t.equal(await page.inputValue('#bg-just'), '', 'the justification pat typed is gone, as at a sign-out');
    t.equal(await page.inputValue('#ap-notes'), '', 'and the approval notes');
  });

  t.test('without the header the page asks for a token', async (t) => {
    const page = await open({});
    t.match(await text(page, '#whoami'), /Not signed in/);
    t.ok(await page.locator('#signin').isVisible(), 'token form shown');
    await page.context().close();
  });
}

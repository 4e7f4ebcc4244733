import t from 'tap';
import { PROJECT, TAG, UPDATE_MS, consoleFixture, requireChromium } from './browser.ts';

/**
 * The console following the gate while it stays open: the disconnected banner's reason, the
 * settings, a tab brought back to the front, and the audit chain check. The real gate
 * (GATE_NOW = Wednesday 2026-11-25 10:00 ET, market open) and the console in headless Chromium;
 * each step opens its own page.
 */

// browser globals inside page.evaluate callbacks (this project's tsconfig has no DOM lib)
declare const document: any;

if (requireChromium(t)) run();

function run(): void {
  const fx = consoleFixture(t, { olivia: 'operator' });
  const { tokens, call, open } = fx;
  /** A fresh page (its own sessionStorage), with the script errors it meets. */

  t.before(async () => {
    const d = await call(tokens['kargo'] as string, 'POST', '/v1/decisions', { project: PROJECT, stage: 'paper', imageTag: TAG, promotion: 'paper-promo-1' });
    t.equal(d.body.decision, 'wait', 'a paper promotion the market holds');
  });

  t.test('the disconnected banner shows the current reason as it changes, and goes when the gate answers', async (t) => {
    const { page, expectText, text, problems } = await open(t);
    await page.goto(`${fx.gate.url}/`);
    await expectText('#conn', /Connected/, 'connected');
    let mode: 'down' | '503' | 'up' = 'down';
    const route = async (r: any) => {
      if (mode === 'down') return r.abort('connectionrefused');
      if (mode === '503') return r.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: 'audit_unavailable', message: 'the audit log cannot be written' }) });
      return r.continue();
    };
    await page.route('**/v1/status', route);
    await expectText('#conn', /DISCONNECTED: the gate is unreachable/, 'unreachable');
    t.notMatch(await text('#banner'), /\(/, 'the banner names no answer');
    mode = '503';
    await expectText('#banner', /Disconnected from the gate\. .*\(the audit log cannot be written\) Retrying every 2 s\./, 'the 503 that follows is named');
    t.notMatch(await text('#conn'), /unreachable/, 'the connection line no longer says unreachable: the gate answered');
    mode = 'down';
    await expectText('#conn', /DISCONNECTED: the gate is unreachable/, 'unreachable again');
    t.notMatch(await text('#banner'), /audit log cannot be written/, 'the 503 is no longer named');
    mode = 'up';
    await expectText('#conn', /^Connected/, 'connected again');
    t.ok(await page.locator('#banner').isHidden(), 'the banner is gone');
    await page.unroute('**/v1/status', route);
    t.same(problems, [], 'no script errors');
  });

  t.test('a tab brought back to the front polls the gate at once, whatever its poll timer says', async (t) => {
    const { page, expectText, problems } = await open(t);
    // a poll timer as slow as a browser makes it in a background tab (once a minute)
    await page.route('**/v1/console/settings', async (route) => {
      const res = await route.fetch();
      const body = await res.json();
      body.pollMs = 60_000;
      await route.fulfill({ response: res, json: body });
    });
    const statusAt: number[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/v1/status') statusAt.push(Date.now());
    });
    await page.goto(`${fx.gate.url}/`);
    await expectText('#conn', /Connected/, 'connected');
    await page.waitForTimeout(500);
    const before = statusAt.length;
    // the tab goes to the background, and comes back
    const setVisibility = (v: string) =>
      page.evaluate((state) => {
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => state === 'hidden' });
        document.dispatchEvent(new Event('visibilitychange'));
      }, v);
    await setVisibility('hidden');
    await page.waitForTimeout(300);
    t.equal(statusAt.length, before, 'hidden: no poll of its own');
    const shown = Date.now();
    await setVisibility('visible');
    for (let i = 0; i < 30 && statusAt.length === before; i++) await page.waitForTimeout(100);
    t.ok(statusAt.length > before && (statusAt[before] as number) - shown < 2000, `visible again: the status is polled at once (${statusAt.length - before} poll(s) within 3 s)`);
    await page.unroute('**/v1/console/settings');
    t.same(problems, [], 'no script errors');
  });

  t.test('a chain check the gate fails is said to be the chain check, not a history that could not be loaded', async (t) => {
    const { page, expectText, text, signIn, problems } = await open(t);
    await page.goto(`${fx.gate.url}/`);
    await signIn('olivia');
    await expectText('#au-chain', /Chain verified/, 'the chain line');
    let answer: 'fail' | 'broken' | 'partial' | 'partial-empty' | 'real' = 'fail';
    let brokenAt: { seq: number | null; reason: string } = { seq: 4, reason: 'hash does not match the record content' };
    const route = async (r: any) => {
      if (answer === 'fail') return r.fulfill({ status: 500, contentType: 'application/json', body: JSON.stringify({ error: 'internal_error', message: 'The gate failed to handle this request; it has been logged.' }) });
      if (answer === 'real') return r.continue();
      const res = await r.fetch();
      const body = await res.json();
      // a page whose search the gate stopped at its scan budget (past 10,000 records examined)
      if (answer === 'partial') body.page = { ...body.page, partial: true, nextCursor: 3 };
      else if (answer === 'partial-empty') body.page = { ...body.page, scope: 'empty', from: null, to: null, checked: 0, partial: true, nextCursor: 3 };
      else body.page = { ...body.page, ok: false, firstBroken: brokenAt };
      return r.fulfill({ response: res, json: body });
    };
    await page.route('**/v1/audit/verify*', route);
    await page.selectOption('#au-limit', '20');
    await expectText('#au-chain', /^Chain check failed \(HTTP 500: The gate failed to handle this request; it has been logged\.\): the records shown were loaded/, 'the failed check is named, with what the gate said');
    t.notMatch(await text('#au-chain'), /Could not load the audit history/, 'not a history that could not be loaded');
    t.match(await text('#audit'), /decision .*kargo/, 'the records are shown');
    answer = 'broken';
    await page.selectOption('#au-limit', '50');
    await expectText('#au-chain', /^Chain BROKEN at seq 4: hash does not match the record content\./, 'a broken chain names its first broken record');
    // the gate's own words when it could not read the records it was to check: no seq to name
    brokenAt = { seq: null, reason: 'records 3..9 could not all be read' };
    await page.selectOption('#au-limit', '20');
    await expectText('#au-chain', /^Chain BROKEN: records 3\.\.9 could not all be read\./, 'a broken chain without a seq is said without one');
    t.notMatch(await text('#au-chain'), /seq \?/, 'no "seq ?"');
    answer = 'partial-empty';
    await page.selectOption('#au-limit', '50');
    await expectText('#au-chain', /^Nothing verified: no matching records found so far\. The search for this page stopped .*older records were not searched \(Older goes on below record 3\)\./, 'a partial empty page: nothing verified, and where the search stopped');
    // the first part of the line is the page's (the full walk's follows, green when it passed)
    t.equal(await page.$eval('#au-chain > span', (s: any) => s.className), '', 'the page part is not shown as a verified chain');
    answer = 'partial';
    await page.selectOption('#au-limit', '20');
    await expectText('#au-chain', /^Partial page: chain verified for records \d+–\d+: \d+ hashes recomputed.* The search for this page stopped .*\(Older goes on below record 3\)\./, 'a partial page: what was verified, and that older records were not searched');
    t.equal(await page.$eval('#au-chain > span', (s: any) => s.className), '', 'not the green line of a whole page verified');
    answer = 'real';
    await page.selectOption('#au-limit', '100');
    await expectText('#au-chain', /^Chain verified/, 'and a check that passes says so again');
    await page.unroute('**/v1/audit/verify*', route);
    t.same(problems, [], 'no script errors');
  });

  t.test('settings a restarted gate changed are shown without a reload, keeping what the operator chose and typed', async (t) => {
    const { page, expectText, text, signIn, problems } = await open(t);
    await page.goto(`${fx.gate.url}/`);
    await signIn('admin');
    const options = (sel: string) => page.$$eval(`${sel} option`, (os: any[]) => os.map((o) => o.value));
    t.same(await options('#bg-stage'), ['paper', 'live'], 'break-glass for paper and live');
    await expectText('#bg-ttl-hint', /at most 240\./, 'the lifetime limit of this gate');
    await page.selectOption('#bg-stage', 'live');
    await page.fill('#bg-just', 'typed before the gate was restarted');
    await page.fill('#tg-beta-note', 'a note being typed');
    await page.selectOption('#au-stage', 'paper');

    // the gate comes back from a restart with another configuration: longest grant 90 minutes
    let settings: (s: any) => void = (s) => {
      s.breakGlass.maxTtlMinutes = 90;
    };
    let down = false;
    let paperUnheld = false;
    await page.route('**/v1/console/settings', async (route) => {
      const res = await route.fetch();
      const body = await res.json();
      settings(body);
      await route.fulfill({ response: res, json: body });
    });
    const status = async (route: any) => {
      if (down) return route.abort('connectionrefused');
      const res = await route.fetch();
      const body = await res.json();
      // and, later, paper with no market-hours policy (no break-glass there)
      if (paperUnheld) body.stages.find((x: any) => x.name === 'paper').policy.marketHours = null;
      await route.fulfill({ response: res, json: body });
    };
    await page.route('**/v1/status', status);
    down = true;
    await expectText('#conn', /DISCONNECTED/, 'the gate is away');
    down = false;
    await expectText('#conn', /^Connected/, 'and back');
    await expectText('#bg-ttl-hint', /at most 90\./, 'the new limit is shown');
    t.equal(await page.getAttribute('#bg-ttl', 'max'), '90', 'and enforced by the field');

    // a change seen in the status (paper no longer held by the market) reads the settings again at once
    settings = (s) => {
      s.breakGlass.maxTtlMinutes = 90;
      s.breakGlass.stages = ['live'];
    };
    paperUnheld = true;
    await page.waitForFunction(() => [...document.querySelectorAll('#bg-stage option')].map((o: any) => o.value).join() === 'live', undefined, { timeout: UPDATE_MS }).then(
      () => t.pass('break-glass now offers live only'),
      async () => t.fail('break-glass now offers live only', { found: await options('#bg-stage') }),
    );
    t.equal(await page.inputValue('#bg-stage'), 'live', 'the stage chosen is kept');
    t.equal(await page.inputValue('#bg-just'), 'typed before the gate was restarted', 'the justification typed is kept');
    t.equal(await page.inputValue('#tg-beta-note'), 'a note being typed', 'the stage note typed is kept');
    t.same(await options('#au-stage'), ['', 'ci', 'integration', 'beta', 'paper', 'live'], 'the audit stage filter lists each stage once');
    t.equal(await page.inputValue('#au-stage'), 'paper', 'and keeps its choice');
    t.match(await text('#tg-beta-state'), /ENABLED/, 'the stage switches still show their state');
    await page.unroute('**/v1/status', status);
    await page.unroute('**/v1/console/settings');
    t.same(problems, [], 'no script errors');
  });

  t.test('a stage chosen in a form that a restarted gate no longer offers is not swapped for another one', async (t) => {
    const { page, expectText, signIn, problems } = await open(t);
    // this gate takes approvals for paper and live; the restarted one only for live, and no
    // break-glass for paper either (no market-hours rule there)
    let restarted = false;
    await page.route('**/v1/console/settings', async (route) => {
      const res = await route.fetch();
      const body = await res.json();
      body.approvals.stages = restarted ? ['live'] : ['paper', 'live'];
      if (restarted) body.breakGlass.stages = ['live'];
      await route.fulfill({ response: res, json: body });
    });
    const status = async (route: any) => {
      const res = await route.fetch();
      const body = await res.json();
      const paper = body.stages.find((x: any) => x.name === 'paper');
      paper.policy.requireApproval = !restarted;
      if (restarted) paper.policy.marketHours = null;
      await route.fulfill({ response: res, json: body });
    };
    await page.route('**/v1/status', status);
    await page.goto(`${fx.gate.url}/`);
    await signIn('admin');
    await page.selectOption('#ap-stage', 'paper');
    await page.fill('#ap-tag', TAG);
    await page.fill('#ap-notes', 'paper P&L reviewed, diff read');
    await page.selectOption('#bg-stage', 'paper');
    await page.fill('#bg-tag', TAG);
    await page.fill('#bg-just', 'paper needs this fix before the close, reviewed');

    restarted = true;
    await page.waitForFunction(() => [...document.querySelectorAll('#ap-stage option')].map((o: any) => o.value).join() === 'live', undefined, { timeout: UPDATE_MS * 2 }).then(
      () => t.pass('approvals now offered for live only'),
      async () => t.fail('approvals now offered for live only'),
    );
    t.equal(await page.inputValue('#ap-stage'), '', 'the approval form has no stage: not live in place of the paper chosen');
    t.equal(await page.inputValue('#bg-stage'), '', 'nor the break-glass form');
    t.equal(await page.inputValue('#ap-notes'), 'paper P&L reviewed, diff read', 'the notes typed are kept');
    await expectText('#ap-error', /paper is no longer offered/, 'the approval form says why');
    await expectText('#bg-error', /paper is no longer offered/, 'and so does the break-glass form');

    await page.click('#ap-submit');
    await expectText('#ap-error', /^Stage: choose a stage/, 'approving asks for a stage');
    t.same((await call(tokens['admin'] as string, 'GET', '/v1/approvals')).body.approvals, [], 'nothing approved');
    await page.click('#bg-form button[type=submit]');
    await expectText('#bg-error', /^Stage: choose a stage/, 'break-glass asks for a stage');
    t.notOk(await page.evaluate(() => document.getElementById('bg-dialog').open), 'no confirmation dialog for a stage nobody chose');
    await page.unroute('**/v1/status', status);
    await page.unroute('**/v1/console/settings');
    t.same(problems, [], 'no script errors');
  });

  t.test('the market card names the stages the market holds, from their policies and switches', async (t) => {
    const { page, expectText, problems } = await open(t);
    let change: (stages: any[]) => void = () => {};
    const status = async (route: any) => {
      const res = await route.fetch();
      const body = await res.json();
      change(body.stages);
      await route.fulfill({ response: res, json: body });
    };
    await page.route('**/v1/status', status);
    await page.goto(`${fx.gate.url}/`);
    await expectText('#market', /While the market is open, paper and live promotions are held unless a break-glass grant covers them\./, 'this gate: paper and live');
    // a gate configured with no market-hours policy for paper
    change = (stages) => {
      stages.find((x) => x.name === 'paper').policy.marketHours = null;
    };
    await expectText('#market', /While the market is open, live promotions are held unless/, 'paper not held: live only');
    // live switched off: passed through, not held
    change = (stages) => {
      stages.find((x) => x.name === 'live').enabled = false;
    };
    await expectText('#market', /While the market is open, paper promotions are held unless/, 'live off: paper only');
    await page.unroute('**/v1/status', status);
    t.same(problems, [], 'no script errors');
  });
}

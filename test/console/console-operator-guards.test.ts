import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { eventually } from '../helpers/eventually.ts';
import { PROJECT, TAG, UPDATE_MS, consoleFixture, expectFocus, fillBreakGlass, requireChromium } from './browser.ts';

/**
 * What the console keeps an operator from losing or sending by mistake while the page stays open:
 * a one-time token still on screen, permissions changed since sign-in, an audit page that is not
 * the one asked for, an audit log the identity may not read, a prefilled tag no promotion waits with any more. The real gate
 * (GATE_NOW = Wednesday 2026-11-25 10:00 ET, market open) and the console in headless Chromium;
 * each step opens its own page.
 */

// browser globals inside page.evaluate callbacks (this project's tsconfig has no DOM lib)
declare const document: any;

if (requireChromium(t)) run();

function run(): void {
  const fx = consoleFixture(t, { olivia: 'operator', cibot: 'ci', carol: 'auditor' });
  const { tokens, call, open } = fx;
  /** A fresh page (its own sessionStorage), with the script errors it meets. */

  t.test('a second break-glass request while the first token is on screen is refused until that token is hidden', async (t) => {
    const { page, expectText, text, signIn, problems } = await open(t);
    await page.goto(`${fx.gate.url}/`);
    await signIn('olivia');
    const why = 'paper order router hotfix, cannot wait for the close';
    await page.selectOption('#bg-stage', 'paper');
    await page.fill('#bg-tag', TAG);
    await page.fill('#bg-just', why);
    await page.click('#bg-submit');
    await page.fill('#bg-c-confirm', 'paper');
    await page.click('#bg-c-ok');
    await page.locator('#bg-token').waitFor({ state: 'visible' });
    const first = await page.inputValue('#bg-token-value');
    t.match(first, /^gbg_/, 'the first token is shown');
    const grants = (await call(tokens['olivia'] as string, 'GET', '/v1/break-glass')).body.grants as any[];
    t.equal(grants.length, 1, 'one grant');

    // the operator, under pressure, asks for live too before copying paper's token
    await page.selectOption('#bg-stage', 'live');
    await page.fill('#bg-tag', TAG);
    await page.fill('#bg-just', 'live needs the same router hotfix before the close');
    await page.click('#bg-submit');
    await page.waitForTimeout(300);
    t.notOk(await page.evaluate(() => document.getElementById('bg-dialog').open), 'no confirmation dialog: nothing can replace the token on screen');
    t.equal(await page.inputValue('#bg-token-value'), first, 'the first token is still on screen');
    await expectText('#bg-error', new RegExp(`The token of grant ${grants[0].id} is still on screen and cannot be shown again`), 'the form says why, naming the grant');
    await expectFocus(t, page, 'bg-token', 'the focus goes to the token');
    t.equal((await call(tokens['olivia'] as string, 'GET', '/v1/break-glass')).body.grants.length, 1, 'still one grant');

    // copied: hidden, and the request goes on as typed
    await page.click('#bg-token-done');
    t.equal(await text('#bg-error'), '', 'the refusal is answered');
    t.equal(await page.inputValue('#bg-just'), 'live needs the same router hotfix before the close', 'the text typed is kept');
    await page.click('#bg-submit');
    await page.fill('#bg-c-confirm', 'live');
    await page.click('#bg-c-ok');
    await page.locator('#bg-token').waitFor({ state: 'visible' });
    const second = await page.inputValue('#bg-token-value');
    t.match(second, /^gbg_/, 'the second token is shown');
    t.not(second, first, 'a new one');
    await expectText('#bg-token-what', /for live/, 'for live');
    for (const g of (await call(tokens['olivia'] as string, 'GET', '/v1/break-glass')).body.grants as any[]) await call(tokens['olivia'] as string, 'DELETE', `/v1/break-glass/${g.id}`);
    t.same(problems, [], 'no script errors');
  });

  t.test('the one-time token on screen follows its grant: a status read before it was issued changes nothing; revoked by another operator, the box says its token lets nothing through instead of counting down', async (t) => {
    const { page, expectText, text, signIn, problems } = await open(t);
    await page.goto(`${fx.gate.url}/`);
    await signIn('olivia');
    await fillBreakGlass(page, 'paper', TAG, 'paper order router hotfix, cannot wait for the close');
    // a status poll read before the grant is issued and answered once its token is on screen: it
    // does not list the grant, which is not gone for that
    let read!: () => void;
    let answer!: () => void;
    const readBefore = new Promise<void>((r) => (read = r));
    const answerAfter = new Promise<void>((r) => (answer = r));
    await page.route('**/v1/status', async (route: any) => {
      const stale = await route.fetch();
      read();
      await answerAfter;
      await route.fulfill({ response: stale });
    }, { times: 1 });
    await readBefore;
    await page.click('#bg-c-ok');
    await page.locator('#bg-token').waitFor({ state: 'visible' });
    const id = await page.evaluate(() => document.getElementById('bg-token').dataset.grant);
    answer();
    await expectText('#grants', new RegExp(`paper · 3f2c1a9 Copy · by olivia`), 'the grant is listed');
    // a status poll or two later, still open: the countdown runs
    await page.waitForTimeout(2500);
    t.match(await text('#bg-token-expiry'), /^Expires at 10:\d\d:\d\d ET on Wed, 25 Nov 2026 .* · in (29|30)m \d\ds\.$/, 'while the grant is open the box counts down to its expiry');

    t.equal((await call(tokens['admin'] as string, 'DELETE', `/v1/break-glass/${id}`)).status, 200, 'another operator revokes it');
    await expectText('#grants', /No open grants/, 'the list follows');
    await expectText('#bg-token-expiry', new RegExp(`Grant ${id} is no longer open: used by a promotion, revoked or expired \\(the audit history says which\\)\\. This token lets nothing through\\.`), 'the box says the token lets nothing through');
    t.notMatch(await text('#bg-token-expiry'), /Expires at|in \d+m/, 'no countdown to an expiry that no longer matters');
    t.equal(await page.locator('#bg-token-expiry [data-until]').count(), 0, 'nothing left for the clock to count down');
    await page.click('#bg-token-done');
    t.ok(await page.locator('#bg-token').isHidden(), 'hidden as before');
    t.same(problems, [], 'no script errors');
  });

  t.test('permissions changed since sign-in are applied when the settings are read again, keeping what was typed; a 401 there signs out', async (t) => {
    const { page, expectText, text, signIn, problems } = await open(t);
    const g = await call(tokens['admin'] as string, 'POST', '/v1/break-glass', { project: PROJECT, stage: 'paper', imageTag: TAG, justification: 'a grant whose revoke button is watched' });
    t.equal(g.status, 201, 'an open grant');
    t.teardown(() => call(tokens['admin'] as string, 'DELETE', `/v1/break-glass/${g.body.id}`).then(() => {}));
    // the RBAC of this identity, as whoami answers it: changed by the test (as an edited Role would)
    let whoami: 'real' | 'no-breakglass' | '401' = 'real';
    await page.route('**/v1/whoami', async (route) => {
      if (whoami === '401') return route.fulfill({ status: 401, contentType: 'application/json', body: JSON.stringify({ error: 'unauthenticated', message: 'invalid token' }) });
      const res = await route.fetch();
      const body = await res.json();
      if (whoami === 'no-breakglass') {
        body.can['breakglassgrants'] = false;
        body.can['breakglassgrants.delete'] = false;
      }
      await route.fulfill({ response: res, json: body });
    });
    let down = false;
    const status = (route: any) => (down ? route.abort('connectionrefused') : route.continue());
    await page.route('**/v1/status', status);
    const reconnect = async (what: string) => {
      down = true;
      await expectText('#conn', /DISCONNECTED/, `${what}: the gate is away`);
      down = false;
      await expectText('#conn', /^Connected/, `${what}: and back`);
    };
    const disabled = (sel: string) => page.$eval(sel, (el: any) => el.disabled === true);
    const revokeDisabled = () => page.$eval(`#grants [data-key="revoke-${g.body.id}"]`, (el: any) => el.disabled === true);

    await page.goto(`${fx.gate.url}/`);
    await signIn('admin');
    await expectText('#grants', /a grant whose revoke button is watched/, 'the grant is listed');
    t.notOk(await disabled('#bg-fieldset'), 'break-glass enabled');
    t.notOk(await revokeDisabled(), 'and its revoke button');
    await page.fill('#bg-just', 'typed before the Role was edited');

    whoami = 'no-breakglass';
    await reconnect('permission taken away');
    await page.waitForFunction(() => document.getElementById('bg-fieldset').disabled === true, undefined, { timeout: UPDATE_MS }).then(
      () => t.pass('the break-glass form is disabled without a reload'),
      () => t.fail('the break-glass form is disabled without a reload'),
    );
    await expectText('#bg-perm', /admin may not request break-glass/, 'and says why');
    await page.waitForFunction((id) => document.querySelector(`#grants [data-key="revoke-${id}"]`)?.disabled === true, g.body.id, { timeout: UPDATE_MS }).then(
      () => t.pass('the revoke button is disabled'),
      () => t.fail('the revoke button is disabled'),
    );
    t.notOk(await disabled('#ap-fieldset'), 'approvals stay enabled');
    t.equal(await page.inputValue('#bg-just'), 'typed before the Role was edited', 'the text typed is kept');
    t.match(await text('#whoami'), /Signed in as admin /, 'still signed in');

    whoami = 'real';
    await reconnect('permission given back');
    await page.waitForFunction(() => document.getElementById('bg-fieldset').disabled === false, undefined, { timeout: UPDATE_MS }).then(
      () => t.pass('the break-glass form is enabled again'),
      () => t.fail('the break-glass form is enabled again'),
    );
    t.notOk(await revokeDisabled(), 'and the revoke button');
    t.equal(await page.inputValue('#bg-just'), 'typed before the Role was edited', 'the text typed is still kept');

    whoami = '401';
    await reconnect('token no longer taken');
    await expectText('#whoami', /^Not signed in$/, 'a 401 signs out');
    await expectText('#signin-error', /no longer accepts/, 'and says so');
    t.ok(await disabled('#bg-fieldset'), 'the forms are disabled');
    await page.unroute('**/v1/status', status);
    await page.unroute('**/v1/whoami');
    t.same(problems, [], 'no script errors');
  });

  t.test('an audit page that could not be loaded for new filters does not leave the old page shown under them', async (t) => {
    const { page, expectText, text, signIn, problems } = await open(t);
    // more decisions than a page of 20 holds
    for (let i = 1; i <= 21; i++) await call(tokens['kargo'] as string, 'POST', '/v1/decisions', { project: PROJECT, stage: 'paper', imageTag: TAG, promotion: `paper-audit-${i}` });
    // a full walk under way: the page's chain is checked again every 3 s
    const verify = async (route: any) => {
      const res = await route.fetch();
      const body = await res.json();
      body.full = { ...body.full, status: 'running' };
      await route.fulfill({ response: res, json: body });
    };
    await page.route('**/v1/audit/verify*', verify);
    await page.goto(`${fx.gate.url}/`);
    await signIn('olivia');
    await expectText('#audit', /paper-audit-1/, 'the decision is listed');
    await expectText('#au-chain', /Chain verified/, 'with its chain line');
    await page.selectOption('#au-limit', '20');
    await page.waitForFunction(() => document.getElementById('au-older').disabled === false, undefined, { timeout: UPDATE_MS });
    t.pass('a page of 20 with older records after it');
    let fail = false;
    const audit = (route: any) =>
      fail ? route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: 'unavailable', message: 'the audit log cannot be read' }) }) : route.continue();
    const auditPage = (url: URL) => url.pathname === '/v1/audit';
    await page.route(auditPage, audit);
    fail = true;
    await page.selectOption('#au-type', 'stage.toggled');
    await expectText('#au-chain', /Could not load the audit history: the audit log cannot be read/, 'the failure is said');
    await expectText('#audit', /could not be loaded/, 'the table says no records are shown for these filters');
    t.notMatch(await text('#audit'), /paper-audit-1|decision/, 'the decision, which is no stage toggle, is not shown under the stage.toggled filter');
    t.equal(await text('#au-page'), '', 'nor its page line');
    t.ok(await page.locator('#au-older').isDisabled(), 'Older does not go on from the page that was shown');
    // a chain check due for the old page (every 3 s while the full walk runs) does not write over it
    await page.waitForTimeout(3500);
    t.match(await text('#au-chain'), /Could not load the audit history/, 'the error stays visible');
    t.match(await text('#audit'), /Tried again with each status poll \(every 2 s\)/, 'and says when it is tried again');
    fail = false;
    // as it says: no filter change or new record needed
    await page.waitForFunction(() => !document.getElementById('audit').textContent.includes('could not be loaded'), undefined, { timeout: UPDATE_MS }).then(
      () => t.pass('loaded again by the next poll, the filters unchanged'),
      async () => t.fail('loaded again by the next poll, the filters unchanged', { found: await text('#audit') }),
    );
    await page.selectOption('#au-type', 'decision');
    await expectText('#audit', /paper-audit-1/, 'a load that works shows the page again');
    await expectText('#au-chain', /Chain verified/, 'and its chain line');
    await page.unroute(auditPage, audit);
    await page.unroute('**/v1/audit/verify*', verify);
    t.same(problems, [], 'no script errors');
  });

  t.test('the audit history of an identity without get auditrecords says so and asks nothing; a 403 since sign-in ends there too, once, until whoami says otherwise', async (t) => {
    const { page, expectText, text, signIn, problems } = await open(t);
    t.equal((await call(tokens['kargo'] as string, 'POST', '/v1/decisions', { project: PROJECT, stage: 'paper', imageTag: TAG, promotion: 'paper-audit-perm-1' })).status, 200, 'a decision in the history');
    const asked: string[] = [];
    const refused: string[] = [];
    page.on('request', (req: any) => {
      const path = new URL(req.url()).pathname;
      if (path.startsWith('/v1/audit')) asked.push(path);
    });
    page.on('response', (res: any) => {
      const path = new URL(res.url()).pathname;
      if (path.startsWith('/v1/audit') && res.status() === 403) refused.push(path);
    });
    const groupsOf = async (name: string) => (await call(tokens[name] as string, 'GET', '/v1/whoami')).body.groups;
    const disabled = (sel: string) => page.$eval(sel, (el: any) => el.disabled === true);
    const pollsGoBy = async () => {
      // the head moves (the status says so at the next poll) and two polls go by
      t.equal((await call(tokens['kargo'] as string, 'POST', '/v1/decisions', { project: PROJECT, stage: 'beta', imageTag: TAG, promotion: `beta-perm-${asked.length}-${Date.now()}` })).status, 200);
      await page.waitForTimeout(4500);
    };

    await page.goto(`${fx.gate.url}/`);
    await signIn('cibot');
    await expectText('#audit', /^cibot may not read the audit log: role “operator”, “approver” or “auditor” required\.$/, 'CI\'s token: the view says who may read it');
    t.equal(await text('#au-chain'), '', 'no error line: nothing failed');
    for (const id of ['au-stage', 'au-type', 'au-limit', 'au-newest', 'au-newer', 'au-older']) t.ok(await disabled(`#${id}`), `#${id} is off`);
    await pollsGoBy();
    t.same(asked, [], 'nothing asked of the audit routes, not even as records are added');
    t.match(await text('#audit'), /cibot may not read the audit log/, 'and the view still says so');
    await page.click('#signout');
    await expectText('#audit', /Sign in to see the audit history/, 'signed out: the usual placeholder');
    t.notOk(await disabled('#au-type'), 'the filters are on again');

    await signIn('carol');
    await expectText('#audit', /paper-audit-perm-1/, 'an auditor reads the history');
    await expectText('#au-chain', /Chain verified/, 'and its chain');
    t.notOk(await disabled('#au-type'), 'with the filters on');

    // carol's role is changed to ci in the token file (as a RoleBinding removed): whoami, read
    // before, still says she may; the gate's 403 on the next load is what the console meets
    const file = join(fx.gate.dataDir, 'tokens.json');
    const original = await readFile(file, 'utf8');
    const setRoles = async (roles: string[]) => {
      const stored = JSON.parse(original);
      for (const x of stored.tokens) if (x.name === 'carol') x.roles = roles;
      await writeFile(file, JSON.stringify(stored));
    };
    t.teardown(() => writeFile(file, original));
    await setRoles(['ci']);
    t.ok(await eventually(async () => JSON.stringify(await groupsOf('carol')) === '["ci"]', 5000, 200), 'the gate takes the change');
    const before = asked.length;
    await pollsGoBy();
    await expectText('#audit', /^carol may not read the audit log: role “operator”, “approver” or “auditor” required\.$/, 'the 403 shows the same no-permission state, not an error');
    t.notMatch(await text('#au-chain'), /Could not load/, 'no error line');
    t.notMatch(await text('#audit'), /paper-audit-perm-1/, 'the records shown before are gone');
    const afterRefusal = asked.length;
    t.ok(afterRefusal > before, 'the console asked once more');
    t.same(refused, ['/v1/audit'], 'and was refused, once');
    await pollsGoBy();
    t.equal(asked.length, afterRefusal, 'and asks no more as records are added (each refusal is a record: no loop)');
    const refusals = (await call(tokens['admin'] as string, 'GET', '/v1/audit?type=refusal&limit=500')).body.records.filter((r: any) => r.actor.name === 'carol');
    t.match(refusals, [{ actor: { groups: ['ci'] }, data: { status: 403, error: 'forbidden', path: '/v1/audit' } }], 'the 403 is audited');

    // given back: the next read of whoami (with the settings, here after a reconnect) shows the records again
    await setRoles(['auditor']);
    t.ok(await eventually(async () => JSON.stringify(await groupsOf('carol')) === '["auditor"]', 5000, 200), 'the gate takes the change');
    let down = true;
    const status = (route: any) => (down ? route.abort('connectionrefused') : route.continue());
    await page.route('**/v1/status', status);
    await expectText('#conn', /DISCONNECTED/, 'the gate is away');
    down = false;
    await expectText('#conn', /^Connected/, 'and back: the settings and whoami are read again');
    await expectText('#audit', /paper-audit-perm-1/, 'the history is shown again', 8000);
    await page.unroute('**/v1/status', status);
    t.same(problems, [], 'no script errors');
  });

  t.test('a tag filled in from a waiting promotion follows a newer one while nothing is written in the form; once something is, it is kept and the newer tag named', async (t) => {
    const { page, expectText, text, signIn, problems } = await open(t);
    const tagOf = (c: string) => c.repeat(40);
    // the promotions waiting in live, as the test sets them
    let waiting: string[] = ['a'];
    const status = async (route: any) => {
      const res = await route.fetch();
      const body = await res.json();
      body.waiting = waiting.map((c) => ({
        stage: 'live',
        imageTag: tagOf(c),
        promotion: `live-${c}`,
        since: body.at,
        lastSeen: body.at,
        reasons: [
          { code: 'market_open', message: 'the market is open' },
          { code: 'awaiting_approval', message: 'no approval for this tag' },
        ],
      }));
      await route.fulfill({ response: res, json: body });
    };
    await page.route('**/v1/status', status);
    const tagBecomes = async (id: string, want: string, msg: string) =>
      page.waitForFunction(([i, w]) => document.getElementById(i).value === w, [id, want], { timeout: UPDATE_MS }).then(
        () => t.pass(msg),
        async () => t.fail(msg, { found: await page.inputValue(`#${id}`), wanted: want }),
      );
    await page.goto(`${fx.gate.url}/`);
    await signIn('admin');
    await page.click('#waiting [data-key="bg-live-a"]');
    t.equal(await page.inputValue('#bg-tag'), tagOf('a'), 'break-glass filled in from the promotion waiting');

    // nothing written yet: the tag follows the newer promotion
    waiting = ['b'];
    await tagBecomes('bg-tag', tagOf('b'), 'a newer promotion waits: the tag filled in follows it');
    t.equal(await text('#bg-tag-stale'), '', 'nothing to say');

    // a justification written for b: b is kept, and c named
    await page.fill('#bg-just', 'the router fix in b must reach live before the close');
    waiting = ['c'];
    await expectText('#bg-tag-stale', new RegExp(`No promotion waits in live with this tag any more: the one waiting has ${tagOf('c')}`), 'the form names the tag now waiting');
    t.equal(await page.inputValue('#bg-tag'), tagOf('b'), 'and keeps the tag the justification was written for');
    await page.click('#waiting [data-key="bg-live-c"]');
    t.equal(await page.inputValue('#bg-tag'), tagOf('c'), 'its button takes the newer tag');
    t.equal(await text('#bg-tag-stale'), '', 'and the note goes');
    t.equal(await page.inputValue('#bg-just'), 'the router fix in b must reach live before the close', 'the justification is kept');

    // two waiting, the older one chosen: it is kept, it still waits
    waiting = ['c', 'd'];
    await expectText('#waiting', /live-d/, 'two promotions wait');
    await page.fill('#bg-just', '');
    await page.waitForTimeout(2500);
    t.equal(await page.inputValue('#bg-tag'), tagOf('c'), 'a tag that still waits is kept');

    // a tag the operator typed is theirs
    await page.fill('#bg-tag', tagOf('e'));
    waiting = ['f'];
    await expectText('#waiting', /live-f/, 'another promotion waits');
    await page.waitForTimeout(2500);
    t.equal(await page.inputValue('#bg-tag'), tagOf('e'), 'a typed tag is kept');
    t.equal(await text('#bg-tag-stale'), '', 'without a note');

    // approvals: no confirmation dialog, so notes written for a tag keep it
    await page.click('#waiting [data-key="ap-live-f"]');
    t.equal(await page.inputValue('#ap-tag'), tagOf('f'), 'approval filled in from the promotion waiting');
    waiting = ['g'];
    await tagBecomes('ap-tag', tagOf('g'), 'with no notes written it follows a newer one');
    await page.fill('#ap-notes', 'diff of g reviewed, paper fills reconciled');
    waiting = ['h'];
    await expectText('#ap-tag-stale', new RegExp(`No promotion waits in live with this tag any more: the one waiting has ${tagOf('h')}`), 'with notes written, the approval form names the tag now waiting');
    t.equal(await page.inputValue('#ap-tag'), tagOf('g'), 'and keeps the tag the notes were written for');
    await page.unroute('**/v1/status', status);
    t.same(problems, [], 'no script errors');
  });

  t.test('with no promotion waiting, a tag filled in from the stage before follows that stage to its next tag while nothing is written; once notes are, it is kept and the new tag named', async (t) => {
    const { page, expectText, text, signIn, problems } = await open(t);
    const tagOf = (c: string) => c.repeat(40);
    // what paper has deployed, as the test sets it; nothing waits in live
    let paperTag = tagOf('a');
    const status = async (route: any) => {
      const res = await route.fetch();
      const body = await res.json();
      body.waiting = [];
      for (const st of body.stages) if (st.name === 'paper') st.deployed = { ...(st.deployed ?? {}), imageTag: paperTag };
      await route.fulfill({ response: res, json: body });
    };
    await page.route('**/v1/status', status);
    const tagBecomes = async (want: string, msg: string) =>
      page.waitForFunction((w) => document.getElementById('ap-tag').value === w, want, { timeout: UPDATE_MS }).then(
        () => t.pass(msg),
        async () => t.fail(msg, { found: await page.inputValue('#ap-tag'), wanted: want }),
      );
    await page.goto(`${fx.gate.url}/`);
    await signIn('admin');
    await page.selectOption('#ap-stage', 'live');
    await tagBecomes(tagOf('a'), 'live is filled in with the tag paper has deployed');
    paperTag = tagOf('b');
    await tagBecomes(tagOf('b'), 'paper deploys another tag: with nothing written, the tag follows it');
    t.equal(await text('#ap-tag-stale'), '', 'nothing to say');
    await page.fill('#ap-notes', 'diff of b reviewed, paper fills reconciled');
    paperTag = tagOf('c');
    await expectText('#ap-tag-stale', new RegExp(`This tag is no longer the one to promote to live: ${tagOf('c')} is now \\(deployed in paper\\)`), 'with notes written, the form names the new tag');
    t.equal(await page.inputValue('#ap-tag'), tagOf('b'), 'and keeps the tag the notes were written for');
    paperTag = tagOf('b');
    await page.waitForFunction(() => document.getElementById('ap-tag-stale').textContent === '', undefined, { timeout: UPDATE_MS }).then(
      () => t.pass('paper back on b: the note goes'),
      async () => t.fail('paper back on b: the note goes', { found: await text('#ap-tag-stale') }),
    );
    await page.fill('#ap-notes', '');
    await page.unroute('**/v1/status', status);
    t.same(problems, [], 'no script errors');
  });

  t.test('the break-glass confirmation names a grant already open for the same stage and tag', async (t) => {
    const { page, expectText, signIn, problems } = await open(t);
    const g = await call(tokens['admin'] as string, 'POST', '/v1/break-glass', { project: PROJECT, stage: 'paper', imageTag: TAG, justification: 'paper router hotfix asked for by another operator' });
    t.equal(g.status, 201, 'another operator holds a grant for paper and this tag');
    t.teardown(() => call(tokens['admin'] as string, 'DELETE', `/v1/break-glass/${g.body.id}`).then(() => {}));
    await page.goto(`${fx.gate.url}/`);
    await signIn('olivia');
    await expectText('#grants', /paper · 3f2c1a9 Copy · by admin/, 'the grant is listed');
    await page.selectOption('#bg-stage', 'paper');
    await page.fill('#bg-tag', TAG);
    await page.fill('#bg-just', 'paper order router hotfix, cannot wait for the close');
    await page.click('#bg-submit');
    t.ok(await page.locator('#bg-c-open').isVisible(), 'the dialog shows a warning');
    await expectText('#bg-c-open', new RegExp(`Grant ${g.body.id}, requested by admin, is already open for paper and this tag \\(expires at \\d\\d:\\d\\d:\\d\\d ET\\)\\. A second grant is one more token`), 'naming the open grant');
    await page.click('#bg-c-cancel');
    await page.fill('#bg-tag', 'f'.repeat(40));
    await page.click('#bg-submit');
    t.ok(await page.locator('#bg-c-open').isHidden(), 'for another tag: no warning');
    await page.click('#bg-c-cancel');
    t.equal((await call(tokens['admin'] as string, 'GET', '/v1/break-glass')).body.grants.length, 1, 'nothing asked for');
    await page.fill('#bg-just', '');
    t.same(problems, [], 'no script errors');
  });

  t.test('the one-time token box says its grant is no longer open when a promotion used it before any status listed it (the polls lost meanwhile)', async (t) => {
    const { page, expectText, text, signIn, problems } = await open(t);
    // paper's integration tests passed: only the market holds TAG, which the grant lets through
    t.equal((await call(tokens['cibot'] as string, 'PUT', `/v1/test-results/${TAG}`, { exitCode: 0, passed: 42, failed: 0 })).status, 200, 'the tests passed');
    await page.goto(`${fx.gate.url}/`);
    await signIn('olivia');
    await fillBreakGlass(page, 'paper', TAG, 'paper order router hotfix, cannot wait for the close');
    // the status polls fail from now until the grant is used
    const lost = (route: any) => route.abort('connectionreset');
    await page.route('**/v1/status', lost);
    await page.click('#bg-c-ok');
    await page.locator('#bg-token').waitFor({ state: 'visible' });
    const token = await page.inputValue('#bg-token-value');
    const id = await page.evaluate(() => document.getElementById('bg-token').dataset.grant);
    const used = await call(tokens['kargo'] as string, 'POST', '/v1/decisions', { project: PROJECT, stage: 'paper', imageTag: TAG, promotion: 'paper-bg-used-unseen', breakGlassToken: token });
    t.match(used.body, { decision: 'allow', breakGlass: { id, consumed: true } }, 'a promotion used the grant');
    await page.unroute('**/v1/status', lost);
    await expectText('#conn', /^Connected/, 'the polls answer again');
    await expectText('#bg-token-expiry', new RegExp(`Grant ${id} is no longer open`), 'the box says the token lets nothing through');
    t.equal(await page.locator('#bg-token-expiry [data-until]').count(), 0, 'no countdown');
    t.notMatch(await text('#bg-token-expiry'), /Expires at/, 'no expiry');
    await page.click('#bg-token-done');
    t.same(problems, [], 'no script errors');
  });

}

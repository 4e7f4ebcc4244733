import { mkdir } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import t from 'tap';
import { type SpawnedGate, spawnGate } from '../helpers/spawn-gate.ts';
import { ARTIFACTS, launchChromium, pageText, requireChromium } from './browser.ts';

/**
 * The console in the last session of 2099: the gate names 2100-01-04 as the next open (computed
 * by the rules) but answers 400 for that instant itself, since its calendar covers 2000-2099.
 */

declare const document: any;

if (requireChromium(t)) run();

function run(): void {
  let gate: SpawnedGate;
  let browser: Browser;

  t.before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    const launching = launchChromium();
    // Thursday 2099-12-31 11:00 ET: the last session of the calendar, open
    gate = await spawnGate({ t, env: { GATE_NOW: '2099-12-31T16:00:00Z' } });
    browser = await launching;
  });
  t.teardown(async () => {
    await browser?.close().catch(() => {});
    await gate?.stop('SIGKILL');
  });

  t.test('a next session the gate cannot answer for is asked for once, not again at every poll', async (t) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'America/New_York', locale: 'en-GB' });
    t.teardown(() => context.close().catch(() => {}));
    const page = await context.newPage();
    page.setDefaultTimeout(5000);
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    const asked: number[] = [];
    page.on('response', (res) => {
      if (new URL(res.url()).pathname === '/v1/market') asked.push(res.status());
    });
    await page.goto(`${gate.url}/`);
    await page.waitForFunction(() => document.getElementById('conn').textContent.includes('Connected'));
    t.match(await pageText(page, '#market-countdown'), /Closes in .* at 16:00 ET/, 'the countdown to the close of 2099-12-31');
    // three more polls (every 2 s)
    await page.waitForTimeout(6500);
    t.same(asked, [400], 'GET /v1/market?at=2100-01-04T14:30:00Z: asked once, answered 400, not asked again');
    t.match(await pageText(page, '#market'), /Market OPEN/, 'the market is shown');
    t.same(problems, [], 'no script errors');
  });
}

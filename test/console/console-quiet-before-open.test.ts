import t from 'tap';
import { consoleFixture, requireChromium } from './browser.ts';

/**
 * A stage held from its quietBeforeOpenMinutes before the open, as the console shows it: the real
 * gate (paper held from 30 minutes before the open, live from the open itself) on GATE_NOW =
 * Wednesday 2026-11-25 at 08:50 ET (before paper's hold) and at 09:10 ET (within it), and the
 * console in headless Chromium.
 */

if (requireChromium(t)) run();

function run(): void {
  const configYaml = 'stages:\n  paper: { quietBeforeOpenMinutes: 30 }\n';
  const early = consoleFixture(t, {}, { now: '2026-11-25T13:50:00Z', configYaml });
  const held = consoleFixture(t, {}, { now: '2026-11-25T14:10:00Z', configYaml });

  t.test('08:50 ET: nothing held yet; the page says when paper is held again', async (t) => {
    const { page, problems, expectText } = await early.open(t, 'America/New_York');
    await page.goto(`${early.gate.url}/`);
    await expectText('#stage-paper [data-field=market-gate]', /OPEN — market closed; held again 30 min before the next open, in \d/, 'paper: open, held again 30 min before the open');
    await expectText('#stage-paper .policy', /market hours: wait \(from 30 min before the open\)/, "paper's policy names its window");
    await expectText('#stage-live [data-field=market-gate]', /OPEN — market closed; held again at the next open, in \d/, 'live (no window): held again at the open');
    t.same(problems, [], 'no script errors');
  });

  t.test('09:10 ET: paper is blocked until the close, its waiting promotion can be given a break-glass; live is not held yet', async (t) => {
    const answer = await held.decide('paper', 'paper-early-1');
    t.equal(answer.body.decision, 'wait', 'Kargo is told to wait');
    t.same(answer.body.reasons.map((r: { code: string }) => r.code), ['tests_pending', 'market_opening'], 'for its tests and the coming open');
    const { page, problems, expectText, signIn } = await held.open(t, 'America/New_York');
    await page.goto(`${held.gate.url}/`);
    await signIn('admin');
    await expectText('#stage-paper [data-field=market-gate]', /BLOCKED for .* until the 16:00 ET close \(promotions wait\)/, 'paper: blocked before the open');
    await expectText('#stage-live [data-field=market-gate]', /OPEN — market closed; held again at the next open/, 'live: not held until the open');
    await expectText('#waiting', /paper-early-1/, 'the promotion is listed as waiting');
    t.ok(await page.locator('#waiting button:has-text("Break-glass for paper")').isVisible(), 'with a break-glass button, as in the session');
    t.same(problems, [], 'no script errors');
  });
}

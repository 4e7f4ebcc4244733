import t from 'tap';
import { consoleFixture, requireChromium, UPDATE_MS } from './browser.ts';

/**
 * What the console shows when the gate cannot read the Kargo Stage list (/v1/status `kargo.stale`):
 * a note above the pipeline saying since when, and why. The real gate (local mode, no reader)
 * with its /v1/status answer edited as a Kubernetes-mode gate whose list fails gives it.
 */

// browser globals inside page.waitForFunction callbacks (this project's tsconfig has no DOM lib)
declare const document: any;

if (requireChromium(t)) run();

function run(): void {
  const fx = consoleFixture(t, {});

  t.test('a Kargo Stage list that cannot be read is named above the pipeline, since when and why, as text', async (t) => {
    const { page, text, expectText, problems } = await fx.open(t);
    let kargo: unknown = null;
    await page.route('**/v1/status', async (route) => {
      const res = await route.fetch();
      const body = await res.json();
      if (kargo) body.kargo = kargo;
      await route.fulfill({ response: res, json: body });
    });
    await page.goto(`${fx.gate.url}/`);
    await expectText('#conn', /Connected/, 'connected');
    await expectText('#pipeline', /beta/, 'the pipeline is shown');
    t.ok(await page.locator('#kargo-note').isHidden(), 'local mode: no note');

    kargo = { source: 'kubernetes', lastReadAt: '2026-11-25T17:03:00.000Z', lastError: 'list Kargo Stages: HTTP 403 <img src=x>', stale: true };
    await expectText('#kargo-note', /^Kargo not read since .*12:03:00 ET: list Kargo Stages: HTTP 403 <img src=x>\. The deployed tags from Kargo are those of that read/, 'the note says since when and why', UPDATE_MS);
    t.ok(await page.locator('#kargo-note').isVisible(), 'shown');
    t.equal(await page.locator('#kargo-note img').count(), 0, 'the error is text, never markup');
    t.equal(await page.locator('#kargo-note').getAttribute('role'), 'status', 'announced');
    const note = await page.locator('#kargo-note').boundingBox();
    const pipeline = await page.locator('#pipeline').boundingBox();
    t.ok(note && pipeline && note.y < pipeline.y, 'above the stages and their deployed tags');

    kargo = { source: 'kubernetes', lastReadAt: null, lastError: 'list Kargo Stages: no answer from the Kubernetes API within 2000 ms', stale: true };
    await expectText('#kargo-note', /^Kargo not read since the gate started: list Kargo Stages: no answer .*\. No deployed tag comes from Kargo/, 'never read', UPDATE_MS);

    kargo = { source: 'kubernetes', lastReadAt: '2026-11-25T17:05:00.000Z', lastError: null, stale: false };
    await page.waitForFunction(() => document.getElementById('kargo-note').hidden, undefined, { timeout: UPDATE_MS });
    t.pass('gone once the list is read again');
    t.equal(await text('#kargo-note'), '');
    t.same(problems, [], 'no script errors');
  });
}

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import type { Test } from 'tap';
import { REPO_ROOT } from '../helpers/spawn-gate.ts';

/** The console tests' gate clock: Wednesday 2026-11-25 10:00 ET, the market open. */
export const NOW = '2026-11-25T15:00:00Z';
/** The image tag the console tests promote, and their Kargo project. */
export const TAG = '3f2c1a9b8e7d6c5b4a39281706f5e4d3c2b1a098';
export const PROJECT = 'stonks-pipeline';
/** the issue: the page shows a change within 5 s without reloading */
export const UPDATE_MS = 5000;

/** Debian's chromium, installed by .ci/tools.sh. */
export const CHROMIUM = '/usr/bin/chromium';
/** Screenshots of the console tests (gitignored). */
export const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'console');

/**
 * True when Chromium is there. Otherwise: under CI=true a failure; elsewhere a visible notice
 * and the file's plan set to 0 (skipped). Call at the top of a test file.
 */
export function requireChromium(t: Test): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env['CI'] === 'true') {
    t.fail(`${CHROMIUM} is missing: CI must install Debian's chromium (bash .ci/tools.sh)`);
  } else {
    process.stderr.write(`\n*** NOTICE: ${CHROMIUM} not found: the console end-to-end tests are SKIPPED (apt-get install chromium) ***\n\n`);
    t.plan(0, `${CHROMIUM} not found: console end-to-end tests skipped`);
  }
  return false;
}

/** Headless Chromium with no network of its own (no updates, sync, QUIC or first-run calls). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 20_000,
  });
}

// browser globals inside page.waitForFunction callbacks (this project's tsconfig has no DOM lib)
declare const document: any;

/** The element's rendered text (innerText: blocks are separated), whitespace collapsed. */
export async function pageText(page: Page, selector: string): Promise<string> {
  return ((await page.locator(selector).first().innerText({ timeout: 2000 })) ?? '').replace(/\s+/g, ' ').trim();
}

/** Waits (at most `ms`) until the element's text matches; passes or fails with what it saw. */
export async function expectPageText(t: Test, page: Page, selector: string, re: RegExp, msg: string, ms: number): Promise<void> {
  try {
    await page.waitForFunction(
      ([sel, src, flags]) => {
        const el = document.querySelector(sel as string);
        return !!el && new RegExp(src as string, flags as string).test((el.innerText ?? '').replace(/\s+/g, ' '));
      },
      [selector, re.source, re.flags],
      { timeout: ms },
    );
    t.pass(msg);
  } catch {
    t.fail(msg, { found: await pageText(page, selector).catch(() => '(no element)'), wanted: String(re) });
  }
}

/**
 * Waits (at most `ms`) until the element with this id has the focus; passes or fails with what had
 * it. For focus a dialog's close event moves: that event comes a task after close(), later on a
 * loaded machine, so an immediate look can still see where the browser itself put the focus.
 */
export async function expectFocus(t: Test, page: Page, id: string, msg: string, ms = 2000): Promise<void> {
  try {
    await page.waitForFunction((want) => document.activeElement?.id === want, id, { timeout: ms });
    t.pass(msg);
  } catch {
    t.fail(msg, { found: await page.evaluate(() => document.activeElement?.id ?? null), wanted: id });
  }
}

/** Fills the console's break-glass form and confirms it in its dialog (typing the stage name). */
export async function requestBreakGlass(page: Page, stage: string, tag: string, justification: string): Promise<void> {
  await page.selectOption('#bg-stage', stage);
  await page.fill('#bg-tag', tag);
  await page.fill('#bg-just', justification);
  await page.click('#bg-submit');
  await page.fill('#bg-c-confirm', stage);
  await page.click('#bg-c-ok');
}

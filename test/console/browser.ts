import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import type { Test } from 'tap';
import { REPO_ROOT, type SpawnedGate, spawnGate } from '../helpers/spawn-gate.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { callGate, createToken } from './gate-calls.ts';

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

/** Fills the console's break-glass form and its dialog's confirmation (typing the stage name), short of confirming. */
export async function fillBreakGlass(page: Page, stage: string, tag: string, justification: string): Promise<void> {
  await page.selectOption('#bg-stage', stage);
  await page.fill('#bg-tag', tag);
  await page.fill('#bg-just', justification);
  await page.click('#bg-submit');
  await page.fill('#bg-c-confirm', stage);
}

/** Fills the console's break-glass form and confirms it in its dialog (typing the stage name). */
export async function requestBreakGlass(page: Page, stage: string, tag: string, justification: string): Promise<void> {
  await fillBreakGlass(page, stage, tag, justification);
  await page.click('#bg-c-ok');
}

/**
 * The console tests' gate and browser: a real gate on GATE_NOW = NOW (or `opts.now`, with the
 * config file `opts.configYaml` if given), local tokens for `admin`
 * and `kargo` (the first start's) plus one per `users` entry (name → role), and headless
 * Chromium; all stopped when `t` ends. Its fields are set once `t.before` has run.
 */
export interface ConsoleFixture {
  gate: SpawnedGate;
  browser: Browser;
  tokens: Record<string, string>;
  /** a request to the gate (callGate) */
  call(token: string | null, method: string, path: string, body?: unknown): ReturnType<typeof callGate>;
  /** Kargo asks the gate about promoting `imageTag` (TAG) into `stage` */
  decide(stage: string, promotion: string, imageTag?: string): ReturnType<typeof callGate>;
  /** a fresh page (openPage) on this fixture's browser, signing in with its tokens */
  open(tt: Test, timezoneId?: string): ReturnType<typeof openPage>;
}

export function consoleFixture(t: Test, users: Record<string, string>, opts: { now?: string; configYaml?: string } = {}): ConsoleFixture {
  const fx: ConsoleFixture = {
    gate: undefined as unknown as SpawnedGate,
    browser: undefined as unknown as Browser,
    tokens: {},
    call: (token, method, path, body) => callGate(fx.gate.url, token, method, path, body),
    decide: (stage, promotion, imageTag = TAG) => fx.call(fx.tokens['kargo'] as string, 'POST', '/v1/decisions', { project: PROJECT, stage, imageTag, promotion }),
    open: (tt, timezoneId) => openPage(tt, fx.browser, fx.tokens, timezoneId),
  };
  t.before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    const launching = launchChromium();
    const env: Record<string, string> = { GATE_NOW: opts.now ?? NOW };
    if (opts.configYaml !== undefined) {
      env['GATE_CONFIG'] = join(await tempDir(t, 'console-cfg-'), 'gate.yaml');
      await writeFile(env['GATE_CONFIG'], opts.configYaml);
    }
    fx.gate = await spawnGate({ t, env });
    fx.tokens['admin'] = fx.gate.tokens['admin'] as string;
    fx.tokens['kargo'] = fx.gate.tokens['kargo'] as string;
    // one after the other: each CLI run rewrites the token file
    for (const [name, role] of Object.entries(users)) fx.tokens[name] = await createToken(fx.gate.dataDir, name, role);
    fx.browser = await launching;
  });
  t.teardown(async () => {
    await fx.browser?.close().catch(() => {});
    await fx.gate?.stop('SIGKILL');
  });
  return fx;
}

/** Before `t`'s tests: Kargo asks to promote TAG into paper while the market is open, so a promotion waits and the audit history holds a decision. */
export function paperPromotionWaits(t: Test, fx: ConsoleFixture): void {
  t.before(async () => {
    t.equal((await fx.decide('paper', 'paper-promo-1')).body.decision, 'wait', 'a paper promotion the market holds');
  });
}

/**
 * A fresh page in a context of its own (its own sessionStorage) in `timezoneId`, with the script
 * errors it meets, and the helpers each test uses: its text, a wait for a text, a sign-in with one
 * of `tokens`, where the focus is (the focused element's id, else its tag name). The context
 * closes when `tt` ends.
 */
export async function openPage(tt: Test, browser: Browser, tokens: Record<string, string>, timezoneId = 'Europe/Berlin') {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId, locale: 'en-GB' });
  tt.teardown(() => context.close().catch(() => {}));
  const page = await context.newPage();
  page.setDefaultTimeout(5_000);
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  const text = (selector: string) => pageText(page, selector);
  const expectText = (selector: string, re: RegExp, msg: string, ms = UPDATE_MS) => expectPageText(tt, page, selector, re, msg, ms);
  const signIn = async (name: string) => {
    await page.fill('#signin-token', tokens[name] as string);
    await page.click('#signin-form button[type=submit]');
    await expectText('#whoami', new RegExp(`Signed in as ${name} `), `signed in as ${name}`);
  };
  const active = () => page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName);
  return { page, problems, text, expectText, signIn, active };
}

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import type { Test } from 'tap';
import { REPO_ROOT } from '../helpers/spawn-gate.ts';

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

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (two levels above test/kargo/lib). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** kargo/ in the repository: the resources under test. */
export const kargoDir = join(repoRoot, 'kargo');

/** ../shared/reference/crds relative to the repository root: released upstream CRDs. */
export const crdDir = resolve(repoRoot, '../shared/reference/crds');

/** Our own JSON Schemas of the Kargo step configs we use (see fixtures/step-config-schemas/SOURCE.md). */
export const stepSchemaDir = join(repoRoot, 'test/kargo/fixtures/step-config-schemas');

/** True when the shared reference data is present (it is absent in some checkouts). */
export const sharedPresent = (): boolean => existsSync(crdDir);

/** True when a missing tool must fail the suite instead of skipping it. */
export const inCI = (): boolean => process.env.CI === 'true';

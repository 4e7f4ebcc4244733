import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020Module from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
import { formatErrors } from './crd-validator.ts';
import { stepSchemaDir } from './paths.ts';

const Ajv2020 = ((Ajv2020Module as unknown as { default?: unknown }).default ?? Ajv2020Module) as typeof Ajv2020Module.default;

/** The built-in steps our stages use; each has a schema fixture `<step>.schema.json`. */
export const stepsWithSchema = ['http', 'git-clone', 'yaml-update', 'git-commit', 'git-push', 'argocd-update'] as const;

/** The schema fixture of one step (our own restatement of its documented config; see SOURCE.md). */
export function stepSchema(step: (typeof stepsWithSchema)[number]): Record<string, unknown> {
  return JSON.parse(readFileSync(join(stepSchemaDir, `${step}.schema.json`), 'utf8')) as Record<string, unknown>;
}

/**
 * Validators for Kargo step configs (`uses` -> validate). Kargo validates a step's config
 * after rendering its expressions; a template string is still a string, so the unrendered
 * config of our stages must validate too. Ajv's strictSchema is on, so a misspelt keyword in a
 * fixture is an error rather than silently ignored (strictRequired and strictTypes are off: the
 * fixtures name properties in `required` inside `not`/`if` without repeating their types).
 */
export function stepConfigValidators(): Map<string, ValidateFunction> {
  const ajv = new Ajv2020({ strict: true, strictRequired: false, strictTypes: false, allErrors: true });
  const out = new Map<string, ValidateFunction>();
  for (const step of stepsWithSchema) out.set(step, ajv.compile(stepSchema(step)));
  return out;
}

/** Validates one config: the list of errors, empty when valid. */
export function validateStepConfig(validators: Map<string, ValidateFunction>, uses: string, config: unknown): string[] {
  const v = validators.get(uses);
  if (!v) return [`no schema for step ${uses}`];
  return v(config) ? [] : formatErrors(v.errors);
}

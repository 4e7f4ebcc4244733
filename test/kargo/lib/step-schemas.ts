import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020Module from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
import { formatErrors } from './crd-validator.ts';
import { stepSchemaDir } from './paths.ts';

const Ajv2020 = ((Ajv2020Module as unknown as { default?: unknown }).default ?? Ajv2020Module) as typeof Ajv2020Module.default;

/** The built-in steps whose config schema is available as a fixture. */
export const stepsWithSchema = ['http', 'git-clone', 'yaml-update', 'git-commit', 'git-push', 'argocd-update'] as const;

function load(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(stepSchemaDir, `${name}.json`), 'utf8')) as Record<string, unknown>;
}

/**
 * Validators for Kargo step configs (`uses` -> validate). Kargo validates a step's config
 * after rendering its expressions; a template string is still a string, so the unrendered
 * config of our stages must validate too.
 */
export function stepConfigValidators(): Map<string, ValidateFunction> {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  ajv.addSchema(load('argocd-common'), 'argocd-common.json');
  const out = new Map<string, ValidateFunction>();
  for (const step of stepsWithSchema) out.set(step, ajv.compile(load(`${step}-config`)));
  return out;
}

/** Validates one config: the list of errors, empty when valid. */
export function validateStepConfig(validators: Map<string, ValidateFunction>, uses: string, config: unknown): string[] {
  const v = validators.get(uses);
  if (!v) return [`no schema for step ${uses}`];
  return v(config) ? [] : formatErrors(v.errors);
}

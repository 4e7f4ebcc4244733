import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import AjvModule from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { parse } from 'yaml';

type Schema = Record<string, unknown>;

// ajv is CommonJS; under Node's ESM loader the default import is module.exports itself.
const Ajv = ((AjvModule as unknown as { default?: unknown }).default ?? AjvModule) as typeof AjvModule.default;

/** The ObjectMeta fields a manifest may set; unknown metadata fields are errors. */
const objectMetaSchema: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' },
    namespace: { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
    labels: {
      type: 'object',
      additionalProperties: { type: 'string', maxLength: 63, pattern: '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$' },
    },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
    finalizers: { type: 'array', items: { type: 'string' } },
  },
};

/**
 * Returns a copy of a CRD's openAPIV3Schema made strict the way the API server prunes and
 * validates: `additionalProperties: false` wherever `properties` are given without
 * `x-kubernetes-preserve-unknown-fields`, int-or-string as integer|string, nullable as null.
 */
export function strictify(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strictify);
  if (node === null || typeof node !== 'object') return node;
  const src = node as Schema;
  const out: Schema = {};
  for (const [k, v] of Object.entries(src)) {
    if (k === 'properties' || k === 'patternProperties' || k === 'definitions' || k === '$defs') {
      out[k] = Object.fromEntries(Object.entries(v as Schema).map(([p, s]) => [p, strictify(s)]));
    } else if (k === 'default' || k === 'enum' || k === 'example' || k === 'x-kubernetes-validations') {
      out[k] = v;
    } else {
      out[k] = strictify(v);
    }
  }
  if (src['x-kubernetes-int-or-string'] === true) {
    delete out.type;
    if (!out.anyOf) out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  if (src.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  if (src.properties && src['x-kubernetes-preserve-unknown-fields'] !== true && src.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  return out;
}

/** A compiled CRD version. */
interface CrdVersion {
  scope: 'Namespaced' | 'Cluster';
  validate: ValidateFunction;
}

/** A closed schema of a namespaced core (v1) kind: apiVersion, kind, metadata and the given members. */
function coreKind(kind: string, properties: Record<string, Schema>): { scope: 'Namespaced'; schema: Schema } {
  return {
    scope: 'Namespaced',
    schema: {
      type: 'object',
      additionalProperties: false,
      required: ['apiVersion', 'kind', 'metadata'],
      properties: { apiVersion: { const: 'v1' }, kind: { const: kind }, metadata: objectMetaSchema, ...properties },
    },
  };
}

/** Hand-written structural schemas for the core kinds used under kargo/. */
const coreSchemas: Record<string, { scope: 'Namespaced' | 'Cluster'; schema: Schema }> = {
  'v1/Secret': coreKind('Secret', {
    type: { type: 'string' },
    immutable: { type: 'boolean' },
    data: { type: 'object', additionalProperties: { type: 'string' } },
    stringData: { type: 'object', additionalProperties: { type: 'string' } },
  }),
  'v1/ServiceAccount': coreKind('ServiceAccount', {
    automountServiceAccountToken: { type: 'boolean' },
    imagePullSecrets: {
      type: 'array',
      items: { type: 'object', additionalProperties: false, properties: { name: { type: 'string' } } },
    },
  }),
};

/** Formats an ajv error list as `path: message` lines. */
export function formatErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => {
    const extra = e.keyword === 'additionalProperties' ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})` : '';
    return `${e.instancePath || '/'}: ${e.message ?? e.keyword}${extra}`;
  });
}

/** Validates manifests against the released CRDs in crdDir and the core-kind schemas. */
export class ManifestValidator {
  readonly #kinds = new Map<string, CrdVersion>();

  constructor(crdDir: string) {
    // unicodeRegExp off: CRD patterns are RE2 (Go) syntax, which allows identity escapes like \_.
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false, unicodeRegExp: false });
    for (const name of readdirSync(crdDir).filter((n) => n.endsWith('.yaml')).sort()) {
      const crd = parse(readFileSync(join(crdDir, name), 'utf8')) as {
        kind: string;
        spec: { group: string; scope: 'Namespaced' | 'Cluster'; names: { kind: string }; versions: { name: string; served: boolean; schema: { openAPIV3Schema: Schema } }[] };
      };
      if (crd.kind !== 'CustomResourceDefinition') continue;
      for (const v of crd.spec.versions.filter((x) => x.served)) {
        const schema = strictify(v.schema.openAPIV3Schema) as Schema;
        const props = schema.properties as Schema;
        props.metadata = objectMetaSchema;
        props.apiVersion = { const: `${crd.spec.group}/${v.name}` };
        props.kind = { const: crd.spec.names.kind };
        schema.required = [...new Set([...((schema.required as string[]) ?? []), 'apiVersion', 'kind', 'metadata'])];
        this.#kinds.set(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, { scope: crd.spec.scope, validate: ajv.compile(schema) });
      }
    }
    for (const [key, { scope, schema }] of Object.entries(coreSchemas)) {
      this.#kinds.set(key, { scope, validate: ajv.compile(schema) });
    }
  }

  /** The apiVersion/kind keys this validator knows. */
  kinds(): string[] {
    return [...this.#kinds.keys()];
  }

  /** Returns the schema errors of one manifest: empty when it is valid. */
  validate(doc: Record<string, unknown>): string[] {
    const key = `${String(doc.apiVersion)}/${String(doc.kind)}`;
    const kind = this.#kinds.get(key);
    if (!kind) return [`no schema for ${key}`];
    const errors = kind.validate(doc) ? [] : formatErrors(kind.validate.errors);
    const ns = (doc.metadata as { namespace?: unknown } | undefined)?.namespace;
    if (kind.scope === 'Namespaced' && ns === undefined) errors.push('/metadata: namespaced kind without metadata.namespace');
    if (kind.scope === 'Cluster' && ns !== undefined) errors.push('/metadata: cluster-scoped kind with metadata.namespace');
    return errors;
  }
}

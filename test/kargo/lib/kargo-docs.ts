import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { kargoDir, repoRoot } from './paths.ts';

/** One YAML document of a file under kargo/. */
export interface KargoDoc {
  /** Path relative to the repository root. */
  file: string;
  /** Index of the document within its file. */
  index: number;
  doc: Record<string, unknown>;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

/**
 * Parses every YAML document under kargo/ (examples included unless excluded).
 * Throws with the file name on a YAML error or a document that is not a mapping.
 */
export function loadKargoDocs(opts: { includeExamples?: boolean } = {}): KargoDoc[] {
  const out: KargoDoc[] = [];
  for (const path of yamlFiles(kargoDir).sort()) {
    const file = relative(repoRoot, path);
    if (!opts.includeExamples && file.startsWith('kargo/examples/')) continue;
    const docs = parseAllDocuments(readFileSync(path, 'utf8'), { uniqueKeys: true });
    docs.forEach((d, index) => {
      if (d.errors.length > 0) throw new Error(`${file}#${index}: ${d.errors.map((e) => e.message).join('; ')}`);
      const value: unknown = d.toJS();
      if (value === null || value === undefined) return;
      if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`${file}#${index}: not a mapping`);
      out.push({ file, index, doc: value as Record<string, unknown> });
    });
  }
  return out;
}

/** The documents of one kind (e.g. Stage). */
export function docsOfKind(docs: KargoDoc[], kind: string): KargoDoc[] {
  return docs.filter((d) => d.doc.kind === kind);
}

/** Reads a nested value by path; undefined when any step is missing. */
export function at(value: unknown, ...path: (string | number)[]): unknown {
  let cur: unknown = value;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[key];
  }
  return cur;
}

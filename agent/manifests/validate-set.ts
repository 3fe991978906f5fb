/**
 * A manifest set's files to validated documents: parse, identify the kind, validate
 * against the kind's schema (filling defaults), then the checks across fields and
 * documents. Every problem of every file is collected; the caller rejects the set whole.
 */
import type { ManifestProblem } from '../core/errors.js';
import { KINDS, type KindDefinition } from './kinds.js';
import { parseYamlFile } from './parse-yaml.js';
import { API_VERSION, type Manifest } from './types.js';
import { validateDocument, validatorsFor } from './validate.js';

export interface ManifestFile {
  /** Path relative to the set's root, with '/' separators. */
  path: string;
  content: string;
}

export interface ValidDocument {
  file: string;
  /** Position of the document in its file, from 0. */
  index: number;
  manifest: Manifest;
}

export interface SetValidation {
  documents: ValidDocument[];
  problems: ManifestProblem[];
}

/** Problems about the set as a whole (a missing kind) name the root folder, '.'. */
export const SET_FILE = '.';

interface Candidate {
  file: string;
  index: number;
  /** "document 2: " when the file holds several documents, else ''. */
  where: string;
  kind: KindDefinition;
  value: Record<string, unknown>;
  valid: boolean;
}

export function validateManifestFiles(
  files: readonly ManifestFile[],
  kinds: readonly KindDefinition[] = KINDS,
): SetValidation {
  const validators = validatorsFor(kinds);
  const problems: ManifestProblem[] = [];
  const candidates: Candidate[] = [];
  // A document whose kind could not be told may be the missing Cluster: then "no Cluster"
  // would only repeat the real problem.
  let unidentified = 0;

  for (const { path: file, content } of files) {
    const parsed = parseYamlFile(file, content);
    problems.push(...parsed.problems);
    unidentified += parsed.problems.length;
    for (const doc of parsed.documents) {
      const where = parsed.count > 1 ? `document ${doc.index + 1}: ` : '';
      const add = (field: string, reason: string): void => {
        problems.push({ file, field, reason: `${where}${reason}` });
      };
      const kind = identify(doc.value, kinds, add);
      if (!kind) {
        unidentified += 1;
        continue;
      }
      const value = doc.value as Record<string, unknown>;
      const found = validateDocument(validators.get(kind.kind)!, value);
      for (const p of found) add(p.field, p.reason);
      candidates.push({ file, index: doc.index, where, kind, value, valid: found.length === 0 });
    }
  }

  const valid = candidates.filter((c) => c.valid);
  const manifests = valid.map((c) => c.value as unknown as Manifest);
  for (const c of valid) {
    for (const p of c.kind.check?.(c.value as unknown as Manifest, manifests) ?? []) {
      problems.push({ file: c.file, field: p.field, reason: `${c.where}${p.reason}` });
    }
  }
  problems.push(...checkCardinality(candidates, kinds, unidentified));

  return {
    documents: valid.map((c) => ({
      file: c.file,
      index: c.index,
      manifest: c.value as unknown as Manifest,
    })),
    problems,
  };
}

/** apiVersion and kind first: without them no schema can be chosen. */
function identify(
  value: unknown,
  kinds: readonly KindDefinition[],
  add: (field: string, reason: string) => void,
): KindDefinition | undefined {
  const known = kinds.map((k) => k.kind).join(', ');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    add('', `a manifest must be a mapping with apiVersion, kind, metadata and spec, got ${Array.isArray(value) ? 'a list' : JSON.stringify(value)}`);
    return undefined;
  }
  const { apiVersion, kind } = value as Record<string, unknown>;
  let ok = true;
  if (apiVersion === undefined) {
    add('/apiVersion', `required field "apiVersion" is missing; use "${API_VERSION}"`);
    ok = false;
  } else if (apiVersion !== API_VERSION) {
    add('/apiVersion', `unsupported apiVersion ${JSON.stringify(apiVersion)}; this agent reads "${API_VERSION}"`);
    ok = false;
  }
  const definition = typeof kind === 'string' ? kinds.find((k) => k.kind === kind) : undefined;
  if (kind === undefined) {
    add('/kind', `required field "kind" is missing; known kinds: ${known}`);
  } else if (!definition) {
    add('/kind', `unknown kind ${JSON.stringify(kind)}; known kinds: ${known}`);
  }
  return ok ? definition : undefined;
}

function checkCardinality(
  candidates: readonly Candidate[],
  kinds: readonly KindDefinition[],
  unidentified: number,
): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  for (const kind of kinds) {
    if (kind.cardinality !== 'exactly-one') continue;
    const found = candidates.filter((c) => c.kind === kind);
    const [first, ...extra] = found;
    if (!first) {
      if (unidentified === 0) {
        problems.push({
          file: SET_FILE,
          field: '',
          reason: `the set holds no ${kind.kind} manifest; exactly one is required`,
        });
      }
      continue;
    }
    const firstAt = `${first.file}${first.where ? ` (${first.where.slice(0, -2)})` : ''}`;
    for (const c of extra) {
      problems.push({
        file: c.file,
        field: '',
        reason: `${c.where}a second ${kind.kind} manifest (${nameOf(c.value)}); the set already has one in ${firstAt} (${nameOf(first.value)}), and holds exactly one`,
      });
    }
  }
  return problems;
}

function nameOf(value: Record<string, unknown>): string {
  const metadata = value.metadata as Record<string, unknown> | undefined;
  const name = metadata?.name;
  return typeof name === 'string' ? `"${name}"` : 'unnamed';
}

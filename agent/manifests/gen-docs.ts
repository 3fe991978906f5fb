/**
 * docs/manifests.md is generated from the schemas in the kind registry, so the reference
 * cannot drift from what the validator accepts. gen-docs.test.ts fails when the file is
 * stale. Regenerate with:
 *   PGMESH_UPDATE_DOCS=1 npx vitest run --project unit agent/manifests/gen-docs.test.ts
 * or, after a build, from the repository root:
 *   node dist/agent/manifests/gen-docs.js
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { KINDS, type KindDefinition } from './kinds.js';

export const MANIFESTS_DOC = 'docs/manifests.md';

type Schema = Record<string, unknown>;

interface Row {
  field: string;
  type: string;
  fallback: string;
  description: string;
}

export function renderManifestsReference(kinds: readonly KindDefinition[] = KINDS): string {
  const out = [
    '<!-- Generated from schemas/ by agent/manifests/gen-docs.ts. Do not edit by hand. -->',
    '',
    '# Manifests reference',
    '',
    'A manifest set is every `*.yaml` / `*.yml` file under the manifests folder (or the Git',
    'path the agent watches), read recursively in path order; files and folders whose name',
    'starts with `.` are skipped. A file may hold several documents separated by `---`. Each',
    'document names its `apiVersion` (always `pgmesh.io/v1`) and its `kind`.',
    '',
    'The set is validated as a whole before anything is applied: every problem of every file',
    'is reported at once (file, field as a JSON pointer such as `/spec/workerGroups/1/name`,',
    'and the reason), and a set with any problem is rejected whole',
    '(`PGMESH_MANIFEST_INVALID`, see [errors](errors.md)). Fields left out take the default',
    'shown below; fields not listed here are rejected.',
    '',
    'The repository\'s own [`manifests/`](../manifests/) folder is a working example.',
    '',
    `Kinds: ${kinds.map((k) => `[${k.kind}](#${k.kind.toLowerCase()})`).join(', ')}.`,
  ];
  for (const kind of kinds) out.push('', ...renderKind(kind));
  return `${out.join('\n')}\n`;
}

function renderKind(kind: KindDefinition): string[] {
  const schema = kind.schema as Schema;
  const rows: Row[] = [];
  collectRows(schema, schema, '', rows);
  const count =
    kind.cardinality === 'exactly-one' ? 'A set holds exactly one.' : 'A set may hold any number.';
  return [
    `## ${kind.kind}`,
    '',
    `${String(schema.description ?? '')} ${count}`.trim(),
    '',
    `Schema: \`schemas/${kind.kind.toLowerCase()}.schema.json\`.`,
    '',
    '| Field | Type | Default | Description |',
    '| --- | --- | --- | --- |',
    ...rows.map((r) => `| \`${r.field}\` | ${r.type} | ${r.fallback} | ${r.description} |`),
  ];
}

function collectRows(root: Schema, schema: Schema, prefix: string, rows: Row[]): void {
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  const required = new Set((schema.required ?? []) as string[]);
  for (const [name, own] of Object.entries(properties)) {
    const field = prefix === '' ? name : `${prefix}.${name}`;
    const resolved = resolve(root, own);
    const items = resolved.type === 'array' ? resolve(root, (resolved.items ?? {}) as Schema) : {};
    const reason = resolved.patternReason ?? items.patternReason;
    const description = [own.description ?? resolved.description, reason && `Value ${reason}.`]
      .filter(Boolean)
      .join(' ');
    rows.push({
      field,
      type: typeOf(resolved, items),
      fallback: required.has(name) ? 'required' : fallbackOf(own, resolved),
      description: cell(String(description)),
    });
    if (resolved.type === 'object') collectRows(root, resolved, field, rows);
    if (items.type === 'object') collectRows(root, items, `${field}[]`, rows);
  }
}

/** A property's own keywords win over those of the `$ref` it points at. */
function resolve(root: Schema, schema: Schema): Schema {
  const ref = schema.$ref;
  if (typeof ref !== 'string') return schema;
  const target = ref
    .replace(/^#\//, '')
    .split('/')
    .reduce<unknown>((node, key) => (node as Schema | undefined)?.[key], root);
  if (!target) throw new Error(`unresolved $ref ${ref}`);
  const own = { ...schema };
  delete own.$ref;
  return { ...(target as Schema), ...own };
}

function typeOf(schema: Schema, items: Schema): string {
  if ('const' in schema) return `\`${JSON.stringify(schema.const)}\``;
  if (Array.isArray(schema.enum)) {
    return schema.enum.map((v) => `\`${JSON.stringify(v).replace(/"/g, '')}\``).join(' \\| ');
  }
  switch (schema.type) {
    case 'integer':
    case 'number': {
      const range =
        typeof schema.minimum === 'number' && typeof schema.maximum === 'number'
          ? ` ${schema.minimum}–${schema.maximum}`
          : typeof schema.minimum === 'number'
            ? ` ≥ ${schema.minimum}`
            : '';
      return `${String(schema.type)}${range}`;
    }
    case 'object':
      return 'mapping';
    case 'array':
      return items.type === 'object' ? 'list of mappings' : `list of ${String(items.type)}s`;
    case 'boolean':
      return 'boolean';
    default:
      return String(schema.type ?? 'any');
  }
}

function fallbackOf(own: Schema, resolved: Schema): string {
  const value = 'default' in own ? own.default : resolved.default;
  if (value === undefined) return '';
  // An empty mapping as default means "every field inside takes its own default".
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return Object.keys(value).length === 0 ? '' : `\`${JSON.stringify(value)}\``;
  }
  return `\`${JSON.stringify(value)}\``;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** Writes the reference to `file` (relative to the current folder). */
export async function writeManifestsReference(file = MANIFESTS_DOC): Promise<void> {
  await writeFile(path.resolve(file), renderManifestsReference());
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await writeManifestsReference(process.argv[2]);
}

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ManifestInvalidError, type ManifestProblem } from '../core/errors.js';
import { parseManifestSetFromFiles } from './load.js';
import type { DistributedTableManifest, RoleManifest, VectorIndexManifest } from './types.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const CLUSTER = `apiVersion: pgmesh.io/v1
kind: Cluster
metadata:
  name: test
spec:
  coordinator:
    members: 1
`;

interface TableOptions {
  name?: string;
  table?: string;
  distributionColumn?: string;
  shardCount?: number | string;
  colocateWith?: string;
  columns?: string[];
  primaryKey?: string;
}

function table(o: TableOptions = {}): string {
  const columns = o.columns ?? [
    '{ name: namespace, type: text, notNull: true }',
    '{ name: id, type: uuid, notNull: true, defaultFunction: gen_random_uuid() }',
    '{ name: embedding, type: vector(64) }',
  ];
  return `apiVersion: pgmesh.io/v1
kind: DistributedTable
metadata:
  name: ${o.name ?? 'entries'}
spec:
  schema: app
  table: ${o.table ?? 'entries'}
  distributionColumn: ${o.distributionColumn ?? 'namespace'}
${o.shardCount !== undefined ? `  shardCount: ${o.shardCount}\n` : ''}${o.colocateWith ? `  colocateWith: ${o.colocateWith}\n` : ''}  columns:
${columns.map((c) => `    - ${c}`).join('\n')}
  primaryKey: ${o.primaryKey ?? '[namespace, id]'}
`;
}

function index(fields: Record<string, string | number> = {}): string {
  const spec = { schema: 'app', table: 'entries', column: 'embedding', ...fields };
  return `apiVersion: pgmesh.io/v1
kind: VectorIndex
metadata:
  name: ${String(fields.metaName ?? 'entries-embedding')}
spec:
${Object.entries(spec)
  .filter(([k]) => k !== 'metaName')
  .map(([k, v]) => `  ${k}: ${typeof v === 'string' && /[^a-z0-9_.()]/.test(v) ? JSON.stringify(v) : v}`)
  .join('\n')}
`;
}

function parse(docs: string[]) {
  return parseManifestSetFromFiles([
    { path: 'cluster.yaml', content: CLUSTER },
    { path: 'tables.yaml', content: docs.join('---\n') },
  ]);
}

function problems(docs: string[]): ManifestProblem[] {
  try {
    parse(docs);
  } catch (err) {
    expect(err).toBeInstanceOf(ManifestInvalidError);
    return [...(err as ManifestInvalidError).problems];
  }
  throw new Error('the set was accepted');
}

describe('DistributedTable, ReferenceTable, VectorIndex, Role: valid sets', () => {
  it('fills the defaults', () => {
    const set = parse([table(), index()]);
    const t = set.documents.find((d) => d.manifest.kind === 'DistributedTable')!
      .manifest as DistributedTableManifest;
    expect(t.spec.shardCount).toBe(32);
    expect(t.spec.columns[2]).toEqual({ name: 'embedding', type: 'vector(64)', notNull: false });
    const i = set.documents.find((d) => d.manifest.kind === 'VectorIndex')!
      .manifest as VectorIndexManifest;
    expect(i.spec).toEqual({
      schema: 'app',
      table: 'entries',
      column: 'embedding',
      method: 'hnsw',
      opclass: 'vector_cosine_ops',
      m: 16,
      efConstruction: 64,
    });
  });

  it('accepts the repository memory schema (manifests/memory.yaml)', async () => {
    const content = await readFile(path.join(REPO, 'manifests/memory.yaml'), 'utf8');
    const set = parseManifestSetFromFiles([
      { path: 'cluster.yaml', content: CLUSTER },
      { path: 'memory.yaml', content },
    ]);
    const kinds = set.documents.map((d) => d.manifest.kind);
    expect(kinds.filter((k) => k === 'DistributedTable')).toHaveLength(4);
    expect(kinds.filter((k) => k === 'VectorIndex')).toHaveLength(4);
    const roles = set.documents
      .filter((d) => d.manifest.kind === 'Role')
      .map((d) => (d.manifest as RoleManifest).spec.preset);
    expect(roles).toEqual(['app', 'readonly', 'mcp']);
  });

  it('accepts a co-located table with the same shard count, and a reference table', () => {
    const ref = `apiVersion: pgmesh.io/v1
kind: ReferenceTable
metadata:
  name: kinds
spec:
  table: kinds
  columns:
    - { name: code, type: text, notNull: true }
    - { name: label, type: varchar(40) }
  primaryKey: [code]
`;
    expect(() =>
      parse([
        table({ shardCount: 8 }),
        table({ name: 'notes', table: 'notes', shardCount: 8, colocateWith: 'app.entries' }),
        ref,
      ]),
    ).not.toThrow();
  });
});

describe('DistributedTable: bad input is rejected with file and field', () => {
  it('a distribution column that does not exist', () => {
    expect(problems([table({ distributionColumn: 'tenant' })])).toEqual([
      {
        file: 'tables.yaml',
        field: '/spec/distributionColumn',
        reason: expect.stringContaining('"tenant" does not exist') as unknown as string,
      },
    ]);
  });

  it.each([0, 1025, -1])('a shard count of %s', (n) => {
    expect(problems([table({ shardCount: n })])).toEqual([
      { file: 'tables.yaml', field: '/spec/shardCount', reason: `must be an integer from 1 to 1024, got ${n}` },
    ]);
  });

  it.each([
    ['a quote', `"ent'ries"`],
    ['a double quote', `'ent"ries'`],
    ['a semicolon', `"entries; DROP TABLE x"`],
    ['a space', `"my entries"`],
    ['upper case', 'Entries'],
  ])('a table name holding %s', (_what, name) => {
    const found = problems([table({ table: name })]);
    expect(found).toEqual([
      {
        file: 'tables.yaml',
        field: '/spec/table',
        reason: expect.stringContaining('must be a plain Postgres name') as unknown as string,
      },
    ]);
  });

  it.each([
    ['a quote', `"na'me"`],
    ['a semicolon', `"id;drop"`],
    ['a space', `"my col"`],
  ])('a column name holding %s', (_what, name) => {
    const found = problems([
      table({ columns: ['{ name: namespace, type: text }', `{ name: ${name}, type: text }`], primaryKey: '[namespace]' }),
    ]);
    expect(found).toContainEqual({
      file: 'tables.yaml',
      field: '/spec/columns/1/name',
      reason: expect.stringContaining('must be a plain Postgres name') as unknown as string,
    });
  });

  it('a distribution column name holding a semicolon', () => {
    const found = problems([table({ distributionColumn: '"namespace; DROP TABLE t"' })]);
    expect(found).toContainEqual({
      file: 'tables.yaml',
      field: '/spec/distributionColumn',
      reason: expect.stringContaining('must be a plain Postgres name') as unknown as string,
    });
  });

  it('a column type that is free SQL', () => {
    const found = problems([
      table({ columns: ['{ name: namespace, type: "text); DROP TABLE x; --" }'], primaryKey: '[namespace]' }),
    ]);
    expect(found).toEqual([
      {
        file: 'tables.yaml',
        field: '/spec/columns/0/type',
        reason: expect.stringContaining('must be one of the supported column types') as unknown as string,
      },
    ]);
  });

  it('a co-location with a table of another shard count', () => {
    const found = problems([
      table({ shardCount: 8 }),
      table({ name: 'notes', table: 'notes', shardCount: 16, colocateWith: 'entries' }),
    ]);
    expect(found).toEqual([
      {
        file: 'tables.yaml',
        field: '/spec/shardCount',
        reason: 'document 2: co-located tables share their shards: app.entries has shardCount 8, this table 16',
      },
    ]);
  });

  it('a co-location with a table that is not declared, or of another key type', () => {
    expect(problems([table({ colocateWith: 'app.missing' })])).toEqual([
      {
        file: 'tables.yaml',
        field: '/spec/colocateWith',
        reason: 'colocateWith names app.missing, which is not a DistributedTable of this set',
      },
    ]);
    const found = problems([
      table(),
      table({
        name: 'notes',
        table: 'notes',
        distributionColumn: 'id',
        colocateWith: 'entries',
      }),
    ]);
    expect(found.map((p) => p.field)).toEqual(['/spec/distributionColumn']);
  });

  it('a primary key without the distribution column, or naming an unknown column', () => {
    expect(problems([table({ primaryKey: '[id]' })]).map((p) => p.field)).toEqual(['/spec/primaryKey']);
    expect(problems([table({ primaryKey: '[namespace, nope]' })]).map((p) => p.field)).toEqual([
      '/spec/primaryKey/1',
    ]);
  });

  it('the same table declared twice', () => {
    const found = problems([table(), table({ name: 'again' })]);
    expect(found).toEqual([
      {
        file: 'tables.yaml',
        field: '/spec/table',
        reason: 'document 2: table app.entries is already declared by DistributedTable "entries"; a table is declared once',
      },
    ]);
  });

  it('an unknown field', () => {
    const found = problems([table().replace('  schema: app', '  schema: app\n  sql: "DROP TABLE x"')]);
    expect(found[0]).toMatchObject({ field: '/spec/sql', reason: expect.stringContaining('unknown field') as unknown as string });
  });
});

describe('VectorIndex and Role: bad input', () => {
  it('an index on a table that is not declared, or on a column that is not a vector', () => {
    expect(problems([table(), index({ table: 'other' })])).toEqual([
      {
        file: 'tables.yaml',
        field: '/spec/table',
        reason: 'document 2: table app.other is not declared by a DistributedTable or ReferenceTable of this set',
      },
    ]);
    expect(problems([table(), index({ column: 'namespace' })])).toEqual([
      {
        file: 'tables.yaml',
        field: '/spec/column',
        reason: 'document 2: column "namespace" of app.entries is text, not a vector(n) column',
      },
    ]);
    expect(problems([table(), index({ column: 'nope' })]).map((p) => p.field)).toEqual(['/spec/column']);
  });

  it('parameters out of range or an unknown operator class', () => {
    const fields = (f: Record<string, string | number>) =>
      problems([table(), index(f)]).map((p) => p.field);
    expect(fields({ m: 1 })).toEqual(['/spec/m']);
    expect(fields({ m: 101 })).toEqual(['/spec/m']);
    expect(fields({ efConstruction: 1001 })).toEqual(['/spec/efConstruction']);
    expect(fields({ m: 48, efConstruction: 64 })).toEqual(['/spec/efConstruction']);
    expect(fields({ opclass: 'vector_hamming_ops' })).toEqual(['/spec/opclass']);
    expect(fields({ method: 'ivfflat' })).toEqual(['/spec/method']);
  });

  it('a role with a reserved or duplicate name, a bad preset or a bad secret name', () => {
    const role = (name: string, preset = 'app', secret = 'pgmesh-role-app', meta = name) => `apiVersion: pgmesh.io/v1
kind: Role
metadata:
  name: ${meta.replace(/_/g, '-')}
spec:
  name: ${name}
  preset: ${preset}
  passwordSecret: ${JSON.stringify(secret)}
`;
    expect(problems([role('postgres')]).map((p) => p.field)).toEqual(['/spec/name']);
    expect(problems([role('pg_app')]).map((p) => p.field)).toEqual(['/spec/name']);
    expect(problems([role('app'), role('app', 'readonly', 'x', 'other')]).map((p) => p.field)).toEqual([
      '/spec/name',
    ]);
    expect(problems([role('app', 'root')]).map((p) => p.field)).toEqual(['/spec/preset']);
    expect(problems([role('app', 'app', 'bad secret')]).map((p) => p.field)).toEqual([
      '/spec/passwordSecret',
    ]);
    expect(problems([role('"app; DROP ROLE x"', 'app', 's', 'bad-role')]).map((p) => p.field)).toEqual(['/spec/name']);
  });
});

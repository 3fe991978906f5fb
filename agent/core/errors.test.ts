import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  ManifestInvalidError,
  PausedError,
  PgmeshError,
  type ErrorCode,
  type ManifestProblem,
} from './errors.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');

/** The members of `type ErrorCode = ...` in errors.ts, read from its source. */
async function codesInSource(): Promise<{ codes: string[]; classes: Map<string, string> }> {
  const source = await readFile(path.join(HERE, 'errors.ts'), 'utf8');
  const union = /export type ErrorCode =([^;]*);/.exec(source)?.[1];
  if (!union) throw new Error('no ErrorCode union in errors.ts');
  const codes = [...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]!);
  // Which class raises each code: the `super('CODE'` inside `class X extends PgmeshError`.
  const classes = new Map<string, string>();
  for (const chunk of source.split(/^export class /m).slice(1)) {
    const name = /^(\w+) extends PgmeshError\b/.exec(chunk)?.[1];
    const code = /super\(\s*'([A-Z_]+)'/.exec(chunk)?.[1];
    if (name && code) classes.set(code, name);
  }
  return { codes, classes };
}

/** The rows of the table in docs/errors.md: code, class, meaning, what to do. */
async function rowsInDocs(): Promise<string[][]> {
  const text = await readFile(path.join(REPO, 'docs/errors.md'), 'utf8');
  return text
    .split('\n')
    .filter((line) => /^\|\s*`PGMESH_/.test(line))
    .map((line) =>
      line
        .replace(/^\||\|$/g, '')
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    );
}

describe('the error catalogue', () => {
  it('docs/errors.md lists every ErrorCode, once, and nothing else', async () => {
    const { codes } = await codesInSource();
    const documented = (await rowsInDocs()).map((r) => r[0]!.replace(/`/g, ''));
    expect(codes.length).toBeGreaterThan(0);
    expect(new Set(documented).size).toBe(documented.length);
    expect([...documented].sort()).toEqual([...codes].sort());
  });

  it('each row names the class that raises the code, a meaning and what to do', async () => {
    const { classes } = await codesInSource();
    for (const row of await rowsInDocs()) {
      const code = row[0]!.replace(/`/g, '');
      expect(row, code).toHaveLength(4);
      expect(row[1]!.replace(/`/g, ''), code).toBe(classes.get(code) ?? 'PgmeshError');
      expect(row[2]!.length, `${code}: meaning`).toBeGreaterThan(20);
      expect(row[3]!.length, `${code}: what to do`).toBeGreaterThan(20);
    }
  });

  it('errors carry their code and cause, and are told apart by class', () => {
    const cause = new Error('low level');
    const err = new PgmeshError('PGMESH_MANIFEST_NOT_FOUND', 'no folder', { cause });
    expect(err.code satisfies ErrorCode).toBe('PGMESH_MANIFEST_NOT_FOUND');
    expect(err.cause).toBe(cause);
    expect(err.name).toBe('PgmeshError');
    const paused = new PausedError('paused by ops');
    expect(paused).toBeInstanceOf(PgmeshError);
    expect(paused.name).toBe('PausedError');
    expect(paused.code).toBe('PGMESH_PAUSED');
  });

  it('ManifestInvalidError keeps every problem, frozen, and lists them in its message', () => {
    const problems: ManifestProblem[] = [
      { file: 'a.yaml', field: '/spec/x', reason: 'unknown field "x"' },
      { file: 'b.yaml', field: '', reason: 'a second Cluster' },
    ];
    const err = new ManifestInvalidError(problems);
    expect(err.code).toBe('PGMESH_MANIFEST_INVALID');
    expect(err.problems).toEqual(problems);
    expect(Object.isFrozen(err.problems)).toBe(true);
    expect(err.message).toContain('2 problems');
    expect(err.message).toContain('a.yaml: /spec/x: unknown field "x"');
    expect(err.message).toContain('b.yaml: (document): a second Cluster');
  });
});

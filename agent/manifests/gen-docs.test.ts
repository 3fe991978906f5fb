import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MANIFESTS_DOC, renderManifestsReference } from './gen-docs.js';
import { KINDS } from './kinds.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('docs/manifests.md', () => {
  it('is generated from the current schemas', async () => {
    const file = path.join(REPO, MANIFESTS_DOC);
    const expected = renderManifestsReference();
    if (process.env.PGMESH_UPDATE_DOCS === '1') await writeFile(file, expected);
    const actual = await readFile(file, 'utf8').catch(() => '');
    // On failure: PGMESH_UPDATE_DOCS=1 npx vitest run --project unit agent/manifests/gen-docs.test.ts
    expect(actual, `${MANIFESTS_DOC} is stale; regenerate it`).toBe(expected);
  });

  it('documents every property of every schema', () => {
    const text = renderManifestsReference();
    const missing: string[] = [];
    const walk = (schema: Record<string, unknown>, at: string): void => {
      for (const [key, value] of Object.entries(schema)) {
        if (key === 'properties') {
          for (const [name, prop] of Object.entries(value as Record<string, unknown>)) {
            const p = prop as Record<string, unknown>;
            if (typeof p.description !== 'string' || p.description === '') {
              missing.push(`${at}/${name}`);
            }
            walk(p, `${at}/${name}`);
          }
        } else if (key !== '$defs' && typeof value === 'object' && value !== null) {
          walk(value as Record<string, unknown>, `${at}/${key}`);
        }
      }
    };
    for (const kind of KINDS) {
      walk(kind.schema as Record<string, unknown>, kind.kind);
      expect(text).toContain(`## ${kind.kind}`);
    }
    expect(missing).toEqual([]);
    expect(text).toContain('| `spec.workerGroups[].name` | string | required |');
  });
});

import { describe, expect, it } from 'vitest';
import { parseRows } from '../load/parse.js';
import { DEFAULT_DATASET, generateRows } from './dataset.js';
import { toCsv } from './run.js';

describe("the bench's CSV for pgmesh load", () => {
  it('reads back exactly the generated rows (quoted vectors and JSON included)', async () => {
    const rows = generateRows({ ...DEFAULT_DATASET, rows: 30, namespaces: 3, dims: 8 });
    rows[0]!.content = 'a "quoted", multi\nline content';
    const table = ['namespace', 'id', 'key', 'content', 'metadata', 'embedding'].map((name) => ({
      name,
      type: 'text',
    }));
    const got: (string | null)[][] = [];
    for await (const r of parseRows({ format: 'csv', file: 'x', chunks: [toCsv(rows)], table })) {
      got.push(r.values);
    }
    expect(got).toEqual(
      rows.map((r) => [r.namespace, r.id, r.key, r.content, r.metadata, r.embedding]),
    );
  });
});

import { describe, expect, it } from 'vitest';
import { LoadInputError } from '../core/errors.js';
import {
  copyLine,
  csvRecords,
  formatOf,
  jsonValueText,
  parseRows,
  type ColumnInfo,
} from './parse.js';

const table: ColumnInfo[] = [
  { name: 'namespace', type: 'text' },
  { name: 'id', type: 'uuid' },
  { name: 'metadata', type: 'jsonb' },
  { name: 'embedding', type: 'vector(3)' },
  { name: 'tags', type: 'text[]' },
];

async function all<T>(g: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of g) out.push(x);
  return out;
}

/** The input in awkward chunks, so no token is assumed to arrive whole. */
function chunked(text: string, size = 3): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

describe('CSV', () => {
  it('parses quotes, doubled quotes, commas and line breaks inside quotes, CRLF, and NULLs', async () => {
    const text = 'a,b,c\r\n"x, y","say ""hi""",\n"multi\nline","",z\n';
    const recs = await all(csvRecords(chunked(text), 'in.csv'));
    expect(recs).toEqual([
      { line: 1, fields: ['a', 'b', 'c'] },
      { line: 2, fields: ['x, y', 'say "hi"', null] },
      { line: 3, fields: ['multi\nline', '', 'z'] },
    ]);
  });

  it('names file and line of a broken quote', async () => {
    await expect(all(csvRecords(['a,b\n"open,x\n'], 'in.csv'))).rejects.toThrow(
      /in\.csv:2: a quoted field is not closed/,
    );
    await expect(all(csvRecords(['a,b\nx"y,1\n'], 'in.csv'))).rejects.toThrow(
      /in\.csv:2: a quote inside an unquoted field/,
    );
  });

  it('maps rows to the header, and names the line with the wrong number of fields', async () => {
    const good = 'namespace,id\nn1,00000000-0000-0000-0000-000000000001\n';
    const rows = await all(parseRows({ format: 'csv', file: 'f.csv', chunks: [good], table }));
    expect(rows).toEqual([{ line: 2, values: ['n1', '00000000-0000-0000-0000-000000000001'] }]);
    const bad = 'namespace,id\nn1,x\nn2\n';
    const err = await all(parseRows({ format: 'csv', file: 'f.csv', chunks: [bad], table })).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LoadInputError);
    expect((err as LoadInputError).line).toBe(3);
    expect((err as Error).message).toBe(
      'f.csv:3: expected 2 fields (namespace, id), found 1; nothing was loaded',
    );
  });

  it('refuses a header column the table does not have', async () => {
    await expect(
      all(parseRows({ format: 'csv', file: 'f.csv', chunks: ['namespace,nope\n'], table })),
    ).rejects.toThrow(/f\.csv:1: column "nope" is not a column of the table/);
  });
});

describe('JSONL', () => {
  it('turns values into the text PostgreSQL reads for each column type', async () => {
    const text =
      '{"namespace":"n","metadata":{"a":1},"embedding":[1,2.5,3],"tags":["x","y z"]}\n\n' +
      '{"namespace":"m","metadata":null}\n';
    const rows = await all(
      parseRows({ format: 'jsonl', file: 'f.jsonl', chunks: chunked(text, 7), table }),
    );
    expect(rows).toEqual([
      { line: 1, values: ['n', '{"a":1}', '[1,2.5,3]', '{"x","y z"}'] },
      { line: 3, values: ['m', null, null, null] },
    ]);
  });

  it('names file and line of a malformed line, a non-object and an unknown field', async () => {
    const run = (text: string) =>
      all(parseRows({ format: 'jsonl', file: 'in.jsonl', chunks: [text], table }));
    await expect(run('{"namespace":"a"}\n{"namespace":\n')).rejects.toThrow(
      /^in\.jsonl:2: invalid JSON/,
    );
    await expect(run('{"namespace":"a"}\n[1]\n')).rejects.toThrow(
      'in.jsonl:2: expected a JSON object',
    );
    await expect(run('{"namespace":"a"}\n{"namespace":"b","x":1}\n')).rejects.toThrow(
      /in\.jsonl:2: field "x" is not among the columns loaded/,
    );
  });

  it('keeps numbers and booleans as text, objects as JSON', () => {
    expect(jsonValueText(3, table[0]!)).toBe('3');
    expect(jsonValueText(true, table[0]!)).toBe('true');
    expect(jsonValueText({ b: [1] }, table[2]!)).toBe('{"b":[1]}');
  });
});

describe('COPY text', () => {
  it('escapes backslash, tab and line ends, and writes NULL as \\N', () => {
    expect(copyLine(['a\tb', 'c\\d', 'e\nf\rg', null])).toBe('a\\tb\tc\\\\d\te\\nf\\rg\t\\N\n');
  });

  it('knows the format from the file name', () => {
    expect(formatOf('x.CSV')).toBe('csv');
    expect(formatOf('x.jsonl')).toBe('jsonl');
    expect(formatOf('x.ndjson')).toBe('jsonl');
    expect(formatOf('x.txt')).toBeUndefined();
  });
});

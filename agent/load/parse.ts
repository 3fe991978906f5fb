/**
 * Input parsing for `pgmesh load`: CSV (RFC 4180, a header row by default) and JSONL (one
 * object per line), into rows of text values aligned to a column list, and their
 * encoding as COPY text. Pure: chunks in, rows out; every problem names file and line.
 */
import { LoadInputError } from '../core/errors.js';

export type InputFormat = 'csv' | 'jsonl';

/** One record: its first line in the input, and one value per column (null = SQL NULL). */
export interface InputRow {
  line: number;
  values: (string | null)[];
}

/** The format a file name implies, if any. */
export function formatOf(file: string): InputFormat | undefined {
  if (/\.csv$/i.test(file)) return 'csv';
  if (/\.(jsonl|ndjson)$/i.test(file)) return 'jsonl';
  return undefined;
}

/**
 * CSV records as arrays of fields. An unquoted empty field is NULL (as in PostgreSQL's
 * CSV COPY), a quoted empty one the empty string. Quoted fields may span lines.
 */
export async function* csvRecords(
  chunks: AsyncIterable<string> | Iterable<string>,
  file: string,
): AsyncGenerator<{ line: number; fields: (string | null)[] }> {
  let fields: (string | null)[] = [];
  let field = '';
  let quoted = false; // the current field was quoted
  let inQuotes = false;
  let afterQuote = false; // just read the closing quote (or the first of a "" pair)
  let line = 1;
  let recordLine = 1;
  let pendingCR = false;
  const endField = () => {
    fields.push(quoted || field !== '' ? field : null);
    field = '';
    quoted = false;
    afterQuote = false;
  };
  const special = /[,"\r\n]/g;
  for await (const chunk of chunks) {
    let i = 0;
    while (i < chunk.length) {
      if (pendingCR) {
        pendingCR = false;
        if (chunk[i] === '\n') {
          i++;
          continue;
        }
      }
      if (inQuotes) {
        // Take everything up to the next quote in one step (large fields are the norm).
        const q = chunk.indexOf('"', i);
        const text = chunk.slice(i, q < 0 ? chunk.length : q);
        for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) line++;
        field += text;
        if (q < 0) break;
        inQuotes = false;
        afterQuote = true;
        i = q + 1;
        continue;
      }
      const ch = chunk[i]!;
      if (afterQuote && ch === '"') {
        // "" inside a quoted field: a literal quote, and still inside the quotes.
        field += '"';
        inQuotes = true;
        afterQuote = false;
        i++;
        continue;
      }
      if (ch === ',') {
        endField();
      } else if (ch === '\n' || ch === '\r') {
        endField();
        if (!(fields.length === 1 && fields[0] === null)) yield { line: recordLine, fields };
        fields = [];
        if (ch === '\r') pendingCR = true;
        line++;
        recordLine = line;
      } else if (ch === '"') {
        if (field !== '' || quoted) {
          throw new LoadInputError(file, line, 'a quote inside an unquoted field');
        }
        quoted = true;
        inQuotes = true;
      } else {
        if (afterQuote) {
          throw new LoadInputError(
            file,
            line,
            `unexpected ${JSON.stringify(ch)} after a closing quote`,
          );
        }
        // Plain text up to the next special character, in one step.
        special.lastIndex = i;
        const m = special.exec(chunk);
        const stop = m ? m.index : chunk.length;
        field += chunk.slice(i, stop);
        i = stop;
        continue;
      }
      i++;
    }
  }
  if (inQuotes) throw new LoadInputError(file, recordLine, 'a quoted field is not closed');
  if (field !== '' || quoted || fields.length > 0) {
    endField();
    yield { line: recordLine, fields };
  }
}

/** Lines of the input with their numbers (1-based), without line ends. */
export async function* lines(
  chunks: AsyncIterable<string> | Iterable<string>,
): AsyncGenerator<{ line: number; text: string }> {
  let rest = '';
  let n = 0;
  for await (const chunk of chunks) {
    rest += chunk;
    let at: number;
    while ((at = rest.indexOf('\n')) >= 0) {
      n++;
      yield { line: n, text: rest.slice(0, at).replace(/\r$/, '') };
      rest = rest.slice(at + 1);
    }
  }
  if (rest !== '') yield { line: n + 1, text: rest.replace(/\r$/, '') };
}

/** Column types the JSON encoder needs to know: which are PostgreSQL arrays. */
export interface ColumnInfo {
  name: string;
  /** format_type(): `text`, `vector(384)`, `integer[]`, ... */
  type: string;
}

/** A PostgreSQL array literal from a JSON array: `{1,2,"a b",NULL}`. */
export function pgArrayLiteral(values: unknown[]): string {
  const items = values.map((v) => {
    if (v === null || v === undefined) return 'NULL';
    if (Array.isArray(v)) return pgArrayLiteral(v);
    const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
    return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  });
  return `{${items.join(',')}}`;
}

/** One JSON value as the text PostgreSQL reads for a column of this type. */
export function jsonValueText(v: unknown, column: ColumnInfo): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  // JSON arrays read as pgvector's '[1,2,3]' and jsonb as is; PostgreSQL arrays need '{}'.
  if (Array.isArray(v) && column.type.endsWith('[]')) return pgArrayLiteral(v);
  return JSON.stringify(v);
}

/**
 * Rows of the input, each with one value per column of `columns`. CSV takes its column
 * names from the header row (unless `header` is false and `columns` given); JSONL from
 * `columns` or else the first object's keys. A column the table lacks is an error.
 */
export async function* parseRows(options: {
  format: InputFormat;
  file: string;
  chunks: AsyncIterable<string> | Iterable<string>;
  table: readonly ColumnInfo[];
  columns?: readonly string[];
  header?: boolean;
  onColumns?: (columns: ColumnInfo[]) => void;
}): AsyncGenerator<InputRow> {
  const { file, table } = options;
  const byName = new Map(table.map((c) => [c.name, c]));
  let columns: ColumnInfo[] | undefined;
  const resolve = (names: readonly string[], line: number): ColumnInfo[] => {
    const seen = new Set<string>();
    return names.map((n) => {
      const c = byName.get(n);
      if (!c) {
        throw new LoadInputError(
          file,
          line,
          `column ${JSON.stringify(n)} is not a column of the table (it has ${table.map((t) => t.name).join(', ')})`,
        );
      }
      if (seen.has(n))
        throw new LoadInputError(file, line, `column ${JSON.stringify(n)} appears twice`);
      seen.add(n);
      return c;
    });
  };
  if (options.columns) {
    columns = resolve(options.columns, 0);
    options.onColumns?.(columns);
  }
  if (options.format === 'csv') {
    const header = options.header ?? true;
    let first = true;
    for await (const rec of csvRecords(options.chunks, file)) {
      if (first && header) {
        first = false;
        const names = rec.fields.map((f) => (f ?? '').trim());
        if (!columns) {
          columns = resolve(names, rec.line);
          options.onColumns?.(columns);
        }
        continue;
      }
      first = false;
      if (!columns) throw new LoadInputError(file, rec.line, 'no header row and no --columns');
      if (rec.fields.length !== columns.length) {
        throw new LoadInputError(
          file,
          rec.line,
          `expected ${columns.length} fields (${columns.map((c) => c.name).join(', ')}), found ${rec.fields.length}`,
        );
      }
      yield { line: rec.line, values: rec.fields };
    }
    return;
  }
  for await (const { line, text } of lines(options.chunks)) {
    if (text.trim() === '') continue;
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (err) {
      throw new LoadInputError(file, line, `invalid JSON: ${(err as Error).message}`);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      throw new LoadInputError(file, line, 'expected a JSON object');
    }
    const record = obj as Record<string, unknown>;
    if (!columns) {
      columns = resolve(Object.keys(record), line);
      options.onColumns?.(columns);
    }
    const known = new Set(columns.map((c) => c.name));
    for (const k of Object.keys(record)) {
      if (!known.has(k)) {
        throw new LoadInputError(
          file,
          line,
          `field ${JSON.stringify(k)} is not among the columns loaded (${[...known].join(', ')})`,
        );
      }
    }
    yield { line, values: columns.map((c) => jsonValueText(record[c.name], c)) };
  }
}

/** One value in COPY's text format. */
export function copyField(v: string | null): string {
  if (v === null) return '\\N';
  return v.replace(/[\\\t\n\r]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
  );
}

/** One row in COPY's text format, with its line end. */
export function copyLine(values: readonly (string | null)[]): string {
  return `${values.map(copyField).join('\t')}\n`;
}

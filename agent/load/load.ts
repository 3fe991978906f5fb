/**
 * The bulk-load path (`pgmesh load`, and the bench's bulk workload): rows from CSV or
 * JSONL into a table through the cluster's endpoint, one COPY stream per worker group,
 * all groups in parallel. Each COPY carries only rows of its own group, because COPY into
 * a distributed parent is not checked for cross-group writes (docs/engine.md): a group's
 * COPY is one transaction on one group, so it takes all of its rows or none.
 *
 * The input is read and checked whole before anything is sent, so a malformed line
 * loads nothing (memory use is about the size of the input).
 */
import pg from 'pg';
import { LoadFailedError, LoadInputError } from '../core/errors.js';
import { CopyFromQuery } from './copy-from.js';
import { copyLine, parseRows, type ColumnInfo, type InputFormat } from './parse.js';

export interface LoadOptions {
  /** A new client through the endpoint; the load ends every client it opens. */
  connect: () => Promise<pg.Client>;
  /** Table name as a user writes it (`memory.memory_entries`). */
  table: string;
  format: InputFormat;
  /** Shown in errors: the file name, or `stdin`. */
  file: string;
  chunks: AsyncIterable<string> | Iterable<string>;
  columns?: readonly string[];
  header?: boolean;
  /** ANALYZE the table afterwards (the engine needs statistics to push ORDER BY/LIMIT down). */
  analyze?: boolean;
  chunkBytes?: number;
  /** Rows read so far while parsing (every 1000 rows). */
  onParsed?: (rows: number) => void;
  /** Called once before sending, with the total. */
  onStart?: (total: number, groups: number) => void;
  /** Rows handed to the server so far, over all groups. */
  onProgress?: (sent: number, total: number) => void;
}

export interface GroupResult {
  group: string;
  rows: number;
  ms: number;
}

export interface LoadResult {
  table: string;
  rows: number;
  /** Time of the COPY streams only (parsing and ANALYZE excluded). */
  copyMs: number;
  groups: GroupResult[];
}

interface Batch {
  buf: Buffer;
  rows: number;
}

interface TableInfo {
  name: string;
  columns: ColumnInfo[];
  distColumn: string | undefined;
}

async function describeTable(c: pg.Client, table: string): Promise<TableInfo> {
  const rel = await c.query<{ oid: number; name: string }>(
    'SELECT c.oid::int AS oid, c.oid::regclass::text AS name FROM pg_class c WHERE c.oid = to_regclass($1)',
    [table],
  );
  const row = rel.rows[0];
  if (!row) throw new LoadInputError(table, 0, 'no such table (give it as schema.table)');
  const cols = await c.query<ColumnInfo>(
    `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
      WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [row.oid],
  );
  const engine = await c.query<{ ok: boolean }>(
    "SELECT to_regclass('pgmesh.distributed_tables') IS NOT NULL AS ok",
  );
  let distColumn: string | undefined;
  if (engine.rows[0]?.ok) {
    const d = await c.query<{ col: string }>(
      'SELECT dist_column::text AS col FROM pgmesh.distributed_tables WHERE relid = $1::oid::regclass',
      [row.oid],
    );
    distColumn = d.rows[0]?.col;
  }
  return { name: row.name, columns: cols.rows, distColumn };
}

/** The worker group of each distinct key, by the hash PostgreSQL's tuple routing uses. */
async function groupsOf(
  c: pg.Client,
  t: TableInfo,
  keyType: string,
  keys: string[],
): Promise<Map<string, string>> {
  // keyType comes from format_type() of the catalog, not from the input.
  const r = await c.query<{ k: string; g: string }>(
    `SELECT k, s.group_name AS g FROM unnest($2::text[]) AS k
       JOIN pgmesh.shards s ON s.relid = $1::regclass
        AND satisfies_hash_partition($1::regclass, s.modulus, s.remainder, k::${keyType})`,
    [t.name, keys],
  );
  return new Map(r.rows.map((x) => [x.k, x.g]));
}

function batches(lines: string[], chunkBytes: number): Batch[] {
  const out: Batch[] = [];
  let cur: string[] = [];
  let size = 0;
  for (const l of lines) {
    cur.push(l);
    size += l.length;
    if (size >= chunkBytes) {
      out.push({ buf: Buffer.from(cur.join(''), 'utf8'), rows: cur.length });
      cur = [];
      size = 0;
    }
  }
  if (cur.length) out.push({ buf: Buffer.from(cur.join(''), 'utf8'), rows: cur.length });
  return out;
}

async function copyGroup(
  connect: () => Promise<pg.Client>,
  sql: string,
  group: Batch[],
  onRows: (n: number) => void,
): Promise<number> {
  const client = await connect();
  try {
    const closed = new Promise<never>((_, reject) =>
      client.once('end', () => reject(new Error('the connection closed during COPY'))),
    );
    closed.catch(() => undefined);
    const q = new CopyFromQuery(
      sql,
      group.map((b) => b.buf),
      (_, i) => onRows(group[i]!.rows),
    );
    client.query(q as unknown as pg.Submittable);
    return await Promise.race([q.done, closed]);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function loadTable(o: LoadOptions): Promise<LoadResult> {
  const meta = await o.connect();
  let info: TableInfo;
  try {
    info = await describeTable(meta, o.table);
  } catch (err) {
    await meta.end().catch(() => undefined);
    throw err;
  }
  try {
    let columns: ColumnInfo[] = [];
    const rows: { line: number; values: (string | null)[] }[] = [];
    for await (const row of parseRows({
      format: o.format,
      file: o.file,
      chunks: o.chunks,
      table: info.columns,
      columns: o.columns,
      header: o.header,
      onColumns: (c) => (columns = c),
    })) {
      rows.push(row);
      if (rows.length % 1000 === 0) o.onParsed?.(rows.length);
    }
    o.onParsed?.(rows.length);

    // Rows per group: by the distribution key, or one stream for a plain table.
    const perGroup = new Map<string, string[]>();
    if (info.distColumn) {
      const k = columns.findIndex((c) => c.name === info.distColumn);
      if (k < 0) {
        throw new LoadInputError(
          o.file,
          0,
          `the input has no column ${JSON.stringify(info.distColumn)}, the distribution column of ${info.name}: each row needs it to be sent to its worker group`,
        );
      }
      const keys = new Set<string>();
      for (const r of rows) {
        const key = r.values[k];
        if (key === null || key === undefined) {
          throw new LoadInputError(
            o.file,
            r.line,
            `no value for the distribution column ${info.distColumn}`,
          );
        }
        keys.add(key);
      }
      let where: Map<string, string>;
      try {
        where = await groupsOf(meta, info, columns[k]!.type, [...keys]);
      } catch (err) {
        throw new LoadInputError(
          o.file,
          0,
          `a value of ${info.distColumn} is not a valid ${columns[k]!.type}: ${(err as Error).message}`,
        );
      }
      for (const r of rows) {
        const g = where.get(r.values[k]!);
        if (!g)
          throw new LoadInputError(
            o.file,
            r.line,
            `no shard holds key ${JSON.stringify(r.values[k])}`,
          );
        let list = perGroup.get(g);
        if (!list) perGroup.set(g, (list = []));
        list.push(copyLine(r.values));
      }
    } else if (rows.length) {
      perGroup.set(
        '(table)',
        rows.map((r) => copyLine(r.values)),
      );
    }

    const sql = `COPY ${info.name} (${columns.map((c) => pg.escapeIdentifier(c.name)).join(', ')}) FROM STDIN`;
    const total = rows.length;
    rows.length = 0;
    o.onStart?.(total, perGroup.size);
    let sent = 0;
    const started = performance.now();
    const groups = [...perGroup.entries()].sort(([a], [b]) => a.localeCompare(b));
    const settled = await Promise.allSettled(
      groups.map(async ([group, lines]) => {
        const t0 = performance.now();
        const n = await copyGroup(
          o.connect,
          sql,
          batches(lines, o.chunkBytes ?? 256 * 1024),
          (r) => {
            sent += r;
            o.onProgress?.(sent, total);
          },
        );
        return { group, rows: n, ms: performance.now() - t0 };
      }),
    );
    const copyMs = performance.now() - started;
    const failed = settled.flatMap((s, i) =>
      s.status === 'rejected' ? [`${groups[i]![0]}: ${(s.reason as Error).message}`] : [],
    );
    const done = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    if (failed.length) {
      const loaded = done.map((d) => `${d.group}: ${d.rows} rows loaded`);
      throw new LoadFailedError(
        `COPY into ${info.name} failed on ${failed.length} of ${groups.length} worker group(s); ` +
          `${done.reduce((a, d) => a + d.rows, 0)} of ${total} rows were loaded` +
          `\n  ${[...failed.map((f) => `${f} (nothing loaded)`), ...loaded].join('\n  ')}`,
      );
    }
    if (o.analyze ?? true) await meta.query(`ANALYZE ${info.name}`);
    return { table: info.name, rows: done.reduce((a, d) => a + d.rows, 0), copyMs, groups: done };
  } finally {
    await meta.end().catch(() => undefined);
  }
}

/**
 * The optional read-only SQL tool. What keeps it read-only is the database, not a parser:
 * the role `<role>_ro` has SELECT on the memory tables only and the agent's read
 * namespaces by row-level security; each call runs in `BEGIN READ ONLY` with a local
 * statement timeout and is rolled back, so a `SET` in the statement does not outlive it;
 * and the statement goes through the extended protocol, where PostgreSQL refuses more
 * than one command ("cannot insert multiple commands into a prepared statement").
 */
import type pg from 'pg';

export interface SqlResult {
  columns: string[];
  rows: unknown[][];
  truncated: boolean;
}

export async function runReadOnlySql(
  pool: pg.Pool,
  sql: string,
  options: { timeoutMs: number; maxRows: number },
): Promise<SqlResult> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN READ ONLY');
    await client.query(
      `SET LOCAL statement_timeout = ${Math.max(1, Math.floor(options.timeoutMs))}`,
    );
    // queryMode is node-postgres' switch to the extended protocol (not in its types).
    const config = { text: sql, rowMode: 'array', queryMode: 'extended' } as pg.QueryArrayConfig;
    const r = await client.query(config);
    const rows = (r.rows as unknown[][]) ?? [];
    return {
      columns: (r.fields ?? []).map((f) => f.name),
      rows: rows.slice(0, options.maxRows),
      truncated: rows.length > options.maxRows,
    };
  } catch (err) {
    broken = !(err as { code?: string }).code;
    throw err;
  } finally {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    client.release(broken);
  }
}

/**
 * Installs and upgrades the pgmesh engine's SQL on a coordinator: every file listed in
 * MIGRATIONS is applied once, in order, each in its own transaction, and recorded in
 * pgmesh.schema_version (with a checksum, so an edited, already-applied file is
 * reported rather than silently skipped). Concurrent installers serialise on an
 * advisory lock. Running it again is a no-op.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClientBase } from 'pg';

export interface Migration {
  version: number;
  /** Path under sql/. */
  file: string;
}

export const MIGRATIONS: readonly Migration[] = Object.freeze([
  { version: 1, file: 'engine/001_metadata.sql' },
  { version: 2, file: 'engine/002_groups.sql' },
  { version: 3, file: 'engine/003_distribute.sql' },
  { version: 4, file: 'engine/004_moves.sql' },
  { version: 5, file: 'engine/005_search.sql' },
  { version: 6, file: 'memory/001_memory.sql' },
  { version: 7, file: 'engine/006_move_start_undo.sql' },
  { version: 8, file: 'engine/007_ddl.sql' },
  { version: 9, file: 'engine/008_tables.sql' },
  { version: 10, file: 'engine/010_two_phase.sql' },
  { version: 15, file: 'engine/015_mcp.sql' },
]);

export interface InstallResult {
  applied: number[];
  current: number;
}

/** Arbitrary constant: the advisory lock key of the installer. */
const INSTALL_LOCK = 0x70676d65;

/** sql/ of the repository: the nearest ancestor of this module holding sql/engine. */
export function defaultSqlDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'sql', 'engine'))) return join(dir, 'sql');
    dir = dirname(dir);
  }
  throw new Error('pgmesh: cannot find the engine SQL (sql/engine) above ' + dir);
}

function checksum(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export async function installEngine(
  client: ClientBase,
  options: { sqlDir?: string; upTo?: number } = {},
): Promise<InstallResult> {
  const sqlDir = options.sqlDir ?? defaultSqlDir();
  const upTo = options.upTo ?? Number.MAX_SAFE_INTEGER;
  const applied: number[] = [];
  await client.query('SELECT pg_advisory_lock($1)', [INSTALL_LOCK]);
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS pgmesh;
      CREATE TABLE IF NOT EXISTS pgmesh.schema_version (
        version int PRIMARY KEY, file text NOT NULL, checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: number; checksum: string; file: string }>(
      'SELECT version, checksum, file FROM pgmesh.schema_version',
    );
    const done = new Map(rows.map((r) => [r.version, r]));
    for (const m of MIGRATIONS) {
      if (m.version > upTo) break;
      const text = await readFile(join(sqlDir, m.file), 'utf8');
      const sum = checksum(text);
      const prior = done.get(m.version);
      if (prior) {
        if (prior.checksum !== sum) {
          throw new Error(
            `pgmesh engine migration ${m.version} (${m.file}) was applied with other content; write a new version instead of editing it`,
          );
        }
        continue;
      }
      await client.query('BEGIN');
      try {
        await client.query(text);
        await client.query(
          'INSERT INTO pgmesh.schema_version (version, file, checksum) VALUES ($1, $2, $3)',
          [m.version, m.file, sum],
        );
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`pgmesh engine migration ${m.version} (${m.file}) failed`, { cause: err });
      }
      applied.push(m.version);
    }
    const cur = await client.query<{ v: number | null }>(
      'SELECT max(version) AS v FROM pgmesh.schema_version',
    );
    return { applied, current: cur.rows[0]?.v ?? 0 };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [INSTALL_LOCK]);
  }
}

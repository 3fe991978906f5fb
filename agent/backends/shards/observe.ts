/**
 * Reads the engine's live state through one coordinator connection: metadata tables, the
 * indexes and sizes of every shard (read on each worker group through dblink over the
 * engine's own foreign server), running moves, and roles with their privileges.
 */
import { readFile } from 'node:fs/promises';
import type { ClientBase } from 'pg';
import { latestRun } from './progress.js';
import { scramMatches } from './scram.js';
import { hnswOptions } from './sql.js';
import type {
  LiveGroup,
  LiveInDoubt,
  LiveGroupRole,
  LiveIndex,
  LiveRole,
  LiveShard,
  LiveShards,
  LiveTable,
  ShardsContext,
  LiveMcp,
} from './types.js';

const ACTIVE_MOVE_STATES = ['started', 'copying', 'ready', 'switched'];
const SYSTEM_SCHEMAS = [
  'pg_catalog',
  'information_schema',
  'pgmesh',
  'pgmesh_part',
  'pgmesh_shards',
];
const COMMENT_PREFIX = 'pgmesh:passwordSecret=';

export async function observeShards(ctx: ShardsContext): Promise<LiveShards> {
  const session = await ctx.connect();
  try {
    return await observeWith(session.client, ctx);
  } finally {
    await session.release();
  }
}

export async function observeWith(client: ClientBase, ctx: ShardsContext): Promise<LiveShards> {
  const roles = await observeRoles(client, ctx);
  const installed = await client.query<{ ok: boolean }>(
    "SELECT to_regclass('pgmesh.schema_version') IS NOT NULL AND to_regclass('pgmesh.shards') IS NOT NULL AS ok",
  );
  if (!installed.rows[0]?.ok) {
    return {
      engineVersion: 0,
      groups: [],
      tables: await observeTables(client),
      shards: [],
      indexes: [],
      moves: [],
      shardCommands: [],
      roles,
    };
  }
  const version = await client.query<{ v: number | null }>(
    'SELECT max(version) AS v FROM pgmesh.schema_version',
  );
  const groupRows = await client.query<{
    group_name: string;
    hosts: string[];
    port: number;
    dbname: string;
    server_name: string;
    state: 'active' | 'draining';
  }>(
    'SELECT group_name, hosts, port, dbname, server_name, state FROM pgmesh.worker_groups ORDER BY group_name',
  );
  const shardRows = await client.query<{
    table_name: string;
    colocation_id: number;
    remainder: number;
    group_name: string;
    shard_table: string;
    partition: string;
    analyzed_rows: number | null;
  }>(`SELECT n.nspname || '.' || c.relname AS table_name, d.colocation_id, s.remainder, s.group_name, s.shard_table,
             s.partition::text, pc.reltuples::float8 AS analyzed_rows
        FROM pgmesh.shards s JOIN pgmesh.distributed_tables d USING (relid)
        JOIN pg_class c ON c.oid = s.relid JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_class pc ON pc.relname = s.partition AND pc.relnamespace = 'pgmesh_part'::regnamespace
       ORDER BY 1, s.remainder`);
  const moves = await client.query<{
    move_id: string;
    colocation_id: number;
    remainder: number;
    source_group: string;
    target_group: string;
    state: string;
  }>(
    'SELECT move_id, colocation_id, remainder, source_group, target_group, state FROM pgmesh.data_moves WHERE state = ANY($1) ORDER BY move_id',
    [ACTIVE_MOVE_STATES],
  );
  const commands = await client.query<{ table_name: string; command: string }>(
    `SELECT n.nspname || '.' || c.relname AS table_name, sc.command
       FROM pgmesh.shard_commands sc JOIN pg_class c ON c.oid = sc.relid
       JOIN pg_namespace n ON n.oid = c.relnamespace ORDER BY 1, sc.seq`,
  );

  const groups: LiveGroup[] = [];
  const indexes: LiveIndex[] = [];
  const sizes = new Map<string, number>();
  const rowCounts = new Map<string, number>();
  for (const g of groupRows.rows) {
    const group: LiveGroup = {
      name: g.group_name,
      hosts: g.hosts,
      port: g.port,
      dbname: g.dbname,
      state: g.state,
      reachable: true,
    };
    try {
      const found = await observeGroup(client, g.server_name);
      for (const i of found.indexes) indexes.push({ ...i, group: g.group_name });
      for (const [t, b] of found.sizes) sizes.set(`${g.group_name}/${t}`, b);
      for (const [t, n] of found.rows) rowCounts.set(`${g.group_name}/${t}`, n);
      group.tables = [...found.sizes.keys()].sort();
    } catch (err) {
      group.reachable = false;
      group.error = err instanceof Error ? err.message : String(err);
    }
    if (group.reachable) {
      try {
        group.roles = await observeGroupRoles(client, g.server_name);
      } catch (err) {
        group.rolesError = err instanceof Error ? err.message : String(err);
      }
    }
    groups.push(group);
  }
  const shards: LiveShard[] = shardRows.rows.map((s) => ({
    table: s.table_name,
    colocationId: s.colocation_id,
    remainder: s.remainder,
    group: s.group_name,
    shardTable: s.shard_table,
    bytes: sizes.get(`${s.group_name}/${s.shard_table}`) ?? 0,
    partition: s.partition,
    analyzedRows: s.analyzed_rows ?? -1,
    rows: rowCounts.get(`${s.group_name}/${s.shard_table}`) ?? null,
  }));
  return {
    engineVersion: version.rows[0]?.v ?? 0,
    groups,
    tables: await observeTables(client),
    shards,
    indexes,
    moves: moves.rows.map((m) => ({
      moveId: Number(m.move_id),
      colocationId: m.colocation_id,
      remainder: m.remainder,
      source: m.source_group,
      target: m.target_group,
      state: m.state,
    })),
    shardCommands: commands.rows.map((c) => ({ table: c.table_name, command: c.command })),
    roles,
    mcp: (version.rows[0]?.v ?? 0) >= 15 ? await observeMcp(client) : null,
    rebalance: await latestRun(client),
    inDoubt: await observeInDoubt(client),
  };
}

/**
 * Prepared transactions the engine's two-phase commit left on the groups (engine v10).
 * A group that cannot be reached makes this unknown (undefined), not an error of the
 * whole observation: the rest of the engine is still planned.
 */
async function observeInDoubt(client: ClientBase): Promise<LiveInDoubt[] | undefined> {
  const has = await client.query<{ ok: boolean }>(
    "SELECT to_regproc('pgmesh.in_doubt_xacts') IS NOT NULL AS ok",
  );
  if (!has.rows[0]?.ok) return undefined;
  try {
    const r = await client.query<{
      group_name: string;
      gid: string;
      decision: LiveInDoubt['decision'];
      age: number;
    }>(
      `SELECT group_name, gid, decision, extract(epoch FROM now() - prepared_at)::float8 AS age
         FROM pgmesh.in_doubt_xacts() ORDER BY group_name, gid`,
    );
    return r.rows.map((x) => ({
      group: x.group_name,
      gid: x.gid,
      decision: x.decision,
      ageSeconds: x.age,
    }));
  } catch {
    return undefined;
  }
}

/**
 * The MCP clients the last policy sync recorded, tables whose policies are not as
 * recorded (checked on every worker group through dblink; an unreachable group is
 * reported by the group's own drift, not here), and the clients' user mappings.
 */
async function observeMcp(client: ClientBase): Promise<LiveMcp> {
  const clients = await client.query<{
    role: string;
    read: string[];
    write: string[];
    tables: string[];
  }>(
    'SELECT role_name::text AS role, read_ns AS read, write_ns AS write, tables FROM pgmesh.mcp_clients ORDER BY 1',
  );
  const tables = [...new Set(clients.rows.flatMap((c) => c.tables))].sort();
  let problems: LiveMcp['problems'] = [];
  if (tables.length > 0) {
    try {
      const r = await client.query<{ p: LiveMcp['problems'] }>(
        'SELECT pgmesh.mcp_policy_problems($1::regclass[]) AS p',
        [tables],
      );
      problems = r.rows[0]?.p ?? [];
    } catch {
      problems = [];
    }
  }
  const maps = await client.query<{ usename: string; srvname: string }>(
    "SELECT usename::text, srvname::text FROM pg_user_mappings WHERE srvname LIKE 'pgmesh\\_%' AND usename <> 'public' ORDER BY 1, 2",
  );
  const mappings: Record<string, string[]> = {};
  for (const m of maps.rows) (mappings[m.usename] ??= []).push(m.srvname);
  return { clients: clients.rows, problems, mappings };
}

/** Indexes and sizes of the shard tables on one worker group, read through dblink. */
async function observeGroup(
  client: ClientBase,
  server: string,
): Promise<{
  indexes: Omit<LiveIndex, 'group'>[];
  sizes: Map<string, number>;
  rows: Map<string, number>;
}> {
  const indexSql = `SELECT c.relname::text, i.relname::text, ix.indisvalid, am.amname::text, a.attname::text, opc.opcname::text, i.reloptions
      FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class c ON c.oid = ix.indrelid
      JOIN pg_am am ON am.oid = i.relam
      LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ix.indkey[0]
      LEFT JOIN pg_opclass opc ON opc.oid = ix.indclass[0]
     WHERE c.relnamespace = 'pgmesh_shards'::regnamespace AND NOT ix.indisprimary`;
  const idx = await client.query<{
    shard_table: string;
    index_name: string;
    valid: boolean;
    method: string;
    column_name: string | null;
    opclass: string | null;
    reloptions: string[] | null;
  }>(
    `SELECT * FROM public.dblink($1, $2) AS t(shard_table text, index_name text, valid boolean, method text,
       column_name text, opclass text, reloptions text[]) ORDER BY 1, 2`,
    [server, indexSql],
  );
  const sizeSql = `SELECT c.relname::text, pg_total_relation_size(c.oid), coalesce(st.n_live_tup, 0)
      FROM pg_class c LEFT JOIN pg_stat_user_tables st ON st.relid = c.oid
     WHERE c.relnamespace = 'pgmesh_shards'::regnamespace AND c.relkind = 'r'`;
  const size = await client.query<{ shard_table: string; bytes: string; live_rows: string }>(
    'SELECT * FROM public.dblink($1, $2) AS t(shard_table text, bytes bigint, live_rows bigint)',
    [server, sizeSql],
  );
  return {
    indexes: idx.rows.map((r) => {
      const hnsw = r.method === 'hnsw' ? hnswOptions(r.reloptions) : null;
      return {
        shardTable: r.shard_table,
        name: r.index_name,
        valid: r.valid,
        method: r.method,
        column: r.column_name,
        opclass: r.opclass,
        m: hnsw?.m ?? null,
        efConstruction: hnsw?.efConstruction ?? null,
      };
    }),
    sizes: new Map(size.rows.map((r) => [r.shard_table, Number(r.bytes)])),
    rows: new Map(size.rows.map((r) => [r.shard_table, Number(r.live_rows)])),
  };
}

/**
 * Roles on a worker group's primary (through dblink over the engine's server), with their
 * privileges on schema `pgmesh_shards` and its tables. Each stored verifier is compared
 * with the coordinator's inside the coordinator's query: no verifier reaches the agent.
 */
async function observeGroupRoles(client: ClientBase, server: string): Promise<LiveGroupRole[]> {
  const roleSql = `SELECT rolname::text, rolcanlogin, rolcreaterole, rolpassword FROM pg_authid
     WHERE rolname !~ '^pg_' AND NOT rolsuper`;
  const roles = await client.query<{
    rolname: string;
    can_login: boolean;
    create_role: boolean;
    same_verifier: boolean | null;
  }>(
    `SELECT t.rolname, t.can_login, t.create_role,
            CASE WHEN a.rolname IS NULL THEN NULL ELSE t.verifier IS NOT NULL AND t.verifier = a.rolpassword END AS same_verifier
       FROM public.dblink($1, $2) AS t(rolname text, can_login boolean, create_role boolean, verifier text)
       LEFT JOIN pg_authid a ON a.rolname = t.rolname ORDER BY 1`,
    [server, roleSql],
  );
  const tableSql = `SELECT g.rolname::text, c.relname::text, a.privilege_type::text
      FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a JOIN pg_roles g ON g.oid = a.grantee
     WHERE c.relnamespace = 'pgmesh_shards'::regnamespace AND c.relkind IN ('r', 'p')`;
  const tables = await client.query<{ grantee: string; shard_table: string; privilege: string }>(
    `SELECT * FROM public.dblink($1, $2) AS t(grantee text, shard_table text, privilege text) ORDER BY 1, 2, 3`,
    [server, tableSql],
  );
  const schemaSql = `SELECT g.rolname::text, a.privilege_type::text
      FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a JOIN pg_roles g ON g.oid = a.grantee
     WHERE n.nspname = 'pgmesh_shards'`;
  const schema = await client.query<{ grantee: string; privilege: string }>(
    'SELECT * FROM public.dblink($1, $2) AS t(grantee text, privilege text) ORDER BY 1, 2',
    [server, schemaSql],
  );
  return roles.rows.map((r) => {
    const tablePrivileges: Record<string, string[]> = {};
    for (const p of tables.rows.filter((x) => x.grantee === r.rolname)) {
      (tablePrivileges[p.shard_table] ??= []).push(p.privilege);
    }
    return {
      name: r.rolname,
      canLogin: r.can_login,
      createRole: r.create_role,
      sameVerifier: r.same_verifier,
      tablePrivileges,
      schemaPrivileges: schema.rows.filter((x) => x.grantee === r.rolname).map((x) => x.privilege),
    };
  });
}

async function observeTables(client: ClientBase): Promise<LiveTable[]> {
  const engine = await client.query<{ ok: boolean }>(
    "SELECT to_regclass('pgmesh.distributed_tables') IS NOT NULL AS ok",
  );
  const meta = engine.rows[0]?.ok
    ? `LEFT JOIN pgmesh.distributed_tables d ON d.relid = c.oid
       LEFT JOIN pgmesh.colocation_groups cg ON cg.colocation_id = d.colocation_id
       LEFT JOIN pgmesh.reference_tables r ON r.relid = c.oid`
    : `LEFT JOIN (SELECT NULL::oid AS relid, NULL::name AS dist_column, NULL::int AS colocation_id) d ON false
       LEFT JOIN (SELECT NULL::int AS shard_count) cg ON false
       LEFT JOIN (SELECT NULL::oid AS relid) r ON false`;
  const { rows } = await client.query<{
    table_name: string;
    kind: LiveTable['kind'];
    dist_column: string | null;
    colocation_id: number | null;
    shard_count: number | null;
    columns: Array<{ name: string; type: string; notNull: boolean }>;
  }>(
    `SELECT n.nspname || '.' || c.relname AS table_name,
            CASE WHEN d.relid IS NOT NULL THEN 'distributed' WHEN r.relid IS NOT NULL THEN 'reference' ELSE 'plain' END AS kind,
            d.dist_column::text, d.colocation_id, cg.shard_count,
            (SELECT coalesce(json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
                     'notNull', a.attnotnull) ORDER BY a.attnum), '[]')
               FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace ${meta}
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname <> ALL ($1)
        AND n.nspname NOT LIKE 'pg\\_%'
      ORDER BY 1`,
    [SYSTEM_SCHEMAS],
  );
  return rows.map((r) => ({
    name: r.table_name,
    kind: r.kind,
    columns: r.columns,
    ...(r.dist_column !== null ? { distributionColumn: r.dist_column } : {}),
    ...(r.colocation_id !== null ? { colocationId: r.colocation_id } : {}),
    ...(r.shard_count !== null ? { shardCount: r.shard_count } : {}),
  }));
}

/**
 * Roles that are not PostgreSQL's own, with their privileges on user tables and schemas.
 * The password check reads the stored verifier (superuser only) and the secret file the
 * role's comment names; the password never leaves this function.
 */
async function observeRoles(client: ClientBase, ctx: ShardsContext): Promise<LiveRole[]> {
  const { rows } = await client.query<{
    rolname: string;
    rolcanlogin: boolean;
    rolcreaterole: boolean;
    comment: string | null;
  }>(
    `SELECT r.rolname, r.rolcanlogin, r.rolcreaterole, shobj_description(r.oid, 'pg_authid') AS comment
       FROM pg_roles r WHERE r.rolname !~ '^pg_' AND NOT r.rolsuper ORDER BY 1`,
  );
  const tablePrivs = await client.query<{ grantee: string; table_name: string; privilege: string }>(
    `SELECT g.rolname AS grantee, n.nspname || '.' || c.relname AS table_name, a.privilege_type AS privilege
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       CROSS JOIN LATERAL aclexplode(c.relacl) a JOIN pg_roles g ON g.oid = a.grantee
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname <> ALL ($1)
      ORDER BY 1, 2, 3`,
    [SYSTEM_SCHEMAS],
  );
  const schemaPrivs = await client.query<{
    grantee: string;
    schema_name: string;
    privilege: string;
  }>(
    `SELECT g.rolname AS grantee, n.nspname AS schema_name, a.privilege_type AS privilege
       FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a JOIN pg_roles g ON g.oid = a.grantee
      WHERE n.nspname <> ALL ($1) AND n.nspname !~ '^pg_' ORDER BY 1, 2, 3`,
    [SYSTEM_SCHEMAS],
  );
  const verifiers = await client
    .query<{ rolname: string; rolpassword: string | null }>(
      "SELECT rolname, rolpassword FROM pg_authid WHERE rolname !~ '^pg_'",
    )
    .then((r) => new Map(r.rows.map((x) => [x.rolname, x.rolpassword])))
    .catch(() => null);

  const out: LiveRole[] = [];
  for (const r of rows) {
    const secret = r.comment?.startsWith(COMMENT_PREFIX)
      ? r.comment.slice(COMMENT_PREFIX.length)
      : null;
    let inSync: boolean | null = null;
    const verifier = verifiers?.get(r.rolname);
    if (secret && verifiers) {
      const password = await readSecret(ctx, secret);
      inSync = password === null ? null : Boolean(verifier) && scramMatches(verifier!, password);
    }
    const tables: Record<string, string[]> = {};
    for (const p of tablePrivs.rows.filter((x) => x.grantee === r.rolname)) {
      (tables[p.table_name] ??= []).push(p.privilege);
    }
    const schemas: Record<string, string[]> = {};
    for (const p of schemaPrivs.rows.filter((x) => x.grantee === r.rolname)) {
      (schemas[p.schema_name] ??= []).push(p.privilege);
    }
    out.push({
      name: r.rolname,
      canLogin: r.rolcanlogin,
      createRole: r.rolcreaterole,
      passwordSecret: secret,
      passwordInSync: inSync,
      tablePrivileges: tables,
      schemaPrivileges: schemas,
    });
  }
  return out;
}

export function secretPath(ctx: ShardsContext, name: string): string {
  return ctx.secretFile ? ctx.secretFile(name) : `/run/secrets/${name}`;
}

/** A secret's value with its trailing newline removed; null when it cannot be read. */
export async function readSecret(ctx: ShardsContext, name: string): Promise<string | null> {
  return readSecretPath(secretPath(ctx, name));
}

export async function readSecretPath(file: string): Promise<string | null> {
  try {
    return (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
  } catch {
    return null;
  }
}

export const ROLE_COMMENT_PREFIX = COMMENT_PREFIX;

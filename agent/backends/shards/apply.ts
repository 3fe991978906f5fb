/**
 * Performs one planned action on the coordinator, idempotently: a step already done is a
 * success. Everything goes through the engine's SQL API (agent/engine/*) with identifiers
 * quoted and values as parameters; passwords are read from secret files at the moment of
 * use, sent as SCRAM verifiers or parameters, and never logged.
 */
import type { ClientBase } from 'pg';
import { ApplyFailedError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { installEngine } from '../../engine/install.js';
import { moveShard, resumeMove } from '../../engine/move-shard.js';
import { readSecret, readSecretPath, ROLE_COMMENT_PREFIX } from './observe.js';
import { describeShardsAction } from './plan.js';
import { estimateEtaMs } from '../../report/progress.js';
import { copiedBytes, latestRun, saveRun, startRun, type RebalanceRun } from './progress.js';
import { scramVerifier } from './scram.js';
import pg from 'pg';
import { createTableSql, dropIndexSql, fillTemplate, ident, qualifiedIdent } from './sql.js';
import type { ShardsAction, ShardsContext, ShardsProgress } from './types.js';

export async function applyShardsAction(
  action: ShardsAction,
  ctx: ShardsContext,
  log: Logger,
): Promise<void> {
  const resource = describeShardsAction(action);
  log.info({ backend: 'shards', action: action.kind }, 'apply');
  const session = await ctx.connect();
  try {
    await run(action, session.client, ctx, log);
  } catch (err) {
    const message = errorText(err);
    log.error({ backend: 'shards', action: action.kind, err: message }, 'apply failed');
    throw new ApplyFailedError(`${resource}: ${message}`, { cause: err });
  } finally {
    await session.release();
  }
}

/**
 * A PostgreSQL error with its detail: dblink's "could not establish connection" says why
 * (libpq's message, which names host and reason, never a password) only in the detail.
 */
export function errorText(err: unknown): string {
  const e = err as { message?: string; detail?: string };
  const message = e.message ?? String(err);
  return e.detail ? `${message} (${e.detail})` : message;
}

async function run(a: ShardsAction, c: ClientBase, ctx: ShardsContext, log: Logger): Promise<void> {
  switch (a.kind) {
    case 'install-engine':
      await installEngine(c);
      return;
    case 'register-group':
    case 'update-group': {
      const password = ctx.workerPasswordFile ? await readSecretFile(ctx.workerPasswordFile) : null;
      await c.query('SELECT pgmesh.add_worker_group($1, $2::text[], $3, $4, $5, $6)', [
        a.group,
        a.hosts,
        a.port,
        a.dbname,
        ctx.workerUser ?? null,
        password,
      ]);
      return;
    }
    case 'recover-prepared': {
      // Leaves anything younger than 5 s to the backend committing it.
      const r = await c.query<{
        group_name: string;
        gid: string;
        action: string;
        error: string | null;
      }>("SELECT group_name, gid, action, error FROM pgmesh.recover_prepared_xacts('5 s')");
      for (const x of r.rows) {
        log.info(
          { backend: 'shards', group: x.group_name, gid: x.gid, action: x.action, error: x.error },
          'prepared transaction resolved',
        );
      }
      return;
    }
    case 'drain-group':
      await c.query('SELECT pgmesh.drain_worker_group($1)', [a.group]);
      return;
    case 'remove-group':
      await c.query('SELECT pgmesh.remove_worker_group($1)', [a.group]);
      return;
    case 'create-distributed-table': {
      const t = a.table;
      const done = await c.query(
        'SELECT 1 FROM pgmesh.distributed_tables WHERE relid = to_regclass($1)',
        [qualifiedIdent(t.name)],
      );
      if (done.rowCount) return;
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${ident(t.schema)}`);
      await c.query(createTableSql(t));
      await c.query('SELECT pgmesh.create_distributed_table($1::regclass, $2, $3, $4::regclass)', [
        qualifiedIdent(t.name),
        t.distributionColumn,
        t.shardCount,
        t.colocateWith ? qualifiedIdent(t.colocateWith) : null,
      ]);
      return;
    }
    case 'create-reference-table': {
      const t = a.table;
      const done = await c.query(
        'SELECT 1 FROM pgmesh.reference_tables WHERE relid = to_regclass($1)',
        [qualifiedIdent(t.name)],
      );
      if (done.rowCount) return;
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${ident(t.schema)}`);
      await c.query(createTableSql(t));
      await c.query('SELECT pgmesh.create_reference_table($1::regclass)', [qualifiedIdent(t.name)]);
      return;
    }
    case 'build-index':
      await buildIndex(a, c, ctx, log);
      return;
    case 'resume-move':
    case 'move-shard':
      await move(a, c, ctx, log);
      return;
    case 'ensure-role':
      await ensureRole(a, c, ctx);
      return;
    case 'ensure-group-role':
      await ensureGroupRole(a, c);
      return;
    case 'analyze':
      await analyze(a, c, log);
      return;
    case 'sync-mcp-policies': {
      const r = await c.query<{ n: number }>(
        'SELECT pgmesh.mcp_sync_policies($1::jsonb, $2::regclass[]) AS n',
        [JSON.stringify(a.clients), a.tables.map(qualifiedIdent)],
      );
      log.info(
        { backend: 'shards', clients: a.clients.length, tables: r.rows[0]?.n },
        'mcp policies synced',
      );
      return;
    }
    case 'ensure-mcp-mapping': {
      const password = await readSecret(ctx, a.passwordSecret);
      if (password === null)
        throw new Error(`cannot read the secret ${a.passwordSecret} for role ${a.role}`);
      // A parameter: the password is never part of a statement's text.
      await c.query('SELECT pgmesh.mcp_user_mapping($1, $2)', [a.role, password]);
      return;
    }
  }
}

/**
 * ANALYZE of the listed foreign partitions (postgres_fdw samples the shard remotely). A
 * partition replaced since the plan (a move) is skipped: the next cycle looks again.
 */
async function analyze(
  a: Extract<ShardsAction, { kind: 'analyze' }>,
  c: ClientBase,
  log: Logger,
): Promise<void> {
  let done = 0;
  for (const p of a.partitions) {
    const found = await c.query('SELECT 1 FROM pg_class WHERE oid = to_regclass($1)', [
      `pgmesh_part.${ident(p.partition)}`,
    ]);
    if (!found.rowCount) continue;
    await c.query(`ANALYZE pgmesh_part.${ident(p.partition)}`);
    done++;
  }
  log.info({ backend: 'shards', table: a.table, partitions: done }, 'analyzed');
}

/**
 * The role on one worker group's primary, through the engine's dblink runner: created if
 * missing, LOGIN and CREATEROLE as on the coordinator, the coordinator's SCRAM verifier
 * (read from pg_authid and quoted by format() inside the coordinator, so it never passes
 * through the agent), and the preset's privileges on the group's shard tables, exactly.
 */
async function ensureGroupRole(
  a: Extract<ShardsAction, { kind: 'ensure-group-role' }>,
  c: ClientBase,
): Promise<void> {
  const role = ident(a.role);
  const exists = await c.query<{ v: string | null }>(
    "SELECT pgmesh._query($1, format('SELECT count(*) FROM pg_roles WHERE rolname = %L', $2::text)) AS v",
    [a.group, a.role],
  );
  if (exists.rows[0]?.v === '0') {
    await c.query('SELECT pgmesh._exec($1, $2)', [a.group, `CREATE ROLE ${role} LOGIN`]);
  }
  if (a.setPassword) {
    // Its own statement: a failing multi-statement string would be logged whole.
    const set = await c.query(
      `SELECT pgmesh._exec($1, format('ALTER ROLE %I PASSWORD %L', rolname, rolpassword))
         FROM pg_authid WHERE rolname = $2 AND rolpassword IS NOT NULL`,
      [a.group, a.role],
    );
    if (!set.rowCount) {
      throw new Error(`role ${a.role} has no password on the coordinator to copy`);
    }
  }
  const statements = [
    `ALTER ROLE ${role} LOGIN ${a.createRole ? 'CREATEROLE' : 'NOCREATEROLE'}`,
    `REVOKE ALL ON SCHEMA pgmesh_shards FROM ${role}`,
    ...(a.schemaPrivileges.length
      ? [`GRANT ${a.schemaPrivileges.map(priv).join(', ')} ON SCHEMA pgmesh_shards TO ${role}`]
      : []),
  ];
  for (const [table, privileges] of Object.entries(a.tablePrivileges)) {
    const t = `pgmesh_shards.${ident(table)}`;
    statements.push(`REVOKE ALL ON TABLE ${t} FROM ${role}`);
    if (privileges.length)
      statements.push(`GRANT ${privileges.map(priv).join(', ')} ON TABLE ${t} TO ${role}`);
  }
  // One string: one implicit transaction on the worker.
  await c.query('SELECT pgmesh._exec($1, $2)', [a.group, statements.join('; ')]);
}

async function readSecretFile(file: string): Promise<string> {
  const value = await readSecretPath(file);
  if (value === null) throw new Error(`cannot read the secret file ${file}`);
  return value;
}

/**
 * Per shard, on the shard's worker group (through the engine's dblink runner): drop
 * INVALID leftovers, build the new index CONCURRENTLY (no lock that blocks reads or
 * writes), then drop the replaced ones CONCURRENTLY. Finally the engine's remembered
 * command is made the new one, so shards that moves create later get it too.
 */
async function buildIndex(
  a: Extract<ShardsAction, { kind: 'build-index' }>,
  c: ClientBase,
  ctx: ShardsContext,
  log: Logger,
): Promise<void> {
  const table = qualifiedIdent(a.index.table);
  const { rows: shards } = await c.query<{ group_name: string; shard_table: string }>(
    'SELECT group_name, shard_table FROM pgmesh.shards WHERE relid = $1::regclass ORDER BY remainder',
    [table],
  );
  const steps =
    a.shards.length > 0
      ? a.shards
      : shards.map((s) => ({
          shardTable: s.shard_table,
          dropBefore: [],
          build: true,
          dropAfter: [],
        }));
  const resource = `${a.index.table}.${a.index.column}`;
  let done = 0;
  for (const step of steps) {
    const shard = shards.find((s) => s.shard_table === step.shardTable);
    if (!shard) continue; // moved or gone since the plan: the next cycle looks again
    const exec = (sql: string) => c.query('SELECT pgmesh._exec($1, $2)', [shard.group_name, sql]);
    for (const name of step.dropBefore) await exec(dropIndexSql(name));
    if (step.build) await exec(fillTemplate(a.template, step.shardTable));
    for (const name of step.dropAfter) await exec(dropIndexSql(name));
    done++;
    report(ctx, log, {
      action: 'build-index',
      resource,
      step: step.shardTable,
      done,
      total: steps.length,
    });
  }
  // Replace the remembered HNSW command(s) for this column by the new one.
  await c.query('BEGIN');
  try {
    const { rows } = await c.query<{ seq: number; command: string }>(
      'SELECT seq, command FROM pgmesh.shard_commands WHERE relid = $1::regclass ORDER BY seq',
      [table],
    );
    const col = a.index.column;
    const stale = rows.filter(
      (r) =>
        r.command !== a.template &&
        (r.command.includes(`USING hnsw (${col} `) || r.command.includes(`USING hnsw ("${col}" `)),
    );
    if (stale.length > 0) {
      await c.query(
        'DELETE FROM pgmesh.shard_commands WHERE relid = $1::regclass AND seq = ANY($2)',
        [table, stale.map((r) => r.seq)],
      );
    }
    if (!rows.some((r) => r.command === a.template)) {
      await c.query(
        'INSERT INTO pgmesh.shard_commands (relid, command) VALUES ($1::regclass, $2)',
        [table, a.template],
      );
    }
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK');
    throw err;
  }
}

/**
 * One move, with progress after every step and while the copy runs: moves done / total
 * and bytes of this plan's run, the ETA from the run's rate so far. The run is kept in the
 * engine's journal (progress.ts) for the drift report and other agent replicas.
 */
async function move(
  a: Extract<ShardsAction, { kind: 'resume-move' | 'move-shard' }>,
  c: ClientBase,
  ctx: ShardsContext,
  log: Logger,
): Promise<void> {
  const now = ctx.now ?? Date.now;
  const resource = `${a.table}/${a.remainder}`;
  const label =
    a.kind === 'move-shard'
      ? `shard ${a.remainder} of ${a.table} ${a.source} → ${a.target}`
      : `shard ${a.remainder} of ${a.table} → ${a.target} (resumed move ${a.moveId})`;
  let run: RebalanceRun | null =
    a.kind === 'move-shard' && a.step === 1
      ? await startRun(c, { total: a.steps, bytesTotal: a.bytesTotal }, new Date(now()))
      : await latestRun(c);
  if (run?.finishedAt) run = null; // a resumed move of a run already closed
  const base =
    a.kind === 'move-shard'
      ? { done: a.step - 1, total: a.steps, bytesBefore: a.bytesBefore, bytesTotal: a.bytesTotal }
      : {
          done: run?.done ?? 0,
          total: run?.total ?? 1,
          bytesBefore: run?.bytesDone ?? 0,
          bytesTotal: run?.bytesTotal ?? 0,
        };
  const moveBytes = a.kind === 'move-shard' ? a.bytes : 0;
  const startedAt = run ? Date.parse(run.startedAt) : now();
  const progress = async (step: string, copied: number, finished = false): Promise<void> => {
    const done = base.done + (finished ? 1 : 0);
    const bytesDone = base.bytesBefore + (finished ? moveBytes : Math.min(copied, moveBytes));
    const p: ShardsProgress = {
      action: 'move-shard',
      resource,
      step,
      done,
      total: base.total,
      bytesDone,
      bytesTotal: base.bytesTotal,
    };
    const eta = estimateEtaMs({ elapsedMs: now() - startedAt, ...p });
    if (eta !== undefined) p.etaMs = eta;
    report(ctx, log, p);
    if (run) {
      const at = new Date(now()).toISOString();
      run = {
        ...run,
        done,
        bytesDone,
        updatedAt: at,
        current: `${step}: ${label}`,
        ...(eta !== undefined ? { etaMs: eta } : {}),
        ...(done >= run.total ? { finishedAt: at } : {}),
      };
      if (eta === undefined) delete run.etaMs;
      await saveRun(c, run).catch((err: unknown) =>
        log.warn({ backend: 'shards', err: (err as Error).message }, 'progress not recorded'),
      );
    }
  };
  let lastPoll = 0;
  const options = {
    pollMs: ctx.movePollMs ?? 200,
    copyTimeoutMs: ctx.moveCopyTimeoutMs ?? 600_000,
    onStep: (_id: number, state: string) => void progress(state, 0),
    // Bytes copied so far, at most every 2 s (each reading opens a dblink connection).
    onCopyPoll: async (id: number) => {
      if (now() - lastPoll < 2000) return;
      lastPoll = now();
      const copied = await copiedBytes(c, id).catch(() => 0);
      await progress('copying', copied);
    },
  };
  if (a.kind === 'resume-move') {
    await resumeMove(c, a.moveId, options);
    await progress('moved', 0, true);
    return;
  }
  // Idempotent: a shard already on its target (an earlier attempt finished) is done.
  const { rows } = await c.query<{ group_name: string }>(
    'SELECT group_name FROM pgmesh.shards WHERE relid = $1::regclass AND remainder = $2',
    [qualifiedIdent(a.table), a.remainder],
  );
  if (rows[0]?.group_name === a.target) {
    await progress('moved', 0, true);
    return;
  }
  await progress('starting', 0);
  const result = await moveShard(c, qualifiedIdent(a.table), a.remainder, a.target, options);
  log.info(
    { backend: 'shards', move: result.moveId, copyMs: result.copyMs, pauseMs: result.pauseMs },
    'shard move switched',
  );
  await progress('moved', 0, true);
}

function report(ctx: ShardsContext, log: Logger, p: ShardsProgress): void {
  log.info({ backend: 'shards', ...p }, 'progress');
  ctx.onProgress?.(p);
}

async function ensureRole(
  a: Extract<ShardsAction, { kind: 'ensure-role' }>,
  c: ClientBase,
  ctx: ShardsContext,
): Promise<void> {
  const role = ident(a.role);
  let verifier: string | null = null;
  if (a.setPassword) {
    const password = await readSecret(ctx, a.passwordSecret);
    if (password === null)
      throw new Error(`cannot read the secret ${a.passwordSecret} for role ${a.role}`);
    verifier = scramVerifier(password);
  }
  await c.query('BEGIN');
  try {
    const exists = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [a.role]);
    if (!exists.rowCount) await c.query(`CREATE ROLE ${role} LOGIN`);
    await c.query(`ALTER ROLE ${role} LOGIN ${a.createRole ? 'CREATEROLE' : 'NOCREATEROLE'}`);
    // A verifier, not the password: the password itself never reaches the server.
    if (verifier) await c.query(`ALTER ROLE ${role} PASSWORD ${escapeLiteral(verifier)}`);
    await c.query(
      `COMMENT ON ROLE ${role} IS ${escapeLiteral(ROLE_COMMENT_PREFIX + a.passwordSecret)}`,
    );
    for (const [schema, privileges] of Object.entries(a.schemaPrivileges)) {
      await c.query(`REVOKE ALL ON SCHEMA ${ident(schema)} FROM ${role}`);
      if (privileges.length)
        await c.query(
          `GRANT ${privileges.map(priv).join(', ')} ON SCHEMA ${ident(schema)} TO ${role}`,
        );
    }
    for (const [table, privileges] of Object.entries(a.tablePrivileges)) {
      await c.query(`REVOKE ALL ON TABLE ${qualifiedIdent(table)} FROM ${role}`);
      if (privileges.length)
        await c.query(
          `GRANT ${privileges.map(priv).join(', ')} ON TABLE ${qualifiedIdent(table)} TO ${role}`,
        );
    }
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK');
    throw err;
  }
}

const PRIVILEGES = new Set([
  'SELECT',
  'INSERT',
  'UPDATE',
  'DELETE',
  'TRUNCATE',
  'REFERENCES',
  'TRIGGER',
  'USAGE',
  'CREATE',
]);

function priv(p: string): string {
  if (!PRIVILEGES.has(p)) throw new Error(`pgmesh: privilege ${p} is not allowed`);
  return p;
}

function escapeLiteral(s: string): string {
  return pg.escapeLiteral(s);
}

/**
 * Where the time of one query goes on the endpoint path. The same statements are timed
 * with psql's \timing at each hop, from inside the cluster's own containers (so every hop
 * has the same client): through HAProxy, through PgBouncer, on the coordinator's
 * PostgreSQL, and on the worker's shard table directly. Differences between hops are the
 * cost of each layer. Passwords stay inside the containers (read from their secret files
 * into psql's environment), never in an argument.
 */
import { spawn } from 'node:child_process';
import pg from 'pg';
import type { Docker } from '../docker/client.js';
import { execIn, serviceContainers } from '../docker/client.js';
import { groupServiceName, haproxyServiceName, PORTS } from '../core/names.js';
import { percentile } from './stats.js';

export type Hop = 'haproxy' | 'pgbouncer' | 'coordinator' | 'worker';
export const HOPS: readonly Hop[] = ['haproxy', 'pgbouncer', 'coordinator', 'worker'];

export interface ProfileQuery {
  name: string;
  /** Statements run on the coordinator hops (one per repetition). */
  coordinator: string[];
  /** The same statements against the shard table, run on the worker. */
  worker: string[];
  group: string;
}

export interface ProfileRow {
  name: string;
  /** Median ms per hop. */
  medians: Record<Hop, number>;
  /** Client on the host through the endpoint (node-postgres p50 of the workload), if known. */
  host?: number;
}

/** The `Time: 1.234 ms` lines psql prints with \timing. */
export function parseTimings(text: string): number[] {
  return [...text.matchAll(/^Time: ([0-9.]+) ms/gm)].map((m) => Number(m[1]));
}

function median(xs: number[]): number {
  return percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );
}

/** Runs a psql script inside a container, the script on stdin, and returns its stdout. */
function psqlIn(
  container: string,
  target: string,
  database: string,
  script: string,
): Promise<string> {
  // target is built here from fixed names and port numbers, never from user input.
  const cmd = `PGPASSWORD="$(cat /run/secrets/postgres-password)" exec psql ${target} -U postgres -d ${database} -X -q -v ON_ERROR_STOP=1 -f -`;
  return new Promise((resolve, reject) => {
    const child = spawn('docker', ['exec', '-i', container, 'sh', '-c', cmd]);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(Buffer.concat(out).toString('utf8'))
        : reject(
            new Error(
              `psql in ${container} (${target}) exited ${code}: ${Buffer.concat(err).toString('utf8').slice(0, 500)}`,
            ),
          ),
    );
    child.stdin.end(`\\timing on\n\\o /dev/null\n${script}`);
  });
}

/** The running container of a group's service whose PostgreSQL is the primary. */
export async function primaryContainer(
  docker: Docker,
  cluster: string,
  group: string,
  database: string,
): Promise<string> {
  for (const c of await serviceContainers(docker, groupServiceName(cluster, group))) {
    if (c.state !== 'running') continue;
    const r = await execIn(
      docker,
      c.id,
      ['psql', '-d', database, '-Atc', 'SELECT pg_is_in_recovery()'],
      {
        user: 'postgres',
      },
    );
    if (r.exitCode === 0 && r.stdout.trim() === 'f') return c.id;
  }
  throw new Error(`no primary of group ${group} of cluster ${cluster} runs on this node`);
}

export async function profileQueries(
  docker: Docker,
  cluster: string,
  coordinatorGroup: string,
  database: string,
  queries: ProfileQuery[],
  warmup = 3,
): Promise<ProfileRow[]> {
  const coord = await primaryContainer(docker, cluster, coordinatorGroup, database);
  const targets: Record<Exclude<Hop, 'worker'>, string> = {
    haproxy: `-h ${haproxyServiceName(cluster)} -p ${PORTS.haproxyReadWrite}`,
    pgbouncer: `-h 127.0.0.1 -p ${PORTS.pgbouncer}`,
    coordinator: `-h 127.0.0.1 -p ${PORTS.postgres}`,
  };
  const rows: ProfileRow[] = [];
  for (const q of queries) {
    const worker = await primaryContainer(docker, cluster, q.group, database);
    const script = (stmts: string[]) => stmts.map((s) => `${s};\n`).join('');
    const medians = {} as Record<Hop, number>;
    // Interleave the hops, a round each, so drift on the machine spreads over all of them.
    const samples: Record<Hop, number[]> = {
      haproxy: [],
      pgbouncer: [],
      coordinator: [],
      worker: [],
    };
    const rounds = 3;
    const per = Math.ceil(q.coordinator.length / rounds);
    for (let r = 0; r < rounds; r++) {
      const slice = (xs: string[]) => xs.slice(r * per, (r + 1) * per);
      for (const hop of HOPS) {
        const stmts = hop === 'worker' ? slice(q.worker) : slice(q.coordinator);
        if (stmts.length === 0) continue;
        // A few statements first on every connection: connection setup and caches.
        const text =
          hop === 'worker'
            ? await psqlIn(
                worker,
                `-h 127.0.0.1 -p ${PORTS.postgres}`,
                database,
                script([...stmts.slice(0, warmup), ...stmts]),
              )
            : await psqlIn(
                coord,
                targets[hop],
                database,
                script([...stmts.slice(0, warmup), ...stmts]),
              );
        samples[hop].push(...parseTimings(text).slice(Math.min(warmup, stmts.length)));
      }
    }
    for (const hop of HOPS) medians[hop] = median(samples[hop]);
    rows.push({ name: q.name, medians });
  }
  return rows;
}

/** The shard table (on its worker) that holds a key of memory.memory_entries. */
export async function shardOf(
  coordinator: pg.Client,
  table: string,
  key: string,
): Promise<{ group: string; shardTable: string }> {
  const r = await coordinator.query<{ group_name: string; shard_table: string }>(
    `SELECT group_name, shard_table FROM pgmesh.shards
      WHERE relid = $1::regclass AND satisfies_hash_partition($1::regclass, modulus, remainder, $2::text)`,
    [table, key],
  );
  const row = r.rows[0];
  if (!row) throw new Error(`no shard of ${table} holds ${key}`);
  return {
    group: row.group_name,
    shardTable: `pgmesh_shards.${pg.escapeIdentifier(row.shard_table)}`,
  };
}

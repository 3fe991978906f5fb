/**
 * The bench's baseline: one plain PostgreSQL 17 with pgvector, from the same pgnode image
 * as the cluster, run as a plain container (no Patroni, no PgBouncer), on this machine.
 * Durability settings are PostgreSQL's defaults (fsync and synchronous_commit on), as on
 * the cluster's members, and shared_buffers is the cluster's, so the ratio measures the
 * distribution, not a tuning difference. It listens on 127.0.0.1 only, trust auth.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

export interface Baseline {
  name: string;
  port: number;
  connect(): Promise<pg.Client>;
  remove(): Promise<void>;
}

export interface BaselineOptions {
  /** Container name; must start with `pgmtest-bench-` or `pgmesh-bench-`. */
  name: string;
  image: string;
  sharedBuffers: string;
  readyTimeoutMs?: number;
  onProgress?: (line: string) => void;
}

async function docker(args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

export async function removeBaseline(name: string): Promise<void> {
  await docker(['rm', '-f', '-v', name]).catch(() => undefined);
}

export async function startBaseline(o: BaselineOptions): Promise<Baseline> {
  if (!/^(pgmtest|pgmesh)-bench-[a-z0-9-]+$/.test(o.name)) {
    throw new Error(
      `baseline container name ${o.name} must start with pgmtest-bench- or pgmesh-bench-`,
    );
  }
  await removeBaseline(o.name);
  const script = [
    'set -e',
    'mkdir -p /tmp/pg && chmod 700 /tmp/pg',
    'initdb -D /tmp/pg/d -U postgres --auth=trust >/dev/null',
    'echo "host all all all trust" >> /tmp/pg/d/pg_hba.conf',
    'exec postgres -D /tmp/pg/d "$@"',
  ].join('\n');
  const settings = [
    `shared_buffers=${o.sharedBuffers}`,
    'max_connections=100',
    'listen_addresses=*',
    'work_mem=4MB',
    'maintenance_work_mem=64MB',
    'effective_cache_size=256MB',
    'max_parallel_workers_per_gather=1',
  ];
  o.onProgress?.(`starting ${o.name} from ${o.image}`);
  await docker([
    'run',
    '-d',
    '--name',
    o.name,
    '--label',
    'pgmtest-bench=1',
    '--user',
    'postgres',
    '--entrypoint',
    'sh',
    '--shm-size',
    '256m',
    '-p',
    '127.0.0.1::5432',
    o.image,
    '-c',
    script,
    'sh',
    ...settings.flatMap((s) => ['-c', s]),
  ]);
  const out = await docker(['port', o.name, '5432/tcp']);
  const m = /:(\d+)\s*$/m.exec(out.split('\n')[0] ?? '');
  if (!m) throw new Error(`no published port for ${o.name}: ${out}`);
  const port = Number(m[1]);
  const connect = async () => {
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    c.on('error', () => undefined);
    await c.connect();
    return c;
  };
  const deadline = Date.now() + (o.readyTimeoutMs ?? 90_000);
  for (;;) {
    try {
      const c = await connect();
      await c.query('SELECT 1');
      await c.end();
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        const logs = await docker(['logs', '--tail', '20', o.name]).catch(() => '');
        throw new Error(`baseline ${o.name} not ready: ${(err as Error).message}\n${logs}`, {
          cause: err,
        });
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  return { name: o.name, port, connect, remove: () => removeBaseline(o.name) };
}

/** The memory_entries table as sql/memory/001_memory.sql makes it, with its HNSW index. */
export function baselineSchemaSql(dims: number): string {
  return `CREATE EXTENSION IF NOT EXISTS vector;
    ALTER DATABASE postgres SET hnsw.iterative_scan = strict_order;
    CREATE SCHEMA IF NOT EXISTS memory;
    DROP TABLE IF EXISTS memory.memory_entries;
    CREATE TABLE memory.memory_entries (
      namespace text NOT NULL, id uuid NOT NULL DEFAULT gen_random_uuid(), key text,
      content text NOT NULL, metadata jsonb NOT NULL DEFAULT '{}', embedding vector(${Number(dims)}),
      created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (namespace, id));
    CREATE INDEX memory_entries_embedding_hnsw ON memory.memory_entries
      USING hnsw (embedding vector_cosine_ops);`;
}

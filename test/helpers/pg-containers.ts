/**
 * Plain PostgreSQL 17 containers for engine tests: one coordinator and N workers on a
 * user-defined bridge network, each with its port published on 127.0.0.1 so a test can
 * talk to the coordinator and compare with a shard directly. Postgres runs as the bare
 * `postgres` binary (no Patroni), trust auth, data on tmpfs, small memory settings.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { engineTestImage } from './test-images.js';

const run = promisify(execFile);

export interface PgNode {
  /** Container name, also its DNS name on the network. */
  name: string;
  /** Host port on 127.0.0.1. */
  port: number;
  /** Connection string from the test host. */
  url: string;
}

export interface PgCluster {
  network: string;
  coordinator: PgNode;
  workers: PgNode[];
  /** Extra standalone servers (e.g. the plain single-node reference). */
  extras: PgNode[];
  stop: () => Promise<void>;
}

export interface PgClusterOptions {
  /** Resource name prefix; must start with `pgmtest-engine-`. */
  prefix: string;
  workers: number;
  extras?: number;
  /** Default: the engine test image, built from images/pgnode/ext when it changed. */
  image?: string;
  readyTimeoutMs?: number;
  /** More `name=value` server settings by node suffix (`coord`, `w1`, `x1`); they win. */
  settings?: Record<string, string[]>;
}

async function docker(args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

async function dockerQuiet(args: string[]): Promise<void> {
  try {
    await docker(args);
  } catch {
    // absent resources are fine when cleaning up
  }
}

function serverArgs(role: 'coordinator' | 'worker' | 'extra', extra: string[]): string[] {
  const common = [
    'shared_buffers=32MB',
    'max_connections=60',
    'fsync=off',
    'synchronous_commit=off',
    'full_page_writes=off',
    'wal_level=logical',
    'max_wal_senders=20',
    'max_replication_slots=20',
    'max_logical_replication_workers=8',
    'max_worker_processes=16',
    'listen_addresses=*',
    'max_locks_per_transaction=256',
  ];
  if (role === 'coordinator') common.push('shared_preload_libraries=pgmesh');
  // Workers load pgmesh too (two-phase commit, READ COMMITTED for the coordinator's
  // transactions) and prepare transactions.
  if (role === 'worker') {
    common.push('shared_preload_libraries=pgmesh', 'max_prepared_transactions=60');
  }
  return [...common, ...extra].flatMap((s) => ['-c', s]);
}

async function startNode(
  name: string,
  network: string,
  image: string,
  role: 'coordinator' | 'worker' | 'extra',
  settings: string[],
): Promise<void> {
  const script = [
    'set -e',
    'initdb -D /pgdata/d -U postgres --auth=trust --no-sync >/dev/null',
    'echo "host all all all trust" >> /pgdata/d/pg_hba.conf',
    'echo "host replication all all trust" >> /pgdata/d/pg_hba.conf',
    'exec postgres -D /pgdata/d "$@"',
  ].join('\n');
  await docker([
    'run',
    '-d',
    '--name',
    name,
    '--hostname',
    name,
    '--network',
    network,
    '--label',
    'pgmtest-engine=1',
    '--tmpfs',
    '/pgdata:uid=100,gid=102,mode=0700',
    '--shm-size',
    '128m',
    '-p',
    '127.0.0.1::5432',
    image,
    'sh',
    '-c',
    script,
    'sh',
    ...serverArgs(role, settings),
  ]);
}

async function hostPort(name: string): Promise<number> {
  const out = await docker(['port', name, '5432/tcp']);
  const m = /:(\d+)\s*$/m.exec(out.split('\n')[0] ?? '');
  if (!m) throw new Error(`no published port for ${name}: ${out}`);
  return Number(m[1]);
}

async function awaitReady(node: PgNode, deadline: number): Promise<void> {
  let last = 'not checked';
  while (Date.now() < deadline) {
    try {
      await docker(['exec', node.name, 'pg_isready', '-q', '-h', '127.0.0.1', '-U', 'postgres']);
      const c = new pg.Client({ connectionString: node.url });
      await c.connect();
      await c.query('SELECT 1');
      await c.end();
      return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${node.name} not ready before the deadline: ${last}`);
}

/** Removes containers and the network of an earlier run with this prefix. */
export async function removeCluster(prefix: string): Promise<void> {
  if (!prefix.startsWith('pgmtest-engine-')) throw new Error(`bad prefix ${prefix}`);
  const ids = await docker(['ps', '-aq', '--filter', `name=^${prefix}-`]);
  if (ids) await dockerQuiet(['rm', '-f', '-v', ...ids.split('\n')]);
  await dockerQuiet(['network', 'rm', `${prefix}-net`]);
}

export async function startPgCluster(options: PgClusterOptions): Promise<PgCluster> {
  const { prefix } = options;
  const image = options.image ?? (await engineTestImage());
  await removeCluster(prefix);
  const network = `${prefix}-net`;
  await docker(['network', 'create', '--driver', 'bridge', '--label', 'pgmtest-engine=1', network]);
  const specs: { name: string; role: 'coordinator' | 'worker' | 'extra' }[] = [
    { name: `${prefix}-coord`, role: 'coordinator' },
  ];
  for (let i = 1; i <= options.workers; i++)
    specs.push({ name: `${prefix}-w${i}`, role: 'worker' });
  for (let i = 1; i <= (options.extras ?? 0); i++) {
    specs.push({ name: `${prefix}-x${i}`, role: 'extra' });
  }
  for (const s of specs) {
    const suffix = s.name.slice(prefix.length + 1);
    await startNode(s.name, network, image, s.role, options.settings?.[suffix] ?? []);
  }
  const nodes: PgNode[] = [];
  for (const s of specs) {
    const port = await hostPort(s.name);
    nodes.push({ name: s.name, port, url: `postgres://postgres@127.0.0.1:${port}/postgres` });
  }
  const deadline = Date.now() + (options.readyTimeoutMs ?? 90_000);
  await Promise.all(nodes.map((n) => awaitReady(n, deadline)));
  const [coordinator, ...rest] = nodes as [PgNode, ...PgNode[]];
  return {
    network,
    coordinator,
    workers: rest.slice(0, options.workers),
    extras: rest.slice(options.workers),
    stop: () => removeCluster(prefix),
  };
}

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { groupServiceName } from '../../agent/core/names.js';
import { execIn, serviceContainers } from '../../agent/docker/client.js';
import { waitFor } from '../../agent/core/wait.js';
import { testDocker } from './cluster.js';

const run = promisify(execFile);

/** A seeded generator, so every run writes the same rows. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export function vector(next: () => number, dims: number): string {
  return `[${Array.from({ length: dims }, () => (next() * 2 - 1).toFixed(4)).join(',')}]`;
}

/** psql inside a container as the postgres user (peer auth on the local socket). */
export async function psqlIn(containerId: string, db: string, sql: string): Promise<string> {
  const r = await execIn(testDocker(), containerId, ['psql', '-XtAq', '-d', db, '-c', sql], {
    user: 'postgres',
  });
  if (r.exitCode !== 0) throw new Error(`psql failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** The container of a group's current primary. */
export async function primaryOf(cluster: string, group: string, db: string): Promise<string> {
  // waitFor reads a string as "not yet, because ...": the id travels in an object.
  const found = await waitFor(
    async () => {
      for (const c of await serviceContainers(testDocker(), groupServiceName(cluster, group))) {
        if (c.state !== 'running') continue;
        try {
          if ((await psqlIn(c.id, db, 'SELECT pg_is_in_recovery()')) === 'f') return { id: c.id };
        } catch {
          // starting or stopping
        }
      }
      return `no primary of ${group} yet`;
    },
    { what: `the primary of ${group}`, timeoutMs: 120_000, intervalMs: 500 },
  );
  return found.id;
}

/** The namespaces whose memory_entries rows live on a worker group, read on the group. */
export async function namespacesOn(cluster: string, group: string, db: string): Promise<string[]> {
  const primary = await primaryOf(cluster, group, db);
  const tables = (
    await psqlIn(
      primary,
      db,
      "SELECT tablename FROM pg_tables WHERE schemaname = 'pgmesh_shards' AND tablename LIKE 'memory_memory_entries_%'",
    )
  )
    .split('\n')
    .filter(Boolean);
  if (tables.length === 0) return [];
  const sql = tables.map((t) => `SELECT namespace FROM pgmesh_shards.${t}`).join(' UNION ');
  return (await psqlIn(primary, db, sql)).split('\n').filter(Boolean).sort();
}

/**
 * One plain PostgreSQL 17 with pgvector from the pgnode image: the single-node baseline
 * the distributed answers are compared with. Removed first if an earlier run left it.
 */
export async function startBaseline(
  image: string,
  name = 'pgmtest-e2e-baseline',
): Promise<{
  client: pg.Client;
  stop: () => Promise<void>;
}> {
  await run('docker', ['rm', '-f', name]).catch(() => undefined);
  const script = [
    'set -e',
    'initdb -D /pgdata/d -U postgres --auth=trust --no-sync >/dev/null',
    'echo "host all all all trust" >> /pgdata/d/pg_hba.conf',
    'exec postgres -D /pgdata/d -c listen_addresses=* -c fsync=off -c shared_buffers=64MB',
  ].join('\n');
  await run('docker', [
    'run',
    '-d',
    '--name',
    name,
    '--user',
    'postgres',
    '--entrypoint',
    '/bin/sh',
    '--tmpfs',
    '/pgdata:mode=1777',
    '-p',
    '127.0.0.1::5432',
    '-e',
    'PATH=/usr/lib/postgresql/17/bin:/usr/bin:/bin',
    image,
    '-c',
    script,
  ]);
  const { stdout } = await run('docker', ['port', name, '5432/tcp']);
  const port = Number(/:(\d+)\s*$/m.exec(stdout.split('\n')[0] ?? '')?.[1]);
  const client = await waitFor(
    async () => {
      const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
      c.on('error', () => undefined);
      try {
        await c.connect();
        await c.query('SELECT 1');
        return c;
      } catch (err) {
        await c.end().catch(() => undefined);
        return (err as Error).message;
      }
    },
    { what: 'the baseline PostgreSQL', timeoutMs: 60_000, intervalMs: 200 },
  );
  return {
    client,
    stop: async () => {
      await client.end().catch(() => undefined);
      await run('docker', ['rm', '-f', name]).catch(() => undefined);
    },
  };
}

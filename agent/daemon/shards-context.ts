import { lookup } from 'node:dns/promises';
import pg from 'pg';
import type { Logger } from '../core/log.js';
import { PgmeshError } from '../core/errors.js';
import { readSecretFile } from '../server/secrets.js';
import type { ShardsContext } from '../backends/shards/index.js';
import type { CoordinatorSession } from '../backends/shards/types.js';
import { groupTasksHost, haproxyServiceName, PORTS, workerRoutePort } from '../core/names.js';

export const POSTGRES_PASSWORD_FILE = '/run/secrets/postgres-password';

/**
 * Opens a session on the coordinator group's primary from inside the cluster network:
 * `tasks.<cluster>-<coord>` resolves to every member (dnsrr); node-postgres has no
 * target_session_attrs, so each address is tried and the one not in recovery is kept.
 * Straight to Postgres, not through PgBouncer: moves and index builds need a session.
 */
export interface Coordinates {
  cluster: string;
  coordinator: string;
  database: string;
}

export function coordinatorConnect(
  at: Coordinates,
  passwordFile = POSTGRES_PASSWORD_FILE,
): () => Promise<CoordinatorSession> {
  return async () => {
    const password = await readSecretFile(passwordFile);
    const host = groupTasksHost(at.cluster, at.coordinator);
    const addresses = await lookup(host, { all: true, family: 4 });
    const tried: string[] = [];
    for (const { address } of addresses) {
      const client = new pg.Client({
        host: address,
        port: PORTS.postgres,
        user: 'postgres',
        password,
        database: at.database,
        application_name: 'pgmesh-agent',
        connectionTimeoutMillis: 3000,
      });
      client.on('error', () => undefined);
      try {
        await client.connect();
        const { rows } = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
        if (rows[0]?.r === false) return { client, release: () => client.end() };
        tried.push(`${address}: replica`);
      } catch (err) {
        tried.push(`${address}: ${(err as Error).message}`);
      }
      await client.end().catch(() => undefined);
    }
    throw new PgmeshError(
      'PGMESH_NOT_DEPLOYED',
      `no coordinator primary at ${host} (${tried.join('; ') || 'no address'})`,
    );
  };
}

/**
 * How the coordinator reaches a worker group: through HAProxy's route for the group (its
 * own port, `workerRoutePort`), which follows Patroni's /primary check and Docker's DNS
 * like the client endpoint does. Member addresses are never stored: a member that
 * restarts on a new address is followed by HAProxy's resolver within a second, and a
 * failover by its next check, without waiting for an agent cycle. Not `tasks.<group>`
 * with target_session_attrs=read-write: libpq moves to the next *host* of a list when a
 * server is read-only, not to the next address of one name (checked on the lab: every
 * attempt ended "session is read-only" at the replica that sorted first). `<cluster>-haproxy`
 * resolves to every HAProxy task; libpq does try each address of a name whose connection
 * fails, so a dead HAProxy host is passed over.
 */
export function swarmShardsContext(at: Coordinates, log: Logger): ShardsContext {
  return {
    connect: coordinatorConnect(at),
    groupHosts: () => [haproxyServiceName(at.cluster)],
    groupPort: (_group, index) => workerRoutePort(index),
    workerDatabase: at.database,
    workerUser: 'postgres',
    workerPasswordFile: POSTGRES_PASSWORD_FILE,
    onProgress: (p) => log.info({ backend: 'shards', progress: p }, 'progress'),
  };
}

import { lookup } from 'node:dns/promises';
import pg from 'pg';
import type { Logger } from '../core/log.js';
import { PgmeshError } from '../core/errors.js';
import { readSecretFile } from '../server/secrets.js';
import type Docker from 'dockerode';
import { shardsBackend, type ShardsContext } from '../backends/shards/index.js';
import { LABEL_CLUSTER, LABEL_GROUP, LABEL_ROLE } from '../backends/swarm/types.js';
import type { CoordinatorSession } from '../backends/shards/types.js';
import { groupTasksHost, PORTS } from '../core/names.js';

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
 * The members' addresses of each worker group. libpq moves on to the next *host* of a
 * list when a server is read-only, but not to the next address of one name, so a single
 * `tasks.<service>` name cannot find a group's primary: the engine gets every member's
 * address instead. Addresses change when a task is replaced; the agent refreshes them at
 * every observation, and the shards backend updates the engine's server when they differ
 * (a failover keeps addresses: the replica that takes over was already in the list).
 */
export class MemberAddresses {
  readonly #cache = new Map<string, string[]>();

  constructor(
    private readonly docker: Docker,
    private readonly cluster: string,
  ) {}

  async refresh(): Promise<void> {
    const services = await this.docker.listServices({
      filters: { label: [`${LABEL_CLUSTER}=${this.cluster}`, `${LABEL_ROLE}=worker`] },
    });
    for (const svc of services) {
      const group = svc.Spec?.Labels?.[LABEL_GROUP];
      if (!group) continue;
      try {
        const found = await lookup(groupTasksHost(this.cluster, group), { all: true, family: 4 });
        this.#cache.set(group, [...new Set(found.map((a) => a.address))].sort());
      } catch {
        // No member is healthy yet: keep what was known.
      }
    }
  }

  hosts(group: string): string[] {
    return this.#cache.get(group) ?? [groupTasksHost(this.cluster, group)];
  }
}

/** The shards backend's context inside the Swarm cluster (see its readme). */
export function swarmShardsContext(
  at: Coordinates,
  addresses: MemberAddresses,
  log: Logger,
): ShardsContext {
  return {
    connect: coordinatorConnect(at),
    groupHosts: (group) => addresses.hosts(group),
    workerPort: PORTS.postgres,
    workerDatabase: at.database,
    workerUser: 'postgres',
    workerPasswordFile: POSTGRES_PASSWORD_FILE,
    onProgress: (p) => log.info({ backend: 'shards', progress: p }, 'progress'),
  };
}

/** The shards backend as the agent runs it: member addresses refreshed at each observation. */
export function agentShardsBackend(addresses: MemberAddresses): typeof shardsBackend {
  return {
    ...shardsBackend,
    async observe(ctx) {
      await addresses.refresh();
      return shardsBackend.observe(ctx);
    },
  };
}

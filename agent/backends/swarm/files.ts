/**
 * The text of the config files the images read (patroni.yml, pgbouncer.ini,
 * haproxy.cfg), rendered from the Cluster manifest. Pure: the swarm backend turns each
 * into a Swarm config named by its content hash. The image side of this contract is
 * images/README.md.
 */
import { stringify } from 'yaml';
import type { ClusterManifest, GroupSpec } from '../../manifests/types.js';
import {
  etcdServiceName,
  groupTasksHost,
  PATHS,
  PATRONI_NAMESPACE,
  PORTS,
  workerRoutePort,
} from '../../core/names.js';

/** Paths fixed inside the pgnode image (besides PATHS in names.ts). */
export const PGNODE_PATHS = {
  /** Written by the entrypoint from the postgres-password secret, 0600, owner postgres. */
  pgbouncerAuthFile: '/run/pgmesh/pgbouncer-auth.txt',
  postBootstrap: '/usr/local/lib/pgmesh/post-bootstrap.sh',
  pgpass: '/run/pgmesh/pgpass',
  pgBinDir: '/usr/lib/postgresql/17/bin',
  pgDataDir: `${PATHS.dataDir}/pg`,
  socketDir: '/run/postgresql',
} as const;

/** etcd3 client endpoints as Patroni wants them: host:port, by service DNS name. */
export function etcdHosts(cluster: ClusterManifest): string[] {
  return Array.from(
    { length: cluster.spec.etcd.members },
    (_, i) => `${etcdServiceName(cluster.metadata.name, i + 1)}:${PORTS.etcdClient}`,
  );
}

/**
 * patroni.yml for one group (one Patroni scope). Name, scope, connect addresses and
 * passwords come from the environment the entrypoint sets (PATRONI_*), so one file
 * serves every member of the group.
 */
export function patroniYml(cluster: ClusterManifest, group: GroupSpec): string {
  const { spec } = cluster;
  // The engine's module (images/pgnode/ext, docs/engine.md) runs on every group: the
  // planner hook on coordinators; on workers it turns the coordinator's COMMIT into
  // PREPARE TRANSACTION for two-phase commit and runs its transactions at READ
  // COMMITTED. Workers prepare up to one transaction per connection.
  const preload =
    group.name === spec.coordinator.name
      ? {
          shared_preload_libraries: 'pgmesh',
          // The recovery worker runs in the database holding the engine.
          'pgmesh.recovery_database': spec.postgres.database,
        }
      : {
          shared_preload_libraries: 'pgmesh',
          max_prepared_transactions: spec.postgres.maxConnections,
        };
  const config = {
    scope: group.name,
    namespace: PATRONI_NAMESPACE,
    log: { level: 'INFO' },
    restapi: { listen: `0.0.0.0:${PORTS.patroniRest}` },
    etcd3: { hosts: etcdHosts(cluster) },
    bootstrap: {
      dcs: {
        ttl: spec.patroni.ttl,
        loop_wait: spec.patroni.loopWait,
        retry_timeout: spec.patroni.retryTimeout,
        maximum_lag_on_failover: 1048576,
        synchronous_mode: group.synchronousMode,
        postgresql: {
          use_pg_rewind: true,
          use_slots: true,
          // Cluster-wide settings live in the DCS, where the patroni backend manages them.
          parameters: {
            wal_level: 'logical',
            hot_standby: 'on',
            wal_log_hints: 'on',
            max_wal_senders: 16,
            max_replication_slots: 16,
            max_connections: spec.postgres.maxConnections,
            shared_buffers: spec.postgres.sharedBuffers,
            password_encryption: 'scram-sha-256',
            // Small on purpose: several members share a 2-core test box.
            work_mem: '4MB',
            maintenance_work_mem: '64MB',
            effective_cache_size: '256MB',
            max_worker_processes: 8,
            max_parallel_workers: 2,
            max_parallel_workers_per_gather: 1,
            wal_keep_size: '128MB',
            ...preload,
          },
        },
      },
      initdb: ['data-checksums', { encoding: 'UTF8' }, { locale: 'C.UTF-8' }],
      post_bootstrap: `${PGNODE_PATHS.postBootstrap} ${spec.postgres.database}`,
    },
    postgresql: {
      listen: `0.0.0.0:${PORTS.postgres}`,
      data_dir: PGNODE_PATHS.pgDataDir,
      bin_dir: PGNODE_PATHS.pgBinDir,
      pgpass: PGNODE_PATHS.pgpass,
      // A fast checkpoint: otherwise a new replica waits for a spread one (97 s seen
      // here right after bootstrap).
      basebackup: [{ checkpoint: 'fast' }],
      parameters: {
        unix_socket_directories: PGNODE_PATHS.socketDir,
        // A replica whose primary restarted (a crash, a rolling restart) connects again
        // after 1 s instead of 5 s; in synchronous mode commits wait for exactly that.
        wal_retrieve_retry_interval: '1s',
      },
      pg_hba: [
        'local all all peer',
        'host replication replicator 0.0.0.0/0 scram-sha-256',
        'host replication replicator ::/0 scram-sha-256',
        'host all all 0.0.0.0/0 scram-sha-256',
        'host all all ::/0 scram-sha-256',
      ],
    },
  };
  return `# Rendered by pgmesh (agent/cluster/files.ts) for scope ${group.name}; do not edit.\n${stringify(config)}`;
}

/**
 * pgbouncer.ini: every database on the local Postgres. Clients authenticate with SCRAM;
 * postgres is in the auth file the entrypoint writes, other roles are looked up in
 * pg_shadow through auth_query (SCRAM pass-through), so roles need no file change.
 */
export function pgbouncerIni(cluster: ClusterManifest): string {
  const { pgbouncer } = cluster.spec;
  const lines = [
    '; Rendered by pgmesh (agent/cluster/files.ts); do not edit.',
    '[databases]',
    `* = host=127.0.0.1 port=${PORTS.postgres}`,
    '',
    '[pgbouncer]',
    'listen_addr = 0.0.0.0',
    `listen_port = ${PORTS.pgbouncer}`,
    'unix_socket_dir =',
    'auth_type = scram-sha-256',
    `auth_file = ${PGNODE_PATHS.pgbouncerAuthFile}`,
    'auth_user = postgres',
    'auth_dbname = postgres',
    `pool_mode = ${pgbouncer.poolMode}`,
    `default_pool_size = ${pgbouncer.defaultPoolSize}`,
    `max_client_conn = ${pgbouncer.maxClientConn}`,
    'max_prepared_statements = 100',
    // TimeZone, DateStyle, application_name and client_encoding from the startup packet
    // are tracked per client by PgBouncer. Other startup settings (search_path or
    // statement_timeout in `options`, or as parameters) cannot be: PostgreSQL 17 does
    // not report them back, so PgBouncer could not restore them on a pooled server
    // connection. They are refused ("unsupported startup parameter") rather than
    // silently dropped, as ignoring `options` did; set them with ALTER ROLE ... SET.
    'ignore_startup_parameters = extra_float_digits',
    'admin_users = postgres',
    'stats_users = postgres',
    'server_check_delay = 10',
    // After a crash of its local Postgres, retry the login every second (default 15 s):
    // Patroni restarts Postgres in a few seconds and clients should follow at once.
    'server_login_retry = 1',
    'log_connections = 0',
    'log_disconnections = 0',
    '',
  ];
  return lines.join('\n');
}

/**
 * haproxy.cfg: read-write to the coordinator group's primary, read-only to its
 * replicas, by Patroni's REST checks. Servers come from DNS (tasks.<service>, dnsrr)
 * through Docker's resolver, so HAProxy starts before any member exists and follows
 * task IP changes. Listens on the fixed inside ports; the manifest's ports are the
 * published ones.
 */
/**
 * One route per worker group for the coordinator's connections (postgres_fdw, dblink,
 * shard moves): to the group's primary by the same Patroni check and DNS as the client
 * endpoint, straight to Postgres (the engine holds sessions). Long idle timeouts: an
 * engine connection may sit unused between queries; postgres_fdw reconnects a broken one
 * at the next transaction anyway.
 */
function workerRoutes(cluster: ClusterManifest): string[] {
  return cluster.spec.workerGroups.flatMap((g, index) => {
    // Not tied to the member count: scaling a group must not restart HAProxy.
    const slots = Math.max(8, g.members + 2);
    const host = groupTasksHost(cluster.metadata.name, g.name);
    return [
      `listen worker-${g.name}`,
      `  bind *:${workerRoutePort(index)}`,
      '  timeout client 8h',
      '  timeout server 8h',
      '  option httpchk OPTIONS /primary',
      '  http-check expect status 200',
      `  server-template ${g.name}- ${slots} ${host}:${PORTS.postgres} check port ${PORTS.patroniRest} resolvers docker init-addr none resolve-prefer ipv4`,
      '',
    ];
  });
}

export function haproxyCfg(cluster: ClusterManifest): string {
  const tasksHost = groupTasksHost(cluster.metadata.name, cluster.spec.coordinator.name);
  // Spare slots for tasks that briefly overlap during a rolling update.
  const slots = Math.max(cluster.spec.coordinator.members, 1) + 2;
  const server = (prefix: string): string =>
    `  server-template ${prefix} ${slots} ${tasksHost}:${PORTS.pgbouncer} check port ${PORTS.patroniRest} resolvers docker init-addr none resolve-prefer ipv4`;
  const lines = [
    '# Rendered by pgmesh (agent/cluster/files.ts); do not edit.',
    'global',
    '  maxconn 4096',
    // No log target: with -db HAProxy prints its warnings (server up/down) to stderr,
    // and a line per client connection is not wanted.
    '',
    'resolvers docker',
    '  nameserver dns 127.0.0.11:53',
    '  resolve_retries 3',
    '  timeout resolve 1s',
    '  timeout retry 1s',
    '  hold valid 5s',
    '  hold other 5s',
    '  hold refused 5s',
    '  hold nx 5s',
    '  hold timeout 5s',
    // A task that died leaves tasks.<service> at once; after 1 s HAProxy drops its server
    // (maintenance) instead of holding the dead address for 5 s, during which half of the
    // new connections went to it (a fenced failover's write gap was 4.9 s, docs/ha.md).
    '  hold obsolete 1s',
    '  accepted_payload_size 8192',
    '',
    'defaults',
    '  mode tcp',
    // A connection to a dead member's address fails after 1 s (an overlay peer answers in
    // milliseconds) and is retried on another server that passes the check.
    '  timeout connect 1s',
    '  retries 2',
    '  option redispatch 1',
    '  timeout client 30m',
    '  timeout server 30m',
    '  timeout check 2s',
    // OPTIONS, as Patroni's own HAProxy example: same status codes as GET, no body, so
    // HAProxy's reset after reading the status does not make Patroni log a traceback.
    // rise 1: a promoted member takes writes after one good check (a second primary
    // cannot pass /primary: Patroni demotes a member without the leader key).
    '  default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions',
    '',
    `listen read-write`,
    `  bind *:${PORTS.haproxyReadWrite}`,
    '  option httpchk OPTIONS /primary',
    '  http-check expect status 200',
    server('coord-rw'),
    '',
    `listen read-only`,
    `  bind *:${PORTS.haproxyReadOnly}`,
    '  balance roundrobin',
    '  option httpchk OPTIONS /replica',
    '  http-check expect status 200',
    server('coord-ro'),
    '',
    ...workerRoutes(cluster),
    'listen stats',
    '  mode http',
    `  bind *:${PORTS.haproxyStats}`,
    '  timeout client 30s',
    '  timeout server 30s',
    '  stats enable',
    // CSV at /stats;csv for the agent's verify step.
    '  stats uri /stats',
    '  stats refresh 5s',
    '  http-request redirect location /stats if { path / }',
    '',
  ];
  return lines.join('\n');
}

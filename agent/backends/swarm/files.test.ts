import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { clusterManifest } from '../../../test/helpers/manifest-fixture.js';
import { etcdHosts, haproxyCfg, patroniYml, pgbouncerIni, PGNODE_PATHS } from './files.js';

const cluster = clusterManifest;

describe('patroniYml', () => {
  const m = cluster();

  it('renders a group scope with its synchronous mode', () => {
    const coord = parse(patroniYml(m, m.spec.coordinator));
    expect(coord.scope).toBe('coord');
    expect(coord.namespace).toBe('/patroni/');
    expect(coord.bootstrap.dcs.synchronous_mode).toBe(true);
    const w1 = parse(patroniYml(m, m.spec.workerGroups[0]));
    expect(w1.scope).toBe('w1');
    expect(w1.bootstrap.dcs.synchronous_mode).toBe(false);
  });

  it('lets a replica reconnect to a restarted primary after 1 s (synchronous commits wait for it)', () => {
    const y = parse(patroniYml(m, m.spec.workerGroups[0]!));
    expect(y.postgresql.parameters.wal_retrieve_retry_interval).toBe('1s');
  });

  it('points at every etcd member by service name', () => {
    const y = parse(patroniYml(m, m.spec.coordinator));
    expect(y.etcd3.hosts).toEqual([
      'pgmesh-etcd-1:2379',
      'pgmesh-etcd-2:2379',
      'pgmesh-etcd-3:2379',
    ]);
    const single = cluster({
      etcd: { members: 1, placement: { constraints: [], spreadMembers: false } },
    });
    expect(etcdHosts(single)).toEqual(['pgmesh-etcd-1:2379']);
  });

  it('takes timing and Postgres settings from the manifest', () => {
    const y = parse(patroniYml(m, m.spec.coordinator));
    expect(y.bootstrap.dcs.ttl).toBe(20);
    expect(y.bootstrap.dcs.loop_wait).toBe(2);
    expect(y.bootstrap.dcs.retry_timeout).toBe(10);
    const p = y.bootstrap.dcs.postgresql.parameters;
    expect(p.max_connections).toBe(120);
    expect(p.shared_buffers).toBe('64MB');
    expect(p.wal_level).toBe('logical');
    expect(p.password_encryption).toBe('scram-sha-256');
    expect(p.max_wal_senders).toBe(16);
    expect(p.max_replication_slots).toBe(16);
    expect(y.bootstrap.dcs.postgresql.use_pg_rewind).toBe(true);
  });

  it('matches the pgnode image: listeners, paths, bootstrap and hba', () => {
    const y = parse(patroniYml(m, m.spec.coordinator));
    expect(y.restapi.listen).toBe('0.0.0.0:8008');
    expect(y.postgresql.listen).toBe('0.0.0.0:5432');
    expect(y.postgresql.data_dir).toBe('/var/lib/pgmesh/pg');
    expect(y.postgresql.bin_dir).toBe('/usr/lib/postgresql/17/bin');
    expect(y.bootstrap.initdb).toContain('data-checksums');
    expect(y.bootstrap.post_bootstrap).toBe(`${PGNODE_PATHS.postBootstrap} appdb`);
    expect(y.postgresql.pg_hba).toContain('local all all peer');
    expect(y.postgresql.pg_hba).toContain('host replication replicator 0.0.0.0/0 scram-sha-256');
    expect(y.postgresql.pg_hba).toContain('host all all 0.0.0.0/0 scram-sha-256');
    // Name, connect addresses and passwords come from the entrypoint's environment.
    expect(y.name).toBeUndefined();
    expect(y.postgresql.authentication).toBeUndefined();
  });

  it('preloads the engine module everywhere and lets workers prepare transactions', () => {
    const coord = parse(patroniYml(m, m.spec.coordinator));
    expect(coord.bootstrap.dcs.postgresql.parameters.shared_preload_libraries).toBe('pgmesh');
    expect(coord.bootstrap.dcs.postgresql.parameters.max_prepared_transactions).toBeUndefined();
    expect(coord.bootstrap.dcs.postgresql.parameters['pgmesh.recovery_database']).toBe(
      m.spec.postgres.database,
    );
    const w1 = parse(patroniYml(m, m.spec.workerGroups[0]));
    expect(w1.bootstrap.dcs.postgresql.parameters.shared_preload_libraries).toBe('pgmesh');
    expect(w1.bootstrap.dcs.postgresql.parameters.max_prepared_transactions).toBe(
      m.spec.postgres.maxConnections,
    );
  });

  it('is deterministic (config names carry a content hash)', () => {
    expect(patroniYml(m, m.spec.coordinator)).toBe(
      patroniYml(cluster(), cluster().spec.coordinator),
    );
  });
});

describe('pgbouncerIni', () => {
  it('pools onto the local Postgres with SCRAM and the manifest pool settings', () => {
    const ini = pgbouncerIni(cluster());
    expect(ini).toMatch(/^\* = host=127\.0\.0\.1 port=5432$/m);
    expect(ini).toMatch(/^listen_port = 6432$/m);
    expect(ini).toMatch(/^auth_type = scram-sha-256$/m);
    expect(ini).toMatch(/^pool_mode = transaction$/m);
    expect(ini).toMatch(/^default_pool_size = 20$/m);
    expect(ini).toMatch(/^max_client_conn = 500$/m);
    expect(ini).toContain(`auth_file = ${PGNODE_PATHS.pgbouncerAuthFile}`);
  });

  it('refuses startup options it cannot keep per client instead of dropping them', () => {
    // `options=-c search_path=...` would be silently lost if ignored (issue #15).
    expect(pgbouncerIni(cluster())).toMatch(/^ignore_startup_parameters = extra_float_digits$/m);
  });

  it('retries the server login every second after a Postgres crash (default 15 s)', () => {
    expect(pgbouncerIni(cluster())).toMatch(/^server_login_retry = 1$/m);
  });
});

describe('haproxyCfg', () => {
  const cfg = haproxyCfg(cluster());
  const section = (name: string): string => {
    const start = cfg.indexOf(`listen ${name}\n`);
    expect(start).toBeGreaterThanOrEqual(0);
    const next = cfg.indexOf('\nlisten ', start + 1);
    return cfg.slice(start, next === -1 ? undefined : next);
  };

  it('has the client listeners on the fixed inside ports and one route per worker group', () => {
    const groups = cluster().spec.workerGroups;
    expect(cfg.match(/^listen /gm)).toHaveLength(3 + groups.length);
    expect(section('read-write')).toContain('bind *:5432');
    expect(section('read-only')).toContain('bind *:5433');
    expect(section('stats')).toContain('bind *:8404');
    // The published ports are Swarm's business, not HAProxy's.
    expect(cfg).not.toContain('15432');
  });

  it("routes the coordinator to each worker group's primary by name, never by a stored address", () => {
    const groups = cluster().spec.workerGroups;
    expect(groups.length).toBeGreaterThan(0);
    groups.forEach((g, i) => {
      const route = section(`worker-${g.name}`);
      expect(route).toContain(`bind *:${6001 + i}`);
      expect(route).toContain('option httpchk OPTIONS /primary');
      expect(route).toMatch(
        new RegExp(
          `server-template ${g.name}- 8 tasks\\.pgmesh-${g.name}:5432 check port 8008 resolvers docker`,
        ),
      );
    });
  });

  it('checks Patroni roles and finds members through Docker DNS', () => {
    expect(section('read-write')).toContain('option httpchk OPTIONS /primary');
    expect(section('read-only')).toContain('option httpchk OPTIONS /replica');
    for (const s of ['read-write', 'read-only']) {
      expect(section(s)).toMatch(
        /server-template \S+ 5 tasks\.pgmesh-coord:6432 check port 8008 resolvers docker init-addr none/,
      );
    }
    expect(cfg).toContain('nameserver dns 127.0.0.11:53');
    expect(cfg).toContain('default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions');
    // A dead member's address leaves the pool within a second, and a connection sent to it
    // meanwhile is redispatched after a 1 s connect timeout.
    expect(cfg).toContain('hold obsolete 1s');
    expect(cfg).toContain('timeout connect 1s\n  retries 2\n  option redispatch 1');
    expect(section('stats')).toContain('stats uri /stats');
  });
});

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type pg from 'pg';
import { readClusterStatus, readPatroniKeys, type ClusterStatus } from '../../agent/cli/health.js';
import { waitHealthy } from '../../agent/cli/ops.js';
import { groupServiceName, haproxyServiceName, etcdServiceName } from '../../agent/core/names.js';
import { execIn, serviceContainers } from '../../agent/docker/client.js';
import { waitFor } from '../../agent/core/wait.js';
import { readPassword } from '../../agent/cli/state.js';
import type { ClusterManifest } from '../../agent/manifests/types.js';
import { runCli } from '../helpers/cli.js';
import {
  connect,
  defaultCluster,
  editedManifests,
  manifestsWith,
  testDocker,
} from '../helpers/cluster.js';

let m: ClusterManifest;
const clients: pg.Client[] = [];

async function client(endpoint: 'read-write' | 'read-only' = 'read-write'): Promise<pg.Client> {
  const c = await connect(m, endpoint);
  clients.push(c);
  return c;
}

async function psqlIn(containerId: string, sql: string): Promise<string> {
  const r = await execIn(
    testDocker(),
    containerId,
    ['psql', '-XtAq', '-d', m.spec.postgres.database, '-c', sql],
    {
      user: 'postgres',
    },
  );
  if (r.exitCode !== 0) throw new Error(`psql failed: ${r.stderr}`);
  return r.stdout.trim();
}

async function serviceVersions(): Promise<Record<string, number>> {
  const services = await testDocker().listServices({
    filters: { label: ['pgmesh.cluster=pgmesh'] },
  });
  return Object.fromEntries(services.map((s) => [s.Spec?.Name ?? '', s.Version?.Index ?? 0]));
}

async function healthy(timeoutMs = 240_000): Promise<ClusterStatus> {
  return waitHealthy(testDocker(), m, { timeoutMs });
}

beforeAll(async () => {
  m = await defaultCluster();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
});

describe('pgmesh up (the README first command)', () => {
  it('brings up a healthy cluster and prints the connection strings, never the password', async () => {
    const up = inject('up');
    expect(up.stderr.slice(-2000) + `\nexit ${up.code}`).toMatch(/is healthy[\s\S]*exit 0$/);
    expect(up.stdout).toContain('read-write: postgresql://postgres@127.0.0.1:5432/pgmesh');
    expect(up.stdout).toContain('read-only:  postgresql://postgres@127.0.0.1:5433/pgmesh');
    const password = await readPassword(testDocker(), m);
    expect(password.length).toBeGreaterThanOrEqual(24);
    expect(up.stdout + up.stderr).not.toContain(password);
    process.stderr.write(`pgmesh up took ${up.seconds.toFixed(0)} s\n`);
  });
});

describe('the running cluster', () => {
  it('writes through :5432 land on the coordinator primary and reach every replica', async () => {
    const status = await healthy();
    const coord = status.groups.find((g) => g.scope === 'coord');
    const primary = coord?.members.find((x) => x.role === 'primary');
    expect(primary).toBeDefined();
    const rw = await client('read-write');
    const fingerprint =
      'SELECT pg_is_in_recovery() AS rec, pg_postmaster_start_time()::text AS started';
    const { rows } = await rw.query<{ rec: boolean; started: string }>(fingerprint);
    expect(rows[0]?.rec).toBe(false);
    // The postmaster's start time tells members apart: the session is on the primary's.
    const containers = await serviceContainers(testDocker(), groupServiceName('pgmesh', 'coord'));
    const onPrimary: string[] = [];
    for (const c of containers) {
      const [rec, started] = (
        await psqlIn(c.id, `SELECT pg_is_in_recovery(), pg_postmaster_start_time()::text`)
      ).split('|');
      if (rec === 'f') onPrimary.push(started ?? '');
    }
    expect(onPrimary).toEqual([rows[0]?.started]);
    const marker = `e2e-${Date.now()}`;
    await rw.query('CREATE TABLE IF NOT EXISTS e2e_writes (id bigserial PRIMARY KEY, marker text)');
    await rw.query('INSERT INTO e2e_writes (marker) VALUES ($1)', [marker]);

    expect(containers.length).toBe(3);
    for (const c of containers) {
      await waitFor(
        async () =>
          (await psqlIn(c.id, `SELECT count(*) FROM e2e_writes WHERE marker = '${marker}'`)) ===
          '1',
        { what: `row visible on ${c.id.slice(0, 12)}`, timeoutMs: 30_000, intervalMs: 200 },
      );
    }
  });

  it(':5433 serves reads from a coordinator replica and refuses writes', async () => {
    const ro = await client('read-only');
    const { rows } = await ro.query<{ rec: boolean }>('SELECT pg_is_in_recovery() AS rec');
    expect(rows[0]?.rec).toBe(true);
    await expect(ro.query('CREATE TABLE e2e_must_fail (id int)')).rejects.toMatchObject({
      code: '25006',
    });
  });

  it('each worker group has one primary and one streaming replica; etcd holds a leader key per group', async () => {
    const status = await healthy();
    for (const scope of ['w1', 'w2']) {
      const g = status.groups.find((x) => x.scope === scope);
      expect(g?.members.map((x) => x.role).sort()).toEqual(['primary', 'replica']);
      const primary = g?.members.find((x) => x.role === 'primary');
      const containers = await serviceContainers(testDocker(), groupServiceName('pgmesh', scope));
      const states: string[] = [];
      for (const c of containers) {
        const rec = await psqlIn(c.id, 'SELECT pg_is_in_recovery()');
        if (rec === 'f') states.push(await psqlIn(c.id, 'SELECT state FROM pg_stat_replication'));
      }
      expect(states).toEqual(['streaming']);
      expect(primary?.name).toBe(g?.leader);
    }
    const keys = (await readPatroniKeys(testDocker(), m)).map((kv) => kv.key);
    for (const scope of ['coord', 'w1', 'w2']) expect(keys).toContain(`/patroni/${scope}/leader`);
  });
});

describe('idempotence and targeted changes', () => {
  it('plan right after up plans nothing (exit 0), and so does a second up', async () => {
    const plan = await runCli(['plan']);
    expect(plan.stdout).toContain('No changes');
    expect(plan.code).toBe(0);
    const before = await serviceVersions();
    const up = await runCli(['up']);
    expect(up.code).toBe(0);
    expect(up.stderr).toContain('applied 0 changes');
    expect(await serviceVersions()).toEqual(before);
  });

  it('changing one member count plans and changes exactly that service', async () => {
    // A manual apply from a folder is drift from the agent's Git repository: the operator
    // pulls the pause first, so the agent does not revert it meanwhile.
    expect((await runCli(['pause', '--reason', 'e2e: manual apply'])).code).toBe(0);
    const dir = await editedManifests((doc) =>
      doc.setIn(['spec', 'workerGroups', 0, 'members'], 3),
    );
    const plan = await runCli(['plan', '--manifests', dir, '--output', 'json']);
    expect(plan.code).toBe(2);
    const parsed = JSON.parse(plan.stdout) as { actions: Array<{ summary: string }> };
    expect(parsed.actions.map((a) => a.summary)).toEqual([
      'update service pgmesh-w1 (replicas 2 → 3)',
    ]);

    const before = await serviceVersions();
    const apply = await runCli(['apply', '--manifests', dir]);
    expect(apply.code, apply.stderr).toBe(0);
    const after = await serviceVersions();
    const changed = Object.keys(after).filter((k) => after[k] !== before[k]);
    expect(changed).toEqual(['pgmesh-w1']);
    const status = await readClusterStatus(testDocker(), m);
    expect(status.groups.find((g) => g.scope === 'w1')?.members).toHaveLength(3);

    // Back to the manifests in the repository: again exactly that service.
    const back = await runCli(['apply']);
    expect(back.code, back.stderr).toBe(0);
    const final = await serviceVersions();
    expect(Object.keys(final).filter((k) => final[k] !== after[k])).toEqual(['pgmesh-w1']);
    expect((await runCli(['resume'])).code).toBe(0);
    await healthy();
  });
});

describe('bad input is rejected with file and field, and nothing is applied', () => {
  const cases: Array<{ name: string; dir: () => Promise<string>; expect: RegExp }> = [
    {
      name: 'an unknown field',
      dir: () => editedManifests((d) => d.setIn(['spec', 'coordinator', 'replicaz'], 2)),
      expect: /cluster\.yaml.*\/spec\/coordinator.*replicaz/,
    },
    {
      name: 'a wrong type',
      dir: () => editedManifests((d) => d.setIn(['spec', 'workerGroups', 0, 'members'], 'two')),
      expect: /cluster\.yaml.*\/spec\/workerGroups\/0\/members/,
    },
    {
      name: '0 coordinators',
      dir: () => editedManifests((d) => d.setIn(['spec', 'coordinator', 'members'], 0)),
      expect: /cluster\.yaml.*\/spec\/coordinator\/members/,
    },
    {
      name: 'duplicate group names',
      dir: () => editedManifests((d) => d.setIn(['spec', 'workerGroups', 1, 'name'], 'w1')),
      expect: /cluster\.yaml.*\/spec\/workerGroups\/1\/name/,
    },
    {
      name: 'a name that is not DNS-safe',
      dir: () => editedManifests((d) => d.setIn(['spec', 'workerGroups', 0, 'name'], 'W_1')),
      expect: /cluster\.yaml.*\/spec\/workerGroups\/0\/name/,
    },
    {
      name: 'a port out of range',
      dir: () => editedManifests((d) => d.setIn(['spec', 'haproxy', 'ports', 'readWrite'], 70000)),
      expect: /cluster\.yaml.*\/spec\/haproxy\/ports\/readWrite/,
    },
    {
      name: 'YAML that does not parse',
      dir: () => manifestsWith('broken.yaml', 'kind: Cluster\n  metadata: [oops\n'),
      expect: /broken\.yaml/,
    },
    {
      name: 'a second Cluster manifest',
      dir: () =>
        manifestsWith(
          'second.yaml',
          'apiVersion: pgmesh.io/v1\nkind: Cluster\nmetadata:\n  name: other\nspec:\n  coordinator:\n    members: 1\n  workerGroups: []\n',
        ),
      expect: /second\.yaml/,
    },
  ];

  it.each(cases)('$name', async (c) => {
    const before = await serviceVersions();
    const dir = await c.dir();
    const r = await runCli(['apply', '--manifests', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('PGMESH_MANIFEST_INVALID');
    expect(r.stderr).toMatch(c.expect);
    expect(await serviceVersions()).toEqual(before);
  });
});

describe('self-healing', () => {
  const victims = [
    { what: 'an etcd member', service: () => etcdServiceName('pgmesh', 2), pick: 'any' },
    {
      what: 'the coordinator primary',
      service: () => groupServiceName('pgmesh', 'coord'),
      pick: 'primary',
    },
    {
      what: 'a coordinator replica',
      service: () => groupServiceName('pgmesh', 'coord'),
      pick: 'replica',
    },
    { what: 'a worker primary', service: () => groupServiceName('pgmesh', 'w1'), pick: 'primary' },
    { what: 'a worker replica', service: () => groupServiceName('pgmesh', 'w2'), pick: 'replica' },
    { what: 'HAProxy', service: () => haproxyServiceName('pgmesh'), pick: 'any' },
  ] as const;

  it.each(victims)(
    'killing $what is healed by Swarm and the cluster is healthy again',
    async (v) => {
      await healthy();
      const service = v.service();
      // A member that a previous kill restarted may still refuse connections for a moment
      // after Patroni reports it running: pick again until one answers as wanted.
      const { victim } = await waitFor(
        async () => {
          const containers = await serviceContainers(testDocker(), service);
          if (v.pick === 'any') return containers[0] ? { victim: containers[0] } : 'no container';
          for (const c of containers) {
            const rec = await psqlIn(c.id, 'SELECT pg_is_in_recovery()').catch(() => '');
            if (rec !== '' && (rec === 'f') === (v.pick === 'primary')) return { victim: c };
          }
          return `no ${v.pick} of ${service} answers yet`;
        },
        { what: `a ${v.pick} container of ${service}`, timeoutMs: 60_000, intervalMs: 500 },
      );
      await testDocker().getContainer(victim.id).kill();
      // Swarm replaces the task: a new container runs in the same slot.
      await waitFor(
        async () => {
          const now = await serviceContainers(testDocker(), service);
          return now.some(
            (c) => c.slot === victim.slot && c.id !== victim.id && c.state === 'running',
          );
        },
        {
          what: `a new container for ${service} slot ${victim.slot}`,
          timeoutMs: 120_000,
          intervalMs: 500,
        },
      );
      await healthy(240_000);
      // Healthy by Patroni and HAProxy; a write through :5432 succeeds again (a connection
      // made in the instant HAProxy switches over may time out: a new one is tried).
      await waitFor(
        async () => {
          const rw = await client('read-write');
          await rw.query(
            'CREATE TABLE IF NOT EXISTS e2e_writes (id bigserial PRIMARY KEY, marker text)',
          );
          await rw.query('INSERT INTO e2e_writes (marker) VALUES ($1)', [`after-kill-${service}`]);
          return true;
        },
        {
          what: `a write through :5432 after killing ${v.what}`,
          timeoutMs: 60_000,
          intervalMs: 500,
        },
      );
    },
  );
});

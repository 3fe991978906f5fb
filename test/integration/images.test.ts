/**
 * The images against their contract, on the real Swarm: one etcd member, one pgnode
 * group of two members (one service, slot-templated volume and member name, dnsrr), and
 * HAProxy in front, all configured by agent/backends/swarm/files.ts. Every resource is named
 * pgmtest-img-* and removed before (a previous run may have crashed) and after.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haproxyCfg, patroniYml, pgbouncerIni } from '../../agent/backends/swarm/files.js';
import {
  etcdServiceName,
  etcdVolumeName,
  groupServiceName,
  groupTasksHost,
  groupVolumeTemplate,
  haproxyServiceName,
  memberNameTemplate,
  networkName,
  PATHS,
} from '../../agent/core/names.js';
import { silentLogger } from '../../agent/core/log.js';
import { waitFor } from '../../agent/core/wait.js';
import { buildImages, type ImageName } from '../../agent/host/images.js';
import { clusterManifest, groupSpec } from '../helpers/manifest-fixture.js';
import type { ClusterManifest } from '../../agent/manifests/types.js';

const PREFIX = 'pgmtest-img';
const CLUSTER = PREFIX;
const GROUP = 'w';
const BASE = process.env.PGMESH_BASE_IMAGE ?? 'pgmesh/base:trixie';
const docker = new Docker();

const base = clusterManifest({
  etcd: { members: 1, placement: { constraints: [], spreadMembers: false } },
  // The group under test doubles as the coordinator group so HAProxy routes to it.
  coordinator: groupSpec(GROUP, 2, { placement: { constraints: [], spreadMembers: false } }),
  workerGroups: [],
  haproxy: {
    ports: { readWrite: 5432, readOnly: 5433, stats: 8404 },
    placement: { constraints: [], spreadMembers: false },
  },
  pgbouncer: { poolMode: 'transaction', defaultPoolSize: 5, maxClientConn: 50 },
  postgres: { database: 'pgmesh', maxConnections: 40, sharedBuffers: '32MB' },
});
const manifest: ClusterManifest = { ...base, metadata: { name: CLUSTER } };

const NET = networkName(CLUSTER);
const ETCD = etcdServiceName(CLUSTER, 1);
const PG = groupServiceName(CLUSTER, GROUP);
const HAPROXY = haproxyServiceName(CLUSTER);
const CLIENT = `${PREFIX}-client`;
const SERVICES = [PG, HAPROXY, ETCD];
const VOLUMES = [
  etcdVolumeName(CLUSTER, 1),
  `${PREFIX}-${GROUP}-data-1`,
  `${PREFIX}-${GROUP}-data-2`,
];
const passwords = {
  'postgres-password': randomBytes(18).toString('base64url'),
  'replication-password': randomBytes(18).toString('base64url'),
};

interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command in the client container; secrets travel in Env, never in Cmd. */
async function exec(cmd: string[], env: string[] = []): Promise<ExecResult> {
  const e = await docker
    .getContainer(CLIENT)
    .exec({ Cmd: cmd, Env: env, AttachStdout: true, AttachStderr: true });
  const stream = await e.start({});
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  await new Promise<void>((res, rej) => {
    docker.modem.demuxStream(
      stream,
      { write: (b: Buffer) => out.push(b) } as unknown as NodeJS.WritableStream,
      { write: (b: Buffer) => err.push(b) } as unknown as NodeJS.WritableStream,
    );
    stream.on('end', () => res());
    stream.on('error', rej);
  });
  const info = await e.inspect();
  return {
    code: info.ExitCode ?? -1,
    stdout: Buffer.concat(out).toString(),
    stderr: Buffer.concat(err).toString(),
  };
}

async function psql(
  conn: string,
  sql: string,
  user = 'postgres',
  password = passwords['postgres-password'],
): Promise<string> {
  const r = await exec(
    ['psql', `${conn} user=${user} connect_timeout=3`, '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', sql],
    [`PGPASSWORD=${password}`],
  );
  if (r.code !== 0) throw new Error(`psql (${conn}) failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

interface PatroniMember {
  name: string;
  role: string;
  state: string;
  host: string;
}

async function patroniMembers(): Promise<PatroniMember[]> {
  const r = await exec([
    'curl',
    '-fsS',
    '--max-time',
    '3',
    `http://${groupTasksHost(CLUSTER, GROUP)}:8008/cluster`,
  ]);
  if (r.code !== 0) throw new Error(`Patroni REST: ${r.stderr.trim()}`);
  return (JSON.parse(r.stdout) as { members: PatroniMember[] }).members;
}

async function removeIfExists(what: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const status = (err as { statusCode?: number }).statusCode;
    if (status !== 404)
      throw new Error(`removing ${what}: ${(err as Error).message}`, { cause: err });
  }
}

async function cleanup(): Promise<void> {
  await removeIfExists(CLIENT, () => docker.getContainer(CLIENT).remove({ force: true }));
  for (const s of SERVICES) await removeIfExists(s, () => docker.getService(s).remove());
  // Volumes are freed only once the tasks' containers are gone.
  await waitFor(
    async () => {
      const left = await docker.listContainers({ all: true, filters: { name: [`${PREFIX}-`] } });
      const ours = left.filter((c) =>
        c.Names.some((n) => SERVICES.some((s) => n.startsWith(`/${s}.`))),
      );
      return ours.length === 0 ? true : `${ours.length} containers still there`;
    },
    { what: 'test containers to go', timeoutMs: 60_000, intervalMs: 500 },
  );
  for (const v of VOLUMES) await removeIfExists(v, () => docker.getVolume(v).remove());
  const configs = await docker.listConfigs({ filters: { name: [`${PREFIX}-`] } });
  for (const c of configs)
    await removeIfExists(c.Spec?.Name ?? c.ID, () => docker.getConfig(c.ID).remove());
  const secrets = await docker.listSecrets({ filters: { name: [`${PREFIX}-`] } });
  for (const s of secrets)
    await removeIfExists(s.Spec?.Name ?? s.ID, () => docker.getSecret(s.ID).remove());
  await removeIfExists(NET, () => docker.getNetwork(NET).remove());
}

async function createConfig(logical: string, data: string): Promise<{ id: string; name: string }> {
  const name = `${PREFIX}-${logical}`;
  const r = (await docker.createConfig({
    Name: name,
    Data: Buffer.from(data).toString('base64'),
  })) as { id: string };
  return { id: r.id, name };
}

let images: Record<ImageName, string>;

describe('pgmesh images on Swarm', () => {
  beforeAll(async () => {
    await cleanup();
    const started = Date.now();
    images = await buildImages({
      repoRoot: resolve(import.meta.dirname, '../..'),
      base: BASE,
      log: silentLogger(),
      only: ['etcd', 'pgnode', 'haproxy'],
      tagPrefix: `${PREFIX}-`,
    });
    console.log(`images ready in ${Math.round((Date.now() - started) / 1000)} s`, images);

    const net = await docker.createNetwork({
      Name: NET,
      Driver: 'overlay',
      Attachable: true,
      CheckDuplicate: true,
    });
    const secretRefs = await Promise.all(
      Object.entries(passwords).map(async ([file, value]) => {
        const name = `${PREFIX}-${file}`;
        const r = (await docker.createSecret({
          Name: name,
          Data: Buffer.from(value).toString('base64'),
        })) as {
          id: string;
        };
        return {
          SecretID: r.id,
          SecretName: name,
          File: { Name: file, UID: '0', GID: '0', Mode: 0o400 },
        };
      }),
    );
    const patroni = await createConfig('patroni', patroniYml(manifest, manifest.spec.coordinator));
    const pgbouncer = await createConfig('pgbouncer', pgbouncerIni(manifest));
    const haproxy = await createConfig('haproxy', haproxyCfg(manifest));
    const configRef = (c: { id: string; name: string }, target: string) => ({
      ConfigID: c.id,
      ConfigName: c.name,
      File: { Name: target, UID: '0', GID: '0', Mode: 0o444 },
    });
    const common = {
      Networks: [{ Target: net.id }],
      RestartPolicy: { Condition: 'any', Delay: 2_000_000_000 },
    };

    await docker.createService({
      Name: ETCD,
      TaskTemplate: {
        ...common,
        ContainerSpec: {
          Image: images.etcd,
          Env: [
            'ETCD_NAME=etcd-1',
            'ETCD_DATA_DIR=/var/lib/etcd/data',
            'ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379',
            'ETCD_LISTEN_PEER_URLS=http://0.0.0.0:2380',
            `ETCD_ADVERTISE_CLIENT_URLS=http://${ETCD}:2379`,
            `ETCD_INITIAL_ADVERTISE_PEER_URLS=http://${ETCD}:2380`,
            `ETCD_INITIAL_CLUSTER=etcd-1=http://${ETCD}:2380`,
            'ETCD_INITIAL_CLUSTER_STATE=new',
            `ETCD_INITIAL_CLUSTER_TOKEN=${CLUSTER}`,
          ],
          Mounts: [
            { Type: 'volume', Source: etcdVolumeName(CLUSTER, 1), Target: PATHS.etcdDataDir },
          ],
        },
      },
      Mode: { Replicated: { Replicas: 1 } },
      EndpointSpec: { Mode: 'dnsrr' },
    });

    await docker.createService({
      Name: PG,
      TaskTemplate: {
        ...common,
        ContainerSpec: {
          Image: images.pgnode,
          Hostname: `${PG}-{{.Task.Slot}}`,
          Env: [`PGMESH_SCOPE=${GROUP}`, `PGMESH_MEMBER=${memberNameTemplate(GROUP)}`],
          Mounts: [
            { Type: 'volume', Source: groupVolumeTemplate(CLUSTER, GROUP), Target: PATHS.dataDir },
          ],
          Configs: [
            configRef(patroni, PATHS.patroniConfig),
            configRef(pgbouncer, PATHS.pgbouncerConfig),
          ],
          Secrets: secretRefs,
          StopGracePeriod: 30_000_000_000,
        },
      },
      Mode: { Replicated: { Replicas: 2 } },
      EndpointSpec: { Mode: 'dnsrr' },
    });

    await docker.createService({
      Name: HAPROXY,
      TaskTemplate: {
        ...common,
        ContainerSpec: {
          Image: images.haproxy,
          Configs: [configRef(haproxy, PATHS.haproxyConfig)],
        },
      },
      Mode: { Replicated: { Replicas: 1 } },
      EndpointSpec: { Mode: 'dnsrr' },
    });

    // A client on the network: the pgnode image has psql and curl.
    const client = await docker.createContainer({
      name: CLIENT,
      Image: images.pgnode,
      Entrypoint: ['sleep', 'infinity'],
      HostConfig: { NetworkMode: NET },
    });
    await client.start();
  });

  afterAll(async () => {
    // PGMESH_TEST_KEEP=1 leaves everything running to look at (the next run removes it).
    if (process.env.PGMESH_TEST_KEEP !== '1') await cleanup();
  });

  it('forms a group with one leader and one streaming replica', async () => {
    const started = Date.now();
    const members = await waitFor(
      async () => {
        const m = await patroniMembers();
        const leaders = m.filter((x) => x.role === 'leader' && x.state === 'running');
        const replicas = m.filter((x) => x.role !== 'leader' && x.state === 'streaming');
        return leaders.length === 1 && replicas.length === 1
          ? m
          : `members: ${m.map((x) => `${x.name}=${x.role}/${x.state}`).join(', ')}`;
      },
      {
        what: 'one Patroni leader and one streaming replica',
        timeoutMs: 180_000,
        intervalMs: 1000,
      },
    );
    console.log(`group ready ${Math.round((Date.now() - started) / 1000)} s after the services`);
    expect(members.map((m) => m.name).sort()).toEqual(['w-1', 'w-2']);
  });

  it('replicates a row written through PgBouncer on the leader to the replica', async () => {
    const members = await patroniMembers();
    const leader = members.find((m) => m.role === 'leader');
    const replica = members.find((m) => m.role !== 'leader');
    if (!leader || !replica) throw new Error('no leader/replica');
    const onLeader = `host=${leader.host} port=6432 dbname=pgmesh`;
    const onReplica = `host=${replica.host} port=6432 dbname=pgmesh`;
    // post_bootstrap made the database and the extension.
    expect(await psql(onLeader, "SELECT extname FROM pg_extension WHERE extname = 'vector'")).toBe(
      'vector',
    );
    const token = randomBytes(6).toString('hex');
    await psql(
      onLeader,
      `CREATE TABLE IF NOT EXISTS img_test (id text PRIMARY KEY, emb vector(3)); INSERT INTO img_test VALUES ('${token}', '[1,2,3]')`,
    );
    const seen = await waitFor(
      async () => {
        const row = await psql(onReplica, `SELECT emb::text FROM img_test WHERE id = '${token}'`);
        return row ? { row } : 'not there yet';
      },
      { what: 'the row on the replica', timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(seen.row).toBe('[1,2,3]');
    expect(await psql(onReplica, 'SELECT pg_is_in_recovery()')).toBe('t');
  });

  it('lets other roles through PgBouncer with SCRAM (auth_query)', async () => {
    const leader = (await patroniMembers()).find((m) => m.role === 'leader');
    if (!leader) throw new Error('no leader');
    const appPassword = randomBytes(12).toString('base64url');
    // Through Postgres directly: the password must not reach any log via PgBouncer's.
    await psql(
      `host=${leader.host} port=5432 dbname=pgmesh`,
      `DROP ROLE IF EXISTS img_app; CREATE ROLE img_app LOGIN PASSWORD '${appPassword}'`,
    );
    const conn = `host=${leader.host} port=6432 dbname=pgmesh`;
    expect(await psql(conn, 'SELECT current_user', 'img_app', appPassword)).toBe('img_app');
    await expect(psql(conn, 'SELECT 1', 'img_app', 'wrong')).rejects.toThrow(
      /authentication failed/,
    );
  });

  it('routes HAProxy read-write to the leader and read-only to the replica', async () => {
    const rw = `host=${HAPROXY} port=5432 dbname=pgmesh`;
    const ro = `host=${HAPROXY} port=5433 dbname=pgmesh`;
    await waitFor(
      async () =>
        (await psql(rw, 'SELECT pg_is_in_recovery()')) === 'f' ? true : 'rw reached a replica',
      {
        what: 'HAProxy read-write to reach the leader',
        timeoutMs: 30_000,
      },
    );
    await waitFor(
      async () =>
        (await psql(ro, 'SELECT pg_is_in_recovery()')) === 't' ? true : 'ro reached the leader',
      {
        what: 'HAProxy read-only to reach the replica',
        timeoutMs: 30_000,
      },
    );
    const stats = await exec([
      'curl',
      '-fsS',
      '--max-time',
      '3',
      `http://${HAPROXY}:8404/stats;csv`,
    ]);
    expect(stats.code).toBe(0);
    expect(stats.stdout).toMatch(/^read-write,/m);
  });

  it('keeps the passwords out of every process command line', async () => {
    const task = (await docker.listContainers({ filters: { name: [`${PG}.`] } }))[0];
    expect(task).toBeDefined();
    const e = await docker.getContainer(task.Id).exec({
      Cmd: ['sh', '-c', 'cat /proc/[0-9]*/cmdline | tr "\\0" " "'],
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = await e.start({});
    const chunks: Buffer[] = [];
    await new Promise<void>((res) => {
      stream.on('data', (b: Buffer) => chunks.push(b));
      stream.on('end', () => res());
    });
    const cmdlines = Buffer.concat(chunks).toString();
    expect(cmdlines).toContain('patroni');
    expect(cmdlines).toContain('pgbouncer');
    for (const pw of Object.values(passwords)) expect(cmdlines).not.toContain(pw);
  });
});

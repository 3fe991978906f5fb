/**
 * A small cluster of its own for the HA tests (integration and chaos), deployed with the
 * project's own code (agent/cli/ops.ts) under the name `pgmtest-ha`, never `pgmesh`:
 * 3 etcd, 2 coordinators (synchronous), one worker group of 2, HAProxy on 25432/25433/28404
 * (PGMESH_HA_PORT_BASE moves them, so a second one can run beside it), no agent except
 * for the faults that need one (agents.ts). Everything here talks to the cluster the way the host can: published ports,
 * `docker exec`, and a writer container attached to the cluster's overlay network.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  applyPatroniAction,
  describePatroniAction,
  planHeal,
  dockerEtcdStore,
  dockerHttp,
  observePatroni,
  type LiveScope,
  type PatroniHttp,
  type PatroniStore,
} from '../../agent/backends/patroni/index.js';
import { removeLocalRepository } from '../../agent/cli/repo.js';
import { applyCluster, downCluster, waitHealthy } from '../../agent/cli/ops.js';
import { etcdServiceName, groupServiceName, networkName } from '../../agent/core/names.js';
import { DATABASE_DNS_OPTIONS, type ImageSet } from '../../agent/backends/swarm/render.js';
import { createLogger, silentLogger } from '../../agent/core/log.js';
import { buildImages } from '../../agent/host/images.js';
import { REPO } from '../helpers/cli.js';
import { waitFor } from '../../agent/core/wait.js';
import { createDocker, execIn, serviceContainers, type Docker } from '../../agent/docker/client.js';
import { parseManifestSetFromFiles } from '../../agent/manifests/load.js';
import type { ClusterManifest, ManifestSet } from '../../agent/manifests/types.js';
import { groupMembers } from '../helpers/sampler.js';

const run = promisify(execFile);

export const HA_CLUSTER = process.env.PGMESH_HA_CLUSTER ?? 'pgmtest-ha';

/** HAProxy's read-write port; read-only, stats and the agents' API follow at fixed offsets. */
const PORT_BASE = Number(process.env.PGMESH_HA_PORT_BASE ?? 25432);
export const HA_PORTS = {
  readWrite: PORT_BASE,
  readOnly: PORT_BASE + 1,
  stats: PORT_BASE + 2972,
  /** The first agent replica's API; replica n listens on `agent + n - 1`. */
  agent: PORT_BASE + 3048,
};

export function haClusterYaml(name = HA_CLUSTER, o: { agentReplicas?: number } = {}): string {
  return `apiVersion: pgmesh.io/v1
kind: Cluster
metadata:
  name: ${name}
spec:
  etcd:
    members: 3
  coordinator:
    name: coord
    members: 2
    synchronousMode: true
  workerGroups:
    - name: w1
      members: 2
      synchronousMode: false
  haproxy:
    ports:
      readWrite: ${HA_PORTS.readWrite}
      readOnly: ${HA_PORTS.readOnly}
      stats: ${HA_PORTS.stats}
  postgres:
    maxConnections: 100
    sharedBuffers: 32MB
  agent:
    replicas: ${o.agentReplicas ?? 0}
    port: ${HA_PORTS.agent}
`;
}

export function haSet(o: { agentReplicas?: number } = {}): ManifestSet {
  return parseManifestSetFromFiles(
    [{ path: 'cluster.yaml', content: haClusterYaml(HA_CLUSTER, o) }],
    { root: HA_CLUSTER },
  );
}

/**
 * The cluster's images, built from the tree when their inputs changed (the agent's from
 * dist/, so `npm run build` first; the npm scripts do); PGMESH_HA_AGENT_IMAGE picks
 * another agent image.
 */
export async function haImages(): Promise<ImageSet> {
  const built = await buildImages({
    repoRoot: REPO,
    base: process.env.PGMESH_BASE_IMAGE ?? 'pgmesh/base:trixie',
    log: createLogger({ level: 'info', name: 'ha-images' }),
  });
  return { ...built, agent: process.env.PGMESH_HA_AGENT_IMAGE ?? built.agent };
}

export interface HaCluster {
  m: ClusterManifest;
  docker: Docker;
  store: PatroniStore;
  http: PatroniHttp;
  password: string;
  images: ImageSet;
}

export function haTools(docker: Docker, m: ClusterManifest): Pick<HaCluster, 'store' | 'http'> {
  const cluster = m.metadata.name;
  return {
    store: dockerEtcdStore(
      docker,
      Array.from({ length: m.spec.etcd.members }, (_, i) => etcdServiceName(cluster, i + 1)),
    ),
    http: dockerHttp(docker, [
      groupServiceName(cluster, m.spec.coordinator.name),
      ...m.spec.workerGroups.map((g) => groupServiceName(cluster, g.name)),
    ]),
  };
}

/** Removes what an earlier run left, deploys, waits until healthy. */
export async function deployHa(onProgress?: (line: string) => void): Promise<HaCluster> {
  const docker = createDocker();
  const set = haSet();
  const m = set.cluster;
  if (process.env.PGMESH_HA_REUSE === '1') {
    // For development runs: keep a cluster an earlier run left up (PGMESH_HA_KEEP=1).
    const images = await haImages();
    const password = await readSecret(docker, m).catch(() => '');
    if (password) {
      const tools = haTools(docker, m);
      for (const g of [m.spec.coordinator, ...m.spec.workerGroups]) {
        await healthyOrHealed({ m, docker, password, images, ...tools }, g.name, {
          log: onProgress,
        });
      }
      await waitHealthy(docker, m, { timeoutMs: 300_000, onProgress });
      return { m, docker, password, images, ...haTools(docker, m) };
    }
  }
  await removeWriters(docker);
  await downCluster(docker, m.metadata.name, { volumes: true });
  const images = await haImages();
  let password = '';
  await applyCluster(set, images, {
    docker,
    log: silentLogger(),
    onProgress,
    onSecretCreated: (name, value) => {
      if (name.endsWith('-postgres-password')) password = value;
    },
    convergeTimeoutMs: 300_000,
  });
  await waitHealthy(docker, m, { timeoutMs: 600_000, onProgress });
  if (process.env.PGMESH_HA_DNS_FIX === '0') {
    await longDnsTimeouts(m);
    await waitHealthy(docker, m, { timeoutMs: 600_000, onProgress });
  }
  return { m, docker, password, images, ...haTools(docker, m) };
}

/**
 * The renderer gives database members one resolver attempt of 1 s (DATABASE_DNS_OPTIONS,
 * docs/ha.md "DNS timeouts"). PGMESH_HA_DNS_FIX=0 takes them off again, to measure what a
 * cut-off primary does with the resolver's defaults.
 */
async function longDnsTimeouts(m: ClusterManifest): Promise<void> {
  for (const g of [m.spec.coordinator, ...m.spec.workerGroups]) {
    await docker([
      'service',
      'update',
      ...DATABASE_DNS_OPTIONS.flatMap((o) => ['--dns-option-rm', o]),
      groupServiceName(m.metadata.name, g.name),
    ]);
  }
}

export async function teardownHa(docker: Docker, m: ClusterManifest): Promise<void> {
  await removeWriters(docker);
  await downCluster(docker, m.metadata.name, { volumes: true });
  // The manifests repository the agents read, if a fault deployed them (agents.ts).
  await removeLocalRepository(m.metadata.name);
}

export async function scopeState(h: HaCluster, scope: string): Promise<LiveScope> {
  const live = await observePatroni(h.store, [scope]);
  return live.scopes[0]!;
}

/** The running container of a member (`<group>-<slot>`), on this node. */
export async function memberContainer(
  h: HaCluster,
  scope: string,
  member: string,
): Promise<string> {
  const slot = Number(member.slice(scope.length + 1));
  const c = (await serviceContainers(h.docker, groupServiceName(h.m.metadata.name, scope))).find(
    (x) => x.slot === slot && x.state === 'running',
  );
  if (!c) throw new Error(`no running container for ${member}`);
  return c.id;
}

/** Waits until the scope has a leader and every member runs; returns the leader's name. */
export async function waitScopeHealthy(
  h: HaCluster,
  scope: string,
  timeoutMs = 300_000,
): Promise<string> {
  const want = groupMembers(h.m, scope);
  return waitFor(
    async () => {
      const s = await scopeState(h, scope);
      const ok = s.members.filter((x) => ['running', 'streaming'].includes(x.state));
      if (!s.leader) return 'no leader';
      if (ok.length < want) return `${ok.length}/${want} members running`;
      const behind = s.members.filter((x) => (x.lagBytes ?? 0) > 1024 * 1024);
      if (behind.length > 0) return `${behind.map((x) => x.name).join(', ')} behind`;
      // In synchronous mode only the sync standby may be promoted: a trial that starts
      // before Patroni named one again measures the wait for that, not the fault.
      const sync = s.config?.synchronous_mode === true && want > 1;
      if (sync && !ok.some((x) => x.name === s.syncStandby && x.name !== s.leader)) {
        return 'no synchronous standby yet';
      }
      // waitFor reads a string as "not yet": the leader travels in an object.
      return { leader: s.leader };
    },
    { what: `scope ${scope} to be healthy`, timeoutMs, intervalMs: 1000 },
  ).then((r) => r.leader);
}

/** psql as postgres over the local socket inside a member's container. */
export async function psqlIn(
  h: HaCluster,
  containerId: string,
  sql: string,
  timeoutS = 5,
): Promise<string> {
  const r = await execIn(
    h.docker,
    containerId,
    ['timeout', String(timeoutS), 'psql', '-XtAq', '-d', h.m.spec.postgres.database, '-c', sql],
    { user: 'postgres' },
  );
  if (r.exitCode !== 0) throw new Error(`psql failed (${r.exitCode}): ${r.stderr.trim()}`);
  return r.stdout.trim();
}

export async function docker(args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}

/** Per cluster: a run must never remove the writers of another chaos cluster. */
export const WRITER_PREFIX = `${HA_CLUSTER}-writer`;

async function removeWriters(d: Docker): Promise<void> {
  const list = await d.listContainers({ all: true, filters: { name: [WRITER_PREFIX] } });
  await Promise.all(
    list.map((c) =>
      d
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
}

export { networkName };

async function readSecret(d: Docker, m: ClusterManifest): Promise<string> {
  const c = (
    await serviceContainers(d, groupServiceName(m.metadata.name, m.spec.coordinator.name))
  ).find((x) => x.state === 'running');
  if (!c) throw new Error('no coordinator runs');
  const r = await execIn(d, c.id, ['cat', '/run/secrets/postgres-password']);
  if (r.exitCode !== 0) throw new Error('cannot read the password');
  return r.stdout.trim();
}

/**
 * Waits until the scope is whole again. The chaos cluster runs no agent, so this does what
 * the agent's patroni backend does (planHeal): a replica whose Postgres does not start is
 * reinitialized from the leader. Returns how many were.
 */
export async function healthyOrHealed(
  h: HaCluster,
  scope: string,
  o: { log?: (line: string) => void },
): Promise<number> {
  try {
    await waitScopeHealthy(h, scope, 120_000);
    return 0;
  } catch {
    const heal = planHeal(await observePatroni(h.store, [scope]));
    for (const a of heal) {
      o.log?.(`heal: ${describePatroniAction(a)}`);
      await applyPatroniAction(a, { store: h.store, http: h.http, log: silentLogger() });
    }
    await waitScopeHealthy(h, scope, 600_000).catch(async (err: unknown) => {
      throw new Error(`${String(err)}\n${await memberLogs(h, scope)}`);
    });
    return heal.length;
  }
}

/** Patroni's view and the last log lines of every container of a group, for a failure. */
export async function memberLogs(h: HaCluster, scope: string): Promise<string> {
  const out: string[] = [];
  out.push(JSON.stringify(await scopeState(h, scope).catch((e: unknown) => String(e))));
  for (const c of await serviceContainers(h.docker, groupServiceName(h.m.metadata.name, scope), {
    all: true,
  }).catch(() => [])) {
    const text = await h.docker
      .getContainer(c.id)
      .logs({ stdout: true, stderr: true, tail: 40 })
      .then((b) => b.toString('utf8'))
      .catch((e: unknown) => String(e));
    out.push(`--- ${c.id.slice(0, 12)} (${c.state}) ---\n${text}`);
  }
  return out.join('\n');
}

import { describe, expect, it } from 'vitest';
import type { ClusterManifest, GroupSpec } from '../../manifests/types.js';
import { renderSwarm, type RenderContext } from './render.js';
import { planFromManifest } from './index.js';
import { drainWait, planSwarm } from './plan.js';
import type { DesiredSwarm, LiveSwarm } from './types.js';

const placement = { constraints: [], spreadMembers: true };

function group(name: string, members: number, extra: Partial<GroupSpec> = {}): GroupSpec {
  return { name, members, synchronousMode: false, remove: false, placement, ...extra };
}

function manifest(workers: GroupSpec[] = [group('w1', 2), group('w2', 2)]): ClusterManifest {
  return {
    apiVersion: 'pgmesh.io/v1',
    kind: 'Cluster',
    metadata: { name: 'pgmesh' },
    spec: {
      images: {},
      etcd: { members: 3, placement },
      coordinator: group('coord', 3, { synchronousMode: true }),
      workerGroups: workers,
      haproxy: { ports: { readWrite: 5432, readOnly: 5433, stats: 8404 }, placement },
      pgbouncer: { poolMode: 'transaction', defaultPoolSize: 20, maxClientConn: 500 },
      postgres: { database: 'pgmesh', maxConnections: 100, sharedBuffers: '64MB' },
      patroni: { ttl: 20, loopWait: 2, retryTimeout: 5, fencedFailover: true },
      agent: {
        replicas: 1,
        port: 8480,
        pollIntervalSeconds: 15,
        leaderTtlSeconds: 10,
        repository: { url: '', branch: 'main', path: '.' },
      },
    },
  };
}

const images = {
  pgnode: 'pgmesh/pgnode:aaa',
  etcd: 'pgmesh/etcd:bbb',
  haproxy: 'pgmesh/haproxy:ccc',
  agent: 'pgmesh/agent:ddd',
};
const oneNode = [{ id: 'node-a', hostname: 'a', ready: true, labels: {} }];
const threeNodes = ['node-a', 'node-b', 'node-c'].map((id) => ({
  id,
  hostname: id,
  ready: true,
  labels: {},
}));

function ctx(nodes = oneNode): RenderContext {
  return { images, nodes };
}

/** What observe() would read back after `desired` was applied. */
function liveFrom(desired: DesiredSwarm, nodes = oneNode): LiveSwarm {
  return {
    observedAt: '2026-11-28T10:00:00.000Z',
    networks: desired.networks.map((n, i) => ({ id: `net${i}`, name: n.name, labels: n.labels })),
    secrets: desired.secrets.map((s, i) => ({ id: `sec${i}`, name: s.name, labels: s.labels })),
    configs: desired.configs.map((c, i) => ({ id: `cfg${i}`, name: c.name, labels: c.labels })),
    services: desired.services.map((s, i) => ({
      id: `svc${i}`,
      name: s.name,
      version: 1,
      role: s.role,
      group: s.group,
      // Swarm hands lists back in its own order: the plan must not care.
      shape: { ...s.shape, env: [...s.shape.env].reverse() },
      updateState: undefined,
    })),
    nodes,
  };
}

const empty: LiveSwarm = {
  observedAt: '2026-11-28T10:00:00.000Z',
  networks: [],
  secrets: [],
  configs: [],
  services: [],
  nodes: oneNode,
};

describe('swarm plan', () => {
  it('from empty creates network, secrets, configs, then services in dependency order', () => {
    const plan = planSwarm(renderSwarm(manifest(), ctx()), empty);
    const kinds = plan.actions.map((a) => `${a.kind} ${a.name}`);
    expect(plan.refusals).toEqual([]);
    expect(kinds.slice(0, 3)).toEqual([
      'create-network pgmesh-net',
      'create-secret pgmesh-postgres-password',
      'create-secret pgmesh-replication-password',
    ]);
    expect(kinds).toContain('create-secret pgmesh-agent-token');
    expect(kinds).toContain('create-secret pgmesh-webhook-secret');
    const services = plan.actions.filter((a) => a.kind === 'create-service').map((a) => a.name);
    expect(services).toEqual([
      'pgmesh-etcd-1',
      'pgmesh-etcd-2',
      'pgmesh-etcd-3',
      'pgmesh-coord',
      'pgmesh-w1',
      'pgmesh-w2',
      'pgmesh-haproxy',
      'pgmesh-agent-1',
    ]);
    // Every config a service uses is created before the first service.
    const firstService = kinds.findIndex((k) => k.startsWith('create-service'));
    const configs = plan.actions.filter((a) => a.kind === 'create-config');
    expect(configs.length).toBe(5); // pgbouncer, patroni ×3 groups, haproxy
    for (const c of configs)
      expect(kinds.indexOf(`create-config ${c.name}`)).toBeLessThan(firstService);
  });

  it('plans nothing when live matches desired', () => {
    const desired = renderSwarm(manifest(), ctx());
    const plan = planSwarm(desired, liveFrom(desired));
    expect(plan).toEqual({ actions: [], refusals: [] });
  });

  it('changing one member count updates exactly that service', () => {
    const live = liveFrom(renderSwarm(manifest(), ctx()));
    const plan = planSwarm(renderSwarm(manifest([group('w1', 3), group('w2', 2)]), ctx()), live);
    expect(plan.actions).toHaveLength(1);
    const [a] = plan.actions;
    expect(a?.kind).toBe('update-service');
    expect(a?.name).toBe('pgmesh-w1');
    if (a?.kind !== 'update-service') throw new Error('unreachable');
    expect(a.changes).toEqual([{ field: 'replicas', desired: 3, live: 2 }]);
  });

  it('a changed config content makes a new hashed config, updates its users, removes the old one', () => {
    const before = manifest();
    const live = liveFrom(renderSwarm(before, ctx()));
    const after = manifest();
    after.spec.patroni = { ...after.spec.patroni, ttl: 30 };
    const plan = planSwarm(renderSwarm(after, ctx()), live);
    const summary = plan.actions.map((a) => a.kind);
    // Three patroni configs (one per group) change; pgbouncer/haproxy configs do not.
    expect(summary.filter((k) => k === 'create-config')).toHaveLength(3);
    expect(plan.actions.filter((a) => a.kind === 'update-service').map((a) => a.name)).toEqual([
      'pgmesh-coord',
      'pgmesh-w1',
      'pgmesh-w2',
    ]);
    const removed = plan.actions.filter((a) => a.kind === 'remove-config').map((a) => a.name);
    expect(removed).toHaveLength(3);
    expect(removed.every((n) => n.startsWith('pgmesh-patroni-'))).toBe(true);
    // Order: new configs, then updates, then removals of the old configs.
    expect(summary.indexOf('create-config')).toBeLessThan(summary.indexOf('update-service'));
    expect(summary.lastIndexOf('update-service')).toBeLessThan(summary.indexOf('remove-config'));
  });

  it('an image change updates every service that runs the image', () => {
    const live = liveFrom(renderSwarm(manifest(), ctx()));
    const plan = planSwarm(
      renderSwarm(manifest(), {
        images: { ...images, pgnode: 'pgmesh/pgnode:new' },
        nodes: oneNode,
      }),
      live,
    );
    expect(plan.actions.map((a) => `${a.kind} ${a.name}`)).toEqual([
      'update-service pgmesh-coord',
      'update-service pgmesh-w1',
      'update-service pgmesh-w2',
      // The agent is told the images it deploys, so it follows too.
      'update-service pgmesh-agent-1',
    ]);
    const a = plan.actions[0];
    if (a?.kind !== 'update-service') throw new Error('unreachable');
    expect(a.changes).toEqual([
      { field: 'image', desired: 'pgmesh/pgnode:new', live: 'pgmesh/pgnode:aaa' },
    ]);
  });

  it('a group missing from the manifest is refused, not removed', () => {
    const live = liveFrom(renderSwarm(manifest(), ctx()));
    const plan = planSwarm(renderSwarm(manifest([group('w1', 2)]), ctx()), live);
    expect(plan.actions.some((a) => a.kind === 'remove-service')).toBe(false);
    expect(plan.refusals).toEqual([
      {
        resource: 'service/pgmesh-w2',
        reason: expect.stringContaining('remove: true') as unknown as string,
      },
    ]);
  });

  it('fewer agent replicas remove the extra agent services (they hold no data)', () => {
    const two = manifest();
    two.spec.agent = { ...two.spec.agent, replicas: 2 };
    const live = liveFrom(renderSwarm(two, ctx()));
    const plan = planSwarm(renderSwarm(manifest(), ctx()), live);
    expect(plan.refusals).toEqual([]);
    expect(plan.actions.map((a) => `${a.kind} ${a.name}`)).toEqual([
      'remove-service pgmesh-agent-2',
    ]);
  });

  it('secrets named by Role manifests are generated and mounted into the agent only', () => {
    const desired = renderSwarm(manifest(), { ...ctx(), roleSecrets: ['pgmesh-role-app'] });
    expect(desired.secrets.map((s) => s.name)).toContain('pgmesh-role-app');
    const agent = desired.services.find((s) => s.role === 'agent');
    expect(agent?.shape.secrets.map((s) => s.name)).toContain('pgmesh-role-app');
    for (const s of desired.services.filter((x) => x.role !== 'agent')) {
      expect(s.shape.secrets.map((x) => x.name)).not.toContain('pgmesh-role-app');
    }
  });

  it('a group marked remove: true is removed, then its config', () => {
    const live = liveFrom(renderSwarm(manifest(), ctx()));
    live.groupShards = { known: true, counts: { w1: 4, w2: 0 } };
    const plan = planSwarm(
      renderSwarm(manifest([group('w1', 2), group('w2', 2, { remove: true })]), ctx()),
      live,
    );
    expect(plan.refusals).toEqual([]);
    expect(plan.actions.map((a) => a.kind)).toEqual(['remove-service', 'remove-config']);
    expect(plan.actions[0]?.name).toBe('pgmesh-w2');
    expect(plan.actions[1]?.name).toMatch(/^pgmesh-patroni-w2-/);
  });

  it('a group marked remove: true keeps its services and config while the engine places shards on it', () => {
    const live = liveFrom(renderSwarm(manifest(), ctx()));
    live.groupShards = { known: true, counts: { w1: 4, w2: 7 } };
    const plan = planSwarm(
      renderSwarm(manifest([group('w1', 2), group('w2', 2, { remove: true })]), ctx()),
      live,
    );
    expect(plan.refusals).toEqual([]);
    expect(plan.actions).toEqual([]);
    expect(plan.waiting).toEqual([
      { resource: 'service/pgmesh-w2', reason: 'waiting for shards to drain: 7 shards on w2' },
    ]);
    // The drift report shows the group as waiting.
    const report = planFromManifest(
      {
        manifest: manifest([group('w1', 2), group('w2', 2, { remove: true })]),
        images,
        roleSecrets: [],
      },
      live,
    );
    expect(report.actions).toEqual([]);
    expect(report.drift.find((d) => d.resource === 'service/pgmesh-w2')).toEqual({
      backend: 'swarm',
      resource: 'service/pgmesh-w2',
      state: 'drifted',
      differences: [{ field: 'exists', desired: false, live: true }],
      reason: 'waiting for shards to drain: 7 shards on w2',
    });
  });

  it('a group marked remove: true is kept while the placement is unknown, saying why', () => {
    const desired = renderSwarm(
      manifest([group('w1', 2), group('w2', 2, { remove: true })]),
      ctx(),
    );
    const live = liveFrom(renderSwarm(manifest(), ctx()));
    live.groupShards = { known: false, reason: 'the coordinator is not reachable: timeout' };
    const plan = planSwarm(desired, live);
    expect(plan.actions).toEqual([]);
    expect(plan.waiting?.[0]?.reason).toBe(
      'waiting for shards to drain: placement unknown (the coordinator is not reachable: timeout); w2 is kept',
    );
    delete live.groupShards;
    expect(planSwarm(desired, live).actions).toEqual([]);
    expect(planSwarm(desired, live).waiting?.[0]?.reason).toMatch(/placement was not observed/);
    expect(drainWait('w2', { known: true, counts: { w2: 1 } })).toBe(
      'waiting for shards to drain: 1 shard on w2',
    );
    expect(drainWait('w2', { known: true, counts: {} })).toBeNull();
  });

  it('on a three-node swarm each group spreads one member per node and etcd members are pinned apart', () => {
    const desired = renderSwarm(manifest(), ctx(threeNodes));
    for (const s of desired.services.filter(
      (x) => x.role === 'coordinator' || x.role === 'worker',
    )) {
      expect(s.shape.maxReplicasPerNode).toBe(1);
    }
    const etcdNodes = desired.services
      .filter((s) => s.role === 'etcd')
      .map((s) => s.shape.constraints.find((c) => c.startsWith('node.id==')));
    expect(new Set(etcdNodes)).toEqual(
      new Set(['node.id==node-a', 'node.id==node-b', 'node.id==node-c']),
    );
    // On one node nothing is limited: the members share it.
    for (const s of renderSwarm(manifest(), ctx()).services)
      expect(s.shape.maxReplicasPerNode).toBe(0);
    // A group larger than the swarm is not limited either (it could never be placed).
    const big = renderSwarm(manifest([group('w1', 4)]), ctx(threeNodes));
    expect(big.services.find((s) => s.name === 'pgmesh-w1')?.shape.maxReplicasPerNode).toBe(0);
  });

  it('hand-made drift (a scaled service) shows in the drift items with desired and live', () => {
    const m = manifest();
    const live = liveFrom(renderSwarm(m, ctx()));
    const w1 = live.services.find((s) => s.name === 'pgmesh-w1');
    if (!w1) throw new Error('no w1');
    w1.shape = { ...w1.shape, replicas: 5 };
    const plan = planFromManifest({ manifest: m, images, roleSecrets: [] }, live);
    const item = plan.drift.find((d) => d.resource === 'service/pgmesh-w1');
    expect(item).toEqual({
      backend: 'swarm',
      resource: 'service/pgmesh-w1',
      state: 'drifted',
      differences: [{ field: 'replicas', desired: 2, live: 5 }],
    });
    expect(plan.drift.filter((d) => d.state === 'in-sync')).toHaveLength(7);
    expect(plan.actions[0]?.key).toMatch(/^swarm:update-service:pgmesh-w1:/);
    // The same drift found again after it was reverted once is a new step, not a repeat.
    const again = planFromManifest(
      { manifest: m, images, roleSecrets: [] },
      {
        ...live,
        services: live.services.map((s) =>
          s.name === 'pgmesh-w1' ? { ...s, version: s.version + 2 } : s,
        ),
      },
    );
    expect(again.actions[0]?.key).not.toBe(plan.actions[0]?.key);
    // ...while the same live state planned twice (a new leader retrying) gives the same key.
    expect(planFromManifest({ manifest: m, images, roleSecrets: [] }, live).actions[0]?.key).toBe(
      plan.actions[0]?.key,
    );
  });
});

/**
 * A Cluster manifest as the loader returns it (defaults filled in), for pure unit tests
 * of renderers and planners. Override any part of `spec`.
 */
import type { ClusterManifest, GroupSpec } from '../../agent/manifests/types.js';

export function groupSpec(
  name: string,
  members: number,
  extra: Partial<GroupSpec> = {},
): GroupSpec {
  return {
    name,
    members,
    synchronousMode: false,
    remove: false,
    placement: { constraints: [], spreadMembers: true },
    ...extra,
  };
}

export function clusterManifest(overrides: Partial<ClusterManifest['spec']> = {}): ClusterManifest {
  return {
    apiVersion: 'pgmesh.io/v1',
    kind: 'Cluster',
    metadata: { name: 'pgmesh' },
    spec: {
      images: {},
      etcd: { members: 3, placement: { constraints: [], spreadMembers: true } },
      coordinator: groupSpec('coord', 3, { synchronousMode: true }),
      workerGroups: [groupSpec('w1', 2), groupSpec('w2', 2)],
      haproxy: {
        ports: { readWrite: 15432, readOnly: 15433, stats: 18404 },
        placement: { constraints: [], spreadMembers: false },
      },
      pgbouncer: { poolMode: 'transaction', defaultPoolSize: 20, maxClientConn: 500 },
      postgres: { database: 'appdb', maxConnections: 120, sharedBuffers: '64MB' },
      patroni: { ttl: 20, loopWait: 2, retryTimeout: 10, fencedFailover: true },
      agent: {
        replicas: 1,
        port: 8080,
        pollIntervalSeconds: 30,
        leaderTtlSeconds: 15,
        repository: { url: '', branch: 'main', path: 'manifests' },
      },
      ...overrides,
    },
  };
}

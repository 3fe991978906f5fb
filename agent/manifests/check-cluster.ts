/**
 * Checks on a Cluster manifest that JSON Schema cannot express. Runs only on a document
 * that passed its schema, so every field is present (defaults filled).
 */
import {
  groupServiceName,
  haproxyServiceName,
  networkName,
} from '../core/names.js';
import type { FieldProblem } from './kinds.js';
import type { ClusterManifest } from './types.js';

export function checkCluster(manifest: ClusterManifest): FieldProblem[] {
  return [
    ...checkGroupNames(manifest),
    ...checkHaproxyPorts(manifest),
    ...checkPatroniTiming(manifest),
  ];
}

function checkGroupNames(manifest: ClusterManifest): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const cluster = manifest.metadata.name;
  const groups = [
    { field: '/spec/coordinator/name', name: manifest.spec.coordinator.name },
    ...manifest.spec.workerGroups.map((g, i) => ({ field: `/spec/workerGroups/${i}/name`, name: g.name })),
  ];
  const seen = new Map<string, string>();
  for (const { field, name } of groups) {
    const first = seen.get(name);
    if (first !== undefined) {
      problems.push({ field, reason: `duplicate group name "${name}" (also at ${first}); group names must be unique` });
    } else {
      seen.set(name, field);
    }
    const taken = reservedBy(cluster, name);
    if (taken) {
      problems.push({
        field,
        reason: `group name "${name}" is reserved: "${groupServiceName(cluster, name)}" is the name of ${taken}`,
      });
    }
  }
  return problems;
}

/**
 * A group's service is `<cluster>-<group>` (names.ts), in the same namespace as the
 * cluster's other services and its network. `etcd-*` is reserved whole, not only the
 * members that exist today, so a later etcd scale-up cannot collide with a group.
 */
function reservedBy(cluster: string, group: string): string | undefined {
  const service = groupServiceName(cluster, group);
  if (group === 'etcd' || group.startsWith('etcd-')) return 'the etcd members’ services';
  if (group === 'agent' || group.startsWith('agent-')) return 'the agent replicas’ services';
  if (service === haproxyServiceName(cluster)) return 'the HAProxy service';
  if (service === networkName(cluster)) return 'the cluster network';
  return undefined;
}

function checkHaproxyPorts(manifest: ClusterManifest): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const ports = manifest.spec.haproxy.ports;
  const seen = new Map<number, string>();
  for (const key of ['readWrite', 'readOnly', 'stats'] as const) {
    const first = seen.get(ports[key]);
    if (first !== undefined) {
      problems.push({
        field: `/spec/haproxy/ports/${key}`,
        reason: `port ${ports[key]} is also the ${first} port; HAProxy's ports must be distinct`,
      });
    } else {
      seen.set(ports[key], key);
    }
  }
  return problems;
}

/**
 * Patroni's rule: a primary that cannot reach etcd retries for retryTimeout, twice within
 * one loop, before its leader key (ttl) expires; otherwise it is demoted during a retry.
 */
function checkPatroniTiming(manifest: ClusterManifest): FieldProblem[] {
  const { ttl, loopWait, retryTimeout } = manifest.spec.patroni;
  const needed = loopWait + 2 * retryTimeout;
  if (needed <= ttl) return [];
  return [
    {
      field: '/spec/patroni/ttl',
      reason: `must be at least loopWait + 2 × retryTimeout = ${loopWait} + 2 × ${retryTimeout} = ${needed}, got ${ttl}; lower loopWait or retryTimeout, or raise ttl`,
    },
  ];
}

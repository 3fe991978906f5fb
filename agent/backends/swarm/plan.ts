import type {
  DesiredService,
  DesiredSwarm,
  GroupShards,
  LiveService,
  LiveSwarm,
  Refusal,
  SwarmAction,
  SwarmPlan,
} from './types.js';
import { diffShapes } from './shape.js';

/** Services are created in this order so that what a service needs already runs. */
const ROLE_ORDER = ['etcd', 'coordinator', 'worker', 'haproxy', 'git', 'agent', 'watcher'];

function roleRank(s: DesiredService): number {
  return ROLE_ORDER.indexOf(s.role);
}

/**
 * Pure: what to do to bring `live` to `desired`. Order: networks, secrets, configs,
 * services (etcd → coordinators → workers → HAProxy), removals of services the manifest
 * marks for removal (a worker group only once the engine places no shard on it: until
 * then it is kept and listed in `waiting`), then configs no desired or kept service uses. A live pgmesh service
 * that the manifest neither wants nor marks for removal is refused, never deleted.
 */
export function planSwarm(desired: DesiredSwarm, live: LiveSwarm): SwarmPlan {
  const actions: SwarmAction[] = [];
  const refusals: Refusal[] = [];

  const liveNetworks = new Set(live.networks.map((n) => n.name));
  for (const network of desired.networks) {
    if (!liveNetworks.has(network.name)) {
      actions.push({ kind: 'create-network', name: network.name, network });
    }
  }

  const liveSecrets = new Set(live.secrets.map((s) => s.name));
  for (const secret of desired.secrets) {
    if (!liveSecrets.has(secret.name))
      actions.push({ kind: 'create-secret', name: secret.name, secret });
  }

  const liveConfigs = new Set(live.configs.map((c) => c.name));
  for (const config of desired.configs) {
    if (!liveConfigs.has(config.name))
      actions.push({ kind: 'create-config', name: config.name, config });
  }

  const liveServices = new Map(live.services.map((s) => [s.name, s]));
  const ordered = [...desired.services].sort((a, b) => roleRank(a) - roleRank(b));
  for (const service of ordered) {
    const current = liveServices.get(service.name);
    if (!current) {
      actions.push({ kind: 'create-service', name: service.name, service });
      continue;
    }
    const changes = diffShapes(service.shape, current.shape);
    if (changes.length > 0) {
      actions.push({ kind: 'update-service', name: service.name, service, changes });
    }
  }

  const wanted = new Set(desired.services.map((s) => s.name));
  const toRemove = new Set(desired.groupsToRemove);
  const waiting: Array<{ resource: string; reason: string }> = [];
  const kept: LiveService[] = [];
  for (const service of live.services) {
    if (wanted.has(service.name)) continue;
    if (service.role === 'watcher') {
      // The per-host watcher holds nothing: it goes when the swarm is back to one node.
      actions.push({
        kind: 'remove-service',
        name: service.name,
        reason: 'fenced failover on one node is the agent’s own',
      });
    } else if (service.role === 'agent') {
      // Agent replicas hold no data: fewer replicas in the manifest means fewer services.
      actions.push({
        kind: 'remove-service',
        name: service.name,
        reason: 'the manifest asks for fewer agent replicas',
      });
    } else if (service.role === 'worker' && service.group && toRemove.has(service.group)) {
      const wait = drainWait(service.group, live.groupShards);
      if (wait) {
        // The shards backend moves the group's shards away first; its members stay up.
        waiting.push({ resource: `service/${service.name}`, reason: wait });
        kept.push(service);
        continue;
      }
      actions.push({
        kind: 'remove-service',
        name: service.name,
        reason: `group ${service.group} is marked remove: true`,
      });
    } else {
      refusals.push({
        resource: `service/${service.name}`,
        reason:
          service.role === 'worker'
            ? `worker group ${service.group} runs but is not in the manifest; to delete it, keep it in the manifest with remove: true`
            : `${service.role ?? 'pgmesh'} service ${service.name} runs but is not in the manifest; pgmesh does not remove it on its own`,
      });
    }
  }

  const usedConfigs = new Set(
    [...desired.services, ...kept].flatMap((s) => s.shape.configs.map((c) => c.name)),
  );
  for (const config of live.configs) {
    if (!usedConfigs.has(config.name)) {
      actions.push({
        kind: 'remove-config',
        name: config.name,
        reason: 'no service of the manifest uses it any more',
      });
    }
  }

  return waiting.length ? { actions, refusals, waiting } : { actions, refusals };
}

/**
 * Why a group marked `remove: true` must keep its services for now, or null once the
 * engine places no shard on it. An unknown placement (engine unreachable or not
 * installed, or no observer) never removes: the group may still hold the only copy.
 */
export function drainWait(group: string, shards: GroupShards | undefined): string | null {
  if (!shards) {
    return `waiting for shards to drain: the engine's placement was not observed; ${group} is kept`;
  }
  if (!shards.known) {
    return `waiting for shards to drain: placement unknown (${shards.reason}); ${group} is kept`;
  }
  const n = shards.counts[group] ?? 0;
  return n > 0 ? `waiting for shards to drain: ${n} shard${n === 1 ? '' : 's'} on ${group}` : null;
}

/** One line per action, for plan output, logs and drift reports. Never holds a secret. */
export function describeAction(a: SwarmAction): string {
  switch (a.kind) {
    case 'create-network':
      return `create network ${a.name}`;
    case 'create-secret':
      return `create secret ${a.name} (generated)`;
    case 'create-config':
      return `create config ${a.name}`;
    case 'create-service':
      return `create service ${a.name} (${a.service.shape.replicas} × ${a.service.shape.image})`;
    case 'update-service':
      return `update service ${a.name} (${a.changes.map((c) => describeChange(c.field, c.desired, c.live)).join('; ')})`;
    case 'remove-service':
      return `remove service ${a.name} (${a.reason})`;
    case 'remove-config':
      return `remove config ${a.name} (${a.reason})`;
  }
}

function describeChange(field: string, desired: unknown, live: unknown): string {
  if (typeof desired === 'number' || typeof desired === 'string') {
    return `${field} ${JSON.stringify(live)} → ${JSON.stringify(desired)}`;
  }
  return `${field} changed`;
}

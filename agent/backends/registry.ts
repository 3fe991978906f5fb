/**
 * The one ordered list of backends: the agent's daemon and the CLI build their bound
 * backends from it, and the pipeline runs them in this order (observe and plan of every
 * one, then apply in order). Each entry says what it must come after; the order below is
 * checked against those rules (registry.test.ts), as is the list against the folders.
 *
 *   swarm    services, configs, secrets, volumes: everything else runs on them
 *   patroni  each group's dynamic config and rolling restarts, on the running services
 *   shards   engine metadata, tables, data moves, indexes, roles: on a configured database
 */
import type { BackendName } from './types.js';
import type { BoundBackend } from '../pipeline/types.js';

export interface BackendEntry {
  name: BackendName;
  /** Backends whose actions must be applied before this one's. */
  after: BackendName[];
  why: string;
}

export const BACKENDS: readonly BackendEntry[] = [
  { name: 'swarm', after: [], why: 'every other backend acts on its services' },
  {
    name: 'patroni',
    after: ['swarm'],
    why: 'Patroni config is written to running groups; a restart needs the service shape first',
  },
  {
    name: 'shards',
    after: ['swarm', 'patroni'],
    why: 'engine work needs the groups running and their PostgreSQL configured',
  },
];

/** Names in apply order. */
export function backendOrder(): BackendName[] {
  return BACKENDS.map((b) => b.name);
}

/**
 * The bound backends in registry order. A Record over every name, so that leaving one
 * out (in the daemon or the CLI) is a type error, not a silently skipped backend.
 */
export function orderedBackends(bound: Record<BackendName, BoundBackend>): BoundBackend[] {
  return BACKENDS.map((b) => bound[b.name]);
}

/** Problems with the order (an entry before one it must come after); empty when it holds. */
export function orderProblems(entries: readonly BackendEntry[] = BACKENDS): string[] {
  const position = new Map(entries.map((e, i) => [e.name, i]));
  const problems: string[] = [];
  entries.forEach((e, i) => {
    for (const a of e.after) {
      const j = position.get(a);
      if (j === undefined) problems.push(`${e.name} comes after ${a}, which is not registered`);
      else if (j >= i) problems.push(`${e.name} must come after ${a}`);
    }
  });
  return problems;
}

/** The shards backend: the engine's worker groups, tables, indexes, placement and roles. */
import pg from 'pg';
import { groupTasksHost } from '../../core/names.js';
import type { ManifestSet } from '../../manifests/types.js';
import type { Backend } from '../types.js';
import { applyShardsAction } from './apply.js';
import { desiredFromManifests } from './desired.js';
import { observeShards } from './observe.js';
import { planShards, type ShardsPlannedAction } from './plan.js';
import type { CoordinatorSession, DesiredShards, LiveShards, ShardsContext } from './types.js';

export { applyShardsAction } from './apply.js';
export { desiredFromManifests, engineGroupName } from './desired.js';
export { observeShards, observeWith } from './observe.js';
export { shardsPerGroup, type GroupShardCounts } from './placement.js';
export { describeShardsAction, planShards, type ShardsPlannedAction } from './plan.js';
export { rebalanceMoves } from './rebalance.js';
export type * from './types.js';

export const shardsBackend: Backend<ShardsContext, DesiredShards, LiveShards, ShardsPlannedAction> =
  {
    name: 'shards',
    desired: (set: ManifestSet, ctx: ShardsContext) => desiredFromManifests(set, ctx),
    observe: (ctx: ShardsContext) => observeShards(ctx),
    plan: planShards,
    apply: (action, ctx, log) => applyShardsAction(action.action, ctx, log),
  };

/**
 * A `connect` for ShardsContext from a connection string: one pg.Client per use, with an
 * error listener so a dropped connection is reported by the next query, not a crash.
 */
export function coordinatorFromUrl(connectionString: string): () => Promise<CoordinatorSession> {
  return async () => {
    const client = new pg.Client({ connectionString, application_name: 'pgmesh-agent' });
    client.on('error', () => {});
    await client.connect();
    return { client, release: () => client.end() };
  };
}

/** The real cluster's host list of a worker group: its members' DNS name (dnsrr). */
export function swarmGroupHosts(cluster: string): (group: string) => string[] {
  return (group) => [groupTasksHost(cluster, group)];
}

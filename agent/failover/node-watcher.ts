/**
 * The per-host watcher (`pgmesh watch`, one task per node on a swarm of several): fenced
 * failover for the deaths that this node's engine confirms. The agent's own FencedFailover
 * hears only the engine it runs on, so a primary on another host failed over only after
 * Patroni's ttl. Each watcher runs the same decision (decide.ts) on its node's `die`
 * events and the same compare-and-delete of the group's leader key (on value and
 * revision, as read after the engine confirmed the exit); it acts only while no pause is
 * pulled and never on lost contact: a host that dies or is cut off sends no event, so
 * Patroni's ttl bounds that case. Two fencers of one death (the agent's and this node's
 * watcher on the agent's host) are harmless: the second compare fails.
 */
import type Docker from 'dockerode';
import type { Logger } from '../core/log.js';
import { etcd3Store } from '../backends/patroni/transport.js';
import { createEtcdClient } from '../etcd/client.js';
import { watchPause } from '../gate/pause.js';
import { FencedFailover } from './watcher.js';

export interface NodeWatcherConfig {
  cluster: string;
  etcdHosts: string[];
}

export async function startNodeWatcher(
  config: NodeWatcherConfig,
  deps: { docker: Docker; log: Logger },
): Promise<{ close(): Promise<void> }> {
  const log = deps.log.child({ cluster: config.cluster, component: 'node-watcher' });
  const etcd = createEtcdClient({ hosts: config.etcdHosts });
  const pause = await watchPause(etcd, config.cluster, log);
  const fencing = new FencedFailover({
    docker: deps.docker,
    cluster: config.cluster,
    store: etcd3Store(etcd),
    log,
    active: () => pause.current() === null,
    onOutcome: (event, outcome) => {
      if (outcome.decision.act)
        log.info(
          { service: event.service, slot: event.slot, deleted: outcome.deleted, ms: outcome.ms },
          'fenced a confirmed death',
        );
    },
  });
  await fencing.start();
  log.info('watching this node');
  return {
    async close() {
      await fencing.stop();
      await pause.close();
      etcd.close();
    },
  };
}

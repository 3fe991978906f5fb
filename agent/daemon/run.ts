import { mkdir } from 'node:fs/promises';
import type Docker from 'dockerode';
import type { Logger } from '../core/log.js';
import { orderedBackends } from '../backends/registry.js';
import { shardsPerGroup } from '../backends/shards/index.js';
import { swarmBackend } from '../backends/swarm/index.js';
import { etcd3Store, fetchHttp, patroniBackend } from '../backends/patroni/index.js';
import { FencedFailover } from '../failover/index.js';
import { agentShardsBackend, MemberAddresses, swarmShardsContext } from './shards-context.js';
import { readClusterStatus, unhealthyReason } from '../cli/health.js';
import { haproxyServiceName, PORTS } from '../core/names.js';
import { createEtcdClient } from '../etcd/client.js';
import { Gate } from '../gate/gate.js';
import { stampPause, watchPause } from '../gate/pause.js';
import { Journal } from '../journal/journal.js';
import { LeaderElection } from '../leader/election.js';
import { parseManifestSetFromFiles } from '../manifests/load.js';
import { createMetrics } from '../metrics/metrics.js';
import { bindBackend, createCycle } from '../pipeline/index.js';
import { EtcdRevisionHistory } from '../report/history.js';
import { EtcdReportStore } from '../report/store.js';
import { Schedule } from '../schedule/schedule.js';
import { etcdPauseControl } from '../server/pause-control.js';
import { readSecretFile } from '../server/secrets.js';
import { buildServer, startServer } from '../server/server.js';
import { FolderSource } from '../sources/folder.js';
import { GitSource } from '../sources/git.js';
import type { Source } from '../sources/types.js';
import { cycleCron, type AgentConfig } from './config.js';

export interface RunningAgent {
  url: string;
  close(): Promise<void>;
}

/**
 * Starts one agent replica: it campaigns for leadership, watches the pause key, serves the
 * API, and runs the reconcile cycle on every new commit, webhook, schedule tick and gain of
 * leadership. Only the leader acts; every replica observes and serves the latest report.
 */
export async function startAgent(
  config: AgentConfig,
  deps: { docker: Docker; log: Logger },
): Promise<RunningAgent> {
  const log = deps.log.child({ cluster: config.cluster, agent: config.agentId });
  const [apiToken, webhookSecret] = await Promise.all([
    readSecretFile(config.apiTokenFile),
    readSecretFile(config.webhookSecretFile),
  ]);
  const etcd = createEtcdClient({ hosts: config.etcdHosts });
  const pause = await watchPause(etcd, config.cluster, log);
  const election = new LeaderElection({
    etcd,
    cluster: config.cluster,
    id: config.agentId,
    ttlSeconds: config.leaderTtlSeconds,
    log,
  });
  const journal = new Journal({ etcd, cluster: config.cluster, holder: config.agentId });
  const store = new EtcdReportStore(etcd, config.cluster);
  const history = new EtcdRevisionHistory(etcd, config.cluster);
  const metrics = createMetrics();

  await mkdir(config.workDir, { recursive: true });
  const source: Source =
    config.source.kind === 'folder'
      ? new FolderSource({ path: config.source.path, log })
      : new GitSource({
          url: config.source.url,
          branch: config.source.branch,
          path: config.source.path === '.' ? '' : config.source.path,
          workDir: `${config.workDir}/repo`,
          pollIntervalMs: config.pollIntervalSeconds * 1000,
          log,
        });

  const addresses = new MemberAddresses(deps.docker, config.cluster);
  // Patroni's keys live in the same etcd as the agent's; its REST API is on the overlay.
  const patroniStore = etcd3Store(etcd);
  const shardsContext = swarmShardsContext(
    { cluster: config.cluster, coordinator: config.coordinator, database: config.database },
    addresses,
    log,
  );
  // The registry's order (agent/backends/registry.ts); the CLI builds the same list.
  const backends = orderedBackends({
    swarm: bindBackend(swarmBackend, {
      docker: deps.docker,
      images: config.images,
      cluster: config.cluster,
      onProgress: (line: string) => log.info({ backend: 'swarm', progress: line }, 'progress'),
      // A group marked remove: true keeps its services until the engine moved its shards off.
      shardsPerGroup: (groups: string[]) => shardsPerGroup(shardsContext, groups),
    }),
    patroni: bindBackend(patroniBackend, {
      store: patroniStore,
      http: fetchHttp(),
      onProgress: (line: string) => log.info({ backend: 'patroni', progress: line }, 'progress'),
    }),
    shards: bindBackend(agentShardsBackend(addresses), shardsContext),
  });

  async function clusterHealthy(): Promise<string | null> {
    const set = cycle.lastGood()?.set;
    if (!set) return 'no valid manifest set yet';
    const status = await readClusterStatus(deps.docker, set.cluster, {
      haproxy: { host: haproxyServiceName(config.cluster), port: PORTS.haproxyStats },
    });
    return unhealthyReason(set.cluster, status) ?? null;
  }

  const cycle = createCycle({
    cluster: config.cluster,
    agentId: config.agentId,
    source,
    parse: (files) =>
      parseManifestSetFromFiles(files, {
        root: config.source.kind === 'git' ? config.source.url : config.source.path,
      }),
    backends,
    gate: new Gate({
      pause: () => pause.current(),
      // Data moves and removals start only on a healthy cluster: every group led, members
      // streaming, HAProxy routing (the "healthy leaders" condition).
      // Patroni's rolling restarts and switchovers too: never take a member down in a
      // degraded group. Not the swarm backend's disruptive steps: they are what makes a
      // group whole (health is judged against the manifest's member counts).
      safety: {
        'data-moving': [clusterHealthy],
        destructive: [clusterHealthy],
        disruptive: [(a) => (a.backend === 'patroni' ? clusterHealthy() : null)],
      },
    }),
    pause: () => pause.current(),
    journal,
    leader: election,
    health: async () => {
      const reason = cycle.lastGood() ? await clusterHealthy() : null;
      return reason ? [reason] : [];
    },
    store,
    history,
    metrics,
    log,
  });

  const run = (trigger: string): void => {
    cycle.run(trigger).catch((err: unknown) => log.error({ err, trigger }, 'cycle failed'));
  };

  election.onChange((leader) => {
    metrics.leader.set(leader ? 1 : 0);
    log.info({ leader }, leader ? 'became leader' : 'not leader');
    if (leader) {
      stampPause(etcd, config.cluster).catch((err: unknown) =>
        log.warn({ err }, 'stamp pause failed'),
      );
      run('leadership');
    }
  });
  pause.onChange((p) => {
    metrics.paused.set(p ? 1 : 0);
    // A resume should act at once, not at the next tick.
    if (!p) run('resume');
  });
  source.onChange(() => run('commit'));

  const schedule = new Schedule({ log });
  schedule.cycle(cycleCron(config.pollIntervalSeconds), () =>
    cycle.run('schedule').then(() => undefined),
  );

  // Only the leading replica fences, and not while the cluster is paused: the pause key
  // stops everything the agent does, fast failover included (Patroni's ttl still applies).
  const fencing = config.fencedFailover
    ? new FencedFailover({
        docker: deps.docker,
        cluster: config.cluster,
        store: patroniStore,
        log,
        active: () => election.isLeader() && pause.current() === null,
        onOutcome: (_event, outcome) => {
          if (outcome.decision.act)
            metrics.fencedFailovers.inc({
              scope: outcome.decision.scope,
              result: outcome.deleted ? 'deleted' : 'changed-meanwhile',
            });
        },
      })
    : undefined;
  await fencing?.start();
  // A primary that died while the previous leader was dead too was seen by this replica
  // but left to the leader; the new leader fences it now (FencedFailover.takeOver).
  election.onChange((leader) => {
    if (!leader || !fencing || pause.current() !== null) return;
    fencing.takeOver().catch((err: unknown) => log.error({ err }, 'fenced failover failed'));
  });

  const app = buildServer({
    log,
    apiToken,
    webhookSecret,
    reports: store,
    metrics: metrics.registry,
    trigger: run,
    pauseControl: etcdPauseControl(etcd, config.cluster),
    isLeader: () => election.isLeader(),
    currentPause: () => pause.current(),
    history,
  });
  const url = await startServer(app, { host: config.apiHost, port: config.apiPort });
  await election.start();
  log.info(
    { url, source: config.source.kind, fencedFailover: config.fencedFailover },
    'agent started',
  );
  run('start');

  return {
    url,
    async close() {
      schedule.stop();
      await fencing?.stop();
      await app.close();
      // Resigning hands leadership over at once instead of after the lease's TTL.
      await election.stop();
      await source.close();
      await pause.close();
      etcd.close();
    },
  };
}

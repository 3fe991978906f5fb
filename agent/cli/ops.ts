import { etcdctl } from './etcdctl.js';
import type Docker from 'dockerode';
import { RemovalRefusedError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { waitFor } from '../core/wait.js';
import { LABEL_CLUSTER, LABEL_ROLE } from '../backends/swarm/types.js';
import {
  applySwarmAction,
  observeSwarm,
  planFromManifest,
  swarmDesired,
  type SwarmPlannedAction,
} from '../backends/swarm/index.js';
import type { BackendPlan } from '../backends/types.js';
import type { ClusterManifest, ManifestSet } from '../manifests/types.js';
import type { ImageSet } from '../backends/swarm/render.js';
import { readClusterStatus, unhealthyReason, type ClusterStatus } from './health.js';
import { pauseKey } from '../etcd/keys.js';
import { parsePauseValue } from '../gate/pause.js';

export async function planCluster(
  docker: Docker,
  set: ManifestSet,
  images: ImageSet,
): Promise<BackendPlan<SwarmPlannedAction>> {
  const live = await observeSwarm(docker, set.cluster.metadata.name);
  return planFromManifest(swarmDesired(set, images), live);
}

export interface ApplyOptions {
  docker: Docker;
  log: Logger;
  onProgress?: (line: string) => void;
  onSecretCreated?: (name: string, value: string) => Promise<void> | void;
  convergeTimeoutMs?: number;
}

/** Plans and applies the Swarm side; a refusal anywhere means nothing is applied. */
export async function applyCluster(
  set: ManifestSet,
  images: ImageSet,
  options: ApplyOptions,
): Promise<SwarmPlannedAction[]> {
  const plan = await planCluster(options.docker, set, images);
  if (plan.refusals.length > 0) {
    throw new RemovalRefusedError(
      `the plan is refused; nothing was applied:\n${plan.refusals.map((r) => `  ${r.resource}: ${r.reason}`).join('\n')}`,
    );
  }
  for (const a of plan.actions) {
    await applySwarmAction(a.action, {
      docker: options.docker,
      log: options.log,
      onProgress: options.onProgress,
      onSecretCreated: options.onSecretCreated,
      convergeTimeoutMs: options.convergeTimeoutMs,
    });
  }
  return plan.actions;
}

export async function waitHealthy(
  docker: Docker,
  m: ClusterManifest,
  options: { timeoutMs: number; onProgress?: (line: string) => void },
): Promise<ClusterStatus> {
  return waitFor(
    async () => {
      const status = await readClusterStatus(docker, m);
      return unhealthyReason(m, status) ?? status;
    },
    {
      what: `cluster ${m.metadata.name} to be healthy`,
      timeoutMs: options.timeoutMs,
      intervalMs: 1000,
      onPending: options.onProgress,
    },
  );
}

/**
 * Removes the cluster's services, configs and network; with `volumes`, also its secrets
 * and data volumes. Only resources that carry the cluster's label are touched.
 */
export async function downCluster(
  docker: Docker,
  cluster: string,
  options: { volumes: boolean; onProgress?: (line: string) => void },
): Promise<void> {
  const filters = { label: [`${LABEL_CLUSTER}=${cluster}`] };
  // The agents must stop acting before anything goes: a running replica sees removed
  // services (another replica's included) as drift and creates them again. The pause
  // holds them while they are removed first.
  await pauseForDown(docker, cluster, options.onProgress);
  const all = await docker.listServices({ filters });
  const isAgent = (s: Docker.Service): boolean => s.Spec?.Labels?.[LABEL_ROLE] === 'agent';
  await removeServices(docker, all.filter(isAgent), options.onProgress);
  await removeServices(
    docker,
    all.filter((s) => !isAgent(s)),
    options.onProgress,
  );
  for (const c of await docker.listConfigs({ filters })) {
    await docker.getConfig(c.ID).remove().catch(ignoreNotFound);
  }
  if (options.volumes) {
    for (const s of await docker.listSecrets({ filters })) {
      options.onProgress?.(`remove secret ${s.Spec?.Name}`);
      await docker
        .getSecret(s.ID)
        .remove()
        .catch((err: unknown) => {
          // A secret named in a Role manifest can be shared with another cluster that
          // names the same one; it stays while a service of that cluster mounts it.
          const message = String((err as { message?: string }).message ?? err);
          if ((err as { statusCode?: number }).statusCode === 400 && /in use/.test(message)) {
            options.onProgress?.(
              `keep secret ${s.Spec?.Name}: ${message.replace(/^.*desc = /s, '').trim()}`,
            );
            return;
          }
          ignoreNotFound(err);
        });
    }
    const { Volumes } = await docker.listVolumes({ filters });
    for (const v of Volumes ?? []) {
      options.onProgress?.(`remove volume ${v.Name}`);
      await waitFor(
        async () => {
          try {
            await docker.getVolume(v.Name).remove();
            return true;
          } catch (err) {
            if ((err as { statusCode?: number }).statusCode === 404) return true;
            return (err as Error).message;
          }
        },
        { what: `volume ${v.Name} to be removed`, timeoutMs: 60_000, intervalMs: 500 },
      );
    }
  }
  for (const n of await docker.listNetworks({ filters })) {
    // A just-removed service can hold its network attachment for a moment.
    await waitFor(
      async () => {
        try {
          await docker.getNetwork(n.Id).remove();
          return true;
        } catch (err) {
          if ((err as { statusCode?: number }).statusCode === 404) return true;
          return (err as Error).message;
        }
      },
      { what: `network ${n.Name} to be removed`, timeoutMs: 60_000, intervalMs: 500 },
    );
  }
}

export const DOWN_PAUSE_BY = 'pgmesh down';
export const APPLY_PAUSE_BY = 'pgmesh apply';

/**
 * Pulls the emergency pause for the CLI, unless someone holds it already (theirs stays
 * theirs). Returns whether it set it. Without a running etcd there is no agent to stop.
 */
export async function holdPause(
  docker: Docker,
  cluster: string,
  by: string,
  reason: string,
): Promise<boolean> {
  const value = JSON.stringify({ by, reason, since: new Date().toISOString() });
  try {
    const current = (
      await etcdctl(docker, cluster, ['get', '--print-value-only', pauseKey(cluster)])
    ).trim();
    if (current && parsePauseValue(current).by !== by) return false;
    await etcdctl(docker, cluster, ['put', pauseKey(cluster), value]);
    return true;
  } catch {
    return false;
  }
}

/** Releases the pause if `by` holds it (a pause anyone else pulled stays). */
export async function releasePause(docker: Docker, cluster: string, by: string): Promise<boolean> {
  try {
    const current = (
      await etcdctl(docker, cluster, ['get', '--print-value-only', pauseKey(cluster)])
    ).trim();
    if (!current || parsePauseValue(current).by !== by) return false;
    await etcdctl(docker, cluster, ['del', pauseKey(cluster)]);
    return true;
  } catch {
    return false;
  }
}

/** Pulls the emergency pause before `down`, if an etcd member still runs. */
async function pauseForDown(
  docker: Docker,
  cluster: string,
  onProgress?: (line: string) => void,
): Promise<void> {
  if (await holdPause(docker, cluster, DOWN_PAUSE_BY, 'the cluster is being removed'))
    onProgress?.('paused the agent');
}

/**
 * After `up`: a pause that `down` left (its etcd kept, without --volumes) is released;
 * a pause anyone else pulled stays.
 */
export async function releaseDownPause(docker: Docker, m: ClusterManifest): Promise<boolean> {
  return releasePause(docker, m.metadata.name, DOWN_PAUSE_BY);
}

/** Removes services and waits until their task containers, exited ones too, are gone. */
async function removeServices(
  docker: Docker,
  services: Docker.Service[],
  onProgress?: (line: string) => void,
): Promise<void> {
  for (const s of services) {
    onProgress?.(`remove service ${s.Spec?.Name}`);
    await docker.getService(s.ID).remove().catch(ignoreNotFound);
  }
  // Task containers carry Swarm's labels, not the service's: wait for them by service
  // name, since they keep their volumes busy until they are gone.
  const names = services.map((s) => s.Spec?.Name ?? '').filter(Boolean);
  await waitFor(
    async () => {
      let left = 0;
      for (const name of names) {
        left += (
          await docker.listContainers({
            all: true,
            filters: { label: [`com.docker.swarm.service.name=${name}`] },
          })
        ).length;
      }
      return left === 0 ? true : `${left} containers still stopping`;
    },
    { what: "the removed services' containers to go away", timeoutMs: 180_000, intervalMs: 500 },
  );
}

function ignoreNotFound(err: unknown): void {
  if ((err as { statusCode?: number }).statusCode !== 404) throw err;
}

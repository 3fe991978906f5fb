/**
 * A PatroniConfig change applied the way the agent applies it (plan from the manifests and
 * the live cluster, then the patroni backend's actions in order), and a sampler of members
 * down, for the rolling-restart fault and test/ha/patroni.test.ts.
 */
import {
  desiredFromSet,
  observePatroni,
  patroniBackend,
  planFromManifests,
} from '../../agent/backends/patroni/index.js';
import { groupServiceName } from '../../agent/core/names.js';
import { silentLogger } from '../../agent/core/log.js';
import { execIn, serviceContainers } from '../../agent/docker/client.js';
import { parseManifestSetFromFiles } from '../../agent/manifests/load.js';
import type { ManifestSet } from '../../agent/manifests/types.js';
import { groupMembers, sampleMaxima } from '../helpers/sampler.js';
import { HA_CLUSTER, haClusterYaml, scopeState, type HaCluster } from './ha-cluster.js';

/** The chaos cluster's manifests plus one patroni.yaml. */
export function setWith(patroniYaml: string): ManifestSet {
  return parseManifestSetFromFiles(
    [
      { path: 'cluster.yaml', content: haClusterYaml() },
      { path: 'patroni.yaml', content: patroniYaml },
    ],
    { root: HA_CLUSTER },
  );
}

/** A PatroniConfig manifest for `scope` with `spec` (YAML) under spec:. */
export function patroniConfigYaml(scope: string, spec: string): string {
  return `apiVersion: pgmesh.io/v1
kind: PatroniConfig
metadata:
  name: ${scope}-config
spec:
  scope: ${scope}
${spec.replace(/^/gm, '  ')}
`;
}

/** Plans from the live cluster and applies every action in order; returns their kinds. */
export async function convergePatroni(
  h: HaCluster,
  patroniYaml: string,
  say?: (line: string) => void,
): Promise<string[]> {
  const desired = desiredFromSet(setWith(patroniYaml));
  const plan = planFromManifests(desired, await observePatroni(h.store));
  const ctx = { store: h.store, http: h.http, pendingWaitMs: 30_000, onProgress: say };
  for (const a of plan.actions) {
    const t0 = Date.now();
    await patroniBackend.apply(a, ctx, silentLogger());
    say?.(`${a.summary} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
  return plan.actions.map((a) => a.action.kind);
}

/** What the plan would still do for `patroniYaml` (0 once converged). */
export async function plannedActions(h: HaCluster, patroniYaml: string): Promise<number> {
  const desired = desiredFromSet(setWith(patroniYaml));
  return planFromManifests(desired, await observePatroni(h.store)).actions.length;
}

/** max_connections in the scope's dynamic config (Patroni's default 100 when unset). */
export async function dcsMaxConnections(h: HaCluster, scope: string): Promise<number> {
  const config = (await scopeState(h, scope)).config as {
    postgresql?: { parameters?: { max_connections?: number | string } };
  };
  return Number(config.postgresql?.parameters?.max_connections ?? 100);
}

/** Samples pg_isready in every member container of the group; returns the most down at once. */
export function sampleDown(h: HaCluster, scope: string): { stop(): Promise<number> } {
  const service = groupServiceName(h.m.metadata.name, scope);
  const want = groupMembers(h.m, scope);
  const sampler = sampleMaxima(['down'], 250, async () => {
    const running = (await serviceContainers(h.docker, service)).filter(
      (c) => c.state === 'running',
    );
    const ready = await Promise.all(
      running.map((c) =>
        execIn(h.docker, c.id, ['pg_isready', '-q', '-h', '/run/postgresql', '-U', 'postgres'], {
          user: 'postgres',
        })
          .then((r) => r.exitCode === 0)
          .catch(() => false),
      ),
    );
    return { down: want - ready.filter(Boolean).length };
  });
  return { stop: async () => (await sampler.stop()).down };
}

import type Docker from 'dockerode';
import type { Backend, BackendPlan, DriftItem, PlannedAction } from '../types.js';
import type { ManifestSet, ClusterManifest } from '../../manifests/types.js';
import { renderSwarm, sha256, type ImageSet } from './render.js';
import { observeSwarm } from './observe.js';
import { describeAction, planSwarm } from './plan.js';
import { applySwarmAction } from './apply.js';
import type { DesiredSwarm, GroupShards, LiveSwarm, SwarmAction } from './types.js';

export { observeSwarm } from './observe.js';
export { planSwarm, describeAction } from './plan.js';
export { applySwarmAction, waitConverged } from './apply.js';
export type * from './types.js';

export interface SwarmContext {
  docker: Docker;
  images: ImageSet;
  cluster: string;
  convergeTimeoutMs?: number;
  onSecretCreated?: (name: string, value: string) => Promise<void> | void;
  onProgress?: (line: string) => void;
  /** Shards per worker group from the engine (agent/backends/shards `shardsPerGroup`). */
  shardsPerGroup?: (groups: string[]) => Promise<GroupShards>;
}

export interface SwarmDesired {
  manifest: ClusterManifest;
  images: ImageSet;
  /** Secrets named by Role and McpClient manifests (generated, mounted into the agent). */
  roleSecrets: string[];
}

/** Pure: the Swarm-side inputs of a manifest set. */
export function swarmDesired(set: ManifestSet, images: ImageSet): SwarmDesired {
  const roleSecrets = set.documents.flatMap((d) =>
    d.manifest.kind === 'Role'
      ? [d.manifest.spec.passwordSecret]
      : d.manifest.kind === 'McpClient'
        ? [d.manifest.spec.passwordSecret, d.manifest.spec.tokenSecret]
        : [],
  );
  return { manifest: set.cluster, images, roleSecrets: [...new Set(roleSecrets)].sort() };
}

export interface SwarmPlannedAction extends PlannedAction {
  action: SwarmAction;
}

function risk(a: SwarmAction): PlannedAction['risk'] {
  if (a.kind === 'remove-service') return 'destructive';
  if (a.kind === 'update-service') return 'disruptive';
  return 'safe';
}

/**
 * The idempotency key of a step: what it makes (the desired shape) from what it found
 * (the live object's id and version, or the observation it was planned from when the
 * object is absent). A new leader that retries the same step from the same live state
 * gets the same key and skips it; a later drift of the same object (a hand-made scale
 * reverted twice, a service deleted by hand) is a new live state and so a new step.
 */
function actionKey(a: SwarmAction, live: LiveSwarm): string {
  const found =
    a.kind === 'update-service' || a.kind === 'remove-service'
      ? live.services.find((s) => s.name === a.name)
      : undefined;
  const from = found ? `${found.id}@${found.version}` : `absent@${live.observedAt}`;
  const payload =
    a.kind === 'update-service' || a.kind === 'create-service'
      ? JSON.stringify(a.service.shape)
      : a.kind === 'create-config'
        ? a.config.name
        : '';
  return `swarm:${a.kind}:${a.name}:${sha256(`${payload}\n${from}`).slice(0, 12)}`;
}

/** Pure: renders the desired Swarm state against the live nodes and plans the difference. */
export function planFromManifest(
  desired: SwarmDesired,
  live: LiveSwarm,
): BackendPlan<SwarmPlannedAction> {
  const rendered: DesiredSwarm = renderSwarm(desired.manifest, {
    images: desired.images,
    nodes: live.nodes,
    roleSecrets: desired.roleSecrets,
  });
  const plan = planSwarm(rendered, live);
  const actions = plan.actions.map((a): SwarmPlannedAction => ({
    key: actionKey(a, live),
    backend: 'swarm',
    summary: describeAction(a),
    risk: risk(a),
    action: a,
  }));
  const drift: DriftItem[] = [];
  const changed = new Set(plan.actions.map((a) => a.name));
  for (const s of rendered.services) {
    const a = plan.actions.find((x) => x.name === s.name);
    if (!changed.has(s.name)) {
      drift.push({
        backend: 'swarm',
        resource: `service/${s.name}`,
        state: 'in-sync',
        differences: [],
      });
    } else if (a?.kind === 'update-service') {
      drift.push({
        backend: 'swarm',
        resource: `service/${s.name}`,
        state: 'drifted',
        differences: a.changes.map((c) => ({ field: c.field, desired: c.desired, live: c.live })),
      });
    } else {
      drift.push({
        backend: 'swarm',
        resource: `service/${s.name}`,
        state: 'drifted',
        differences: [{ field: 'exists', desired: true, live: false }],
      });
    }
  }
  for (const a of plan.actions) {
    if (a.kind === 'remove-service') {
      drift.push({
        backend: 'swarm',
        resource: `service/${a.name}`,
        state: 'drifted',
        differences: [{ field: 'exists', desired: false, live: true }],
        reason: a.reason,
      });
    }
  }
  for (const w of plan.waiting ?? []) {
    drift.push({
      backend: 'swarm',
      resource: w.resource,
      state: 'drifted',
      differences: [{ field: 'exists', desired: false, live: true }],
      reason: w.reason,
    });
  }
  for (const r of plan.refusals) {
    drift.push({
      backend: 'swarm',
      resource: r.resource,
      state: 'blocked',
      differences: [],
      reason: r.reason,
    });
  }
  return { actions, refusals: plan.refusals, drift };
}

export const swarmBackend: Backend<SwarmContext, SwarmDesired, LiveSwarm, SwarmPlannedAction> = {
  name: 'swarm',
  desired(set: ManifestSet, ctx: SwarmContext): SwarmDesired {
    return swarmDesired(set, ctx.images);
  },
  async observe(ctx: SwarmContext): Promise<LiveSwarm> {
    const live = await observeSwarm(ctx.docker, ctx.cluster);
    if (ctx.shardsPerGroup) {
      const groups = live.services.flatMap((s) =>
        s.role === 'worker' && s.group ? [s.group] : [],
      );
      live.groupShards = await ctx.shardsPerGroup(groups);
    }
    return live;
  },
  plan: planFromManifest,
  async apply(action: SwarmPlannedAction, ctx: SwarmContext, log): Promise<void> {
    await applySwarmAction(action.action, {
      docker: ctx.docker,
      log,
      convergeTimeoutMs: ctx.convergeTimeoutMs,
      onSecretCreated: ctx.onSecretCreated,
      onProgress: ctx.onProgress,
    });
  },
};

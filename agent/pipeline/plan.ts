import type { BackendName, BackendPlan, PlannedAction } from '../backends/types.js';
import type { ManifestSet } from '../manifests/types.js';
import type { Observation } from './observe.js';
import type { BoundBackend } from './types.js';

export type PlanResult =
  | { backend: BackendName; ok: true; plan: BackendPlan<PlannedAction> }
  | { backend: BackendName; ok: false; error: string };

/**
 * Step 4 (pure but for the backends' own pure functions): desired vs live, per backend, in
 * the backends' order, which is the apply order (etcd → swarm → patroni → shards).
 */
export function planAll(
  backends: BoundBackend[],
  set: ManifestSet,
  observations: Observation[],
): PlanResult[] {
  return backends.map((b, i): PlanResult => {
    const obs = observations[i];
    if (!obs || !obs.ok) {
      return { backend: b.name, ok: false, error: obs?.ok === false ? obs.error : 'not observed' };
    }
    try {
      return { backend: b.name, ok: true, plan: b.plan(b.desired(set), obs.live) };
    } catch (err) {
      return { backend: b.name, ok: false, error: (err as Error).message };
    }
  });
}

import type { Backend, BackendName, BackendPlan, PlannedAction } from '../backends/types.js';
import type { Logger } from '../core/log.js';
import type { ManifestSet } from '../manifests/types.js';

/**
 * A backend with its context bound, so that the pipeline can hold backends of different
 * context, state and action types in one list without knowing any of them.
 */
export interface BoundBackend {
  readonly name: BackendName;
  desired(set: ManifestSet): unknown;
  observe(): Promise<unknown>;
  plan(desired: unknown, live: unknown): BackendPlan<PlannedAction>;
  apply(action: PlannedAction, log: Logger): Promise<void>;
}

export function bindBackend<Ctx, D, L, A extends PlannedAction>(
  backend: Backend<Ctx, D, L, A>,
  ctx: Ctx,
): BoundBackend {
  return {
    name: backend.name,
    desired: (set) => backend.desired(set, ctx),
    observe: () => backend.observe(ctx),
    // The pipeline only hands back what this backend's own desired/observe/plan returned.
    plan: (desired, live) => backend.plan(desired as D, live as L),
    apply: (action, log) => backend.apply(action as A, ctx, log),
  };
}

import type { BackendName } from '../backends/types.js';
import type { ManifestSet } from '../manifests/types.js';
import type { ActionRecord } from '../report/model.js';
import { observeAll } from './observe.js';
import { planAll, type PlanResult } from './plan.js';
import type { BoundBackend } from './types.js';

/** A health check of the whole cluster: returns problems, none when healthy. */
export type HealthCheck = () => Promise<string[]>;

export interface Verification {
  /** Fresh plans for the backends that acted (what is still to do after this cycle). */
  replanned: PlanResult[];
  health: string[];
}

/**
 * Step 7: after actions ran, observe again those backends that acted, plan again, and ask
 * the health check; what still differs is reported as still converging.
 */
export async function verifyAfterApply(input: {
  backends: BoundBackend[];
  set: ManifestSet;
  records: ActionRecord[];
  health?: HealthCheck;
}): Promise<Verification> {
  const acted = new Set<BackendName>(
    input.records.filter((r) => r.result === 'applied').map((r) => r.backend),
  );
  const again = input.backends.filter((b) => acted.has(b.name));
  const replanned = again.length ? planAll(again, input.set, await observeAll(again)) : [];
  const health = input.health && acted.size ? await input.health() : [];
  return { replanned, health };
}

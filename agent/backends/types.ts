import type { Logger } from '../core/log.js';
import type { ManifestSet } from '../manifests/types.js';

/** How one difference between desired and live state stands after a cycle. */
export type DriftState = 'in-sync' | 'drifted' | 'acting' | 'blocked' | 'failed';

export interface DriftItem {
  backend: BackendName;
  /** A stable resource name, e.g. `service/pgmesh-w1` or `shard/memory_entries_3`. */
  resource: string;
  state: DriftState;
  /** Each field that differs, with desired and live values (never a secret's value). */
  differences: Array<{ field: string; desired: unknown; live: unknown }>;
  reason?: string;
  /** Progress of a long operation on this resource (a rebalance's shard moves). */
  progress?: DriftProgress;
}

/** How far a long operation got; rendered by agent/report/progress.ts. */
export interface DriftProgress {
  /** What `done` and `total` count, e.g. `shard moves`. */
  unit: string;
  done: number;
  total: number;
  bytesDone?: number;
  bytesTotal?: number;
  /** Estimated time left, from the rate measured so far; absent when not known yet. */
  etaMs?: number;
  startedAt?: string;
  updatedAt?: string;
  finishedAt?: string;
  /** The step in progress, e.g. `copying shard 3 of memory.memory_entries w1 → w3`. */
  current?: string;
}

export type BackendName = 'swarm' | 'shards' | 'patroni';

export interface PlannedAction {
  /** An idempotency key: the same step of the same plan always has the same key. */
  key: string;
  backend: BackendName;
  /** One line for humans: `update service pgmesh-w1 (replicas 2 → 3)`. */
  summary: string;
  /** Data moves and removals pass the gate's safety conditions. */
  risk: 'safe' | 'disruptive' | 'data-moving' | 'destructive';
  /**
   * Keys of the earlier actions this one needs. When one of them fails or is blocked,
   * this one is blocked (by it); actions that need nothing of it still run. Absent: every
   * earlier action of the same backend (the safe default for a backend that cannot say).
   */
  dependsOn?: string[];
  /** The drift item this action puts right (its `resource`), so a failure marks only it. */
  resource?: string;
}

export interface BackendPlan<A extends PlannedAction> {
  actions: A[];
  refusals: Array<{ resource: string; reason: string }>;
  drift: DriftItem[];
}

/**
 * Every backend has the same shape: `desired` and `plan` are pure; I/O happens only in
 * `observe` and `apply`. The pipeline only sees this interface (agent/backends/registry.ts).
 */
export interface Backend<Ctx, Desired, Live, A extends PlannedAction> {
  readonly name: BackendName;
  desired(set: ManifestSet, ctx: Ctx): Desired;
  observe(ctx: Ctx): Promise<Live>;
  plan(desired: Desired, live: Live): BackendPlan<A>;
  apply(action: A, ctx: Ctx, log: Logger): Promise<void>;
}

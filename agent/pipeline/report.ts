import type { BackendName, DriftItem, DriftState } from '../backends/types.js';
import type { ManifestProblem } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { PauseInfo } from '../gate/pause.js';
import { recordCycle, type AgentMetrics } from '../metrics/metrics.js';
import {
  worstOf,
  type ActionRecord,
  type BackendReport,
  type DriftReport,
  type StepTiming,
} from '../report/model.js';
import { scrubSecrets } from '../report/scrub.js';
import type { ReportWriter } from '../report/store.js';
import type { PlanResult } from './plan.js';

export interface ReportInput {
  cluster: string;
  agent: string;
  leader: boolean;
  startedAt: Date;
  finishedAt: Date;
  source: DriftReport['source'];
  paused: PauseInfo | null;
  problems: ManifestProblem[] | null;
  /** Plans as made before apply. */
  plans: PlanResult[];
  /** Plans made again after apply (verify), replacing those of the same backend. */
  replanned: PlanResult[];
  records: ActionRecord[];
  steps: StepTiming[];
  errors: string[];
}

/** Step 8a: the drift report, from what the other steps found (pure). */
export function buildReport(input: ReportInput): DriftReport {
  const backends = input.plans.map((p) => {
    const after = input.replanned.find((r) => r.backend === p.backend) ?? p;
    const report = backendReport(
      after,
      input.records.filter((r) => r.backend === p.backend),
    );
    // What this cycle found different and put right: verify's fresh plan says in sync, so
    // without this the report would not show the drift at all (a hand-made scale, say).
    if (after !== p && p.ok && after.ok) {
      const nowInSync = new Set(
        after.plan.drift.filter((i) => i.state === 'in-sync').map((i) => i.resource),
      );
      const corrected = p.plan.drift.filter(
        (i) => i.state !== 'in-sync' && nowInSync.has(i.resource),
      );
      if (corrected.length) report.corrected = corrected;
    }
    return report;
  });
  const status = input.problems ? 'rejected' : worstOf(backends.map((b) => b.state));
  return scrubSecrets({
    seq: 0,
    cluster: input.cluster,
    agent: input.agent,
    leader: input.leader,
    startedAt: input.startedAt.toISOString(),
    finishedAt: input.finishedAt.toISOString(),
    durationMs: input.finishedAt.getTime() - input.startedAt.getTime(),
    status,
    source: input.source,
    paused: input.paused,
    validation: { ok: input.problems === null, problems: input.problems ?? [] },
    backends,
    steps: input.steps,
    errors: input.errors,
  });
}

function backendReport(plan: PlanResult, actions: ActionRecord[]): BackendReport {
  const backend: BackendName = plan.backend;
  if (!plan.ok) {
    return { backend, state: 'failed', items: [], actions, refusals: [], error: plan.error };
  }
  // An action that names its drift item marks only that item; one that does not (a
  // backend that cannot say) marks every drifted item of its backend, as before.
  const about = (item: DriftItem, a: ActionRecord): boolean =>
    a.resource === undefined || a.resource === item.resource;
  const failed = actions.find((a) => a.result === 'failed');
  const blocked = actions.find((a) => a.result === 'blocked');
  const items: DriftItem[] = plan.plan.drift.map((item) => {
    if (item.state !== 'drifted') return item;
    const mine = actions.filter((a) => about(item, a));
    const f = mine.find((a) => a.result === 'failed');
    if (f) return { ...item, state: 'failed', reason: item.reason ?? f.reason ?? '' };
    const b = mine.find((a) => a.result === 'blocked');
    if (b) return { ...item, state: 'blocked', reason: b.reason ?? '' };
    if (mine.some((a) => a.result === 'applied' || a.result === 'skipped'))
      return { ...item, state: 'acting' };
    return item;
  });
  const states: DriftState[] = items.map((i) => i.state);
  if (failed) states.push('failed');
  if (blocked || plan.plan.refusals.length) states.push('blocked');
  return {
    backend,
    state: worstOf(states) as DriftState,
    items,
    actions,
    refusals: plan.plan.refusals,
  };
}

/** Step 8b: store (leader only), count, log. A store failure is logged, not thrown. */
export async function publishReport(
  report: DriftReport,
  deps: { store?: ReportWriter; metrics?: AgentMetrics; log: Logger },
): Promise<DriftReport> {
  let stored = report;
  if (deps.store) {
    try {
      stored = await deps.store.save(report);
    } catch (err) {
      deps.log.error({ err: (err as Error).message }, 'storing the drift report failed');
    }
  }
  if (deps.metrics) recordCycle(deps.metrics, stored);
  const fields = {
    cluster: stored.cluster,
    seq: stored.seq,
    status: stored.status,
    revision: stored.source.revision,
    actedOn: stored.source.actedOn,
    paused: stored.paused !== null,
    ms: stored.durationMs,
  };
  if (!stored.validation.ok) {
    deps.log.error({ ...fields, problems: stored.validation.problems }, 'manifest set rejected');
  } else {
    deps.log.info(fields, 'cycle finished');
  }
  return stored;
}

import type { PlannedAction } from '../backends/types.js';
import type { ManifestProblem } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Gate } from '../gate/gate.js';
import type { PauseInfo } from '../gate/pause.js';
import type { ActionJournal } from '../journal/memory.js';
import type { AgentMetrics } from '../metrics/metrics.js';
import type { ActionRecord, DriftReport, StepTiming } from '../report/model.js';
import type { RevisionHistory } from '../report/history.js';
import type { ReportWriter } from '../report/store.js';
import type { Snapshot, Source } from '../sources/types.js';
import { applyActions } from './apply.js';
import { gateCycle, recordsFor } from './gate.js';
import { observeAll } from './observe.js';
import { planAll, type PlanResult } from './plan.js';
import { buildReport, publishReport } from './report.js';
import { readSource } from './source.js';
import { timed } from './timing.js';
import type { BoundBackend } from './types.js';
import { validateSnapshot, type GoodSet, type ParseManifestSet } from './validate.js';
import { verifyAfterApply, type HealthCheck } from './verify.js';

export interface CycleDeps {
  cluster: string;
  /** This replica's name, in reports and journal entries. */
  agentId: string;
  source: Source;
  parse: ParseManifestSet;
  /** In apply order (etcd → swarm → patroni → shards); see agent/backends/registry.ts. */
  backends: BoundBackend[];
  gate: Gate;
  /** The current pause, without a round-trip (PauseWatch.current). */
  pause: () => PauseInfo | null;
  journal: ActionJournal;
  leader: { isLeader(): boolean; signal(): AbortSignal };
  health?: HealthCheck;
  /** Only the leader stores reports; pass none on observers. */
  store?: ReportWriter;
  /** The per-revision history (leader only, like the store). */
  history?: RevisionHistory;
  metrics?: AgentMetrics;
  log: Logger;
  now?: () => Date;
}

export interface CycleRunner {
  /** Runs a cycle; a call during a running cycle waits for it and runs once more after. */
  run(trigger?: string): Promise<DriftReport>;
  lastGood(): GoodSet | null;
  lastReport(): DriftReport | null;
}

/** The reconcile cycle: source → validate → observe → plan → gate → apply → verify → report. */
export function createCycle(deps: CycleDeps): CycleRunner {
  let lastGood: GoodSet | null = null;
  let lastReport: DriftReport | null = null;
  let running: Promise<DriftReport> | null = null;
  let queued: Promise<DriftReport> | null = null;

  async function once(trigger: string): Promise<DriftReport> {
    const result = await runCycle(deps, lastGood, trigger);
    lastGood = result.lastGood;
    lastReport = result.report;
    return result.report;
  }

  return {
    run(trigger = 'manual') {
      if (!running) {
        running = once(trigger).finally(() => (running = null));
        return running;
      }
      // Triggers that arrive during a cycle fold into one more cycle after it.
      queued ??= running
        .catch(() => undefined)
        .then(() => {
          queued = null;
          return this.run(trigger);
        });
      return queued;
    },
    lastGood: () => lastGood,
    lastReport: () => lastReport,
  };
}

/** One cycle, as a function of its inputs and the last good set. */
export async function runCycle(
  deps: CycleDeps,
  lastGood: GoodSet | null,
  trigger: string,
): Promise<{ report: DriftReport; lastGood: GoodSet | null }> {
  const now = deps.now ?? (() => new Date());
  const log = deps.log.child({ cluster: deps.cluster, trigger });
  const startedAt = now();
  const steps: StepTiming[] = [];
  const errors: string[] = [];
  const leader = deps.leader.isLeader();
  // The term's signal is taken now: losing leadership at any later point stops the apply.
  const signal = deps.leader.signal();

  let snapshot: Snapshot | null = null;
  try {
    snapshot = await timed(steps, 'source', () => readSource(deps.source));
  } catch (err) {
    errors.push(`source: ${(err as Error).message}`);
  }

  let problems: ManifestProblem[] | null = null;
  let current: GoodSet | null = lastGood;
  let fresh = false;
  if (snapshot) {
    const v = await timed(steps, 'validate', () =>
      validateSnapshot(snapshot, deps.parse, lastGood),
    );
    if (v.ok) {
      current = v.good;
      fresh = true;
    } else {
      problems = v.problems;
    }
  }

  let plans: PlanResult[] = [];
  if (current) {
    const set = current.set;
    const observations = await timed(steps, 'observe', () => observeAll(deps.backends));
    plans = await timed(steps, 'plan', () => planAll(deps.backends, set, observations));
  }
  const actions: PlannedAction[] = plans.flatMap((p) => (p.ok ? p.plan.actions : []));

  const pause = deps.pause();
  const decision = await timed(steps, 'gate', () =>
    gateCycle({ leader, validationOk: fresh, pause }),
  );
  let records: ActionRecord[];
  if (decision.act) {
    records = await timed(steps, 'apply', () =>
      applyActions({
        actions,
        backends: deps.backends,
        gate: deps.gate,
        journal: deps.journal,
        signal,
        log,
      }),
    );
  } else {
    records = recordsFor(actions, decision.result, decision.reason);
  }

  let replanned: PlanResult[] = [];
  if (current && records.some((r) => r.result === 'applied')) {
    const set = current.set;
    const verification = await timed(steps, 'verify', () =>
      verifyAfterApply({
        backends: deps.backends,
        set,
        records,
        ...(deps.health ? { health: deps.health } : {}),
      }),
    );
    replanned = verification.replanned;
    errors.push(...verification.health.map((h) => `health: ${h}`));
  }

  const reportStarted = Date.now();
  const report = buildReport({
    cluster: deps.cluster,
    agent: deps.agentId,
    leader,
    startedAt,
    finishedAt: now(),
    source: {
      kind: deps.source.kind,
      revision: snapshot?.revision ?? null,
      actedOn: current?.revision ?? null,
      ...(snapshot ? { ref: snapshot.ref } : {}),
      ...(snapshot?.commit ? { commit: snapshot.commit } : {}),
    },
    // The pause as it stands at the end of the cycle: it may have been set during apply.
    paused: deps.pause() ?? pause,
    problems,
    plans,
    replanned,
    records,
    steps,
    errors,
  });
  if (!snapshot && report.status !== 'rejected') report.status = 'failed';
  report.steps.push({
    step: 'report',
    startedAt: new Date(reportStarted).toISOString(),
    ms: Date.now() - reportStarted,
    ok: true,
  });
  const stored = await publishReport(report, {
    ...(deps.store && leader ? { store: deps.store } : {}),
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    log,
  });
  if (deps.history && leader) {
    await deps.history.record(stored).catch((err: unknown) => {
      log.error({ err: (err as Error).message }, 'recording the revision history failed');
    });
  }
  return { report: stored, lastGood: current };
}

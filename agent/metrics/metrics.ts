import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BackendName } from '../backends/types.js';
import type { DriftReport } from '../report/model.js';

export interface AgentMetrics {
  registry: Registry;
  cycles: Counter<'status'>;
  cycleDuration: Histogram;
  drifted: Gauge<'backend'>;
  actions: Counter<'backend' | 'result'>;
  paused: Gauge;
  leader: Gauge;
  lastSuccessCommitTime: Gauge;
  fencedFailovers: Counter<'scope' | 'result'>;
}

const BACKENDS: BackendName[] = ['swarm', 'shards', 'patroni'];

/** A registry of its own (never prom-client's global one), so tests and replicas don't share. */
export function createMetrics(options: { prefix?: string } = {}): AgentMetrics {
  const p = options.prefix ?? 'pgmesh_agent_';
  const registry = new Registry();
  const m: AgentMetrics = {
    registry,
    cycles: new Counter({
      name: `${p}cycles_total`,
      help: 'Reconcile cycles run, by overall status',
      labelNames: ['status'],
      registers: [registry],
    }),
    cycleDuration: new Histogram({
      name: `${p}cycle_duration_seconds`,
      help: 'Duration of reconcile cycles',
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600],
      registers: [registry],
    }),
    drifted: new Gauge({
      name: `${p}drifted_resources`,
      help: 'Resources not in sync after the last cycle, by backend',
      labelNames: ['backend'],
      registers: [registry],
    }),
    actions: new Counter({
      name: `${p}actions_total`,
      help: 'Planned actions by backend and result',
      labelNames: ['backend', 'result'],
      registers: [registry],
    }),
    paused: new Gauge({
      name: `${p}paused`,
      help: '1 while the emergency pause is set',
      registers: [registry],
    }),
    leader: new Gauge({
      name: `${p}leader`,
      help: '1 while this replica leads (and may act)',
      registers: [registry],
    }),
    fencedFailovers: new Counter({
      name: `${p}fenced_failovers_total`,
      help: 'Leader keys of confirmed-dead primaries the agent deleted (or found changed meanwhile)',
      labelNames: ['scope', 'result'],
      registers: [registry],
    }),
    lastSuccessCommitTime: new Gauge({
      name: `${p}last_success_commit_timestamp_seconds`,
      help: 'When a cycle last ended in sync with the desired commit (unix time)',
      registers: [registry],
    }),
  };
  for (const backend of BACKENDS) m.drifted.set({ backend }, 0);
  m.paused.set(0);
  m.leader.set(0);
  return m;
}

/** Records one finished cycle. */
export function recordCycle(m: AgentMetrics, report: DriftReport): void {
  m.cycles.inc({ status: report.status });
  m.cycleDuration.observe(report.durationMs / 1000);
  m.paused.set(report.paused ? 1 : 0);
  m.leader.set(report.leader ? 1 : 0);
  for (const b of report.backends) {
    m.drifted.set({ backend: b.backend }, b.items.filter((i) => i.state !== 'in-sync').length);
    for (const a of b.actions) m.actions.inc({ backend: a.backend, result: a.result });
  }
  if (report.status === 'in-sync' && report.validation.ok) {
    m.lastSuccessCommitTime.set(Date.parse(report.finishedAt) / 1000);
  }
}

import type { DriftReport } from './model.js';

/** A filled-in report for renderer and consumer tests (the CLI's too). */
export function sampleReport(over: Partial<DriftReport> = {}): DriftReport {
  return {
    seq: 7,
    cluster: 'pgm',
    agent: 'agent-1',
    leader: true,
    startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: '2025-01-01T00:00:01.500Z',
    durationMs: 1500,
    status: 'blocked',
    source: { kind: 'git', revision: 'abc123', actedOn: 'abc123', ref: 'main' },
    paused: { by: 'alice', reason: 'disk <full>', since: '2025-01-01T00:00:00.000Z' },
    validation: { ok: true, problems: [] },
    backends: [
      {
        backend: 'swarm',
        state: 'blocked',
        items: [
          {
            backend: 'swarm',
            resource: 'service/pgm-w1',
            state: 'blocked',
            differences: [{ field: 'replicas', desired: 3, live: 2 }],
            reason: 'paused',
          },
        ],
        actions: [
          {
            key: 'k1',
            backend: 'swarm',
            summary: 'scale pgm-w1 2 → 3',
            risk: 'safe',
            result: 'blocked',
            reason: 'paused by alice',
          },
        ],
        refusals: [],
      },
    ],
    steps: [{ step: 'source', startedAt: '2025-01-01T00:00:00.000Z', ms: 12, ok: true }],
    errors: [],
    ...over,
  };
}

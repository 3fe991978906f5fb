import { describe, expect, it } from 'vitest';
import { sampleReport } from '../report/sample.js';
import { createMetrics, recordCycle } from './metrics.js';

describe('metrics', () => {
  it('uses its own registry and records a cycle', async () => {
    const a = createMetrics();
    const b = createMetrics(); // no clash: no global registry
    recordCycle(a, sampleReport());
    recordCycle(a, sampleReport({ status: 'in-sync', paused: null, leader: false, backends: [] }));
    const text = await a.registry.metrics();
    expect(text).toContain('pgmesh_agent_cycles_total{status="blocked"} 1');
    expect(text).toContain('pgmesh_agent_actions_total{backend="swarm",result="blocked"} 1');
    expect(text).toContain('pgmesh_agent_drifted_resources{backend="swarm"} 1');
    expect(text).toContain('pgmesh_agent_paused 0');
    expect(text).toContain('pgmesh_agent_leader 0');
    expect(text).toMatch(/pgmesh_agent_last_success_commit_timestamp_seconds 1735689601\.5/);
    expect(text).toContain('pgmesh_agent_cycle_duration_seconds_count 2');
    expect(await b.registry.metrics()).toContain('pgmesh_agent_cycles_total');
  });
});

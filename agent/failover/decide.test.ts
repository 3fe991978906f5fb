import { describe, expect, it } from 'vitest';
import { decideFence, type ContainerState, type TaskState } from './decide.js';

const groups = [
  { service: 'pgmt-coord', scope: 'coord' },
  { service: 'pgmt-w1', scope: 'w1' },
];
const event = { containerId: 'c1', service: 'pgmt-w1', slot: 2, exitCode: '137' };
const dead: ContainerState = { running: false, pid: 0, sameEngine: true };
const exited: TaskState = { state: 'failed', containerId: 'c1', nodeStatus: 'ready' };
const leader = { value: 'w1-2', modRevision: '41' };

function decide(over: Partial<Parameters<typeof decideFence>[0]> = {}) {
  return decideFence({
    event,
    groups,
    container: dead,
    task: exited,
    leader,
    namespace: '/patroni/',
    ...over,
  });
}

describe('decideFence', () => {
  it('deletes the leader key, compared on value and revision, when the engine confirms the death', () => {
    expect(decide()).toEqual({
      act: true,
      scope: 'w1',
      member: 'w1-2',
      key: '/patroni/w1/leader',
      value: 'w1-2',
      modRevision: '41',
    });
    expect(decide({ task: { ...exited, state: 'complete' } }).act).toBe(true);
  });

  it("does not wait for Swarm's record of the exit: the engine's word is enough", () => {
    expect(decide({ task: { ...exited, state: 'running' } }).act).toBe(true);
    expect(decide({ task: undefined }).act).toBe(true);
  });

  it('does nothing when contact with the node is lost (no confirmation from its engine)', () => {
    for (const nodeStatus of ['down', 'unknown', 'disconnected']) {
      expect(decide({ task: { ...exited, nodeStatus } })).toMatchObject({
        act: false,
        reason: expect.stringContaining("Patroni's ttl applies"),
      });
    }
    expect(decide({ container: undefined }).act).toBe(false);
    expect(decide({ container: { ...dead, sameEngine: false } }).act).toBe(false);
  });

  it('does nothing while the container still runs or its task names another container', () => {
    expect(decide({ container: { running: true, pid: 42, sameEngine: true } }).act).toBe(false);
    expect(decide({ container: { running: false, pid: 42, sameEngine: true } }).act).toBe(false);
    expect(decide({ task: { ...exited, containerId: 'other' } }).act).toBe(false);
  });

  it('does nothing when the dead member does not lead (a replica died, or a new leader exists)', () => {
    expect(decide({ leader: { value: 'w1-1', modRevision: '50' } })).toMatchObject({
      act: false,
      reason: 'w1 is led by w1-1, not w1-2',
    });
    expect(decide({ leader: undefined }).act).toBe(false);
  });

  it('ignores containers of services that are not database groups', () => {
    expect(decide({ event: { ...event, service: 'pgmt-haproxy' } }).act).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { dieEventOf } from './watcher.js';

describe('dieEventOf', () => {
  const attrs = {
    'com.docker.swarm.service.name': 'pgmt-w1',
    'com.docker.swarm.task.name': 'pgmt-w1.2.k3j4h5g6f7d8',
    exitCode: '137',
  };

  it('reads service, slot and exit code of a Swarm task container’s death', () => {
    expect(
      dieEventOf({ Type: 'container', Action: 'die', Actor: { ID: 'abc', Attributes: attrs } }),
    ).toEqual({ containerId: 'abc', service: 'pgmt-w1', slot: 2, exitCode: '137' });
  });

  it('ignores other events and containers that are not Swarm tasks', () => {
    expect(
      dieEventOf({ Type: 'container', Action: 'start', Actor: { ID: 'a', Attributes: attrs } }),
    ).toBeUndefined();
    expect(
      dieEventOf({ Type: 'network', Action: 'die', Actor: { ID: 'a', Attributes: attrs } }),
    ).toBeUndefined();
    expect(
      dieEventOf({ Type: 'container', Action: 'die', Actor: { ID: 'a', Attributes: {} } }),
    ).toBeUndefined();
    expect(
      dieEventOf({
        Type: 'container',
        Action: 'die',
        Actor: { ID: 'a', Attributes: { ...attrs, 'com.docker.swarm.task.name': 'x.y.z' } },
      }),
    ).toBeUndefined();
  });
});

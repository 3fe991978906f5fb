import { describe, expect, it } from 'vitest';
import type { PlannedAction } from '../backends/types.js';
import { Gate } from './gate.js';
import { parsePauseValue, type PauseInfo } from './pause.js';

const action: PlannedAction = {
  key: 'k',
  backend: 'shards',
  summary: 'move shard',
  risk: 'data-moving',
};

describe('parsePauseValue', () => {
  it('reads the JSON the agent writes', () => {
    expect(
      parsePauseValue('{"by":"alice","reason":"upgrade","since":"2025-01-01T00:00:00Z"}'),
    ).toEqual({
      by: 'alice',
      reason: 'upgrade',
      since: '2025-01-01T00:00:00Z',
    });
  });
  it('takes any other text, set by hand with etcdctl, as the reason', () => {
    expect(parsePauseValue('disk full on node 2\n')).toEqual({
      by: 'etcdctl',
      reason: 'disk full on node 2',
      since: null,
    });
    expect(parsePauseValue('{not json')).toMatchObject({ by: 'etcdctl', reason: '{not json' });
    expect(parsePauseValue('{"reason":"x"}')).toEqual({ by: 'etcdctl', reason: 'x', since: null });
  });
});

describe('Gate', () => {
  it('blocks everything while paused', async () => {
    let pause: PauseInfo | null = { by: 'bob', reason: 'why', since: null };
    const gate = new Gate({ pause: () => pause });
    expect(await gate.check(action)).toMatchObject({
      allowed: false,
      code: 'paused',
      reason: 'paused by bob: why',
    });
    pause = null;
    expect(await gate.check(action)).toEqual({ allowed: true });
  });
  it('applies safety checks per risk', async () => {
    const gate = new Gate({
      pause: () => null,
      safety: { 'data-moving': [() => null, async () => 'replication lag too high'] },
    });
    expect(await gate.check(action)).toEqual({
      allowed: false,
      code: 'unsafe',
      reason: 'replication lag too high',
    });
    expect(await gate.check({ ...action, risk: 'safe' })).toEqual({ allowed: true });
  });
});

import { describe, expect, it } from 'vitest';
import { configFromEnv } from './config.js';

const base = {
  PGMESH_CLUSTER: 'pgmesh',
  PGMESH_ETCD_HOSTS: 'http://e1:2379,http://e2:2379',
  PGMESH_GIT_URL: 'file:///repo',
  PGMESH_API_TOKEN_FILE: '/run/secrets/agent-token',
  PGMESH_WEBHOOK_SECRET_FILE: '/run/secrets/webhook-secret',
  PGMESH_IMAGE_PGNODE: 'p:1',
  PGMESH_IMAGE_ETCD: 'e:1',
  PGMESH_IMAGE_HAPROXY: 'h:1',
  PGMESH_IMAGE_AGENT: 'a:1',
};

describe('configFromEnv', () => {
  it('fences by default and only "off" turns it off', () => {
    expect(configFromEnv(base).fencedFailover).toBe(true);
    expect(configFromEnv({ ...base, PGMESH_FENCED_FAILOVER: 'on' }).fencedFailover).toBe(true);
    expect(configFromEnv({ ...base, PGMESH_FENCED_FAILOVER: 'off' }).fencedFailover).toBe(false);
  });

  it('names the variable and the bad value', () => {
    expect(() => configFromEnv({ ...base, PGMESH_FENCED_FAILOVER: 'no' })).toThrow(
      'PGMESH_FENCED_FAILOVER must be "on" or "off", not "no"',
    );
    expect(() => configFromEnv({ ...base, PGMESH_CLUSTER: '' })).toThrow('PGMESH_CLUSTER');
  });
});

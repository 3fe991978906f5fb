import { PgmeshError } from '../core/errors.js';
import type { ImageSet } from '../backends/swarm/render.js';

/** What one agent replica needs to know; `up` renders it into the service's environment. */
export interface AgentConfig {
  cluster: string;
  /** The coordinator group's name and the database: where the engine lives. */
  coordinator: string;
  database: string;
  agentId: string;
  etcdHosts: string[];
  /** A Git URL; or, for development, a local folder watched with chokidar. */
  source:
    { kind: 'git'; url: string; branch: string; path: string } | { kind: 'folder'; path: string };
  pollIntervalSeconds: number;
  leaderTtlSeconds: number;
  /** Fenced fast failover (agent/failover/): on unless PGMESH_FENCED_FAILOVER=off. */
  fencedFailover: boolean;
  apiHost: string;
  apiPort: number;
  apiTokenFile: string;
  webhookSecretFile: string;
  workDir: string;
  images: ImageSet;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (!v) throw new PgmeshError('PGMESH_AGENT_CONFIG', `environment variable ${name} is not set`);
  return v;
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    throw new PgmeshError(
      'PGMESH_AGENT_CONFIG',
      `${name} must be a positive integer, not "${raw}"`,
    );
  }
  return n;
}

function onOff(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'on') return true;
  if (raw === 'off') return false;
  throw new PgmeshError('PGMESH_AGENT_CONFIG', `${name} must be "on" or "off", not "${raw}"`);
}

/** Reads the agent's configuration from its environment; a missing value fails at start. */
export function configFromEnv(env: NodeJS.ProcessEnv): AgentConfig {
  const folder = env.PGMESH_MANIFESTS_DIR;
  return {
    cluster: required(env, 'PGMESH_CLUSTER'),
    coordinator: env.PGMESH_COORDINATOR ?? 'coord',
    database: env.PGMESH_DATABASE ?? 'pgmesh',
    agentId: env.PGMESH_AGENT_ID ?? env.HOSTNAME ?? 'agent',
    etcdHosts: required(env, 'PGMESH_ETCD_HOSTS').split(','),
    source: folder
      ? { kind: 'folder', path: folder }
      : {
          kind: 'git',
          url: required(env, 'PGMESH_GIT_URL'),
          branch: env.PGMESH_GIT_BRANCH ?? 'main',
          path: env.PGMESH_GIT_PATH ?? '.',
        },
    pollIntervalSeconds: int(env, 'PGMESH_POLL_INTERVAL_SECONDS', 15),
    leaderTtlSeconds: int(env, 'PGMESH_LEADER_TTL_SECONDS', 10),
    fencedFailover: onOff(env, 'PGMESH_FENCED_FAILOVER', true),
    apiHost: env.PGMESH_API_HOST ?? '0.0.0.0',
    apiPort: int(env, 'PGMESH_API_PORT', 8080),
    apiTokenFile: required(env, 'PGMESH_API_TOKEN_FILE'),
    webhookSecretFile: required(env, 'PGMESH_WEBHOOK_SECRET_FILE'),
    workDir: env.PGMESH_WORK_DIR ?? '/tmp/pgmesh-agent',
    images: {
      pgnode: required(env, 'PGMESH_IMAGE_PGNODE'),
      etcd: required(env, 'PGMESH_IMAGE_ETCD'),
      haproxy: required(env, 'PGMESH_IMAGE_HAPROXY'),
      agent: required(env, 'PGMESH_IMAGE_AGENT'),
    },
  };
}

/** A cron expression (node-cron, with seconds) for a periodic full cycle. */
export function cycleCron(seconds: number): string {
  if (seconds < 60 && 60 % seconds === 0) return `*/${seconds} * * * * *`;
  const minutes = Math.max(1, Math.round(seconds / 60));
  return `0 */${minutes} * * * *`;
}

import type Docker from 'dockerode';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PgmeshError } from '../core/errors.js';
import { execInService } from '../docker/client.js';
import { agentServiceName } from '../core/names.js';
import type { ClusterManifest } from '../manifests/types.js';
import { stateDir } from './state.js';

/** The agent's API token: kept by `up` in the state dir, else read from an agent replica. */
async function token(docker: Docker, m: ClusterManifest): Promise<string> {
  try {
    return (await readFile(join(stateDir(m.metadata.name), 'agent-token'), 'utf8')).trim();
  } catch {
    const r = await execInService(docker, agentServiceName(m.metadata.name, 1), [
      'cat',
      '/run/secrets/agent-token',
    ]);
    if (r.exitCode !== 0)
      throw new PgmeshError('PGMESH_AGENT_UNREACHABLE', 'cannot read the agent token');
    return r.stdout.trim();
  }
}

/**
 * Calls the agent's HTTP API on this host, trying each replica's published port in turn
 * (any replica serves reports; pause and resume write to etcd, so any replica will do).
 */
export async function callAgent(
  docker: Docker,
  m: ClusterManifest,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<unknown> {
  const bearer = await token(docker, m);
  const errors: string[] = [];
  for (let i = 0; i < Math.max(1, m.spec.agent.replicas); i++) {
    const url = `http://127.0.0.1:${m.spec.agent.port + i}${path}`;
    try {
      const res = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${bearer}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${res.status}: ${text.slice(0, 300)}`);
      return text ? (JSON.parse(text) as unknown) : null;
    } catch (err) {
      errors.push(`${url}: ${(err as Error).message}`);
    }
  }
  throw new PgmeshError(
    'PGMESH_AGENT_UNREACHABLE',
    `no agent replica answered:\n  ${errors.join('\n  ')}`,
  );
}

/**
 * etcdctl inside one of the cluster's etcd members, for the host-side tools (the CLI,
 * health checks, tests), which cannot reach etcd on the overlay network. Tries each
 * running member in turn; values travel as arguments, so never pass a secret here.
 */
import type Docker from 'dockerode';
import { LABEL_CLUSTER, LABEL_ROLE } from '../backends/swarm/types.js';
import { execInService } from '../docker/client.js';

export async function etcdctl(docker: Docker, cluster: string, args: string[]): Promise<string> {
  const members = (
    await docker.listServices({
      filters: { label: [`${LABEL_CLUSTER}=${cluster}`, `${LABEL_ROLE}=etcd`] },
    })
  )
    .map((s) => s.Spec?.Name ?? '')
    .filter(Boolean)
    .sort();
  if (members.length === 0) throw new Error(`cluster ${cluster} has no etcd service`);
  let lastError: unknown;
  for (const service of members) {
    try {
      const r = await execInService(docker, service, [
        'etcdctl',
        '--endpoints=http://127.0.0.1:2379',
        '--command-timeout=5s',
        ...args,
      ]);
      if (r.exitCode !== 0) throw new Error(r.stderr.trim() || `etcdctl exited ${r.exitCode}`);
      return r.stdout;
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

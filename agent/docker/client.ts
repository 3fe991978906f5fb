import Docker from 'dockerode';
import { PassThrough } from 'node:stream';
import { DockerError } from '../core/errors.js';

export type { Docker };

/**
 * The cluster's engine: DOCKER_HOST when it names one over TCP (a remote Swarm manager,
 * such as a `pgmesh lab` host), else the local socket.
 */
export function createDocker(
  socketPath = process.env.DOCKER_SOCKET ?? '/var/run/docker.sock',
  dockerHost = process.env.DOCKER_HOST,
): Docker {
  const tcp = dockerHost ? /^tcp:\/\/([^:/]+):(\d+)\/?$/.exec(dockerHost) : null;
  if (tcp) return new Docker({ host: tcp[1], port: Number(tcp[2]), protocol: 'http' });
  const unix = dockerHost ? /^unix:\/\/(.+)$/.exec(dockerHost) : null;
  // host/port given as undefined: docker-modem would otherwise take them from DOCKER_HOST.
  return new Docker({ socketPath: unix ? unix[1] : socketPath, host: undefined, port: undefined });
}

/** The host name of a TCP engine (what a remote swarm's published ports are reached at). */
export function remoteEngineHost(docker: Docker): string | undefined {
  const modem = docker.modem as { host?: string; socketPath?: string };
  return modem.socketPath ? undefined : modem.host;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs a command inside a running container (no TTY) and collects its output. */
export async function execIn(
  docker: Docker,
  containerId: string,
  cmd: string[],
  options: { user?: string; env?: string[] } = {},
): Promise<ExecResult> {
  const container = docker.getContainer(containerId);
  const exec = await container.exec({
    Cmd: cmd,
    AttachStdout: true,
    AttachStderr: true,
    User: options.user ?? '',
    Env: options.env ?? [],
  });
  const stream = await exec.start({ hijack: true, stdin: false });
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks: { out: Buffer[]; err: Buffer[] } = { out: [], err: [] };
  out.on('data', (c: Buffer) => chunks.out.push(c));
  err.on('data', (c: Buffer) => chunks.err.push(c));
  docker.modem.demuxStream(stream, out, err);
  await new Promise<void>((resolve, reject) => {
    stream.on('end', () => resolve());
    stream.on('close', () => resolve());
    stream.on('error', reject);
  });
  const info = await exec.inspect();
  return {
    exitCode: info.ExitCode ?? -1,
    stdout: Buffer.concat(chunks.out).toString('utf8'),
    stderr: Buffer.concat(chunks.err).toString('utf8'),
  };
}

export interface TaskContainer {
  id: string;
  service: string;
  slot: number;
  state: string;
}

/** The running containers of a Swarm service on this node. */
export async function serviceContainers(
  docker: Docker,
  service: string,
  options: { all?: boolean } = {},
): Promise<TaskContainer[]> {
  const list = await docker.listContainers({
    all: options.all ?? false,
    filters: { label: [`com.docker.swarm.service.name=${service}`] },
  });
  return list.map((c) => {
    const taskName = c.Labels['com.docker.swarm.task.name'] ?? '';
    const slot = Number(taskName.split('.')[1] ?? 0);
    return { id: c.Id, service, slot, state: c.State };
  });
}

/** Runs a command in any running container of the service, or fails clearly. */
export async function execInService(
  docker: Docker,
  service: string,
  cmd: string[],
  options: { user?: string } = {},
): Promise<ExecResult> {
  const remote = remoteEngineHost(docker);
  if (remote) {
    const [task] = await runningTasksElsewhere(docker, service);
    if (!task) throw new DockerError(`no running task of service ${service} in the swarm`);
    return execIn(task.engine, task.containerId, cmd, options);
  }
  const containers = (await serviceContainers(docker, service)).filter(
    (c) => c.state === 'running',
  );
  const first = containers[0];
  if (!first) throw new DockerError(`no running container of service ${service} on this node`);
  return execIn(docker, first.id, cmd, options);
}

/** The address a node advertises (a manager on 0.0.0.0 reports its Raft address instead). */
async function nodeAddress(docker: Docker, nodeId: string): Promise<string | undefined> {
  const node = (await docker.getNode(nodeId).inspect()) as {
    Status?: { Addr?: string };
    ManagerStatus?: { Addr?: string };
  };
  return node.Status?.Addr && node.Status.Addr !== '0.0.0.0'
    ? node.Status.Addr
    : node.ManagerStatus?.Addr?.replace(/:\d+$/, '');
}

/** The addresses of the nodes that run a task of the service now (sorted, no repeats). */
export async function taskNodeAddresses(docker: Docker, service: string): Promise<string[]> {
  const tasks = (await docker.listTasks({
    filters: { service: [service], 'desired-state': ['running'] },
  })) as SwarmTask[];
  const out = new Set<string>();
  for (const t of tasks) {
    if (t.Status?.State !== 'running' || !t.NodeID) continue;
    const addr = await nodeAddress(docker, t.NodeID);
    if (addr) out.add(addr);
  }
  return [...out].sort();
}

interface SwarmTask {
  NodeID?: string;
  Status?: { State?: string; ContainerStatus?: { ContainerID?: string } };
}

/**
 * A remote swarm's running tasks of a service, each with a client for the engine of the
 * node that runs it: the node's address and the same port as the manager's (every engine
 * of a `pgmesh lab` listens there on the lab's private network). The first node is the
 * one the client talks to, when it holds a task.
 */
async function runningTasksElsewhere(
  docker: Docker,
  service: string,
): Promise<Array<{ engine: Docker; containerId: string }>> {
  const modem = docker.modem as { host?: string; port?: number };
  const tasks = (
    (await docker.listTasks({
      filters: { service: [service], 'desired-state': ['running'] },
    })) as SwarmTask[]
  ).filter(
    (t) => t.Status?.State === 'running' && t.Status.ContainerStatus?.ContainerID && t.NodeID,
  );
  const out: Array<{ engine: Docker; containerId: string; local: boolean }> = [];
  for (const t of tasks) {
    const addr = await nodeAddress(docker, t.NodeID ?? '');
    if (!addr) continue;
    out.push({
      engine:
        addr === modem.host
          ? docker
          : new Docker({ host: addr, port: modem.port ?? 2375, protocol: 'http' }),
      containerId: t.Status?.ContainerStatus?.ContainerID ?? '',
      local: addr === modem.host,
    });
  }
  return out.sort((a, b) => Number(b.local) - Number(a.local));
}

/** Docker's HTTP errors carry a statusCode; this keeps the check in one place. */
export function isNotFound(err: unknown): boolean {
  return (
    typeof err === 'object' && err !== null && (err as { statusCode?: number }).statusCode === 404
  );
}

export function isConflict(err: unknown): boolean {
  return (
    typeof err === 'object' && err !== null && (err as { statusCode?: number }).statusCode === 409
  );
}

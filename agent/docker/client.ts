import Docker from 'dockerode';
import { PassThrough } from 'node:stream';
import { DockerError } from '../core/errors.js';

export type { Docker };

export function createDocker(
  socketPath = process.env.DOCKER_SOCKET ?? '/var/run/docker.sock',
): Docker {
  return new Docker({ socketPath });
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
  const containers = (await serviceContainers(docker, service)).filter(
    (c) => c.state === 'running',
  );
  const first = containers[0];
  if (!first) throw new DockerError(`no running container of service ${service} on this node`);
  return execIn(docker, first.id, cmd, options);
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

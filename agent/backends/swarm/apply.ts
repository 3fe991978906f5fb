import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { ApplyFailedError, RolledBackError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { waitFor } from '../../core/wait.js';
import { isConflict, isNotFound } from '../../docker/client.js';
import type { DesiredService, ServiceShape, SwarmAction } from './types.js';
import { describeAction } from './plan.js';

export interface SwarmApplyOptions {
  docker: Docker;
  log: Logger;
  /** How long one service may take to converge after a create or update. */
  convergeTimeoutMs?: number;
  /** Receives a generated secret's value once, at creation (the CLI keeps it for the user). */
  onSecretCreated?: (name: string, value: string) => Promise<void> | void;
  onProgress?: (line: string) => void;
}

const NS = 1_000_000_000;

async function idByName(
  list: () => Promise<Array<{ ID: string; Spec?: { Name?: string } }>>,
  name: string,
  what: string,
): Promise<string> {
  const found = (await list()).find((x) => x.Spec?.Name === name);
  if (!found) throw new ApplyFailedError(`${what} ${name} does not exist`);
  return found.ID;
}

/** Builds Docker's ServiceSpec from a shape, resolving names of configs/secrets/networks. */
async function toServiceSpec(
  docker: Docker,
  service: DesiredService,
): Promise<Docker.CreateServiceOptions> {
  const s: ServiceShape = service.shape;
  const configs = await docker.listConfigs();
  const secrets = await docker.listSecrets();
  const networks = await docker.listNetworks();
  const networkId = (name: string): string => {
    const n = networks.find((x) => x.Name === name);
    if (!n) throw new ApplyFailedError(`network ${name} does not exist`);
    return n.Id;
  };
  return {
    Name: service.name,
    Labels: s.labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: s.image,
        ...(s.command.length > 0 ? { Command: s.command } : {}),
        ...(s.args.length > 0 ? { Args: s.args } : {}),
        Env: s.env,
        ...(s.hostname ? { Hostname: s.hostname } : {}),
        // Labels on the volumes Swarm creates let `down --volumes` find them.
        Mounts: s.mounts.map(
          (m) =>
            ({
              Type: m.type,
              Source: m.source,
              Target: m.target,
              ReadOnly: m.readOnly,
              ...(m.type === 'volume' ? { VolumeOptions: { Labels: s.labels } } : {}),
            }) as Docker.MountSettings,
        ),
        Configs: await Promise.all(
          s.configs.map(async (c) => ({
            File: { Name: c.target, UID: '0', GID: '0', Mode: c.mode ?? 0o444 },
            ConfigID: await idByName(async () => configs, c.name, 'config'),
            ConfigName: c.name,
          })),
        ),
        Secrets: await Promise.all(
          s.secrets.map(async (c) => ({
            File: { Name: c.target, UID: '0', GID: '0', Mode: c.mode ?? 0o400 },
            SecretID: await idByName(async () => secrets, c.name, 'secret'),
            SecretName: c.name,
          })),
        ),
        StopGracePeriod: 30 * NS,
        ...(s.dnsOptions.length > 0 ? { DNSConfig: { Options: s.dnsOptions } } : {}),
      },
      Networks: s.networks.map((n) => ({ Target: networkId(n) })),
      Placement: {
        Constraints: s.constraints,
        ...(s.maxReplicasPerNode > 0 ? { MaxReplicas: s.maxReplicasPerNode } : {}),
      },
      RestartPolicy: { Condition: 'any', Delay: 2 * NS, MaxAttempts: 0 },
      ...(s.memoryLimitBytes > 0
        ? { Resources: { Limits: { MemoryBytes: s.memoryLimitBytes } } }
        : {}),
    },
    Mode: { Replicated: { Replicas: s.replicas } },
    // Stateful members share nothing but their volume: never start a second task on
    // the same volume before the old one stopped (stop-first), one member at a time.
    UpdateConfig: {
      Parallelism: 1,
      Delay: 1 * NS,
      FailureAction: 'rollback',
      Monitor: 10 * NS,
      Order: 'stop-first',
    },
    RollbackConfig: {
      Parallelism: 1,
      FailureAction: 'pause',
      Monitor: 10 * NS,
      Order: 'stop-first',
    },
    // No virtual IPs here (no IPVS): names resolve to task IPs, ports bind on the host.
    EndpointSpec: {
      Mode: 'dnsrr',
      Ports: s.ports.map((p) => ({
        Protocol: p.protocol,
        TargetPort: p.target,
        PublishedPort: p.published,
        PublishMode: p.mode,
      })),
    },
  };
}

/** Waits until every desired task of the service runs, or reports a rollback. */
export async function waitConverged(
  docker: Docker,
  name: string,
  options: { timeoutMs: number; onProgress?: (line: string) => void },
): Promise<void> {
  let lastLine = '';
  await waitFor(
    async () => {
      const svc = await docker.getService(name).inspect();
      const state = svc.UpdateStatus?.State;
      if (
        state === 'rollback_started' ||
        state === 'rollback_completed' ||
        state === 'rollback_paused' ||
        state === 'paused'
      ) {
        throw new RolledBackError(
          `service ${name}: Swarm ${state.replace('_', ' ')} the update: ${svc.UpdateStatus?.Message ?? 'no message'}`,
        );
      }
      const want = svc.Spec?.Mode?.Replicated?.Replicas ?? 0;
      const tasks = await docker.listTasks({
        filters: { service: [name], 'desired-state': ['running'] },
      });
      const running = tasks.filter((t) => t.Status?.State === 'running').length;
      const line = `${name}: ${running}/${want} running${state ? `, update ${state}` : ''}`;
      if (line !== lastLine) options.onProgress?.(line);
      lastLine = line;
      if (state === 'updating') return `update in progress (${running}/${want} running)`;
      const errors = tasks.map((t) => t.Status?.Err).filter((e): e is string => Boolean(e));
      if (running === want && tasks.length === want) return true;
      return `${running}/${want} tasks running${errors.length ? ` (last error: ${errors[errors.length - 1]})` : ''}`;
    },
    { what: `service ${name} to converge`, timeoutMs: options.timeoutMs, intervalMs: 1000 },
  );
}

/** Performs one action, idempotently: an action already done is a success. */
export async function applySwarmAction(
  action: SwarmAction,
  options: SwarmApplyOptions,
): Promise<void> {
  const { docker, log } = options;
  const timeoutMs = options.convergeTimeoutMs ?? 300_000;
  log.info({ backend: 'swarm', action: action.kind, resource: action.name }, 'apply');
  options.onProgress?.(describeAction(action));
  try {
    switch (action.kind) {
      case 'create-network':
        await docker.createNetwork({
          Name: action.name,
          Driver: 'overlay',
          Attachable: true,
          Labels: action.network.labels,
          CheckDuplicate: true,
        });
        return;
      case 'create-secret': {
        const value = randomBytes(action.secret.generate.bytes).toString('base64url');
        await docker.createSecret({
          Name: action.name,
          Labels: action.secret.labels,
          Data: Buffer.from(value).toString('base64'),
        });
        await options.onSecretCreated?.(action.name, value);
        return;
      }
      case 'create-config':
        await docker.createConfig({
          Name: action.name,
          Labels: action.config.labels,
          Data: Buffer.from(action.config.data).toString('base64'),
        });
        return;
      case 'create-service':
        await docker.createService(await toServiceSpec(docker, action.service));
        await waitConverged(docker, action.name, { timeoutMs, onProgress: options.onProgress });
        return;
      case 'update-service': {
        const svc = docker.getService(action.name);
        const current = await svc.inspect();
        const spec = await toServiceSpec(docker, action.service);
        await svc.update({ ...spec, version: current.Version?.Index });
        await waitConverged(docker, action.name, { timeoutMs, onProgress: options.onProgress });
        return;
      }
      case 'remove-service':
        await docker.getService(action.name).remove();
        return;
      case 'remove-config':
        await docker.getConfig(action.name).remove();
        return;
    }
  } catch (err) {
    if (action.kind.startsWith('create-') && action.kind !== 'create-service' && isConflict(err)) {
      return;
    }
    if (action.kind === 'create-service' && isConflict(err)) {
      await waitConverged(docker, action.name, { timeoutMs, onProgress: options.onProgress });
      return;
    }
    if (action.kind.startsWith('remove-') && isNotFound(err)) return;
    if (err instanceof RolledBackError) throw err;
    log.error(
      { backend: 'swarm', action: action.kind, resource: action.name, err },
      'apply failed',
    );
    throw new ApplyFailedError(`${describeAction(action)}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

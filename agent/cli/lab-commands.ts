/** `pgmesh lab up|status|down`: a multi-host Swarm of Docker-in-Docker hosts (agent/lab/). */
import type { Command } from 'commander';
import { NotDeployedError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { DEFAULT_LAB } from '../lab/layout.js';
import { labDown, labStatus, labUp, localEngine, type LabStatus } from '../lab/lab.js';
import { BASE_IMAGE, repoRoot } from './host.js';
import { info, json, out, progress, table } from './output.js';

function renderLab(s: LabStatus): string {
  const rows = [
    ['HOST', 'ADDRESS', 'CONTAINER', 'ROLE', 'NODE', 'AVAILABILITY', 'MANAGER'],
    ...s.hosts.map((h) => [
      h.hostname,
      h.ip,
      h.state,
      h.role,
      h.node?.state ?? '-',
      h.node?.availability ?? '-',
      h.node?.manager || '-',
    ]),
  ];
  return [
    table(rows),
    '',
    `registry:    ${s.registry.address} (${s.registry.state})`,
    s.dockerHost
      ? `docker host: export DOCKER_HOST=${s.dockerHost}   # then: pgmesh up`
      : 'docker host: no manager is running',
  ].join('\n');
}

export function registerLabCommands(program: Command): void {
  const lab = program
    .command('lab')
    .description('a local multi-host lab: Docker-in-Docker hosts in one Swarm, with a registry');
  const nameOption = (c: Command): Command =>
    c.option('--name <name>', 'prefix of the lab’s containers, network and data', DEFAULT_LAB.name);

  nameOption(
    lab
      .command('up')
      .description(
        'create the hosts, the registry and the swarm (host 1 manager; 3 managers from 3 hosts)',
      )
      .option('--hosts <n>', 'number of hosts', String(DEFAULT_LAB.hosts))
      .option('--subnet <cidr>', 'the lab network (a /24)', DEFAULT_LAB.subnet)
      .option(
        '--registry-port <port>',
        'the registry’s port on loopback',
        String(DEFAULT_LAB.registryPort),
      ),
  ).action(async (opts: { hosts: string; subnet: string; registryPort: string; name: string }) => {
    const started = Date.now();
    const outer = localEngine();
    await labUp(
      {
        outer,
        log: createLogger({ level: process.env.PGMESH_LOG_LEVEL ?? 'warn' }),
        onProgress: progress('lab: '),
        repoRoot: repoRoot(),
        baseImage: BASE_IMAGE,
      },
      {
        name: opts.name,
        hosts: Number(opts.hosts),
        subnet: opts.subnet,
        registryPort: Number(opts.registryPort),
      },
    );
    const status = await labStatus(outer, opts.name);
    if (status) out(renderLab(status));
    info(`lab ${opts.name} is up (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  });

  nameOption(lab.command('status').description('hosts, their swarm nodes and the registry'))
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (opts: { name: string; output: string }) => {
      const status = await labStatus(localEngine(), opts.name);
      if (!status) throw new NotDeployedError(`no lab named ${opts.name}; \`pgmesh lab up\``);
      if (opts.output === 'json') json(status);
      else out(renderLab(status));
    });

  nameOption(
    lab
      .command('down')
      .description('remove the hosts (and every cluster on them), the registry and their data'),
  ).action(async (opts: { name: string }) => {
    await labDown(localEngine(), opts.name, progress('lab: '));
    info(`lab ${opts.name} removed`);
  });
}

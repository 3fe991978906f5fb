#!/usr/bin/env node
import { spawn } from 'node:child_process';
import { Command, Option } from 'commander';
import { PgmeshError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/log.js';
import { createDocker } from '../docker/client.js';
import { loadManifestSet } from '../manifests/load.js';
import {
  APPLY_PAUSE_BY,
  applyCluster,
  downCluster,
  holdPause,
  releasePause,
  planCluster,
  releaseDownPause,
  waitHealthy,
} from './ops.js';
import { readClusterStatus } from './health.js';
import { groupServiceName } from '../core/names.js';
import { info, json, out, progress } from './output.js';
import { ensureHost, repoRoot, resolveImages } from './host.js';
import { pgpassPath, readPassword, secretSink, forgetState } from './state.js';
import { renderStatus, connectionLines } from './render-status.js';
import { serviceContainers } from '../docker/client.js';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import type { ManifestSet } from '../manifests/types.js';
import { localRepositoryPath } from '../core/names.js';
import { ensureLocalRepository, loadFromRepository, removeLocalRepository } from './repo.js';
import { callAgent } from './agent-api.js';
import { configFromEnv } from '../daemon/config.js';
import { startAgent } from '../daemon/run.js';
import { progressLines } from '../report/progress.js';
import { renderText } from '../report/text.js';
import type { DriftReport } from '../report/model.js';
import { userInfo } from 'node:os';
import type { PauseInfo } from '../gate/pause.js';
import { registerBenchCommands } from '../bench/cli.js';
import { locateCluster, recordCluster } from './locate.js';
import { addExamples, bashCompletion } from './help.js';
import { confirm } from './confirm.js';
import { cliVersion, wantsJson } from './meta.js';
import { ManifestInvalidError } from '../core/errors.js';
import { renderHistory } from './render-history.js';
import { driftExitCode } from './exit-codes.js';
import type { RevisionRecord } from '../report/history.js';
import { registerMcpCommand } from './mcp.js';

const program = new Command();
program
  .name('pgmesh')
  .description('A distributed PostgreSQL cluster on Docker Swarm, converged from manifests')
  .version(cliVersion(), '-V, --version')
  .showHelpAfterError();

const manifestsOption = (): Option =>
  new Option(
    '-m, --manifests <dir>',
    "folder of manifests (default: the cluster's Git repository made by `up`, else ./manifests)",
  );

const defaultManifests = (): string => join(repoRoot(), 'manifests');

const clusterOption = (): Option =>
  new Option(
    '-c, --cluster <name>',
    'the cluster to act on (default: $PGMESH_CLUSTER, else the one `up` recorded in ~/.pgmesh)',
  );

/**
 * The running cluster for commands that must work whatever the Git tip holds (pause,
 * resume, status, drift, psql, history): never the tip, see locate.ts.
 */
function runningCluster(opts: { cluster?: string; manifests?: string }) {
  return locateCluster({
    cluster: opts.cluster,
    manifests: opts.manifests,
    defaultManifests: defaultManifests(),
  });
}

/**
 * Images for the set (built or reused), then the Swarm side applied, with progress lines.
 * A running agent is paused meanwhile: it renders with its own (possibly older) code and
 * would otherwise remove what this apply creates; the apply rolls the agent to the new
 * image, and the pause is released after (unless someone else had pulled it).
 */
async function buildAndApply(set: ManifestSet, log: Logger) {
  const images = await resolveImages(set.cluster, { onProgress: progress('build: ') });
  const docker = createDocker();
  const cluster = set.cluster.metadata.name;
  const held = await holdPause(docker, cluster, APPLY_PAUSE_BY, 'the CLI is applying');
  if (held) info('paused the agent while the CLI applies');
  try {
    const actions = await applyCluster(set, images, {
      docker,
      log,
      onProgress: progress('apply: '),
      onSecretCreated: secretSink(set.cluster),
    });
    return { docker, actions };
  } finally {
    if (held && (await releasePause(docker, cluster, APPLY_PAUSE_BY)))
      info('released the pause; the agent acts again');
  }
}

/**
 * The manifest set a command acts on: the folder given, else the tip of the local Git
 * repository the agent follows (what the agent would do), else the repository's manifests/.
 */
async function resolveSet(dir: string | undefined): Promise<ManifestSet> {
  if (dir) return loadManifestSet(dir);
  const fallback = await loadManifestSet(defaultManifests());
  const repo = fallback.cluster.spec.agent.repository;
  const local = localRepositoryPath(fallback.cluster.metadata.name);
  if (repo.url || !existsSync(local)) return fallback;
  return (await loadFromRepository(local, repo.branch, repo.path)).set;
}
const outputOption = (): Option =>
  new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text');

program
  .command('up')
  .description('set up the host, build images, deploy the cluster and wait until it is healthy')
  .addOption(manifestsOption())
  .option('--timeout <seconds>', 'how long to wait for a healthy cluster', '900')
  .action(async (opts: { manifests?: string; timeout: string }) => {
    const started = Date.now();
    const log = createLogger({ level: process.env.PGMESH_LOG_LEVEL ?? 'warn' });
    const dir = opts.manifests ?? defaultManifests();
    let set = await loadManifestSet(dir);
    await ensureHost(progress('host: '));
    const repo = set.cluster.spec.agent.repository;
    let repoNote = '';
    if (!repo.url) {
      const local = await ensureLocalRepository(set.cluster.metadata.name, dir, repo.branch);
      const tip = await loadFromRepository(local.path, repo.branch, repo.path);
      if (!local.created && tip.set.digest !== set.digest) {
        info(
          `using the manifests at ${local.path} (commit ${tip.commit.slice(0, 8)}), which the agent follows; ${dir} is only read on the first up`,
        );
      }
      set = tip.set;
      repoNote = `manifests:  git clone ${local.path}; edit; git push (the agent applies each commit)`;
    }
    const m = set.cluster;
    const { docker, actions } = await buildAndApply(set, log);
    info(
      `applied ${actions.length} change${actions.length === 1 ? '' : 's'}; waiting for the cluster to be healthy`,
    );
    const status = await waitHealthy(docker, m, {
      timeoutMs: Number(opts.timeout) * 1000,
      onProgress: progress('health: '),
    });
    await readPassword(docker, m);
    await recordCluster(m);
    if (await releaseDownPause(docker, m)) info('released the pause that `pgmesh down` left');
    out(renderStatus(m, status));
    out('');
    for (const line of connectionLines(m, pgpassPath(m.metadata.name))) out(line);
    if (repoNote) out(repoNote);
    if (m.spec.agent.replicas > 0)
      out(`agent:      http://127.0.0.1:${m.spec.agent.port}/drift (pgmesh drift)`);
    info(`cluster ${m.metadata.name} is healthy (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  });

program
  .command('down')
  .description("remove the cluster's services (and with --volumes its data and secrets)")
  .addOption(clusterOption())
  .addOption(manifestsOption())
  .option('--volumes', 'also remove data volumes and generated secrets', false)
  .option('-y, --yes', 'do not ask before removing volumes (for scripts)', false)
  .action(
    async (opts: { cluster?: string; manifests?: string; volumes: boolean; yes: boolean }) => {
      const name = (await runningCluster(opts)).metadata.name;
      if (opts.volumes && !opts.yes) {
        await confirm(
          `This deletes cluster ${name}'s data volumes, secrets and manifests repository. Type the cluster name to go on: `,
          name,
        );
      }
      const docker = createDocker();
      await downCluster(docker, name, { volumes: opts.volumes, onProgress: progress('down: ') });
      if (opts.volumes) {
        await forgetState(name);
        await removeLocalRepository(name);
      }
      info(`cluster ${name} removed${opts.volumes ? ' with its volumes' : ''}`);
    },
  );

program
  .command('validate')
  .description('check a manifests folder offline (no cluster, no Docker): for CI and pre-commit')
  .addOption(manifestsOption())
  .addOption(outputOption())
  .action(async (opts: { manifests?: string; output: string }) => {
    const dir = opts.manifests ?? defaultManifests();
    try {
      const set = await loadManifestSet(dir);
      if (opts.output === 'json')
        json({ ok: true, cluster: set.cluster.metadata.name, digest: set.digest, problems: [] });
      else out(`${dir}: valid (cluster ${set.cluster.metadata.name}, ${set.digest.slice(0, 19)})`);
    } catch (err) {
      if (!(err instanceof ManifestInvalidError)) throw err;
      if (opts.output === 'json') json({ ok: false, problems: err.problems });
      else for (const p of err.problems) out(`${p.file}: ${p.field}: ${p.reason}`);
      process.exitCode = 1;
    }
  });

program
  .command('status')
  .description('members, roles, states and lag per group; HAProxy backends')
  .addOption(clusterOption())
  .addOption(manifestsOption())
  .addOption(outputOption())
  .action(async (opts: { cluster?: string; manifests?: string; output: string }) => {
    const m = await runningCluster(opts);
    const status = await readClusterStatus(createDocker(), m);
    const pause = (await callAgent(createDocker(), m, 'GET', '/api/pause').catch(() => null)) as {
      paused: PauseInfo | null;
    } | null;
    if (opts.output === 'json') json({ ...status, paused: pause?.paused ?? null });
    else {
      out(renderStatus(m, status));
      if (pause?.paused)
        out(`\nPAUSED by ${pause.paused.by}: ${pause.paused.reason} (pgmesh resume to act again)`);
      // A rebalance's progress from the agent's latest report; no agent, no line.
      const report = (await callAgent(createDocker(), m, 'GET', '/api/drift').catch(
        () => null,
      )) as DriftReport | null;
      const lines = report ? progressLines(report) : [];
      if (lines.length > 0) out(['', ...lines].join('\n'));
    }
  });

program
  .command('plan')
  .description('show what apply would change (exit 0: nothing, 2: changes pending, 1: error)')
  .addOption(manifestsOption())
  .addOption(outputOption())
  .action(async (opts: { manifests?: string; output: string }) => {
    const set = await resolveSet(opts.manifests);
    const images = await resolveImages(set.cluster);
    const plan = await planCluster(createDocker(), set, images);
    if (opts.output === 'json') {
      json({
        commit: set.digest,
        actions: plan.actions.map(({ key, backend, summary, risk }) => ({
          key,
          backend,
          summary,
          risk,
        })),
        refusals: plan.refusals,
        drift: plan.drift,
      });
    } else {
      for (const a of plan.actions) out(`  ~ ${a.summary}`);
      for (const r of plan.refusals) out(`  ! refused ${r.resource}: ${r.reason}`);
      out(
        plan.actions.length === 0 && plan.refusals.length === 0
          ? 'No changes. The cluster matches the manifests.'
          : `Plan: ${plan.actions.length} change${plan.actions.length === 1 ? '' : 's'}${plan.refusals.length ? `, ${plan.refusals.length} refused` : ''}.`,
      );
    }
    if (plan.refusals.length > 0) process.exitCode = 1;
    else if (plan.actions.length > 0) process.exitCode = 2;
  });

program
  .command('apply')
  .description('apply the manifests now (one cycle) and wait until healthy')
  .addOption(manifestsOption())
  .option('--timeout <seconds>', 'how long to wait for a healthy cluster', '600')
  .action(async (opts: { manifests?: string; timeout: string }) => {
    const log = createLogger({ level: process.env.PGMESH_LOG_LEVEL ?? 'warn' });
    const set = await resolveSet(opts.manifests);
    const m = set.cluster;
    const { docker, actions } = await buildAndApply(set, log);
    for (const a of actions) out(`  ✓ ${a.summary}`);
    out(`Applied ${actions.length} change${actions.length === 1 ? '' : 's'}.`);
    if (actions.length > 0) {
      await waitHealthy(docker, m, {
        timeoutMs: Number(opts.timeout) * 1000,
        onProgress: progress('health: '),
      });
    }
  });

program
  .command('psql')
  .description('open psql on the read-write endpoint (extra arguments go to psql)')
  .addOption(clusterOption())
  .addOption(manifestsOption())
  .option('--read-only', 'connect to the read-only endpoint', false)
  .allowUnknownOption(true)
  .argument('[psqlArgs...]')
  .action(
    async (
      psqlArgs: string[],
      opts: { cluster?: string; manifests?: string; readOnly: boolean },
    ) => {
      const m = await runningCluster(opts);
      const docker = createDocker();
      await readPassword(docker, m);
      const port = opts.readOnly ? m.spec.haproxy.ports.readOnly : m.spec.haproxy.ports.readWrite;
      const args = [
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        'postgres',
        '-d',
        m.spec.postgres.database,
        ...psqlArgs,
      ];
      const child = spawn('psql', args, {
        stdio: 'inherit',
        env: { ...process.env, PGPASSFILE: pgpassPath(m.metadata.name) },
      });
      child.on('error', async () => {
        // No psql on this host: use the one inside a coordinator, through HAProxy's address.
        const [c] = await serviceContainers(
          docker,
          groupServiceName(m.metadata.name, m.spec.coordinator.name),
        );
        if (!c)
          throw new PgmeshError(
            'PGMESH_NOT_DEPLOYED',
            'no psql on this host and no coordinator runs here',
          );
        const ex = spawn(
          'docker',
          [
            'exec',
            '-it',
            '-u',
            'postgres',
            c.id,
            'psql',
            '-d',
            m.spec.postgres.database,
            ...psqlArgs,
          ],
          { stdio: 'inherit' },
        );
        ex.on('exit', (code) => (process.exitCode = code ?? 1));
      });
      child.on('exit', (code) => (process.exitCode = code ?? 1));
    },
  );

const exitCodeOption = (): Option =>
  new Option(
    '--exit-code <bool>',
    'exit 2 when drifted, acting or blocked, 1 when failed or rejected',
  )
    .argParser((v) => v !== 'false')
    .default(true);

program
  .command('drift')
  .description(
    "the agent's latest drift report (exit 0: in sync, 2: drifted/acting/blocked, 1: failed/rejected)",
  )
  .addOption(clusterOption())
  .addOption(manifestsOption())
  .addOption(outputOption())
  .addOption(exitCodeOption())
  .action(
    async (opts: { cluster?: string; manifests?: string; output: string; exitCode: boolean }) => {
      const m = await runningCluster(opts);
      const report = (await callAgent(
        createDocker(),
        m,
        'GET',
        '/api/drift',
      )) as DriftReport | null;
      if (opts.output === 'json') json(report);
      else out(report ? renderText(report) : 'No report yet: the agent has not finished a cycle.');
      if (opts.exitCode) process.exitCode = driftExitCode(report?.status);
    },
  );

program
  .command('history')
  .description('one line per revision of the manifests: when first seen, outcome, actions, commit')
  .addOption(clusterOption())
  .addOption(manifestsOption())
  .addOption(outputOption())
  .option('--limit <n>', 'how many revisions, newest first', '50')
  .action(async (opts: { cluster?: string; manifests?: string; output: string; limit: string }) => {
    const m = await runningCluster(opts);
    const res = (await callAgent(
      createDocker(),
      m,
      'GET',
      `/api/history?limit=${Number(opts.limit) || 50}`,
    )) as { revisions: RevisionRecord[] };
    if (opts.output === 'json') json({ formatVersion: 1, revisions: res.revisions });
    else out(renderHistory(res.revisions));
  });

program
  .command('pause')
  .description('pull the emergency pause: no new action starts until `pgmesh resume`')
  .addOption(clusterOption())
  .addOption(manifestsOption())
  .requiredOption('--reason <text>', 'why (shown in every drift report while paused)')
  .action(async (opts: { cluster?: string; manifests?: string; reason: string }) => {
    const m = await runningCluster(opts);
    const by = `${userInfo().username}@cli`;
    await callAgent(createDocker(), m, 'POST', '/api/pause', { by, reason: opts.reason });
    out(`paused by ${by}: ${opts.reason}`);
  });

program
  .command('resume')
  .description('release the emergency pause')
  .addOption(clusterOption())
  .addOption(manifestsOption())
  .action(async (opts: { cluster?: string; manifests?: string }) => {
    const m = await runningCluster(opts);
    await callAgent(createDocker(), m, 'POST', '/api/resume');
    out('resumed');
  });

program
  .command('agent')
  .description('run the GitOps agent (the Swarm service runs this; configured by its environment)')
  .action(async () => {
    const log = createLogger({ level: process.env.PGMESH_LOG_LEVEL ?? 'info' });
    const running = await startAgent(configFromEnv(process.env), { docker: createDocker(), log });
    await new Promise<void>((resolve) => {
      for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
    });
    log.info('stopping');
    await running.close();
  });

registerBenchCommands(program);
registerMcpCommand(program);

program
  .command('completion')
  .description('print a shell completion script generated from the command tree')
  .argument('<shell>', 'bash (zsh: load it with bashcompinit)')
  .action((shell: string) => {
    if (shell !== 'bash') throw new Error(`completion for ${shell} is not generated; use bash`);
    out(bashCompletion(program));
  });

addExamples(program);

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (wantsJson(process.argv)) {
      // docs/errors.md: under -o json the error is JSON too, on stdout, with its code.
      json({
        error: {
          code: err instanceof PgmeshError ? err.code : 'PGMESH_ERROR',
          message: err instanceof Error ? err.message : String(err),
          ...(err instanceof ManifestInvalidError ? { problems: err.problems } : {}),
        },
      });
    } else if (err instanceof PgmeshError) {
      info(`error ${err.code}: ${err.message}`);
    } else {
      info(`error: ${err instanceof Error ? err.message : String(err)}`);
    }
    process.exitCode = 1;
  }
}

void main();

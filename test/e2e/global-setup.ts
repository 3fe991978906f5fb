import type { TestProject } from 'vitest/node';
import { runCli, type CliResult } from '../helpers/cli.js';

declare module 'vitest' {
  export interface ProvidedContext {
    up: CliResult & { seconds: number };
  }
}

/**
 * Brings the default cluster up once for every e2e file, the way the README says, from a
 * known state: whatever an earlier run left under the cluster's names is removed first
 * (PGMESH_E2E_REUSE=1 keeps it, for quicker runs while developing).
 */
export default async function setup(project: TestProject): Promise<void> {
  if (process.env.PGMESH_E2E_REUSE !== '1') {
    const down = await runCli(['down', '--volumes', '--yes']);
    // A first run on a fresh machine has nothing to remove, and may not even have Docker yet.
    if (down.code !== 0 && !/docker|socket|ENOENT|host/i.test(down.stderr)) {
      throw new Error(`pgmesh down --volumes --yes failed:\n${down.stderr}`);
    }
  }
  const started = Date.now();
  const up = await runCli(['up']);
  const seconds = (Date.now() - started) / 1000;
  process.stderr.write(`e2e setup: pgmesh up exited ${up.code} after ${seconds.toFixed(0)} s\n`);
  if (up.code !== 0) process.stderr.write(up.stderr.slice(-4000));
  project.provide('up', { ...up, seconds });
}

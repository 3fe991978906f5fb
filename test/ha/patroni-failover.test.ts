/**
 * Fenced fast failover against a real small cluster (`pgmtest-ha`): the coordinator
 * primary's container is killed with fenced failover on and off, and the seconds to the
 * next successful write through HAProxy are printed; a worker primary cut off the network
 * (no die event) is left to Patroni's ttl and never gives two writable primaries.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployHa, teardownHa, type HaCluster } from '../chaos/ha-cluster.js';
import { runTrial } from '../chaos/trial.js';

let h: HaCluster;
const say = (line: string): void => void process.stderr.write(`[failover] ${line}\n`);

beforeAll(async () => {
  h = await deployHa(say);
}, 900_000);

afterAll(async () => {
  if (h && process.env.PGMESH_HA_KEEP !== '1') await teardownHa(h.docker, h.m);
}, 300_000);

describe('fenced fast failover', () => {
  it('a killed coordinator primary: writes resume within seconds with fencing, after the ttl without', async () => {
    const on = await runTrial(h, 'kill-coord-primary', { fenced: true, trial: 1, log: say });
    const off = await runTrial(h, 'kill-coord-primary', { fenced: false, trial: 1, log: say });
    say(
      `kill coordinator primary: next write after ${on.recoverySeconds.toFixed(1)} s fenced, ${off.recoverySeconds.toFixed(1)} s without`,
    );
    expect(on.fence?.decision.act).toBe(true);
    expect(on.fence?.deleted).toBe(true);
    expect(on.recoverySeconds).toBeLessThan(10);
    expect(off.recoverySeconds).toBeGreaterThan(on.recoverySeconds);
    for (const r of [on, off]) {
      expect(r.lost).toBe(0);
      expect(r.maxPrimaries).toBeLessThanOrEqual(1);
    }
  }, 900_000);

  it('a worker primary cut off the network: no die event, no fencing, never two primaries', async () => {
    const r = await runTrial(h, 'cut-worker-primary', { fenced: true, trial: 1, log: say });
    expect(r.fence?.decision.act ?? false).toBe(false);
    expect(r.maxPrimaries).toBeLessThanOrEqual(1);
    expect(Number.isFinite(r.recoverySeconds)).toBe(true);
  }, 900_000);
});

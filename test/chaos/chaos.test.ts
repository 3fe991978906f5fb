/**
 * The chaos suite: every fault, several times, with fenced failover on and off where it
 * matters, against a small cluster of its own (`pgmtest-ha`). Writes its table to
 * docs/ha.md with the command that made it.
 *
 *   npm run test:chaos                                  # 20 trials per fault and mode
 *   PGMESH_CHAOS_TRIALS=3 npm run test:chaos            # fewer
 *   PGMESH_CHAOS_SMOKE=1 npx vitest run --project chaos # the smoke: one trial per fault, fenced on
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgents, stopAgents } from './agents.js';
import { deployHa, teardownHa, type HaCluster } from './ha-cluster.js';
import { FAULTS, runTrial, type Fault, type TrialResult } from './trial.js';
import { mergeRuns, renderTable, type ChaosRun } from './table.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SMOKE = process.env.PGMESH_CHAOS_SMOKE === '1';
const RUNS_FILE = path.join(REPO, 'docs/ha-chaos-runs.json');
const TRIALS = SMOKE ? 1 : Number(process.env.PGMESH_CHAOS_TRIALS ?? 20);
/**
 * Per fault (and mode) counts over TRIALS, e.g.
 * `PGMESH_CHAOS_TRIALS_FOR=kill-coord-primary:on=20,cut-worker-primary=20`.
 */
const TRIALS_FOR = new Map(
  (process.env.PGMESH_CHAOS_TRIALS_FOR ?? '')
    .split(',')
    .filter(Boolean)
    .map((kv) => {
      const [k, v] = kv.split('=');
      if (!k || !v || !Number.isInteger(Number(v)))
        throw new Error(`PGMESH_CHAOS_TRIALS_FOR: "${kv}" is not fault[:on|off]=count`);
      return [k, Number(v)] as const;
    }),
);
function trialsFor(fault: Fault, fenced: boolean): number {
  if (SMOKE) return 1;
  return TRIALS_FOR.get(`${fault}:${fenced ? 'on' : 'off'}`) ?? TRIALS_FOR.get(fault) ?? TRIALS;
}
const ONLY = (process.env.PGMESH_CHAOS_FAULTS ?? '').split(',').filter(Boolean) as Fault[];
/** Fencing only changes anything when a container dies. */
const MODES: Record<Fault, boolean[]> = {
  'kill-coord-primary': [true, false],
  'kill-worker-primary': [true, false],
  'kill-postgres': [true],
  'stop-etcd-member': [true],
  'cut-worker-primary': [true],
  // The agents' own fencing (deployed for this fault only, agents.ts).
  'kill-agent-leader': [true],
  'rolling-restart': [true],
};

let h: HaCluster;
const results: TrialResult[] = [];
const say = (line: string): void => void process.stderr.write(`[chaos] ${line}\n`);

beforeAll(async () => {
  h = await deployHa(say);
}, 900_000);

afterAll(async () => {
  if (results.length > 0) {
    const command = SMOKE
      ? 'PGMESH_CHAOS_SMOKE=1 npm run test:chaos'
      : `PGMESH_CHAOS_TRIALS=${TRIALS}${TRIALS_FOR.size ? ` PGMESH_CHAOS_TRIALS_FOR=${process.env.PGMESH_CHAOS_TRIALS_FOR}` : ''}${ONLY.length ? ` PGMESH_CHAOS_FAULTS=${ONLY.join(',')}` : ''} npm run test:chaos`;
    const run: ChaosRun = { command, date: new Date().toISOString(), results };
    if (SMOKE || process.env.PGMESH_CHAOS_WRITE_DOCS === '0') {
      process.stderr.write(`${renderTable([run])}\n`);
    } else {
      // Every trial of the runs the table shows, so a partial run replaces only its rows.
      const earlier = JSON.parse(await readFile(RUNS_FILE, 'utf8').catch(() => '[]')) as ChaosRun[];
      const runs = mergeRuns(earlier, run);
      await writeFile(RUNS_FILE, `${JSON.stringify(runs, null, 1)}\n`);
      const table = renderTable(runs);
      process.stderr.write(`${table}\n`);
      const file = path.join(REPO, 'docs/ha.md');
      const doc = await readFile(file, 'utf8');
      const begin = '<!-- chaos:begin -->';
      const end = '<!-- chaos:end -->';
      if (doc.includes(begin) && doc.includes(end)) {
        const next = `${doc.slice(0, doc.indexOf(begin) + begin.length)}\n${table}\n${doc.slice(doc.indexOf(end))}`;
        await writeFile(file, next);
      }
    }
  }
  if (h && process.env.PGMESH_HA_KEEP !== '1') await teardownHa(h.docker, h.m);
}, 600_000);

describe(`chaos: ${TRIALS} trial(s) per fault unless PGMESH_CHAOS_TRIALS_FOR says otherwise`, () => {
  for (const fault of FAULTS.filter((f) => ONLY.length === 0 || ONLY.includes(f))) {
    for (const fenced of SMOKE ? [true] : MODES[fault]) {
      it(`${fault}, fenced failover ${fenced ? 'on' : 'off'}`, async () => {
        const agents = fault === 'kill-agent-leader';
        if (agents) await startAgents(h, say);
        try {
          for (let trial = 1; trial <= trialsFor(fault, fenced); trial++) {
            const r = await runTrial(h, fault, { fenced, trial, log: say });
            results.push(r);
            expect(r.maxPrimaries, 'two writable primaries in one group').toBeLessThanOrEqual(1);
            expect(Number.isFinite(r.recoverySeconds), 'writes never resumed').toBe(true);
            if (r.scope === h.m.spec.coordinator.name)
              expect(r.lost, 'acknowledged rows lost').toBe(0);
            if (fault === 'rolling-restart') {
              expect(r.maxDown, 'members down at once').toBeLessThanOrEqual(1);
              expect(r.restart?.actions).toContain('switchover');
            }
          }
        } finally {
          // The other faults fence in the test process, with no agent running.
          if (agents) await stopAgents(h, say);
        }
      }, 3_600_000);
    }
  }
});

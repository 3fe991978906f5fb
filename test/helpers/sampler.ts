/**
 * Background sampling for the HA tests: how many members were primary, or down, at once.
 */
import type { ClusterManifest } from '../../agent/manifests/types.js';

/** The member count the manifest gives a group (the coordinators' or a worker group's). */
export function groupMembers(m: ClusterManifest, group: string): number {
  return group === m.spec.coordinator.name
    ? m.spec.coordinator.members
    : (m.spec.workerGroups.find((g) => g.name === group)?.members ?? 0);
}

/**
 * Runs `sample` every `intervalMs` until stopped; stop() waits for the sample in flight
 * and returns the largest value seen for each key (0 for none).
 */
export function sampleMaxima<K extends string>(
  keys: readonly K[],
  intervalMs: number,
  sample: () => Promise<Record<K, number>>,
): { stop(): Promise<Record<K, number>> } {
  const max = Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const values = await sample();
      for (const k of keys) max[k] = Math.max(max[k], values[k]);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return max;
    },
  };
}

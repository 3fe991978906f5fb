/**
 * Checks of a PatroniConfig that JSON Schema cannot express: Patroni's timing rule, the
 * scope names a group of the Cluster manifest, one document per scope. Run by the
 * manifest loader on schema-valid documents (agent/manifests/kinds.ts).
 */
import type { FieldProblem } from '../../manifests/kinds.js';
import type { Manifest, PatroniConfigManifest } from '../../manifests/types.js';

export function checkPatroniConfig(
  m: PatroniConfigManifest,
  documents: readonly Manifest[],
): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const { spec } = m;
  const cluster = documents.find((d) => d.kind === 'Cluster');
  const fallback = cluster?.kind === 'Cluster' ? cluster.spec.patroni : undefined;
  const ttl = spec.ttl ?? fallback?.ttl;
  const loopWait = spec.loop_wait ?? fallback?.loopWait;
  const retryTimeout = spec.retry_timeout ?? fallback?.retryTimeout;
  const declared =
    spec.ttl !== undefined || spec.loop_wait !== undefined || spec.retry_timeout !== undefined;
  if (declared && ttl !== undefined && loopWait !== undefined && retryTimeout !== undefined) {
    if (loopWait + 2 * retryTimeout > ttl) {
      const field =
        spec.ttl !== undefined
          ? '/spec/ttl'
          : spec.loop_wait !== undefined
            ? '/spec/loop_wait'
            : '/spec/retry_timeout';
      problems.push({
        field,
        reason: `loop_wait + 2 × retry_timeout must not exceed ttl (Patroni's rule): ${loopWait} + 2 × ${retryTimeout} = ${loopWait + 2 * retryTimeout} > ${ttl}`,
      });
    }
  }
  if (cluster?.kind === 'Cluster') {
    const groups = [
      cluster.spec.coordinator.name,
      ...cluster.spec.workerGroups.filter((g) => !g.remove).map((g) => g.name),
    ];
    if (!groups.includes(spec.scope)) {
      problems.push({
        field: '/spec/scope',
        reason: `scope "${spec.scope}" is not a group of the Cluster manifest (${groups.join(', ')})`,
      });
    }
  }
  const first = documents.find(
    (d): d is PatroniConfigManifest => d.kind === 'PatroniConfig' && d.spec.scope === spec.scope,
  );
  if (first && first !== m) {
    problems.push({
      field: '/spec/scope',
      reason: `scope "${spec.scope}" already has a PatroniConfig ("${first.metadata.name}"); one per scope`,
    });
  }
  return problems;
}

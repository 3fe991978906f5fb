/**
 * Every etcd key the agent uses, in one place. All live under `/pgmesh/<cluster>/` so a
 * cluster's keys can be listed, watched or removed as one prefix.
 */

const CLUSTER_NAME = /^[a-z0-9][a-z0-9_.-]*$/i;

export function clusterPrefix(cluster: string): string {
  if (!CLUSTER_NAME.test(cluster)) {
    throw new RangeError(`invalid cluster name for etcd keys: ${JSON.stringify(cluster)}`);
  }
  return `/pgmesh/${cluster}/`;
}

/** The emergency pause: JSON `{by, reason, since}`, or a plain string set with etcdctl. */
export function pauseKey(cluster: string): string {
  return `${clusterPrefix(cluster)}pause`;
}

/** Held by the acting agent replica, attached to its lease. */
export function leaderKey(cluster: string): string {
  return `${clusterPrefix(cluster)}leader`;
}

export function reportsPrefix(cluster: string): string {
  return `${clusterPrefix(cluster)}reports/`;
}

/** Sequence numbers are zero-padded so that etcd's byte order is numeric order. */
export function reportKey(cluster: string, seq: number): string {
  return `${reportsPrefix(cluster)}${String(seq).padStart(12, '0')}`;
}

export function parseReportSeq(cluster: string, key: string): number | null {
  const prefix = reportsPrefix(cluster);
  if (!key.startsWith(prefix)) return null;
  const n = Number(key.slice(prefix.length));
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

export function journalPrefix(cluster: string): string {
  return `${clusterPrefix(cluster)}journal/`;
}

/** Idempotency keys may hold `/` or `:`; they are encoded so that one key is one etcd key. */
export function journalKey(cluster: string, idempotencyKey: string): string {
  if (idempotencyKey.length === 0) throw new RangeError('an idempotency key must not be empty');
  return `${journalPrefix(cluster)}${encodeURIComponent(idempotencyKey)}`;
}

export function parseJournalKey(cluster: string, key: string): string | null {
  const prefix = journalPrefix(cluster);
  return key.startsWith(prefix) ? decodeURIComponent(key.slice(prefix.length)) : null;
}

export function revisionsPrefix(cluster: string): string {
  return `${clusterPrefix(cluster)}revisions/`;
}

/**
 * One key per revision, ordered by when it was first seen (zero-padded milliseconds), so
 * the newest is one sorted read away and trimming drops a prefix of the order.
 */
export function revisionKey(cluster: string, firstSeenMs: number, revision: string): string {
  return `${revisionsPrefix(cluster)}${String(firstSeenMs).padStart(15, '0')}-${encodeURIComponent(revision)}`;
}

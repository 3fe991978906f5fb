import type { ClusterStatus } from './health.js';
import type { ClusterManifest } from '../manifests/types.js';
import { table } from './output.js';

function lag(bytes: number | undefined): string {
  if (bytes === undefined) return '?';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} kB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** Pure: the status table the CLI prints. */
export function renderStatus(m: ClusterManifest, status: ClusterStatus): string {
  const rows: string[][] = [['GROUP', 'MEMBER', 'ROLE', 'STATE', 'LAG', 'ADDRESS']];
  for (const g of status.groups) {
    if (g.members.length === 0) rows.push([g.scope, '-', '-', 'no members', '-', '-']);
    for (const mem of g.members) {
      rows.push([
        g.scope,
        mem.name,
        mem.role,
        mem.replicationState ?? mem.state,
        mem.role === 'primary' ? '-' : lag(mem.lagBytes),
        mem.host,
      ]);
    }
  }
  const ha: string[][] = [['HAPROXY BACKEND', 'SERVER', 'STATUS', 'ADDRESS']];
  for (const s of status.haproxy) ha.push([s.backend, s.server, s.status, s.address]);
  return `Cluster ${m.metadata.name}\n\n${table(rows)}\n\n${status.haproxy.length ? table(ha) : 'HAProxy: no stats (is it running?)'}`;
}

export function connectionLines(m: ClusterManifest, pgpass: string): string[] {
  const { readWrite, readOnly, stats } = m.spec.haproxy.ports;
  const db = m.spec.postgres.database;
  return [
    `read-write: postgresql://postgres@127.0.0.1:${readWrite}/${db}`,
    `read-only:  postgresql://postgres@127.0.0.1:${readOnly}/${db}`,
    `stats:      http://127.0.0.1:${stats}/stats`,
    `password:   in ${pgpass} (export PGPASSFILE=${pgpass}), or run: pgmesh psql`,
  ];
}

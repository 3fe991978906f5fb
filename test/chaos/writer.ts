/**
 * A writer of numbered rows, run as a container on the cluster's overlay network so it
 * reaches what clients reach: HAProxy's read-write port for the coordinator group, or a
 * worker group's members by DNS with `target_session_attrs=read-write` (the way the
 * coordinators' postgres_fdw servers reach a worker group). One psql per row, retried
 * until it commits; every acknowledged row is printed with the time it was acknowledged.
 */
import {
  groupServiceName,
  groupTasksHost,
  haproxyServiceName,
  PORTS,
} from '../../agent/core/names.js';
import { docker, networkName, WRITER_PREFIX, type HaCluster } from './ha-cluster.js';

export interface WriterLog {
  /** `lsn`: the primary's WAL position when the row was inserted (just before its commit). */
  acks: Array<{ id: number; at: number; lsn?: string }>;
  errors: Array<{ id: number; at: number }>;
}

export interface Writer {
  name: string;
  startId: number;
  stop(): Promise<WriterLog>;
  acked(): Promise<number>;
}

export const ROWS_TABLE = 'chaos_rows';

/**
 * The connection: HAProxy's service for the coordinators; for a worker group, every
 * member's address, resolved again before each attempt. One host name with several
 * addresses is not enough: libpq moves to the next *host* when a session is read-only and
 * skips the remaining addresses of the same name (seen here with tasks.<service>).
 */
function target(h: HaCluster, scope: string): { hosts: string; tasks: string } {
  const cluster = h.m.metadata.name;
  return scope === h.m.spec.coordinator.name
    ? { hosts: `${haproxyServiceName(cluster)}`, tasks: '' }
    : { hosts: '', tasks: groupTasksHost(cluster, scope) };
}

function dsn(h: HaCluster, scope: string): string {
  const port = scope === h.m.spec.coordinator.name ? PORTS.haproxyReadWrite : PORTS.postgres;
  const db = h.m.spec.postgres.database;
  // HAProxy already sends only to the primary; members are checked by libpq.
  const attrs = scope === h.m.spec.coordinator.name ? '' : ' target_session_attrs=read-write';
  return `port=${port} user=postgres dbname=${db} connect_timeout=2${attrs}`;
}

const SCRIPT = `
hosts() {
  if [ -n "$TASKS" ]; then getent ahostsv4 "$TASKS" | cut -d' ' -f1 | sort -u | paste -sd, -; else echo "$HOSTS"; fi
}
psql "host=$(hosts) $DSN" -XqAt -c "CREATE TABLE IF NOT EXISTS ${ROWS_TABLE} (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())" >/dev/null 2>&1
i=$START
while :; do
  if lsn=$(timeout 5 psql "host=$(hosts) $DSN" -XqAt -v ON_ERROR_STOP=1 -c "INSERT INTO ${ROWS_TABLE} (id) VALUES ($i) ON CONFLICT (id) DO NOTHING RETURNING pg_current_wal_insert_lsn()" 2>/dev/null); then
    echo "ack $i $(date +%s%3N) $lsn"; i=$((i+1))
  else
    echo "err $i $(date +%s%3N)"; sleep 0.1
  fi
done
`;

export function parseWriterLog(text: string): WriterLog {
  const log: WriterLog = { acks: [], errors: [] };
  for (const line of text.split('\n')) {
    const [kind, id, at, lsn] = line.trim().split(' ');
    if (kind === 'ack' && id && at) {
      log.acks.push({ id: Number(id), at: Number(at), ...(lsn ? { lsn } : {}) });
    } else if (kind === 'err' && id && at) {
      log.errors.push({ id: Number(id), at: Number(at) });
    }
  }
  return log;
}

export async function startWriter(h: HaCluster, scope: string, startId: number): Promise<Writer> {
  const name = `${WRITER_PREFIX}-${scope}-${startId}`;
  const c = await h.docker.createContainer({
    name,
    Image: h.images.pgnode,
    Entrypoint: ['sh', '-c', SCRIPT],
    // The test cluster's generated password; in the environment, never in an argument.
    Env: [
      `DSN=${dsn(h, scope)}`,
      `HOSTS=${target(h, scope).hosts}`,
      `TASKS=${target(h, scope).tasks}`,
      `START=${startId}`,
      `PGPASSWORD=${h.password}`,
    ],
    HostConfig: { NetworkMode: networkName(h.m.metadata.name) },
    Labels: {
      'pgmesh.test': 'ha-writer',
      'pgmesh.test.service': groupServiceName(h.m.metadata.name, scope),
    },
  });
  await c.start();
  const logs = async (): Promise<string> => docker(['logs', name]);
  return {
    name,
    startId,
    async acked() {
      return parseWriterLog(await logs()).acks.length;
    },
    async stop() {
      await c.kill().catch(() => undefined);
      const text = await logs();
      await c.remove({ force: true }).catch(() => undefined);
      return parseWriterLog(text);
    },
  };
}

export interface TrialNumbers {
  /** Seconds from the fault to the first acknowledged write after the first failed one (0: none failed). */
  recoverySeconds: number;
  /** The longest time between two acknowledged writes around the fault. */
  maxGapSeconds: number;
  acked: number;
}

/** Pure: an LSN (`16/B374D848`) as a byte position. */
export function lsnBytes(lsn: string): bigint {
  const [hi, lo] = lsn.split('/');
  if (!hi || !lo || !/^[0-9A-Fa-f]+$/.test(hi) || !/^[0-9A-Fa-f]+$/.test(lo))
    throw new Error(`not an LSN: ${lsn}`);
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

/**
 * Pure: where timeline `parent` forked, from a timeline history file (lines
 * `<parent tli>\t<switch LSN>\t<reason>`): the end of the WAL the member promoted out of
 * that timeline had. Later lines are later failovers (or switchovers), not this one.
 */
export function forkOf(history: string, parent: number): string | undefined {
  for (const line of history.split('\n')) {
    const [tli, lsn] = line.trim().split(/\s+/);
    if (Number(tli) === parent && lsn && /^[0-9A-Fa-f]+\/[0-9A-Fa-f]+$/.test(lsn)) return lsn;
  }
  return undefined;
}

/**
 * Pure: the WAL the lost rows stood on: from the new timeline's switch point (where the
 * promoted replica's history forked) to the highest insert position of a lost row; 0 when
 * nothing acknowledged was lost.
 */
export function lostWalBytes(
  lost: WriterLog['acks'],
  switchPoint: string | undefined,
): number | null {
  if (lost.length === 0) return 0;
  const positions = lost.flatMap((a) => (a.lsn ? [lsnBytes(a.lsn)] : []));
  if (positions.length === 0 || !switchPoint) return null;
  const fork = lsnBytes(switchPoint);
  // A lost row below the fork contradicts the measurement (the promoted member had that
  // WAL): say "unknown" rather than a number.
  if (positions.some((p) => p < fork)) return null;
  const top = positions.reduce((a, b) => (a > b ? a : b));
  return Number(top - fork);
}

/** Pure: the write gap of one trial, from the writer's log and the fault's time. */
export function measure(log: WriterLog, faultAt: number): TrialNumbers {
  const firstErr = log.errors.find((e) => e.at >= faultAt);
  const after = firstErr
    ? log.acks.find((a) => a.at > firstErr.at)
    : log.acks.find((a) => a.at >= faultAt);
  const recoverySeconds = firstErr && after ? (after.at - faultAt) / 1000 : firstErr ? Infinity : 0;
  let maxGap = 0;
  const window = log.acks.filter((a) => a.at >= faultAt - 2000);
  for (let i = 1; i < window.length; i++) {
    maxGap = Math.max(maxGap, window[i]!.at - window[i - 1]!.at);
  }
  const lastBefore = [...log.acks].reverse().find((a) => a.at < faultAt);
  const firstAfter = log.acks.find((a) => a.at >= faultAt);
  if (lastBefore && firstAfter) maxGap = Math.max(maxGap, firstAfter.at - lastBefore.at);
  return { recoverySeconds, maxGapSeconds: maxGap / 1000, acked: log.acks.length };
}

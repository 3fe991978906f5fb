#!/usr/bin/env bash
# Entrypoint of the pgnode image (runs as root under tini). Prepares the data volume and
# the runtime folder, then runs PgBouncer and Patroni as postgres and exits non-zero as
# soon as either ends, so Swarm replaces the task. Passwords are read from the secret
# files into the environment of Patroni only: never echoed, never process arguments.
set -euo pipefail

PATRONI_CONFIG=${PGMESH_PATRONI_CONFIG:-/etc/pgmesh/patroni.yml}
PGBOUNCER_CONFIG=${PGMESH_PGBOUNCER_CONFIG:-/etc/pgmesh/pgbouncer.ini}
SECRETS_DIR=${PGMESH_SECRETS_DIR:-/run/secrets}
DATA_ROOT=/var/lib/pgmesh
RUN_DIR=/run/pgmesh
PGBOUNCER_AUTH_FILE="$RUN_DIR/pgbouncer-auth.txt"

say() { printf 'pgmesh-node: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[ -n "${PGMESH_SCOPE:-}" ] || die "PGMESH_SCOPE is not set (the Patroni scope, e.g. coord or w1)"
[ -n "${PGMESH_MEMBER:-}" ] || die "PGMESH_MEMBER is not set (the Patroni member name, e.g. coord-1)"
[ -r "$PATRONI_CONFIG" ] || die "$PATRONI_CONFIG is missing"
[ -r "$PGBOUNCER_CONFIG" ] || die "$PGBOUNCER_CONFIG is missing"
for s in postgres-password replication-password; do
  [ -s "$SECRETS_DIR/$s" ] || die "secret $SECRETS_DIR/$s is missing or empty"
done

# Our address on the first network (the overlay): what other members and HAProxy use.
ip=${PGMESH_ADVERTISE_IP:-}
if [ -z "$ip" ]; then
  ip=$(hostname -i 2>/dev/null | awk '{print $1}')
fi
[ -n "$ip" ] || die "cannot find this container's IP (hostname -i gave nothing)"

# The volume may come up owned by root (fresh named volume): give it to postgres.
mkdir -p "$DATA_ROOT" "$RUN_DIR" /run/postgresql
chown postgres:postgres "$DATA_ROOT" /run/postgresql
chmod 0700 "$DATA_ROOT"
if [ -d "$DATA_ROOT/pg" ] && [ "$(stat -c %U "$DATA_ROOT/pg")" != postgres ]; then
  chown -R postgres:postgres "$DATA_ROOT/pg"
fi
chown postgres:postgres "$RUN_DIR"
chmod 0700 "$RUN_DIR"

superuser_password=$(cat "$SECRETS_DIR/postgres-password")
replication_password=$(cat "$SECRETS_DIR/replication-password")

# PgBouncer's auth file: "user" "password"; written with a umask so it is never readable
# by anyone but postgres, not even for an instant.
(
  umask 077
  esc=${superuser_password//\"/\"\"}
  printf '"postgres" "%s"\n' "$esc" > "$PGBOUNCER_AUTH_FILE.tmp"
)
chown postgres:postgres "$PGBOUNCER_AUTH_FILE.tmp"
mv -f "$PGBOUNCER_AUTH_FILE.tmp" "$PGBOUNCER_AUTH_FILE"

export PATRONI_NAME="$PGMESH_MEMBER"
export PATRONI_SCOPE="$PGMESH_SCOPE"
# The REST address by the task's DNS name when the service gives one (PGMESH_ADVERTISE_NAME,
# Swarm's {{.Task.Name}}): a dead member's name stops resolving at once, where its dead IP
# would hold a peer's leader race for Patroni's 2 s connect timeout.
export PATRONI_RESTAPI_CONNECT_ADDRESS="${PGMESH_ADVERTISE_NAME:-$ip}:8008"
export PATRONI_POSTGRESQL_CONNECT_ADDRESS="$ip:5432"
export PATRONI_SUPERUSER_USERNAME=postgres
export PATRONI_REPLICATION_USERNAME=replicator
if [ -n "${PGMESH_ETCD_HOSTS:-}" ]; then
  export PATRONI_ETCD3_HOSTS="$PGMESH_ETCD_HOSTS"
fi
export HOME=/var/lib/postgresql

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups --inh-caps=-all "$@"; }

say "member $PATRONI_NAME of scope $PATRONI_SCOPE at $ip"

# PgBouncer never sees the passwords' env vars; it reads its auth file.
as_postgres pgbouncer "$PGBOUNCER_CONFIG" &
pgbouncer_pid=$!

PATRONI_SUPERUSER_PASSWORD="$superuser_password" \
PATRONI_REPLICATION_PASSWORD="$replication_password" \
  as_postgres patroni "$PATRONI_CONFIG" &
patroni_pid=$!
unset superuser_password replication_password

stopping=0
stop() {
  stopping=1
  say "stopping (signal)"
  # Patroni stops Postgres itself (and gives up the leader key), so it gets the TERM.
  kill -TERM "$patroni_pid" 2>/dev/null || true
  kill -TERM "$pgbouncer_pid" 2>/dev/null || true
}
trap stop TERM INT

status=0
# `wait -n` returns when a child ends or a trapped signal arrives.
while :; do
  set +e
  wait -n "$patroni_pid" "$pgbouncer_pid"
  status=$?
  set -e
  if [ "$stopping" = 1 ]; then break; fi
  if ! kill -0 "$patroni_pid" 2>/dev/null; then say "patroni exited ($status)"; break; fi
  if ! kill -0 "$pgbouncer_pid" 2>/dev/null; then say "pgbouncer exited ($status)"; break; fi
done

stop_quietly() {
  kill -TERM "$patroni_pid" "$pgbouncer_pid" 2>/dev/null || true
  wait "$patroni_pid" 2>/dev/null || true
  wait "$pgbouncer_pid" 2>/dev/null || true
}
stopping_was=$stopping
stop_quietly
if [ "$stopping_was" = 1 ]; then exit 0; fi
# A child died on its own: exit non-zero so Swarm restarts the task.
[ "$status" -ne 0 ] || status=1
exit "$status"

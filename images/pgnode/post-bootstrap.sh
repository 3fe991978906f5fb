#!/usr/bin/env bash
# Patroni's bootstrap.post_bootstrap: runs once, on the member that ran initdb, as
# postgres. Usage: post-bootstrap.sh [database] <connection-url>
# Patroni appends the connection URL (password in PGPASSFILE) as the last argument.
set -euo pipefail
url=${!#}
db=pgmesh
if [ "$#" -ge 2 ]; then db=$1; fi
case "$db" in
  *[!a-z0-9_]*|'') printf 'post-bootstrap: bad database name %s\n' "$db" >&2; exit 2 ;;
esac

exists=$(psql "$url" -XAtq -v ON_ERROR_STOP=1 -c "SELECT 1 FROM pg_database WHERE datname = '$db'")
if [ "$exists" != 1 ]; then
  psql "$url" -Xq -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$db\""
fi
# The same connection with the database swapped: a URI gets a new path; in a key=value
# string a later dbname= wins.
case "$url" in
  postgres://*|postgresql://*)
    scheme=${url%%://*}; rest=${url#*://}
    query=''; case "$rest" in *\?*) query="?${rest#*\?}"; rest=${rest%%\?*} ;; esac
    authority=${rest%%/*}
    dburl="$scheme://$authority/$db$query" ;;
  *) dburl="$url dbname=$db" ;;
esac
psql "$dburl" -Xq -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION IF NOT EXISTS vector'
printf 'post-bootstrap: database %s ready with extension vector\n' "$db" >&2

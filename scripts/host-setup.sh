#!/usr/bin/env bash
# Makes this host ready to run pgmesh: a Docker engine, a single-node Swarm and the
# local base image. Idempotent; safe to run before every `up` and every test run.
set -euo pipefail

BASE_TAG="${PGMESH_BASE_IMAGE:-pgmesh/base:trixie}"
LOG_DIR="${PGMESH_LOG_DIR:-/var/log/pgmesh}"

say() { printf 'host-setup: %s\n' "$*" >&2; }

ensure_engine() {
  if docker info >/dev/null 2>&1; then return 0; fi
  if ! command -v dockerd >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
      say "no Docker engine runs and dockerd is not installed; install Docker (as root on Debian/Ubuntu this script installs docker.io itself)"
      exit 1
    fi
    say "installing Debian's docker.io"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
  fi
  if ! command -v docker >/dev/null 2>&1; then
    say "the docker client is missing (package docker.io or docker-ce-cli)"; exit 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    say "no Docker engine runs and starting dockerd needs root"; exit 1
  fi
  mkdir -p "$LOG_DIR"
  say "starting dockerd (log: $LOG_DIR/dockerd.log)"
  nohup dockerd >"$LOG_DIR/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 120); do
    if docker info >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  say "dockerd did not answer within 60 s; see $LOG_DIR/dockerd.log"
  tail -n 20 "$LOG_DIR/dockerd.log" >&2 || true
  exit 1
}

ensure_swarm() {
  local state
  state=$(docker info --format '{{.Swarm.LocalNodeState}}')
  case "$state" in
    active) return 0 ;;
    inactive)
      say "initialising a single-node Swarm"
      docker swarm init --advertise-addr 127.0.0.1 >/dev/null ;;
    *) say "Swarm is in state '$state'; fix it (docker swarm leave --force) and retry"; exit 1 ;;
  esac
}

ensure_base_image() {
  if docker image inspect "$BASE_TAG" >/dev/null 2>&1; then return 0; fi
  if docker pull debian:trixie-slim >/dev/null 2>&1; then
    docker tag debian:trixie-slim "$BASE_TAG"; return 0
  fi
  say "debian:trixie-slim cannot be pulled; building $BASE_TAG with mmdebstrap (about a minute)"
  if ! command -v mmdebstrap >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
    else
      say "mmdebstrap is missing and cannot be installed here"; exit 1
    fi
  fi
  mmdebstrap --quiet --variant=minbase --include=ca-certificates trixie - | docker import - "$BASE_TAG" >/dev/null
}

ensure_engine
# A remote swarm (pgmesh up with DOCKER_HOST): this machine only builds images.
if [ "${PGMESH_HOST_SETUP_SKIP_SWARM:-0}" = 1 ]; then
  ensure_base_image
  say "ready: engine $(docker version --format '{{.Server.Version}}') (builder only), base $BASE_TAG"
  exit 0
fi
ensure_swarm
ensure_base_image
say "ready: engine $(docker version --format '{{.Server.Version}}'), swarm active, base $BASE_TAG"

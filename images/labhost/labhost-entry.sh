#!/bin/sh
# Starts a lab host's engine. Environment (set by agent/lab/up.ts):
#   PGMESH_LAB_HOST       the host's name, also its cgroup parent (one subtree per host)
#   PGMESH_LAB_REGISTRY   address:port of the lab's registry on the lab network
#   PGMESH_LAB_REGISTRY_LOCAL_PORT  port on this host's loopback that reaches the registry
set -eu
: "${PGMESH_LAB_HOST:?}" "${PGMESH_LAB_REGISTRY:?}" "${PGMESH_LAB_REGISTRY_LOCAL_PORT:?}"
# A host killed and started again keeps its file system: the old engine's pid file names
# PID 1 (this script now), and dockerd would refuse to start.
rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
# Images are named 127.0.0.1:<port>/... everywhere: the builder pushes to the registry's
# port published on the outer host's loopback, and each lab host reaches the same name
# through this forwarder. Docker trusts a loopback registry without TLS, so neither the
# outer engine nor a lab host needs an insecure-registry setting for it.
socat "TCP-LISTEN:${PGMESH_LAB_REGISTRY_LOCAL_PORT},bind=127.0.0.1,fork,reuseaddr" \
  "TCP:${PGMESH_LAB_REGISTRY}" &
exec dockerd \
  --host unix:///var/run/docker.sock \
  --host tcp://0.0.0.0:2375 \
  --tls=false \
  --data-root /var/lib/docker \
  --cgroup-parent "/${PGMESH_LAB_HOST}" \
  --insecure-registry "${PGMESH_LAB_REGISTRY}" \
  --storage-driver overlay2

# The pgmesh agent. npm cannot reach its registry inside `docker build` here, so the host
# builds first (`npm ci && npm run build`) and this image only copies the result.
# agent/host/images.ts builds it from a staged context holding exactly: dist/ (with the
# compiled schemas), package.json, package-lock.json and the production packages of node_modules/.
# Built by hand from the repository root it works too (with all of node_modules).
ARG BASE=debian:trixie-slim
FROM ${BASE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs git ca-certificates tini openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && git config --system --add safe.directory '*'

WORKDIR /opt/pgmesh
COPY package.json package-lock.json ./
COPY node_modules/ ./node_modules/
COPY dist/ ./dist/
# The engine's SQL, installed on the coordinators by the shards backend.
COPY sql/ ./sql/

ENV NODE_ENV=production
# safe.directory '*' above: the manifests repository is bind-mounted from the host and
# owned by a host user; git would refuse it as "dubious ownership".
# Runs as root: it drives Swarm through the mounted /var/run/docker.sock, whose owner
# group differs per host, and that socket is root-equivalent anyway.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--enable-source-maps", "dist/agent/cli/main.js", "agent"]

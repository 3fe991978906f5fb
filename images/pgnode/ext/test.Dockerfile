# Development/test image for the pgmesh engine (tag pgmtest-engine/pg17): PostgreSQL 17 +
# pgvector 0.8 + the pgmesh extension from this folder, run as plain `postgres` (no
# Patroni). Build context: images/pgnode/ext.
ARG BASE=debian:trixie-slim
FROM ${BASE}
ENV DEBIAN_FRONTEND=noninteractive
RUN mkdir -p /etc/postgresql-common/createcluster.d \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/pgmesh.conf \
 && printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      postgresql-17 postgresql-17-pgvector postgresql-server-dev-17 build-essential \
 && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
 && mkdir -p /run/postgresql && chown postgres:postgres /run/postgresql
ENV PATH=/usr/lib/postgresql/17/bin:$PATH
COPY . /src/ext/
RUN if [ -f /src/ext/Makefile ]; then \
      cd /src/ext && make PG_CONFIG=/usr/lib/postgresql/17/bin/pg_config \
      && make install PG_CONFIG=/usr/lib/postgresql/17/bin/pg_config; \
    fi
USER postgres

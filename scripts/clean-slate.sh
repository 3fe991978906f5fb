#!/usr/bin/env bash
# Takes this host back to "pgmesh never ran here", so that a run of `.ci/run` from a fresh
# clone proves the test command needs nothing made by hand. It removes only what carries
# pgmesh's names or labels:
#   - Swarm services, secrets and configs named pgmesh-* / pgmtest-*, or labelled pgmesh.managed
#   - containers named pgmesh-* / pgmtest-*, labelled pgmesh.* / pgmtest-engine, or running
#     an image of pgmesh/ or pgmtest*/
#   - volumes and networks named pgmesh-* / pgmtest-* (or labelled pgmesh.cluster)
#   - images of the repositories pgmesh/* and pgmtest*/* (the base image pgmesh/base too),
#     and untagged images labelled pgmesh.inputs (older builds of those)
#   - the Swarm itself, but only when no service of anyone else is left in it
#   - /var/lib/pgmesh, /var/lib/pgmesh-*, ~/.pgmesh (and $PGMESH_HOME)
# Anything else is left alone, and said so. The Docker engine stays installed.
#
#   scripts/clean-slate.sh            list what would be removed, remove nothing
#   scripts/clean-slate.sh --yes      remove it
set -euo pipefail

APPLY=0
case "${1:-}" in
  --yes) APPLY=1 ;;
  ""|--dry-run) ;;
  -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "clean-slate: unknown argument '$1' (use --yes to remove, nothing to list)" >&2; exit 2 ;;
esac

say() { printf 'clean-slate: %s\n' "$*" >&2; }
NAME_RE='^(pgmesh|pgmtest)[-_]'
IMAGE_RE='^(pgmesh|pgmtest)([-_/]|$)'

act() {
  # act WHAT CMD...: print, and run when --yes was given.
  local what=$1; shift
  if [ "$APPLY" = 1 ]; then
    say "removing $what"
    "$@" >/dev/null 2>&1 || say "  (could not remove $what; continuing)"
  else
    say "would remove $what"
  fi
}

if docker info >/dev/null 2>&1; then
  swarm=$(docker info --format '{{.Swarm.LocalNodeState}}')
  if [ "$swarm" = active ]; then
    managed=" $(docker service ls -q --filter label=pgmesh.managed 2>/dev/null | tr '\n' ' ') "
    while read -r id name; do
      [ -n "$id" ] || continue
      if [[ $name =~ $NAME_RE ]] || [[ $managed == *" $id "* ]]; then
        act "service $name" docker service rm "$id"
      else
        say "keeping service $name (not pgmesh's)"
      fi
    done < <(docker service ls --format '{{.ID}} {{.Name}}')
    # Services go first: their tasks hold the secrets, configs and networks below.
    if [ "$APPLY" = 1 ]; then
      for _ in $(seq 1 60); do
        left=$(docker ps -aq --filter label=com.docker.swarm.service.name | while read -r c; do
          docker inspect --format '{{index .Config.Labels "com.docker.swarm.service.name"}}' "$c"
        done | grep -E "$NAME_RE" || true)
        [ -z "$left" ] && break
        sleep 1
      done
    fi
    for kind in secret config; do
      docker "$kind" ls --format '{{.Name}}' | while read -r n; do
        if [[ $n =~ $NAME_RE ]]; then act "$kind $n" docker "$kind" rm "$n"; fi
      done
    done
  fi

  docker ps -a --format '{{.ID}}|{{.Names}}|{{.Image}}|{{.Labels}}' | while IFS='|' read -r id name image labels; do
    if [[ $name =~ $NAME_RE ]] || [[ $image =~ $IMAGE_RE ]] \
      || [[ $labels =~ (^|,)(pgmesh\.|pgmtest-engine=) ]]; then
      act "container $name ($image)" docker rm -f -v "$id"
    fi
  done

  docker volume ls --format '{{.Name}}' | while read -r n; do
    if [[ $n =~ $NAME_RE ]]; then act "volume $n" docker volume rm -f "$n"; fi
  done
  docker network ls --format '{{.Name}}' | while read -r n; do
    if [[ $n =~ $NAME_RE ]]; then act "network $n" docker network rm "$n"; fi
  done

  docker image ls --format '{{.Repository}}:{{.Tag}}' | while read -r ref; do
    if [[ $ref =~ $IMAGE_RE ]]; then act "image $ref" docker image rm -f "$ref"; fi
  done
  docker image ls --filter dangling=true --filter label=pgmesh.inputs -q | sort -u | while read -r id; do
    act "untagged pgmesh build $id" docker image rm -f "$id"
  done
  # Untagged images without the label (intermediate or overwritten builds): pgmesh's when
  # their build history names pgmesh (its Dockerfiles' paths and commands do).
  docker image ls --filter dangling=true -q | sort -u | while read -r id; do
    if docker history --no-trunc --format '{{.CreatedBy}}' "$id" 2>/dev/null | grep -q pgmesh; then
      act "untagged pgmesh build $id" docker image rm -f "$id"
    else
      say "keeping untagged image $id (its history does not name pgmesh)"
    fi
  done

  if [ "$swarm" = active ]; then
    others=$(docker service ls --format '{{.Name}}' 2>/dev/null | grep -Ev "$NAME_RE" || true)
    if [ "$APPLY" = 1 ]; then
      others=$(docker service ls --format '{{.Name}}' 2>/dev/null || true)
    fi
    if [ -n "$others" ]; then
      say "keeping the Swarm: it still runs services that are not pgmesh's: $(echo "$others" | tr '\n' ' ')"
    else
      act "the Swarm state of this node (docker swarm leave --force)" docker swarm leave --force
    fi
  fi
else
  say "no Docker engine answers; only the folders are cleaned"
fi

for d in /var/lib/pgmesh /var/lib/pgmesh-* "${HOME}/.pgmesh" ${PGMESH_HOME:+"$PGMESH_HOME"}; do
  [ -e "$d" ] || continue
  case "$(basename -- "$d")" in
    *pgmesh*) ;;
    *) say "keeping $d (its name is not pgmesh's)"; continue ;;
  esac
  act "folder $d" rm -rf -- "$d"
done

if [ "$APPLY" = 1 ]; then say "done"; else say "nothing was removed; run with --yes to remove the above"; fi

#!/usr/bin/env bash
# Drive the test services: PostgreSQL (55432), MariaDB (53306), Trino (58080), an Anvil
# JSON-RPC node (58545) and Redis (56379).
#
#   bash scripts/services.sh start [SERVICE...]   start (or reuse) services, in parallel
#   bash scripts/services.sh stop [SERVICE...]    stop services started by these scripts
#   bash scripts/services.sh status               say what is running
#   bash scripts/services.sh env                  print `export GOVFABRIC_TEST_*_URL=...` lines
#   bash scripts/services.sh clean                stop everything and delete the run dir
#
# SERVICE is postgres, mariadb, trino, anvil or redis (default: all). Run dir: $GOVFABRIC_SERVICES_DIR
# (default /tmp/govfabric-services); download cache: $GOVFABRIC_CACHE (default ~/.cache/govfabric).
# Typical use: bash scripts/services.sh start && eval "$(bash scripts/services.sh env)" && pytest
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
here="$(dirname "${BASH_SOURCE[0]}")/services"

usage() { sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# is_running SERVICE: the service's recorded process is alive (says nothing about foreign ones).
is_running() {
  case "$1" in
    postgres) [[ -s "$GF_RUN_DIR/postgres/data/postmaster.pid" ]] &&
      kill -0 "$(head -1 "$GF_RUN_DIR/postgres/data/postmaster.pid")" 2>/dev/null ;;
    mariadb) gf_pid_alive "$GF_RUN_DIR/mariadb/mariadb.pid" ;;
    trino) gf_pid_alive "$GF_RUN_DIR/trino/trino.pid" ;;
    anvil) gf_pid_alive "$GF_RUN_DIR/anvil/anvil.pid" ;;
    redis) gf_pid_alive "$GF_RUN_DIR/redis/redis.pid" ;;
    *) gf_die "unknown service '$1' (expected: ${GF_SERVICES[*]})" ;;
  esac
}

start() {
  local svc pids=() failed=() i t0
  t0="$(gf_now)"
  for svc in "$@"; do
    bash "$here/$svc-start.sh" &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed+=("${@:i+1:1}")
  done
  if ((${#failed[@]})); then
    gf_log "failed to start: ${failed[*]} (logs under $GF_RUN_DIR)"
    return 1
  fi
  gf_log "services up: $* in $(gf_elapsed "$t0")s"
}

stop() {
  local svc pids=() t0
  t0="$(gf_now)"
  for svc in "$@"; do
    bash "$here/$svc-stop.sh" &
    pids+=($!)
  done
  for svc in "${pids[@]}"; do
    wait "$svc" || gf_log "a stop script failed (see above)"
  done
  gf_log "stopped: $* in $(gf_elapsed "$t0")s"
}

status() {
  local svc rc=0
  for svc in "${GF_SERVICES[@]}"; do
    if is_running "$svc"; then echo "$svc: running"; else echo "$svc: stopped"; rc=3; fi
  done
  return $rc
}

cmd="${1:-}"
[[ -n "$cmd" ]] || usage
shift
services=("$@")
((${#services[@]})) || services=("${GF_SERVICES[@]}")
for svc in "${services[@]}"; do
  [[ " ${GF_SERVICES[*]} " == *" $svc "* ]] || gf_die "unknown service '$svc' (expected: ${GF_SERVICES[*]})"
done

case "$cmd" in
  start) start "${services[@]}" ;;
  stop) stop "${services[@]}" ;;
  status) status ;;
  running) for svc in "${services[@]}"; do is_running "$svc" && echo "$svc"; done; true ;;
  env)
    for svc in "${GF_SERVICES[@]}"; do is_running "$svc" || gf_log "note: $svc is not running (start it with: bash scripts/services.sh start $svc)"; done
    gf_env_lines ;;
  clean) stop "${GF_SERVICES[@]}"; rm -rf "$GF_RUN_DIR"; gf_log "removed $GF_RUN_DIR" ;;
  *) usage ;;
esac

#!/usr/bin/env bash
# Stop the throwaway PostgreSQL cluster and delete its data (the log stays in the run dir).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
GF_TAG=postgres

dir="$GF_RUN_DIR/postgres"
data="$dir/data"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
if [[ ! -f "$data/postmaster.pid" ]]; then
  gf_log "postgres: not running"
  rm -rf "$data"
  exit 0
fi
pid="$(head -1 "$data/postmaster.pid")"
if ! runuser -u postgres -- "$PGBIN/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1; then
  gf_log "pg_ctl stop failed; sending TERM/KILL to $pid"
  echo "$pid" >"$dir/pg.pid"
  gf_stop_pid "$dir/pg.pid" postgres 10
fi
rm -rf "$data"
gf_log "postgres: stopped (pid $pid)"

#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster on 127.0.0.1:$GF_PG_PORT (default 55432), trust
# auth, superuser `postgres`. A fresh cluster is created at every start (initdb takes ~1 s);
# tests create their own databases in it. PostgreSQL refuses to run as root, so the
# server runs as the `postgres` OS user.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
GF_TAG=postgres

dir="$GF_RUN_DIR/postgres"
data="$dir/data"
log="$dir/postgres.log"

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
as_postgres() {
  if [[ "$(id -un)" == postgres ]]; then "$@"; else runuser -u postgres -- "$@"; fi
}
ready() { as_postgres "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$GF_PG_PORT" -U postgres -d postgres; }

t0="$(gf_now)"
PGBIN="$(pg_bin)"
if [[ -z "$PGBIN" || ! -x "$PGBIN/initdb" ]]; then
  gf_apt_install postgresql postgresql-contrib
  PGBIN="$(pg_bin)"
fi
[[ -x "$PGBIN/initdb" ]] || gf_die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
pg_major="$(basename "$(dirname "$PGBIN")")"
if [[ ! -f "/usr/share/postgresql/$pg_major/extension/pg_trgm.control" ]]; then
  gf_apt_install postgresql-contrib
fi
id postgres >/dev/null 2>&1 || gf_die "no 'postgres' OS user (the Debian package creates it); reinstall postgresql"

mkdir -p "$dir"
chown postgres:postgres "$dir"
if [[ -f "$data/postmaster.pid" ]] && ready; then
  gf_log "already running at 127.0.0.1:$GF_PG_PORT, reusing"
  exit 0
fi
if gf_port_open "$GF_PG_PORT"; then
  gf_die "port $GF_PG_PORT is taken by something else; stop it or set GOVFABRIC_PG_PORT"
fi
# the postgres user must be able to reach the run dir
as_postgres test -w "$dir" || gf_die "user postgres cannot write $dir; use a GOVFABRIC_SERVICES_DIR it can reach (default /tmp/govfabric-services)"

rm -rf "$data"
as_postgres "$PGBIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
  { gf_log_tail "$dir/initdb.log"; gf_die "initdb failed"; }
# The role gf_pw_user must log in with a password, so tests can prove wrong passwords are reported.
sed -i '0,/^host/s//host    all             gf_pw_user      127.0.0.1\/32            scram-sha-256\nhost/' "$data/pg_hba.conf"
# Test-only durability settings: a throwaway cluster need not survive a crash.
if ! as_postgres "$PGBIN/pg_ctl" -D "$data" -l "$log" -w -t 30 -o "-c listen_addresses=127.0.0.1 -p $GF_PG_PORT \
  -c unix_socket_directories=$data -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
  -c max_connections=200" start >/dev/null; then
  gf_log_tail "$log"
  gf_die "pg_ctl start failed"
fi
gf_wait_until 30 "PostgreSQL on port $GF_PG_PORT" ready || { gf_log_tail "$log"; gf_die "PostgreSQL not ready"; }
avail="$(as_postgres "$PGBIN/psql" -h 127.0.0.1 -p "$GF_PG_PORT" -U postgres -d postgres -Atc \
  "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'")"
[[ "$avail" == 1 ]] || gf_die "pg_trgm extension is not available (install postgresql-contrib-$pg_major)"
gf_log "ready at postgresql://postgres@127.0.0.1:$GF_PG_PORT/postgres (PostgreSQL $pg_major, pid $(head -1 "$data/postmaster.pid")) in $(gf_elapsed "$t0")s"

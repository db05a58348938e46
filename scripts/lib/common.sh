# shellcheck shell=bash
# Shared helpers for scripts/test.sh, scripts/services.sh and scripts/services/*.sh.
# Sourced, never executed. Everything here is plain bash + coreutils + curl.

GF_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
GF_RUN_DIR="${GOVFABRIC_SERVICES_DIR:-/tmp/govfabric-services}"
GF_CACHE="${GOVFABRIC_CACHE:-${HOME:-/root}/.cache/govfabric}"

GF_PG_PORT="${GOVFABRIC_PG_PORT:-55432}"
GF_TRINO_PORT="${GOVFABRIC_TRINO_PORT:-58080}"
GF_RPC_PORT="${GOVFABRIC_RPC_PORT:-58545}"
GF_MYSQL_PORT="${GOVFABRIC_MYSQL_PORT:-53306}"
GF_REDIS_PORT="${GOVFABRIC_REDIS_PORT:-56379}"

GF_TRINO_VERSION="${GOVFABRIC_TRINO_VERSION:-476}"
GF_TRINO_PLUGINS="${GOVFABRIC_TRINO_PLUGINS:-postgresql mysql memory tpch hive geospatial}"
GF_ANVIL_VERSION="${GOVFABRIC_ANVIL_VERSION:-1.7.1}"

GF_SERVICES=(postgres mariadb trino anvil redis)

gf_log() { printf '[govfabric %s] %s\n' "${GF_TAG:-services}" "$*" >&2; }
gf_die() { gf_log "ERROR: $*"; exit 1; }

# Seconds since the epoch with milliseconds, for phase timings.
gf_now() { date +%s.%N; }
gf_elapsed() { awk -v a="$1" -v b="$(gf_now)" 'BEGIN { printf "%.1f", b - a }'; }

# gf_pid_alive PIDFILE: true when the file names a live process.
gf_pid_alive() {
  local pid
  [[ -s "$1" ]] || return 1
  pid="$(cat "$1")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

# gf_port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
gf_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# gf_wait_until TIMEOUT_S DESCRIPTION CMD...: poll CMD every 0.2 s until it succeeds.
gf_wait_until() {
  local timeout="$1" what="$2" start
  shift 2
  start="$(date +%s)"
  GF_DEAD=0
  until "$@" >/dev/null 2>&1; do
    if (( $(date +%s) - start >= timeout )); then
      gf_log "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    sleep 0.2
  done
  if (( GF_DEAD )); then
    gf_log "the process for $what exited"
    return 1
  fi
}

# gf_ready_or_dead PIDFILE CMD...: CMD's result, but a dead process ends the wait at once.
gf_ready_or_dead() {
  local pidfile="$1"
  shift
  "$@" && return 0
  gf_pid_alive "$pidfile" || { GF_DEAD=1; return 0; }
  return 1
}

# gf_log_tail FILE [N]: show the end of a log after a failure.
gf_log_tail() {
  local n="${2:-40}"
  if [[ -f "$1" ]]; then
    gf_log "last $n lines of $1:"
    tail -n "$n" "$1" | sed 's/^/    | /' >&2
  else
    gf_log "(no log at $1)"
  fi
}

# gf_stop_pid PIDFILE NAME [TIMEOUT_S]: TERM the process, wait, KILL if it lingers.
gf_stop_pid() {
  local pidfile="$1" name="$2" timeout="${3:-20}" pid i
  if ! gf_pid_alive "$pidfile"; then
    rm -f "$pidfile"
    gf_log "$name: not running"
    return 0
  fi
  pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    gf_log "$name: still alive after ${timeout}s, sending KILL to $pid and its process group"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  # The servers are started with setsid, so the pid leads its own process group: make sure
  # no helper it spawned (e.g. the JVM's AOT assembler) outlives it.
  if [[ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" == "$pid" ]] || pgrep -g "$pid" >/dev/null 2>&1; then
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  gf_log "$name: stopped (pid $pid)"
}

# gf_apt_install PKG...: install Debian packages without starting their services. The install
# is tried from the current package lists first; `apt-get update` runs only if that fails.
gf_apt_install() {
  local policy=/usr/sbin/policy-rc.d created=0 rc=0 log="$GF_RUN_DIR/apt-$$.log"
  [[ "$(id -u)" == 0 ]] || gf_die "need root to apt-get install $*; install them and retry"
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=1
  fi
  gf_log "apt-get install $*"
  # services start in parallel: wait for another start's apt-get to release the dpkg lock
  apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@"
  }
  {
    apt_install "$@" || {
      echo "--- install failed; apt-get update and retry"
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq && apt_install "$@"
    }
  } >"$log" 2>&1 || rc=$?
  (( created )) && rm -f "$policy"
  if (( rc != 0 )); then
    gf_log_tail "$log"
    gf_die "apt-get install $* failed"
  fi
  mv -f "$log" "$GF_RUN_DIR/apt.log"
}

# gf_mysql_password: the throwaway MariaDB's root password (random, made at its start), or
# nothing when it is not running. Kept in a 0600 file; never printed to a log.
gf_mysql_password() { cat "$GF_RUN_DIR/mariadb/root.password" 2>/dev/null || true; }

# gf_redact_urls: hide the password of any scheme://user:password@ in the text on stdin.
gf_redact_urls() { sed -E 's#(://[^:/@ ]*):[^@ ]*@#\1:***@#g'; }

gf_env_lines() {
  echo "export GOVFABRIC_TEST_PG_URL=postgresql://postgres@127.0.0.1:${GF_PG_PORT}/postgres"
  echo "export GOVFABRIC_TEST_TRINO_URL=http://127.0.0.1:${GF_TRINO_PORT}"
  echo "export GOVFABRIC_TEST_RPC_URL=http://127.0.0.1:${GF_RPC_PORT}"
  echo "export GOVFABRIC_TEST_REDIS_URL=redis://127.0.0.1:${GF_REDIS_PORT}/0"
  # the URL carries a password made at start: only a running MariaDB has one
  local pw
  pw="$(gf_mysql_password)"
  if [[ -n "$pw" ]]; then
    echo "export GOVFABRIC_TEST_MYSQL_URL=mysql://root:${pw}@127.0.0.1:${GF_MYSQL_PORT}/mysql"
  fi
}

mkdir -p "$GF_RUN_DIR" "$GF_CACHE"
chmod 755 "$GF_RUN_DIR" 2>/dev/null || true

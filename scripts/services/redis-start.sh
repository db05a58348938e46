#!/usr/bin/env bash
# Start a throwaway Redis on 127.0.0.1:$GF_REDIS_PORT (default 56379) for rate limits and
# signature nonces shared by server workers: Debian's `redis-server` (apt-get installed when
# missing), no persistence (--save '', no AOF), daemonized with a pid file in the run dir.
# Tests get it as GOVFABRIC_TEST_REDIS_URL (scripts/services.sh env).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
GF_TAG=redis

dir="$GF_RUN_DIR/redis"
pidfile="$dir/redis.pid"
log="$dir/redis.log"
ready() { redis-cli -h 127.0.0.1 -p "$GF_REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

t0="$(gf_now)"
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  gf_apt_install redis-server redis-tools
fi
command -v redis-server >/dev/null || gf_die "no redis-server after installing the redis-server package"
mkdir -p "$dir"
if gf_pid_alive "$pidfile" && ready; then
  gf_log "already running at 127.0.0.1:$GF_REDIS_PORT, reusing"
  exit 0
fi
if gf_port_open "$GF_REDIS_PORT"; then
  gf_die "port $GF_REDIS_PORT is taken by something else; stop it or set GOVFABRIC_REDIS_PORT"
fi
rm -f "$pidfile"
redis-server --port "$GF_REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --pidfile "$pidfile" --logfile "$log" --dir "$dir" --maxmemory 128mb --protected-mode yes
if ! gf_wait_until 15 "Redis on port $GF_REDIS_PORT" ready; then
  gf_log_tail "$log"
  bash "$(dirname "${BASH_SOURCE[0]}")/redis-stop.sh" || true
  gf_die "Redis not ready"
fi
gf_log "ready at redis://127.0.0.1:$GF_REDIS_PORT/0 (pid $(cat "$pidfile")) in $(gf_elapsed "$t0")s"

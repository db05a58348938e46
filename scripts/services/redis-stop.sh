#!/usr/bin/env bash
# Stop the throwaway Redis (by pid; it exits cleanly on TERM). It keeps no data.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
GF_TAG=redis

gf_stop_pid "$GF_RUN_DIR/redis/redis.pid" redis 10

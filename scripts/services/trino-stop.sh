#!/usr/bin/env bash
# Stop the Trino server started by trino-start.sh (by pid; Trino shuts down on TERM).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
GF_TAG=trino
gf_stop_pid "$GF_RUN_DIR/trino/trino.pid" trino 30

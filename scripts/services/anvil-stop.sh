#!/usr/bin/env bash
# Stop Anvil by pid; on TERM it writes its state to $GF_RUN_DIR/anvil/state.json.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
GF_TAG=anvil
gf_stop_pid "$GF_RUN_DIR/anvil/anvil.pid" anvil 15

#!/usr/bin/env bash
# Stop the Trino server started by trino-start.sh (by pid; Trino shuts down on TERM).
# After a first run that recorded an AOT cache, the JVM assembles the cache on exit
# (tens of seconds): wait for it, and keep the cache only if the JVM said it completed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
GF_TAG=trino

dir="$GF_RUN_DIR/trino"
if [[ -s "$dir/aot-training" ]]; then
  aot="$(cat "$dir/aot-training")"
  gf_pid_alive "$dir/trino.pid" && gf_log "assembling the Java AOT cache for later starts (once)"
  gf_stop_pid "$dir/trino.pid" trino 240
  if grep -q "AOTCache creation is complete: $aot.new" "$dir/server.log" 2>/dev/null; then
    mv -f "$aot.new" "$aot"
    gf_log "AOT cache ready: $aot ($(du -m "$aot" | cut -f1) MB)"
  else
    rm -f "$aot.new" "$aot.new.config"
  fi
  rm -f "$dir/aot-training"
else
  gf_stop_pid "$dir/trino.pid" trino 30
fi

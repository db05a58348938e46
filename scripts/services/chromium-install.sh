#!/usr/bin/env bash
# Install the real browser the portal tests drive (tests/sharing_modes/portal): Debian's
# `chromium` and a CJK font (without one Chinese renders as boxes). `playwright install` cannot
# download here; pip playwright launches /usr/bin/chromium instead (FACTS.md "Real browser").
# Idempotent: nothing happens when both are present. scripts/test.sh runs it in the background.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
GF_TAG=chromium

if [[ -x /usr/bin/chromium ]] && fc-list 2>/dev/null | grep -qi "wenquanyi zen hei"; then
  gf_log "chromium and fonts-wqy-zenhei present"
  exit 0
fi
gf_apt_install chromium fonts-wqy-zenhei
[[ -x /usr/bin/chromium ]] || gf_die "no /usr/bin/chromium after installing the chromium package"
gf_log "installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"

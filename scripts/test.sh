#!/usr/bin/env bash
# The one command that runs govfabric's whole test suite, locally and in CI:
#   1. create .venv if missing and `pip install -e '.[dev]'` into it (skipped while
#      pyproject.toml is unchanged since the last install),
#   2. start PostgreSQL, MariaDB, Trino and an Anvil node (scripts/services.sh), reusing any
#      already running,
#   3. run ruff and mypy (scripts/mypy_baseline.py), then pytest over everything (extra
#      arguments go to pytest),
#   4. stop the services this run started (also on failure or ctrl-C),
#   5. exit with pytest's exit code ("no tests collected" counts as failure).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
GF_TAG=test
cd "$GF_ROOT" || exit 1

t_start="$(gf_now)"
timings=()
owned=()
services_pid=""

phase() { timings+=("$1 $(gf_elapsed "$2")s"); }

cleanup() {
  local rc=$? t
  trap - EXIT INT TERM
  if [[ -n "$services_pid" ]] && kill -0 "$services_pid" 2>/dev/null; then
    kill -TERM "$services_pid" 2>/dev/null
    wait "$services_pid" 2>/dev/null
  fi
  if ((${#owned[@]})); then
    t="$(gf_now)"
    bash scripts/services.sh stop "${owned[@]}" || true
    phase stop "$t"
  fi
  timings+=("total $(gf_elapsed "$t_start")s")
  gf_log "timings: ${timings[*]}"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- services (in the background: Trino takes the longest, let pip overlap it) ---
t_services="$(gf_now)"
for svc in "${GF_SERVICES[@]}"; do
  if [[ -z "$(bash scripts/services.sh running "$svc")" ]]; then owned+=("$svc"); fi
done
if ((${#owned[@]} < ${#GF_SERVICES[@]})); then
  gf_log "reusing running services; this run will stop only: ${owned[*]:-none}"
fi
GOVFABRIC_SERVICES_FRESH=1 bash scripts/services.sh start &
services_pid=$!
# the portal's browser tests need Debian's chromium and a CJK font (apt; beside the services)
mkdir -p "$GF_RUN_DIR" && bash scripts/services/chromium-install.sh >"$GF_RUN_DIR/chromium-install.log" 2>&1 &
chromium_pid=$!

# --- virtualenv ---
t="$(gf_now)"
python="${GOVFABRIC_PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]] || ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
  # missing, or left half-made by an interrupted run
  gf_log "creating .venv with $($python --version 2>&1)"
  "$python" -m venv --clear .venv || gf_die "could not create .venv with $python"
  rm -f .venv/.govfabric-install-stamp
fi
key="$(cat pyproject.toml <(.venv/bin/python --version 2>&1) | sha256sum | cut -c1-64)"
stamp=.venv/.govfabric-install-stamp
if [[ "$(cat "$stamp" 2>/dev/null)" != "$key" ]]; then
  gf_log "pip install -e '.[dev]' (pyproject.toml changed or first install; log: .venv/pip-install.log)"
  if ! .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]' >.venv/pip-install.log 2>&1; then
    gf_log_tail .venv/pip-install.log
    gf_die "pip install failed"
  fi
  echo "$key" >"$stamp"
else
  gf_log "virtualenv up to date (pyproject.toml unchanged)"
fi
phase venv "$t"

wait "$chromium_pid" || { gf_log_tail "$GF_RUN_DIR/chromium-install.log"; gf_die "could not install chromium"; }
wait "$services_pid"
services_rc=$?
services_pid=""
phase services "$t_services"
((services_rc == 0)) || gf_die "services failed to start"
eval "$(gf_env_lines)"
gf_log "$(gf_env_lines | sed 's/^export //' | gf_redact_urls | tr '\n' ' ')"

# --- lint: ruff, then mypy against its baseline (which may only shrink); a failure ends the run ---
t="$(gf_now)"
.venv/bin/ruff check govfabric tests scripts || gf_die "ruff found problems (see above)"
.venv/bin/python scripts/mypy_baseline.py || gf_die "mypy found new errors, or fixed ones to remove (see above)"
phase lint "$t"

# --- tests ---
t="$(gf_now)"
.venv/bin/python -m pytest --durations=30 "$@"
rc=$?
phase pytest "$t"
if ((rc == 5)); then
  gf_log "pytest collected no tests: treating as failure"
  rc=1
fi
exit "$rc"

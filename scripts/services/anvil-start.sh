#!/usr/bin/env bash
# Start an Ethereum JSON-RPC node (Anvil, from the npm package @foundry-rs/anvil) on
# 127.0.0.1:$GF_RPC_PORT (default 58545), chain id 31337, `prague` EVM (Vyper 0.4.3's
# default target). Chain state persists in $GF_RUN_DIR/anvil/state.json (--state) unless
# GOVFABRIC_SERVICES_FRESH=1, which starts from genesis.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
GF_TAG=anvil

dir="$GF_RUN_DIR/anvil"
pidfile="$dir/anvil.pid"
log="$dir/anvil.log"
state="$dir/state.json"
url="http://127.0.0.1:$GF_RPC_PORT"
prefix="$GF_CACHE/anvil-$GF_ANVIL_VERSION"

case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) gf_die "no Anvil binary for $(uname -m)" ;;
esac
# The wrapper package's bin.mjs only locates this platform package's binary; run it directly.
bin="$prefix/node_modules/@foundry-rs/anvil-linux-$arch/bin/anvil"

rpc() {
  curl -fsS --max-time 2 -H 'Content-Type: application/json' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":[]}" "$url"
}
ready() { rpc eth_chainId | grep -q '"result":"0x7a69"'; }

mkdir -p "$dir"
if gf_pid_alive "$pidfile" && ready; then
  gf_log "already running at $url (pid $(cat "$pidfile")), reusing"
  exit 0
fi
if gf_port_open "$GF_RPC_PORT"; then
  if ready; then
    gf_log "a chain-id 31337 node not started by these scripts answers at $url; reusing it"
    exit 0
  fi
  gf_die "port $GF_RPC_PORT is taken by something that is not a chain-id 31337 node; stop it or set GOVFABRIC_RPC_PORT"
fi

t0="$(gf_now)"
if [[ ! -x "$bin" ]]; then
  command -v npm >/dev/null || gf_die "npm is needed to install @foundry-rs/anvil"
  gf_log "installing @foundry-rs/anvil@$GF_ANVIL_VERSION from the npm registry into $prefix"
  mkdir -p "$prefix"
  # --ignore-scripts: the platform binary arrives as an optional dependency; the
  # postinstall script would only re-check it.
  npm install --prefix "$prefix" --no-save --no-package-lock --ignore-scripts --no-audit --no-fund \
    --loglevel=error "@foundry-rs/anvil@$GF_ANVIL_VERSION" >"$prefix/npm.log" 2>&1 ||
    { gf_log_tail "$prefix/npm.log"; gf_die "npm install @foundry-rs/anvil failed"; }
  [[ -x "$bin" ]] || gf_die "npm installed @foundry-rs/anvil but $bin is missing"
  gf_log "installed $("$bin" --version | head -1) in $(gf_elapsed "$t0")s"
fi
if [[ "${GOVFABRIC_SERVICES_FRESH:-0}" == 1 ]]; then
  rm -f "$state"
fi
: >"$log"
setsid nohup "$bin" --host 127.0.0.1 --port "$GF_RPC_PORT" --chain-id 31337 --hardfork prague \
  --state "$state" >>"$log" 2>&1 </dev/null &
echo $! >"$pidfile"
if ! gf_wait_until 30 "Anvil at $url" gf_ready_or_dead "$pidfile" ready; then
  gf_log_tail "$log"
  bash "$(dirname "${BASH_SOURCE[0]}")/anvil-stop.sh" || true
  gf_die "Anvil did not become ready"
fi
gf_log "ready at $url (pid $(cat "$pidfile"), $("$bin" --version | head -1), block $(rpc eth_blockNumber | sed -E 's/.*"result":"([^"]*)".*/\1/')) in $(gf_elapsed "$t0")s"

#!/usr/bin/env bash
# Start a single-node Trino server on 127.0.0.1:$GF_TRINO_PORT (default 58080).
# The server tarball comes from Maven Central once (cached under $GF_CACHE/trino);
# only the plugins in $GF_TRINO_PLUGINS are kept. Static catalogs: tpch, memory; others
# (postgresql, hive on local files, ...) are created at run time: catalog.management=dynamic.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
GF_TAG=trino

dir="$GF_RUN_DIR/trino"
pidfile="$dir/trino.pid"
log="$dir/server.log"
url="http://127.0.0.1:$GF_TRINO_PORT"
home="$GF_CACHE/trino/trino-server-$GF_TRINO_VERSION"
stamp="$home/.govfabric-installed"
timeout="${GOVFABRIC_TRINO_START_TIMEOUT:-180}"

find_java() {
  local candidate
  for candidate in "${GOVFABRIC_TRINO_JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 \
    /usr/lib/jvm/temurin-25-jdk-* /usr/lib/jvm/java-25-* /usr/lib/jvm/temurin-24-jdk-*; do
    [[ -n "$candidate" && -x "$candidate/bin/java" ]] && { echo "$candidate"; return 0; }
  done
  return 1
}

ready() {
  curl -fsS --max-time 2 "$url/v1/info" 2>/dev/null | grep -q '"starting":false' &&
    python3 "$GF_ROOT/scripts/lib/trino_query.py" "$url" "SELECT 1" | grep -qx '\[1\]'
}

install_trino() {
  [[ -f "$stamp" && "$(cat "$stamp")" == "$GF_TRINO_PLUGINS" ]] && return 0
  command -v mvn >/dev/null || gf_apt_install maven
  local t0 repo="$GF_CACHE/trino/m2" staging="$GF_CACHE/trino/staging-$$" tarball plugin
  t0="$(gf_now)"
  mkdir -p "$GF_CACHE/trino"
  gf_log "downloading io.trino:trino-server:$GF_TRINO_VERSION:tar.gz from Maven Central (once; ~820 MB)"
  mvn -B -q -Dmaven.repo.local="$repo" dependency:get \
    -Dartifact="io.trino:trino-server:$GF_TRINO_VERSION:tar.gz" -Dtransitive=false \
    >"$GF_CACHE/trino/mvn.log" 2>&1 || { gf_log_tail "$GF_CACHE/trino/mvn.log"; gf_die "Maven download failed"; }
  tarball="$repo/io/trino/trino-server/$GF_TRINO_VERSION/trino-server-$GF_TRINO_VERSION.tar.gz"
  [[ -f "$tarball" ]] || gf_die "Maven reported success but $tarball is missing"
  gf_log "downloaded $(du -m "$tarball" | cut -f1) MB in $(gf_elapsed "$t0")s; extracting"
  # The tarball hard-links jars shared between plugins, so extract it whole, then prune.
  rm -rf "$staging" && mkdir -p "$staging"
  tar xzf "$tarball" -C "$staging"
  for plugin in "$staging/trino-server-$GF_TRINO_VERSION"/plugin/*; do
    [[ " $GF_TRINO_PLUGINS " == *" $(basename "$plugin") "* ]] || rm -rf "$plugin"
  done
  for plugin in $GF_TRINO_PLUGINS; do
    [[ -d "$staging/trino-server-$GF_TRINO_VERSION/plugin/$plugin" ]] || gf_die "plugin $plugin not in the tarball"
  done
  rm -rf "$home" && mv "$staging/trino-server-$GF_TRINO_VERSION" "$home" && rm -rf "$staging"
  rm -f "$tarball"  # the pruned install is the cache; the 820 MB tarball is not needed again
  rm -f "$GF_CACHE/trino/trino-$GF_TRINO_VERSION"-java*.aot  # recorded against the old jars
  echo "$GF_TRINO_PLUGINS" >"$stamp"
  gf_log "installed Trino $GF_TRINO_VERSION ($(du -sm "$home" | cut -f1) MB) in $(gf_elapsed "$t0")s"
}

# Java 25 AOT cache (JEP 483/514/515): the first run records the classes it loads and,
# when the server exits, a child JVM assembles the cache (trino-stop.sh waits for it and
# moves it into place); later starts map it and skip much of the class loading.
aot_path() {
  echo "$GF_CACHE/trino/trino-$GF_TRINO_VERSION-java$("$java_home/bin/java" -version 2>&1 | awk -F'"' 'NR==1{print $2}').aot"
}
aot_flags() {
  local aot
  [[ "${GOVFABRIC_TRINO_AOT:-1}" == 1 ]] || return 0
  aot="$(aot_path)"
  if [[ -s "$aot" ]]; then
    echo "-XX:AOTCache=$aot"
  else
    rm -f "$aot.new" "$aot.new.config"
    echo "$aot" >"$dir/aot-training"
    echo "-XX:AOTCacheOutput=$aot.new"
  fi
}

# C1 only: a test server runs many tiny queries, and C2's compile threads would compete
# for the 2 cores with startup and the tests (~30% faster start). Benchmarks against
# this server should set GOVFABRIC_TRINO_JIT=full.
jit_flags() {
  [[ "${GOVFABRIC_TRINO_JIT:-c1}" == full ]] || echo "-XX:TieredStopAtLevel=1"
}

write_config() {
  local etc="$dir/etc"
  rm -rf "$etc" "$dir/data" "$dir/aot-training"
  mkdir -p "$etc/catalog" "$dir/data" "$dir/files/metastore"
  cat >"$etc/node.properties" <<PROPS
node.environment=test
node.id=govfabric-test
node.data-dir=$dir/data
node.bind-ip=127.0.0.1
node.internal-address=127.0.0.1
PROPS
  cat >"$etc/jvm.config" <<PROPS
-server
-Xmx2G
-XX:InitialRAMPercentage=1
-XX:+UseG1GC
-XX:G1HeapRegionSize=32M
-XX:+ExplicitGCInvokesConcurrent
-XX:+ExitOnOutOfMemoryError
-XX:ReservedCodeCacheSize=256M
-XX:PerMethodRecompilationCutoff=10000
-XX:PerBytecodeRecompilationCutoff=10000
-Djdk.attach.allowAttachSelf=true
-Djdk.nio.maxCachedBufferSize=2000000
-Dfile.encoding=UTF-8
-Djol.skipHotspotSAAttach=true
-XX:+EnableDynamicAgentLoading
--enable-native-access=ALL-UNNAMED
$(aot_flags)
$(jit_flags)
$(printf "%s\n" ${GOVFABRIC_TRINO_JVM_EXTRA:-})
PROPS
  cat >"$etc/config.properties" <<PROPS
coordinator=true
node-scheduler.include-coordinator=true
http-server.http.port=$GF_TRINO_PORT
discovery.uri=$url
query.max-memory=1GB
query.max-memory-per-node=1GB
query.max-total-memory=1200MB
memory.heap-headroom-per-node=512MB
task.concurrency=2
catalog.management=dynamic
catalog.store=file
PROPS
  # The file catalog store reads etc/catalog-store.properties; the launcher runs in the
  # data dir where etc/ links to \$etc, so CREATE CATALOG writes into \$etc/catalog.
  echo "catalog.config-dir=$etc/catalog" >"$etc/catalog-store.properties"
  printf 'Bootstrap=WARN\nio.airlift.bootstrap=WARN\nio.trino=INFO\n' >"$etc/log.properties"
  echo "connector.name=tpch" >"$etc/catalog/tpch.properties"
  echo "connector.name=memory" >"$etc/catalog/memory.properties"
  # A static hive catalog over $dir/files costs a few seconds of startup; govfabric creates
  # its file catalogs at run time instead (CREATE CATALOG ... USING hive, see docs/services.md).
  if [[ " $GF_TRINO_PLUGINS " == *" hive "* && "${GOVFABRIC_TRINO_FILES_CATALOG:-0}" == 1 ]]; then
    cat >"$etc/catalog/files.properties" <<PROPS
connector.name=hive
hive.metastore=file
hive.metastore.catalog.dir=local:///metastore
fs.native-local.enabled=true
local.location=$dir/files
PROPS
  fi
}

mkdir -p "$dir"
if gf_pid_alive "$pidfile" && ready; then
  gf_log "already running at $url (pid $(cat "$pidfile")), reusing"
  exit 0
fi
if gf_port_open "$GF_TRINO_PORT"; then
  if ready; then
    gf_log "a Trino server not started by these scripts answers at $url; reusing it"
    exit 0
  fi
  gf_die "port $GF_TRINO_PORT is taken by something that is not a ready Trino; stop it or set GOVFABRIC_TRINO_PORT"
fi

t0="$(gf_now)"
install_trino
java_home="$(find_java)" || gf_die "Trino $GF_TRINO_VERSION needs Java 24+; none found (set GOVFABRIC_TRINO_JAVA_HOME)"
write_config
gf_log "jvm flags: $(grep -E 'AOT|Tiered' "$dir/etc/jvm.config" | tr '\n' ' ')"
t1="$(gf_now)"
: >"$log"
# setsid: own process group, so ctrl-C in the terminal does not reach the server directly;
# the launcher's `run` execs java, so $! is the server's pid.
setsid nohup "$home/bin/launcher" run --jvm-dir "$java_home" --etc-dir "$dir/etc" --data-dir "$dir/data" \
  >>"$log" 2>&1 </dev/null &
echo $! >"$pidfile"
if ! gf_wait_until "$timeout" "Trino at $url" gf_ready_or_dead "$pidfile" ready; then
  gf_log_tail "$log" 60
  bash "$(dirname "${BASH_SOURCE[0]}")/trino-stop.sh" || true
  gf_die "Trino did not become ready"
fi
if grep -qiE 'error has occurred while processing the AOT cache|unable to (use|map) (the )?AOT cache|AOT cache.*(mismatch|invalid)' "$log"; then
  gf_log "the JVM rejected the AOT cache; deleting it so that the next start records a new one"
  rm -f "$(aot_path)"
fi
gf_log "ready at $url (pid $(cat "$pidfile"), Trino $GF_TRINO_VERSION, java $java_home) in $(gf_elapsed "$t1")s (total $(gf_elapsed "$t0")s)"

#!/usr/bin/env bash
# Start a throwaway MariaDB server on 127.0.0.1:$GF_MYSQL_PORT (default 53306) as a plain
# process: Debian's `mariadb-server` (apt-get installed when missing), a fresh data dir
# under the run dir at every start (mariadb-install-db takes a few seconds), a unix socket
# in the run dir, running as the `mysql` OS user. Authentication is on (no
# --skip-grant-tables): root logs in with a random password made here, kept in
# $GF_RUN_DIR/mariadb/root.password (0600) and handed to tests only through
# GOVFABRIC_TEST_MYSQL_URL (scripts/services.sh env). Tests create their own databases and users.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
GF_TAG=mariadb

dir="$GF_RUN_DIR/mariadb"
data="$dir/data"
sock="$dir/mysqld.sock"
pidfile="$dir/mariadb.pid"
log="$dir/mariadb.log"
pwfile="$dir/root.password"
cnf="$dir/client.cnf"  # [client] options for the scripts' own admin connection (0600, has the password)

server_bin() { command -v mariadbd || command -v mysqld || ls /usr/sbin/mariadbd /usr/sbin/mysqld 2>/dev/null | head -1; }
ready() { mariadb-admin --no-defaults --connect-timeout=2 --socket="$sock" -uroot ping; }
as_root_sql() { mariadb --defaults-file="$cnf" --batch --skip-column-names "$@"; }

t0="$(gf_now)"
server="$(server_bin || true)"
if [[ -z "$server" ]] || ! command -v mariadb-install-db >/dev/null || ! command -v mariadb >/dev/null; then
  gf_apt_install mariadb-server mariadb-client
  server="$(server_bin || true)"
fi
[[ -n "$server" && -x "$server" ]] || gf_die "no MariaDB server binary (mariadbd) after installing mariadb-server"
command -v mariadb-install-db >/dev/null || gf_die "no mariadb-install-db after installing mariadb-server"
id mysql >/dev/null 2>&1 || gf_die "no 'mysql' OS user (the Debian package creates it); reinstall mariadb-server"

mkdir -p "$dir"
chown mysql:mysql "$dir"
if gf_pid_alive "$pidfile" && ready >/dev/null 2>&1 && [[ -s "$pwfile" ]]; then
  gf_log "already running at 127.0.0.1:$GF_MYSQL_PORT, reusing"
  exit 0
fi
if gf_port_open "$GF_MYSQL_PORT"; then
  gf_die "port $GF_MYSQL_PORT is taken by something else; stop it or set GOVFABRIC_MYSQL_PORT"
fi
runuser -u mysql -- test -w "$dir" ||
  gf_die "user mysql cannot write $dir; use a GOVFABRIC_SERVICES_DIR it can reach (default /tmp/govfabric-services)"

rm -rf "$data" "$pwfile" "$cnf" "$sock"
if ! mariadb-install-db --no-defaults --user=mysql --datadir="$data" --auth-root-authentication-method=normal \
  --skip-test-db --skip-name-resolve >"$dir/install-db.log" 2>&1; then
  gf_log_tail "$dir/install-db.log"
  gf_die "mariadb-install-db failed"
fi
: >"$log" && chown mysql:mysql "$log"
# Test-only durability settings: a throwaway server need not survive a crash.
# setsid: own process group, so ctrl-C in the terminal does not reach the server directly.
setsid nohup "$server" --no-defaults --user=mysql --datadir="$data" --socket="$sock" \
  --port="$GF_MYSQL_PORT" --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$dir/mariadbd.pid" \
  --log-error="$log" --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
  --innodb-buffer-pool-size=64M --innodb-log-file-size=16M --innodb-flush-log-at-trx-commit=0 \
  --innodb-doublewrite=0 --sync-binlog=0 --skip-log-bin --max-connections=200 --performance-schema=OFF \
  >>"$dir/stdout.log" 2>&1 </dev/null &
echo $! >"$pidfile"
if ! gf_wait_until 30 "MariaDB on port $GF_MYSQL_PORT" gf_ready_or_dead "$pidfile" ready; then
  gf_log_tail "$log"
  bash "$(dirname "${BASH_SOURCE[0]}")/mariadb-stop.sh" || true
  gf_die "MariaDB not ready"
fi

# A random root password (hex digits: safe in a URL), set over the unix socket while
# root still has none. Passwords go through files and stdin, never a command line or a log.
umask 077
od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$pwfile.new"
pw="$(cat "$pwfile.new")"
printf '[client]\nuser=root\npassword=%s\nsocket=%s\n' "$pw" "$sock" >"$cnf"
if ! mariadb --no-defaults --socket="$sock" -uroot --batch >"$dir/setup.log" 2>&1 <<SQL; then
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
ALTER USER 'root'@'localhost' IDENTIFIED BY '$pw';
ALTER USER IF EXISTS 'root'@'::1' IDENTIFIED BY '$pw';
DROP USER IF EXISTS ''@'localhost';
FLUSH PRIVILEGES;
SQL
  sed -i "s/$pw/***/g" "$dir/setup.log"  # the client echoes a failed statement
  gf_log_tail "$dir/setup.log"
  bash "$(dirname "${BASH_SOURCE[0]}")/mariadb-stop.sh" || true
  gf_die "could not set up the root user"
fi
mv -f "$pwfile.new" "$pwfile"
version="$(as_root_sql -e 'SELECT VERSION()')"
gf_log "ready at mysql://root:***@127.0.0.1:$GF_MYSQL_PORT/mysql (MariaDB $version, pid $(cat "$pidfile")) in $(gf_elapsed "$t0")s"

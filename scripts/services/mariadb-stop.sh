#!/usr/bin/env bash
# Stop the throwaway MariaDB server (by pid; mariadbd shuts down cleanly on TERM) and delete
# its data and root password (the logs stay in the run dir).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
GF_TAG=mariadb

dir="$GF_RUN_DIR/mariadb"
gf_stop_pid "$dir/mariadb.pid" mariadb 30
rm -rf "$dir/data" "$dir/root.password" "$dir/root.password.new" "$dir/client.cnf" "$dir/mysqld.sock"

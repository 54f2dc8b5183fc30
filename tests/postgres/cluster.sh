#!/usr/bin/env bash
# A private PostgreSQL cluster for the tests and the benchmark: in a temporary directory, on a free
# loopback port, run by an unprivileged user (PostgreSQL refuses to run as root), trust
# authentication on loopback only.
#
#   tests/postgres/cluster.sh start [--durable]   prints `export HAREPAY_TEST_POSTGRES_URL=…` and
#                                                  `export HAREPAY_TEST_POSTGRES_DIR=…` for eval
#   tests/postgres/cluster.sh stop DIR
#
# Without --durable the cluster skips fsync (a test cluster: nothing in it must survive a power
# cut, and the tests kill harepay, never PostgreSQL). The benchmark starts it --durable, so that
# its figures include the commit's flush as SQLite's do.
# PostgreSQL comes from the distribution's packages, installed when missing.
set -euo pipefail

find_bin_dir() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
        fi
    done | sort -V | tail -n 1
}

install_postgres() {
    if [ -n "$(find_bin_dir)" ]; then return 0; fi
    echo "PostgreSQL is not installed; installing it from the distribution's packages" >&2
    local sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo -n"; fi
    $sudo apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >&2
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Runs a command as the cluster's owner: an unprivileged system user when we are root.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u harepay-postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    local durable=0
    if [ "${1:-}" = "--durable" ]; then durable=1; fi
    install_postgres
    local bin_dir
    bin_dir="$(find_bin_dir)"
    if [ -z "$bin_dir" ]; then
        echo "cluster.sh: PostgreSQL could not be installed" >&2
        exit 3
    fi
    if [ "$(id -u)" = 0 ] && ! id harepay-postgres >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin harepay-postgres
    fi
    local dir port
    dir="$(mktemp -d /tmp/harepay-postgres.XXXXXX)"
    chmod 755 "$dir"
    if [ "$(id -u)" = 0 ]; then chown harepay-postgres "$dir"; fi
    as_owner "$bin_dir/initdb" -D "$dir/data" -U harepay --auth=trust --locale=C -E UTF8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 3; }
    port="$(free_port)"
    local settings="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=400"
    if [ "$durable" = 0 ]; then
        settings="$settings -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    as_owner "$bin_dir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$settings" start >&2 \
        || { cat "$dir/server.log" >&2; exit 3; }
    echo "export HAREPAY_TEST_POSTGRES_URL=postgres://harepay@127.0.0.1:$port/postgres"
    echo "export HAREPAY_TEST_POSTGRES_DIR=$dir"
    echo "export HAREPAY_TEST_POSTGRES_BIN=$bin_dir"
}

stop() {
    local dir="$1"
    local bin_dir
    bin_dir="$(find_bin_dir)"
    if [ -d "$dir/data" ]; then
        as_owner "$bin_dir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    case "$dir" in
        /tmp/harepay-postgres.*) rm -rf "$dir" ;;
    esac
}

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) stop "$2" ;;
    *) echo "usage: $0 start [--durable] | stop DIR" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# A private PostgreSQL cluster for the tests and the benchmark: in a temporary directory, on a free
# loopback port, run by an unprivileged user (PostgreSQL refuses to run as root), trust
# authentication on loopback only, TLS offered with a certificate from a CA of its own.
#
#   tests/postgres/cluster.sh start [--durable]   prints `export HAREPAY_TEST_POSTGRES_URL=…`,
#                                                  `export HAREPAY_TEST_POSTGRES_DIR=…` and the
#                                                  TLS files' paths (below) for eval
#   tests/postgres/cluster.sh stop DIR
#
# TLS: the server's certificate names localhost and 127.0.0.1 and is signed by the CA in
# HAREPAY_TEST_POSTGRES_CA_FILE; HAREPAY_TEST_POSTGRES_OTHER_CA_FILE is a CA that signed nothing
# the server shows (a man in the middle's, from a client's view). The URL says `sslmode=disable`,
# so that the suite's plain connections stay plain; the TLS tests (tests/it/postgres_tls.rs) ask
# for TLS in their own URLs.
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

install_openssl() {
    if command -v openssl >/dev/null; then return 0; fi
    echo "openssl is not installed; installing it from the distribution's packages" >&2
    local sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo -n"; fi
    $sudo apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq openssl >&2
}

# A CA, a server certificate it signs for localhost and 127.0.0.1 (P-256 keys: quick to make and
# to handshake with), and a second CA that signs nothing, in $1.
make_certificates() {
    local tls_dir="$1"
    mkdir -p "$tls_dir"
    local ca
    for ca in ca other-ca; do
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
            -subj "/CN=harepay test $ca" -keyout "$tls_dir/$ca.key" -out "$tls_dir/$ca.crt" \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    done
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
        -keyout "$tls_dir/server.key" -out "$tls_dir/server.csr" 2>/dev/null
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$tls_dir/server.ext"
    openssl x509 -req -in "$tls_dir/server.csr" -CA "$tls_dir/ca.crt" -CAkey "$tls_dir/ca.key" -CAcreateserial \
        -days 3650 -extfile "$tls_dir/server.ext" -out "$tls_dir/server.crt" 2>/dev/null
    # PostgreSQL reads its key only when its owner alone may.
    chmod 600 "$tls_dir/server.key"
    if [ "$(id -u)" = 0 ]; then chown harepay-postgres "$tls_dir/server.key"; fi
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
    install_openssl
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
    make_certificates "$dir/tls"
    port="$(free_port)"
    local settings="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=400"
    # initdb's `host` lines take TLS and plain connections alike.
    settings="$settings -c ssl=on -c ssl_cert_file=$dir/tls/server.crt -c ssl_key_file=$dir/tls/server.key"
    if [ "$durable" = 0 ]; then
        settings="$settings -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    as_owner "$bin_dir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$settings" start >&2 \
        || { cat "$dir/server.log" >&2; exit 3; }
    echo "export HAREPAY_TEST_POSTGRES_URL=postgres://harepay@127.0.0.1:$port/postgres?sslmode=disable"
    echo "export HAREPAY_TEST_POSTGRES_CA_FILE=$dir/tls/ca.crt"
    echo "export HAREPAY_TEST_POSTGRES_OTHER_CA_FILE=$dir/tls/other-ca.crt"
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

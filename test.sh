#!/usr/bin/env bash
# Runs every test harepay has: lint, unit and property tests, the integration tests through the
# real binary, and the third-party client check (the Python MCP SDK). CI runs exactly this. Every
# crate of the workspace (the server, crates/harepay-tools, crates/harepay-raw-client) is linted
# and tested. The tests run on both backends: a private PostgreSQL cluster (tests/postgres/cluster.sh,
# installed from the distribution's packages when missing) serves the store contract suites and a
# second pass of the integration tests.
set -euo pipefail
cd "$(dirname "$0")"

echo "== PostgreSQL: a private cluster for the tests"
eval "$(tests/postgres/cluster.sh start)"
export HAREPAY_TEST_POSTGRES_REQUIRED=1
trap 'tests/postgres/cluster.sh stop "$HAREPAY_TEST_POSTGRES_DIR"' EXIT

echo "== rustfmt"
cargo fmt --all --check

echo "== clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test (unit, property, integration through the real binary; SQLite)"
cargo test --workspace --locked

echo "== the integration tests again, each on a fresh PostgreSQL database"
HAREPAY_TEST_BACKEND=postgres cargo test --locked --test it

echo "== third-party client: Python MCP SDK against target/debug/harepay"
venv=target/pyenv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/clients/requirements.txt
"$venv/bin/python" tests/clients/quickstart.py target/debug/harepay

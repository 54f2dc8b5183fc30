#!/usr/bin/env bash
# Runs every test harepay has: lint, unit and property tests, the integration tests through the
# real binary, and the third-party client check (the Python MCP SDK). CI runs exactly this. Every
# crate of the workspace (the server, crates/harepay-tools, crates/harepay-raw-client) is linted
# and tested.
set -euo pipefail
cd "$(dirname "$0")"

echo "== rustfmt"
cargo fmt --all --check

echo "== clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test (unit, property, integration through the real binary)"
cargo test --workspace --locked

echo "== third-party client: Python MCP SDK against target/debug/harepay"
venv=target/pyenv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/clients/requirements.txt
"$venv/bin/python" tests/clients/quickstart.py target/debug/harepay

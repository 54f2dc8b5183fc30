#!/usr/bin/env bash
# The official MCP conformance suite against `harepay http` (it downloads the suite and Node 22
# from npm, so it is not part of ./test.sh, which needs no network; .ci/run runs it after). Starts
# the server on a fresh database with an admin key, behind auth-proxy.mjs, and runs every
# scenario, pending ones included, against baseline.yml. Needs Node 18+ and npx.
# HAREPAY_CONFORMANCE_BINARY: the harepay to test (default: a release build made here).
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=${HAREPAY_CONFORMANCE_BINARY:-}
if [ -z "$binary" ]; then
  cargo build --release --quiet
  binary=target/release/harepay
fi
work=$(mktemp -d)
server_port=${HAREPAY_CONFORMANCE_PORT:-18787}
proxy_port=$((server_port + 1))
export HAREPAY_DB="$work/conformance.db"
key=$("$binary" keys create --role admin --owner conformance --new-merchant Conformance \
  | grep -o 'sk_test_[A-Za-z0-9_]*' | head -1)
HAREPAY_RATE_LIMIT_PER_KEY=off "$binary" http --listen "127.0.0.1:$server_port" 2>"$work/server.log" &
server=$!
node tests/conformance/auth-proxy.mjs "$proxy_port" "$server_port" "$key" &
proxy=$!
trap 'kill $server $proxy 2>/dev/null; rm -rf "$work"' EXIT
sleep 1
npx -y -p node@22 -p @modelcontextprotocol/conformance@0.1.16 -- conformance server \
  --url "http://127.0.0.1:$proxy_port/mcp" --suite all --expected-failures tests/conformance/baseline.yml

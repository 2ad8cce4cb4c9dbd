#!/usr/bin/env bash
# The demo (README's first command): builds wasmfn and the example functions,
# serves them on 127.0.0.1:${PORT:-8080} with the embedded example
# configuration (examples/wasmfn.toml: every function in reply mode, no
# cluster or sink needed), sends the seed-style trade request through
# /handler and /transformer with curl, prints the replies, and stops.
# Pass --keep to leave the server running (Ctrl-C stops it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
port=${PORT:-8080}

scripts/build-functions.sh target/demo-functions
cp examples/wasmfn.toml target/demo-functions/wasmfn.toml
cargo build --release --quiet -p wasmfn

target/release/wasmfn serve --functions target/demo-functions --port "$port" --drain-secs 0 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

trade='{"id":"T-1001","px":101.25,"qty":5,"venue":"my-exchange"}'
show() { echo; echo "\$ $*"; "$@"; echo; }
show curl -sS -i "http://127.0.0.1:$port/handler" \
  -H 'ce_type: my-trade' -H 'ce_source: my-exchange' -H 'content-type: application/json' -d "$trade"
show curl -sS -i "http://127.0.0.1:$port/transformer" \
  -H 'ce-specversion: 1.0' -H 'ce-id: trade-1' -H 'ce-type: my-trade' -H 'ce-source: my-exchange' \
  -H 'content-type: application/json' -d "$trade"
show curl -sS -i "http://127.0.0.1:$port/transformer" \
  -H 'ce_type: my-trade' -H 'ce_source: my-exchange' -H 'content-type: application/json' -d '{"id":"T-2"}'

if [ "${1:-}" = "--keep" ]; then
  echo "wasmfn is serving on http://127.0.0.1:$port (Ctrl-C to stop)"
  wait $server
fi

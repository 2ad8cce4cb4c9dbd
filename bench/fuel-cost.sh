#!/usr/bin/env bash
# What fuel metering costs: instructions per event (callgrind, so the count
# does not depend on other load) for `simple` and `transformer`, served by
# the same binary without and with --fuel. Writes bench/results/fuel-cost.txt.
# Usage: bench/fuel-cost.sh [REQUESTS (default 500)]   (needs target/release/wasmfn
# and target/functions, e.g. from scripts/test.sh; valgrind)
set -euo pipefail
bench=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$bench")
n=${1:-500}
wasmfn=$root/target/release/wasmfn
work=$(mktemp -d /tmp/wasmfn-fuel-cost.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/fn"
cp "$root/target/functions/simple.wasm" "$root/target/functions/transformer.wasm" "$work/fn/"
cat >"$work/fn/wasmfn.toml" <<'TOML'
[functions.transformer]
env = { mapping = '{"trade_id":"/id","price":"/px","quantity":"/qty"}', partition_key = "trade_id" }
TOML
port=18113

send() { # FUNCTION COUNT
  python3 - "$port" "$1" "$2" <<'PY'
import http.client, sys
port, fn, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
body = b'{"id":"T-1001","px":101.25,"qty":5,"venue":"my-exchange","trader":"a","book":"b","side":"buy","ts":"2026-01-01T00:00:00Z"}'
h = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "my-exchange", "ce-type": "my-trade",
     "content-type": "application/json"}
for _ in range(n):
    c.request("POST", "/" + fn, body=body, headers=h)
    r = c.getresponse(); r.read()
    assert r.status in (200, 202), r.status
PY
}

measure() { # FUNCTION [--fuel]
  local out=$work/cg.$1${2:-}
  # --max-instances 2: valgrind cannot reserve the pooling allocator's default address space.
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
    "$wasmfn" serve --functions "$work/fn" --port $port --drain-secs 0 --max-instances 2 \
    --cache-dir "$work/cache${2:-}" ${2:-} >"$work/log" 2>&1 &
  local pid=$!
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
  send "$1" 50   # warm-up, not counted
  callgrind_control -i on $pid >/dev/null 2>&1
  send "$1" "$n"
  callgrind_control -d $pid >/dev/null 2>&1
  sleep 1; kill $pid; wait $pid 2>/dev/null || true
  local total
  total=$(callgrind_annotate "$out.1" 2>/dev/null | grep -m1 'PROGRAM TOTALS' | awk '{gsub(",","",$1); print $1}')
  echo $((total / n))
}

{
  echo "# fuel metering cost: instructions per event (callgrind), $n sequential requests, git $(git -C "$root" rev-parse --short HEAD)"
  echo "| function | without --fuel | with --fuel | ratio |"
  echo "|---|---|---|---|"
  for f in simple transformer; do
    off=$(measure $f) on=$(measure $f --fuel)
    echo "| $f | $off | $on | $(python3 -c "print(f'{$on/$off:.3f}')") |"
  done
} | tee "$bench/results/fuel-cost.txt"

#!/usr/bin/env bash
# Instructions per event (callgrind): the figure issue 15's targets are set in,
# stable on a shared, noisy machine where wall-clock rates are not.
#
# For `simple` (workload a: the PingSource-style event, 202) and `transformer`
# (workload b: the 968 B trade, 12-field mapping, reply 200), each served alone
# by `wasmfn serve` under callgrind: 50 warm-up events (not counted), then
# instrumentation on, SMALL events over one keep-alive connection and a dump,
# then LARGE - SMALL events and a second dump (each dump holds only what ran
# since the one before). Per event = (dump2 - dump1) / (LARGE - 2 SMALL), which
# cancels what a dump holds besides events (the toggle, the wake-ups between);
# all threads count (the log writer, the epoch ticker).
#
# Usage: bench/instructions.sh [WASMFN_BINARY (default target/release/wasmfn)]
#   env SMALL (200), LARGE (1200), FUNCTIONS ("simple transformer"),
#   FUNCTIONS_DIR (target/functions), KEEP (a directory to keep the second
#   dump of each function in, for callgrind_annotate), RESET (auto: the
#   server's default memory reset, PAGEMAP_SCAN where the kernel has it;
#   decommit: `--memory-reset decommit`, what nodes on Linux < 6.7 run)
# Needs valgrind (Debian `valgrind`), python3, curl. Prints a markdown table.
set -euo pipefail
bench=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$bench")
wasmfn=${1:-$root/target/release/wasmfn}
small=${SMALL:-200}
large=${LARGE:-1200}
functions=${FUNCTIONS:-simple transformer}
fndir=${FUNCTIONS_DIR:-$root/target/functions}
reset=${RESET:-auto}
case $reset in auto|decommit) ;; *) echo "RESET must be auto or decommit, not $reset" >&2; exit 2 ;; esac
# Binaries from before --memory-reset have only the automatic choice.
reset_args=()
if [ "$reset" = decommit ]; then
  "$wasmfn" serve --help | grep -q -- '--memory-reset' || { echo "$wasmfn has no --memory-reset" >&2; exit 1; }
  reset_args=(--memory-reset decommit)
fi
command -v valgrind >/dev/null || { echo "valgrind missing (apt-get install -y valgrind)" >&2; exit 1; }
work=$(mktemp -d /tmp/wasmfn-instructions.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/fn"
cp "$fndir/simple.wasm" "$fndir/transformer.wasm" "$work/fn/"
# The same mapping as bench/run.sh's transformer workloads.
mapping='{"trade_id":"/id","price":"/px","quantity":"/qty","side":"/side","symbol":"/symbol","currency":"/currency","account":"/account/id","desk":"/account/desk","venue":"/venue/mic","trader":"/trader/id","executed_at":"/ts","settle_date":"/settle_date"}'
cat >"$work/fn/wasmfn.toml" <<EOF
[functions.transformer]
env = { mapping = '$mapping', partition_key = "trade_id" }
EOF
port=${PORT:-18117}

send() { # FUNCTION COUNT
  local headers body expect
  case $1 in
    simple) headers=$bench/payloads/simple.headers body=$bench/payloads/ping.json expect=202 ;;
    transformer) headers=$bench/payloads/transformer.headers body=$bench/payloads/trade.json expect=200 ;;
  esac
  python3 - "$port" "$1" "$headers" "$body" "$2" "$expect" <<'PY'
import http.client, sys
port, fn, hfile, bfile, n, expect = sys.argv[1:]
headers = dict(l.split(":", 1) for l in open(hfile) if ":" in l)
headers = {k.strip(): v.strip() for k, v in headers.items()}
body = open(bfile, "rb").read()
c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=120)
for _ in range(int(n)):
    c.request("POST", "/" + fn, body=body, headers=headers)
    r = c.getresponse(); r.read()
    assert r.status == int(expect), (r.status, expect)
PY
}

total() { callgrind_annotate "$1" 2>/dev/null | grep -m1 'PROGRAM TOTALS' | awk '{gsub(",","",$1); print $1}'; }

measure() { # FUNCTION
  local out=$work/cg.$1 pid
  # As in production: RUST_BACKTRACE makes wasmtime capture a backtrace per
  # call (bench/README.md). --max-instances 2: valgrind cannot reserve the
  # pooling allocator's default address space. --trace-children: the compile
  # worker (a child process) must see the CPU valgrind emulates, or its
  # artifact asks for features (AVX-VNNI) the emulated CPU lacks.
  env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE RUST_LOG=info \
    valgrind --tool=callgrind --trace-children=yes --instr-atstart=no --callgrind-out-file="$out.%p" \
    "$wasmfn" serve --functions "$work/fn" --port "$port" --drain-secs 0 --max-instances 2 \
    --compile-timeout-secs 900 --compile-memory-mb 16384 --cache-dir "$work/cache" "${reset_args[@]}" >"$work/log.$1" 2>&1 &
  pid=$!
  out=$out.$pid
  for _ in $(seq 1800); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$work/log.$1" >&2; exit 1; }
  # The mode the server really runs (auto decommits on kernels without PAGEMAP_SCAN).
  # (a file: measure runs in a command substitution's subshell)
  if grep -q 'only written pages are reset' "$work/log.$1"; then echo pagemap
  elif grep -q 'decommitted between events\|no PAGEMAP_SCAN' "$work/log.$1"; then echo decommit
  else echo unknown; fi >"$work/mode"
  send "$1" 50
  callgrind_control -i on "$pid" >/dev/null 2>&1
  send "$1" "$small"
  callgrind_control -d "$pid" >/dev/null 2>&1
  send "$1" "$((large - small))"
  callgrind_control -d "$pid" >/dev/null 2>&1
  sleep 1; kill "$pid"; wait "$pid" 2>/dev/null || true
  local a b
  [ -z "${KEEP:-}" ] || { mkdir -p "$KEEP"; cp "$out.2" "$KEEP/callgrind.$1"; }
  a=$(total "$out.1") b=$(total "$out.2")
  echo $(((b - a) / (large - 2 * small)))
}

echo "| function | instructions per event |"
echo "|---|---:|"
for f in $functions; do
  echo "| $f | $(measure "$f") |"
done
echo
echo "(callgrind, memory reset: $(cat "$work/mode") (RESET=$reset), $wasmfn sha256 $(sha256sum "$wasmfn" | cut -c1-12), git $(git -C "$root" rev-parse --short HEAD), dumps after $small and $large events)"

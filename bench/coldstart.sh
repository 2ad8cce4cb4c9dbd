#!/usr/bin/env bash
# A new pod's cold start for the Python transformer with its module from a
# registry (issue 12 item 6 / issue 13 item 7 target: first 2xx in < 2 s with
# an empty --cache-dir). Against a local Debian docker-registry on 127.0.0.1,
# the module is pushed once with `wasmfn push --precompile` (both layers), then
# a new `wasmfn serve` whose wasmfn.toml names it by digest is timed from exec
# to /readyz 200 and to the first answer, with an empty --cache-dir:
#   (a) compiled      without --trust-precompiled: the precompiled layer is
#                     ignored (not even downloaded), Cranelift compiles
#   (b) precompiled   WASMFN_TRUST_PRECOMPILED=true: the precompiled layer is
#                     pulled, verified and deserialized, nothing is compiled
# runs interleaved (a, b, a, b, ...) so that the machine's load touches both
# alike. Per run also: peak RSS (the largest of the server and its compile
# worker, wait4) and CPU seconds of the whole run (server + worker), the
# figures a shared machine disturbs least. Writes bench/results/coldstart.md.
#
# usage: bench/coldstart.sh [MODULE.wasm]
#   MODULE.wasm  default target/functions/transformer-py.wasm (built by
#                scripts/build-functions.sh target/functions, i.e. `wasmfn build`)
# env: REPS (3), WASMFN_BIN (target/release/wasmfn), CPUS (unset: all cores;
#      e.g. CPUS=0 pins the server to one core with taskset), OUT (the results
#      file, default bench/results/coldstart.md)
set -euo pipefail
bench=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$bench")
cd "$root"
REPS=${REPS:-3}
module=${1:-target/functions/transformer-py.wasm}
name=transformer-py
[ -f "$module" ] || { echo "$module missing: scripts/build-functions.sh target/functions" >&2; exit 1; }
command -v docker-registry >/dev/null || { echo "needs Debian's docker-registry" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/coldstart.XXXXXX")
# A copy, so that a concurrent rebuild cannot swap the binary mid-run.
cp "${WASMFN_BIN:-$root/target/release/wasmfn}" "$work/wasmfn"
wasmfn=$work/wasmfn
registry_pid=
cleanup() { [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

registry_port=$(free_port)
cat > "$work/registry.yml" <<YAML
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/storage}}
http: {addr: 127.0.0.1:$registry_port, secret: bench}
YAML
docker-registry serve "$work/registry.yml" 2>>"$work/registry.log" &
registry_pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$registry_port") 2>/dev/null && break; sleep 0.1; done

push_start=$(date +%s.%N)
reference=$("$wasmfn" push --precompile "$module" "127.0.0.1:$registry_port/bench/$name:v1" 2>"$work/push.log" | tail -1)
push_s=$(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$push_start" "$(date +%s.%N)")
code_bytes=$(sed -n 's/.*with precompiled code (\([0-9]*\) bytes.*/\1/p' "$work/push.log")
echo "pushed $module ($(stat -c %s "$module") bytes) + ${code_bytes:-?} bytes of precompiled code in $push_s s as $reference"

mapping='{"trade_id":"/id","price":"/px","quantity":"/qty","side":"/side","symbol":"/symbol","currency":"/currency","account":"/account/id","desk":"/account/desk","venue":"/venue/mic","trader":"/trader/id","executed_at":"/ts","settle_date":"/settle_date"}'
mkdir -p "$work/fn"
printf '[functions.%s]\nsource = "oci://%s"\nenv = { mapping = %s, partition_key = "trade_id" }\n' \
  "$name" "$reference" "'$mapping'" > "$work/fn/wasmfn.toml"
cp bench/payloads/transformer.headers "$work/headers"
cp bench/payloads/trade.json "$work/body"

pin=()
[ -n "${CPUS:-}" ] && pin=(taskset -c "$CPUS")
measure() {  # measure TRUST CACHE -> one JSON line
  local port; port=$(free_port)
  python3 "$bench/lib/ready.py" --port "$port" --path "/$name" --headers "$work/headers" \
    --body "$work/body" --timeout 300 --log "$work/serve.log" -- \
    "${pin[@]}" env PORT="$port" WASMFN_FUNCTIONS="$work/fn" WASMFN_CACHE_DIR="$2" \
    WASMFN_TRUST_PRECOMPILED="$1" WASMFN_DRAIN_SECS=0 "$wasmfn" serve
}
cell() { python3 -c '
import json,sys; r=json.loads(sys.argv[1])
print("| %.0f | %s at %.0f | %.0f | %.2f |" % (r["ready_ms"], r["status"], r["answer_ms"], r["maxrss_mb"], r["cpu_s"]) if r["ok"] else "| FAIL: %s | | | |" % r.get("error", ""))' "$1"; }

rows=()
load_start=$(cut -d' ' -f1 /proc/loadavg)
for rep in $(seq "$REPS"); do
  for mode in compiled precompiled; do
    trust=false; [ "$mode" = precompiled ] && trust=true
    line=$(measure "$trust" "$work/cache-$mode-$rep")
    echo "$mode run $rep: $line"
    rows+=("| $rep | $mode $(cell "$line")")
  done
done
load_end=$(cut -d' ' -f1 /proc/loadavg)
echo "log: $(grep -c "loaded the artifact's precompiled code" "$work/serve.log" || true) loads of precompiled code, $(grep -c "compiling the module instead" "$work/serve.log" || true) fallbacks to compiling"

out=${OUT:-$bench/results/coldstart.md}
{
  echo "# Cold start of a new pod, Python transformer from a registry ($(date -u +%F), $(git rev-parse --short HEAD))"
  echo
  echo "\`bench/coldstart.sh\`: module \`$module\` ($(stat -c %s "$module") bytes), pushed once with"
  echo "\`wasmfn push --precompile\` (+ ${code_bytes:-?} bytes of precompiled code; the push took $push_s s, compile included)"
  echo "to a Debian docker-registry on 127.0.0.1; each run a new \`wasmfn serve\` with an **empty --cache-dir**."
  echo "ready = exec → \`/readyz\` 200 (ms); first answer = status of the first event and when (ms);"
  echo "peak RSS = the largest of the server and its compile worker (MB, wait4); CPU = user + system"
  echo "of the server and its worker over the run (s). Machine: $(nproc) cores, shared; load average"
  echo "$load_start at the start, $load_end at the end.${CPUS:+ Server pinned to CPU $CPUS.}"
  echo
  echo "| run | mode | ready ms | first answer | peak RSS MB | CPU s |"
  echo "|---|---|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
} > "$out"
cat "$out"

#!/usr/bin/env bash
# The host's compiled-artifact cache (host/src/sandbox/cache.rs: one .cwasm
# per module, mmap'd by Component::deserialize_file) against wasmtime's own
# (`Config::cache`, wasmtime-cache: zstd-compressed files, read and
# decompressed into memory by Component::new) on a restart with a warm cache
# (issue 17 item 5a). Module: the Python transformer (19 MB, the load where
# the difference is largest).
#
# Needs a host built with bench/lib/wasmtime-cache.patch (env-gated: with
# WASMFN_EXPERIMENT_WASMTIME_CACHE=DIR the serving engine gets
# Config::cache(DIR) and components are loaded with Component::new instead of
# through ArtifactCache; both paths log the load time):
#   git apply bench/lib/wasmtime-cache.patch && cargo build --release --workspace
#   cp target/release/wasmfn /tmp/wasmfn-cache-experiment && git apply -R bench/lib/wasmtime-cache.patch
#   WASMFN_BIN=/tmp/wasmfn-cache-experiment bench/artifact-cache.sh
#
# Each cache is filled by one start, then REPS restarts of each (interleaved)
# are timed with lib/ready.py: exec -> /readyz 200 -> first answer, peak RSS
# and CPU (wait4), anonymous vs file-backed RSS after the first answer; the
# module's load time from the server's log. Writes bench/results/artifact-cache.md.
#
# usage: bench/artifact-cache.sh [MODULE.wasm]   env: REPS (5), WASMFN_BIN, CPUS, OUT
set -euo pipefail
bench=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$bench")
cd "$root"
REPS=${REPS:-5}
module=${1:-target/functions/transformer-py.wasm}
name=transformer-py
[ -f "$module" ] || { echo "$module missing: scripts/build-functions.sh target/functions" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/artifact-cache.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "${WASMFN_BIN:-$root/target/release/wasmfn}" "$work/wasmfn"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mapping='{"trade_id":"/id","price":"/px","quantity":"/qty","side":"/side","symbol":"/symbol","currency":"/currency","account":"/account/id","desk":"/account/desk","venue":"/venue/mic","trader":"/trader/id","executed_at":"/ts","settle_date":"/settle_date"}'
mkdir -p "$work/fn"
cp "$module" "$work/fn/$name.wasm"
printf '[functions.%s]\nenv = { mapping = %s, partition_key = "trade_id" }\n' "$name" "'$mapping'" > "$work/fn/wasmfn.toml"

pin=()
[ -n "${CPUS:-}" ] && pin=(taskset -c "$CPUS")
measure() {  # measure MODE LOG -> one JSON line; MODE: ours | wasmtime
  local port extra; port=$(free_port)
  if [ "$1" = wasmtime ]; then
    extra=(WASMFN_CACHE_DIR="$work/unused-$RANDOM" WASMFN_EXPERIMENT_WASMTIME_CACHE="$work/cache-wasmtime")
  else
    extra=(WASMFN_CACHE_DIR="$work/cache-ours" WASMFN_EXPERIMENT_TIMING=1)
  fi
  python3 "$bench/lib/ready.py" --port "$port" --path "/$name" --headers bench/payloads/transformer.headers \
    --body bench/payloads/trade.json --timeout 600 --log "$2" -- \
    "${pin[@]}" env PORT="$port" WASMFN_FUNCTIONS="$work/fn" WASMFN_DRAIN_SECS=0 \
    WASMFN_COMPILE_TIMEOUT_SECS=600 "${extra[@]}" "$work/wasmfn" serve
}
load_ms() { python3 -c '
import re,sys
hits = [re.search(r"\bms\"?[=:]\s*\"?(\d+)", l) for l in open(sys.argv[1], errors="replace") if "EXPERIMENT" in l]
print(next((h.group(1) for h in reversed(hits) if h), ""))' "$1"; }

load_start=$(cut -d' ' -f1 /proc/loadavg)
for mode in ours wasmtime; do
  echo "fill $mode: $(measure "$mode" "$work/fill-$mode.log")"
done
ours_bytes=$(find "$work/cache-ours" -name '*.cwasm' -printf '%s\n' | head -1)
wasmtime_bytes=$(find "$work/cache-wasmtime" -type f -path '*modules*' -printf '%s\n' | sort -n | tail -1)
rows=()
for rep in $(seq "$REPS"); do
  for mode in ours wasmtime; do
    log="$work/run-$mode-$rep.log"
    line=$(measure "$mode" "$log")
    echo "$mode warm $rep: $line load_ms=$(load_ms "$log")"
    rows+=("$(python3 -c '
import json,sys; r=json.loads(sys.argv[1])
print("| %s | %s | %s | %.0f | %.0f | %.2f | %.0f | %.0f | %.0f |" % (sys.argv[2], sys.argv[3], sys.argv[4] or "?", r["ready_ms"], r["answer_ms"], r["cpu_s"], r["maxrss_mb"], r.get("rss_anon_mb", -1), r.get("rss_file_mb", -1)) if r["ok"] else "| %s | %s | FAIL: %s |" % (sys.argv[2], sys.argv[3], r.get("error")))' "$line" "$rep" "$mode" "$(load_ms "$log")")")
  done
done
load_end=$(cut -d' ' -f1 /proc/loadavg)

out=${OUT:-$bench/results/artifact-cache.md}
{
  echo "# Warm-cache restart: host ArtifactCache (mmap) vs wasmtime Config::cache ($(date -u +%F), $(git rev-parse --short HEAD))"
  echo
  echo "\`bench/artifact-cache.sh\`: module \`$module\` ($(stat -c %s "$module") bytes), served from a local"
  echo "directory; each cache filled by one start, then restarts with it. Cache file: ours $ours_bytes bytes"
  echo "(.cwasm as compiled), wasmtime's $wasmtime_bytes bytes (zstd). load ms = the component's load as the"
  echo "server logs it; ready = exec → /readyz 200; CPU = user + system of the run (s); peak RSS (wait4);"
  echo "anon / file = RssAnon / RssFile of the server after the first answer (MB). Machine: $(nproc) cores,"
  echo "shared; load average $load_start at the start, $load_end at the end.${CPUS:+ Server pinned to CPU $CPUS.}"
  echo
  echo "| run | cache | load ms | ready ms | first answer ms | CPU s | peak RSS MB | anon MB | file MB |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
} > "$out"
cat "$out"

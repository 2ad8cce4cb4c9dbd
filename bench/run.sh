#!/usr/bin/env bash
# wasmfn benchmark: wasmfn and its baselines, in the same run on the same machine.
# Writes bench/results/<date>.md and bench/results/latest.md. See bench/README.md.
#
# usage: bench/run.sh [--no-build] [--reset auto|decommit] [--skip-wasmtime-serve] [--skip-echo]
#                     [--skip-reused] [--skip-reset] [--skip-scaling] [--skip-open-loop]
#                     [--skip-profile] [--skip-modules] [--skip-languages]
#   --no-build             use the existing target/release/wasmfn and target/functions
#   --reset MODE           the main wasmfn server's --memory-reset (auto: PAGEMAP_SCAN where the
#                          kernel has it; decommit: what nodes on Linux < 6.7 run); the reset phase
#                          then measures the other mode
#   --skip-wasmtime-serve  no baseline 2 (wasmtime serve); otherwise wasmtime-cli 48.0.8 is
#                          installed into bench/.tools first if absent (~10-20 min on 2 cores)
#   --skip-echo            no axum-echo ceiling (bench/echo: the HTTP stack alone)
#   --skip-reused          no (b) workload with instances = "reused"
#   --skip-reset           no second memory-reset mode ((a) and (b) at RESET_CONCS, ~2.5 min)
#   --skip-scaling         no 2-core phase (servers on CPUs 0,1, wrk on the same cores, ~2.5 min)
#   --skip-open-loop       no oha runs at 50% of peak (short validation runs)
#   --skip-profile         no perf / callgrind profiles
#   --skip-modules         no 10/100/1000-module startup test
#   --skip-languages       no Python/JavaScript/C phase (bench/languages.sh, run last in the same run;
#                          its table is appended to the report)
# Setup installs what is missing: wrk (apt), the Flask baseline's venv (pip), oha 1.16.0 and
# wasmtime-cli 48.0.8 (cargo install into bench/.tools).
# env: DURATION (s, default 10) WARMUP (s, 3) REPS (3) CONCS ("1 16 64") MODULE_COUNTS ("10 100 1000")
#      PROFILE_REQUESTS (2000) QUIET_WAIT (s to wait for other load to stop, 120)
#      RESET_CONCS ("1 16") SCALE_CONC (64)
#
# CPU split (2 cores): every server under test (wasmfn, gunicorn, wasmtime serve, the echo) is
# pinned to CPU 0; the load generator (wrk, oha), the sink and the measuring helpers are pinned
# to CPU 1. The scaling phase alone puts the server on both cores and wrk beside it.

# $(cache_args DIR) and $(reset_args MODE) print flags meant to split into words (nothing when
# the binary lacks the flag), hence unquoted:
# shellcheck disable=SC2046
set -euo pipefail

bench=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$bench")
lib=$bench/lib
cd "$root"

build=1 with_wasmtime=1 profile=1 modules=1 languages=1 echo_ceiling=1 reused=1 reset_phase=1 scaling=1 open_loop=1
reset_mode=auto
while [ $# -gt 0 ]; do
  arg=$1
  shift
  case $arg in
    --no-build) build=0 ;;
    --reset) [ $# -gt 0 ] || { echo "run.sh: --reset needs auto or decommit" >&2; exit 2; }; reset_mode=$1; shift ;;
    --reset=*) reset_mode=${arg#--reset=} ;;
    --skip-echo) echo_ceiling=0 ;;
    --skip-reused) reused=0 ;;
    --skip-reset) reset_phase=0 ;;
    --skip-scaling) scaling=0 ;;
    --skip-open-loop) open_loop=0 ;;
    --skip-wasmtime-serve) with_wasmtime=0 ;;
    --with-wasmtime-serve) with_wasmtime=1 ;;  # the default; kept for old command lines
    --skip-profile) profile=0 ;;
    --skip-modules) modules=0 ;;
    --skip-languages) languages=0 ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done
case $reset_mode in auto|decommit) ;; *) echo "run.sh: --reset must be auto or decommit, not $reset_mode" >&2; exit 2 ;; esac
# The reset phase measures the mode the main server does not run.
other_reset=decommit
[ "$reset_mode" = decommit ] && other_reset=auto

DURATION=${DURATION:-10} WARMUP=${WARMUP:-3} REPS=${REPS:-3}
CONCS=${CONCS:-"1 16 64"} RESET_CONCS=${RESET_CONCS:-"1 16"} SCALE_CONC=${SCALE_CONC:-64} MODULE_COUNTS=${MODULE_COUNTS:-"10 100 1000"} PROFILE_REQUESTS=${PROFILE_REQUESTS:-2000}
SERVER_CPU=0 CLIENT_CPU=1
# Production (Knative) sets no RUST_BACKTRACE. With it set, every wasmtime-internal error value
# (one per event, from drop_fibers_and_futures) captures a backtrace: ~28% of the instructions per
# request in the profile and ~30% fewer events/s. Measure what production runs.
unset RUST_BACKTRACE RUST_LIB_BACKTRACE
WASMFN_PORT=18080 FLASK_PORT=18081 SINK_PORT=18090 SCRATCH_PORT=18082 WASMTIME_PORT=18083 ECHO_PORT=18084
# Arrays, not functions: `"${on_server[@]}" cmd &` leaves $! = the command's own pid (taskset execs),
# so cleanup can stop exactly the processes this script started.
on_server=(taskset -c "$SERVER_CPU")
on_client=(taskset -c "$CLIENT_CPU")
on_both=(taskset -c "$SERVER_CPU,$CLIENT_CPU")
# What run_wrk and load use; the reset and scaling phases change them for their runs.
wrk_on=("${on_client[@]}") wrk_threads=1 load_kind=load load_concs=$CONCS
say() { printf '\n== %s  [%s]\n' "$*" "$(date +%T)" >&2; }
die() { echo "run.sh: $*" >&2; exit 1; }

work=$(mktemp -d /tmp/wasmfn-bench.XXXXXX)
results=$work/results.jsonl
: >"$results"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work/fn" "$work"/mods-* "$work"/cold-fn "$work"/prof-fn "$work"/cache-* "$work/wasmfn" "$work/wasmfn.log"  # one guest log line per event: ~250 MB
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop() { # stop PID: SIGTERM one process we started and wait for it
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
record() { echo "$1" >>"$results"; }

# ---------------------------------------------------------------- tools
say "tools"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v wrk >/dev/null || die "wrk missing and could not be installed"
venv=$bench/.venv
if [ ! -x "$venv/bin/gunicorn" ] || ! cmp -s "$bench/baseline/requirements.txt" "$venv/.requirements"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$bench/baseline/requirements.txt"
  cp "$bench/baseline/requirements.txt" "$venv/.requirements"
fi
# oha: the open-loop generator (latency at 50% of peak). Built once into bench/.tools (~5-15 min).
OHA_VERSION=1.16.0 WASMTIME_VERSION=48.0.8
oha=$bench/.tools/bin/oha
if [ "$open_loop" = 0 ]; then
  oha=""
else
  if ! { [ -x "$oha" ] && "$oha" --version | grep -q "$OHA_VERSION"; }; then
    cargo install oha --version "$OHA_VERSION" --locked --root "$bench/.tools"
  fi
  "$oha" --version >/dev/null || die "oha missing and could not be installed"
fi
wasmtime=$bench/.tools/bin/wasmtime
if [ "$with_wasmtime" = 1 ] && ! { [ -x "$wasmtime" ] && "$wasmtime" --version | grep -q "$WASMTIME_VERSION"; }; then
  cargo install wasmtime-cli --version "$WASMTIME_VERSION" --locked --root "$bench/.tools"
fi

# ---------------------------------------------------------------- build
if [ "$build" = 1 ]; then
  say "build (release host, functions)"
  # --workspace: the feature set scripts/test.sh builds (`-p wasmfn` alone rebuilds dependencies)
  cargo build --release --workspace --bin wasmfn
  WASMFN_BIN=target/release/wasmfn scripts/build-functions.sh target/functions  # every language
fi
[ -x target/release/wasmfn ] || die "target/release/wasmfn missing (drop --no-build)"
# A private copy: a concurrent rebuild must not swap the binary mid-run.
cp target/release/wasmfn "$work/wasmfn"
wasmfn=$work/wasmfn
# The compiled-artifact cache (--cache-dir, default /tmp/wasmfn-cache) when this binary has it:
# every server here gets its own directory under $work, so nothing from an earlier run is reused.
has_cache=0
"$wasmfn" serve --help | grep -q -- '--cache-dir' && has_cache=1
cache_args() { [ "$has_cache" = 1 ] && echo "--cache-dir $1"; return 0; }
# --memory-reset (issue 15): binaries from before it have only the automatic choice.
has_reset=0
"$wasmfn" serve --help | grep -q -- '--memory-reset' && has_reset=1
if [ "$has_reset" = 0 ]; then
  [ "$reset_mode" = auto ] || die "this wasmfn has no --memory-reset"
  reset_phase=0
fi
reset_args() { [ "$has_reset" = 1 ] && echo "--memory-reset $1"; return 0; }
# The mode a server really runs, from its startup line (auto falls back to decommit on kernels
# before 6.7, so the flag alone does not say).
# Logs are written by a background thread: give the line up to 2 s to arrive.
reset_of_log() {
  local i
  for ((i = 0; i < 20; i++)); do
    if grep -q 'only written pages are reset' "$1"; then echo pagemap; return 0; fi
    if grep -q 'decommitted between events\|no PAGEMAP_SCAN' "$1"; then echo decommit; return 0; fi
    sleep 0.1
  done
  echo unknown
}
binary_sha=$(sha256sum "$wasmfn" | cut -c1-16)
git_rev=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- host guest-sdk functions || echo "+dirty")
# Other work on the machine skews every figure: wait (up to QUIET_WAIT s) for it to calm down, and record it.
quiet_wait=${QUIET_WAIT:-120}
for ((i = 0; i < quiet_wait; i += 5)); do
  busy=$(python3 "$lib/busy.py" 1)
  [ "$busy" -lt 20 ] && break
  echo "   machine busy (${busy}% of both cores used by other processes); waiting" >&2
  sleep 4
done
busy_start=$(python3 "$lib/busy.py" 1)
record "{\"kind\":\"meta\",\"reset\":\"$reset_mode\",\"open_loop\":$open_loop,\"scale_conc\":$SCALE_CONC,\"busy_start_pct\":$busy_start,\"date\":\"$(date -u +%FT%TZ)\",\"git\":\"$git_rev\",\"binary_sha256\":\"$binary_sha\",\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\",\"nproc\":$(nproc),\"duration\":$DURATION,\"warmup\":$WARMUP,\"reps\":$REPS,\"wrk\":\"$(wrk -v 2>&1 | sed -n '1s/ Copyright.*//p')\",\"oha\":\"${oha:+$($oha --version 2>/dev/null)}\"}"

# The Rust example functions only (a crate in functions/): since target/functions also holds the
# Python and JavaScript ones (19 and 12 MB; bench/languages.sh measures them), serving them all
# made every cold start here ~23 s of compiling instead of < 1 s and idle RSS 107 instead of
# ~30 MiB, figures the earlier runs did not include and issue 15 compares against.
rust_wasm=()
for crate in functions/*/Cargo.toml; do
  f=target/functions/$(basename "$(dirname "$crate")").wasm
  [ -f "$f" ] && rust_wasm+=("$f")
done
[ "${#rust_wasm[@]}" -gt 0 ] || die "no Rust functions in target/functions (drop --no-build)"
for f in "${rust_wasm[@]}"; do
  record "{\"kind\":\"size\",\"name\":\"$(basename "$f" .wasm)\",\"bytes\":$(stat -c %s "$f")}"
done

# ---------------------------------------------------------------- configuration
mapping='{"trade_id":"/id","price":"/px","quantity":"/qty","side":"/side","symbol":"/symbol","currency":"/currency","account":"/account/id","desk":"/account/desk","venue":"/venue/mic","trader":"/trader/id","executed_at":"/ts","settle_date":"/settle_date"}'
sink_url=http://127.0.0.1:$SINK_PORT/
mkdir -p "$work/fn"
cp "${rust_wasm[@]}" "$work/fn/"
cp target/functions/transformer.wasm "$work/fn/transformer-sink.wasm"
# The same module a third time, with warm instances (issue 15 item 5: reused Rust functions).
cp target/functions/transformer.wasm "$work/fn/transformer-reused.wasm"
cat >"$work/fn/wasmfn.toml" <<EOF
default = "handler"

[functions.transformer]
env = { mapping = '$mapping', partition_key = "trade_id" }

[functions.transformer-reused]
instances = "reused"
env = { mapping = '$mapping', partition_key = "trade_id" }

[functions.transformer-sink]
output = "sink"
sink = "$sink_url"
env = { mapping = '$mapping', partition_key = "trade_id" }

[functions.handler]
output = "sink"
sink = "$sink_url"
EOF

p=$bench/payloads
# workload: name | route | headers | body | expected status
workloads=(
  "a-simple|/simple|$p/simple.headers|$p/ping.json|202"
  "b-transformer-reply|/transformer|$p/transformer.headers|$p/trade.json|200"
  "b-transformer-reused|/transformer-reused|$p/transformer.headers|$p/trade.json|200"
  "c-transformer-sink|/transformer-sink|$p/transformer.headers|$p/trade.json|202"
  "d-seed-handler-sink|/handler|$p/seed.headers|$p/seed.json|202"
)
baseline_workloads=("b-transformer-reply" "c-transformer-sink")
if [ "$reused" = 0 ]; then
  for i in "${!workloads[@]}"; do [[ ${workloads[$i]} == b-transformer-reused* ]] && unset "workloads[$i]"; done
fi

wait_http() { # wait_http URL TIMEOUT_S
  local i
  for ((i = 0; i < $2 * 20; i++)); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = 200 ] && return 0
    sleep 0.05
  done
  die "$1 not ready after $2 s"
}

check_status() { # check_status PORT ROUTE HEADERS BODY EXPECTED
  local args=() line code
  while IFS= read -r line; do [ -n "$line" ] && args+=(-H "$line"); done <"$3"
  code=$(curl -s -o "$work/check.out" -w '%{http_code}' -X POST "${args[@]}" --data-binary "@$4" "http://127.0.0.1:$1$2")
  [ "$code" = "$5" ] || die "POST :$1$2 answered $code, expected $5: $(head -c 300 "$work/check.out")"
}

# run_wrk PORT ROUTE HEADERS BODY CONNS SECONDS -> the BENCH line from post.lua
run_wrk() {
  BENCH_HEADERS=$3 BENCH_BODY=$4 "${wrk_on[@]}" wrk -t"$wrk_threads" -c"$5" -d"${6}s" --timeout 5s \
    -s "$lib/post.lua" "http://127.0.0.1:$1$2" >"$work/wrk.out" 2>&1 || { cat "$work/wrk.out" >&2; die "wrk failed"; }
  grep '^BENCH ' "$work/wrk.out" || { cat "$work/wrk.out" >&2; die "wrk printed no BENCH line"; }
}

# load TARGET PID PORT WORKLOAD ROUTE HEADERS BODY: warm-up + REPS runs per concurrency
# ($load_concs), recorded as kind $load_kind
load() {
  local target=$1 pid=$2 port=$3 name=$4 route=$5 headers=$6 body=$7 c rep line cpu0 cpu1 rss sampler
  for c in $load_concs; do
    run_wrk "$port" "$route" "$headers" "$body" "$c" "$WARMUP" >/dev/null
    for ((rep = 1; rep <= REPS; rep++)); do
      cpu0=$(python3 "$lib/proc.py" cpu "$pid")
      "${on_client[@]}" python3 "$lib/proc.py" rss-max "$pid" "$((DURATION - 1))" >"$work/rss.out" &
      sampler=$!
      line=$(run_wrk "$port" "$route" "$headers" "$body" "$c" "$DURATION")
      wait "$sampler"
      cpu1=$(python3 "$lib/proc.py" cpu "$pid")
      rss=$(cat "$work/rss.out")
      echo "   $load_kind $target $name c=$c rep=$rep: ${line#BENCH }" >&2
      record "$(python3 - "$line" <<EOF
import json, sys
kv = dict(f.split("=") for f in sys.argv[1].split()[1:])
kv = {k: int(v) for k, v in kv.items()}
print(json.dumps({"kind": "$load_kind", "target": "$target", "workload": "$name", "conc": $c, "rep": $rep,
                  "rps": kv["requests"] / (kv["duration_us"] / 1e6), "cpu_s": $cpu1 - $cpu0,
                  "rss_max_kb": $rss, "loadavg1": float(open("/proc/loadavg").read().split()[0]), **kv}))
EOF
)"
    done
  done
}

# open_loop TARGET PORT WORKLOAD ROUTE HEADERS BODY: latency at 50% of the peak (wrk c=max) rate, with oha -q
open_loop() {
  local target=$1 port=$2 name=$3 route=$4 headers=$5 body=$6 peak rate args=() line
  [ -n "$oha" ] && [ "$open_loop" = 1 ] || return 0
  peak=$(python3 "$lib/report.py" peak "$results" "$target" "$name")
  rate=$(python3 -c "print(max(1, int($peak / 2)))")
  while IFS= read -r line; do [ -n "$line" ] && args+=(-H "$line"); done <"$headers"
  "${on_client[@]}" "$oha" -z "${DURATION}s" -q "$rate" --latency-correction -c 64 --no-tui --output-format json -m POST "${args[@]}" \
    -D "$body" "http://127.0.0.1:$port$route" >"$work/oha.json" 2>"$work/oha.err" || { cat "$work/oha.err" >&2; die "oha failed"; }
  record "$(python3 "$lib/report.py" oha "$work/oha.json" "$target" "$name" "$rate")"
  echo "   $target $name open loop at $rate/s done" >&2
}

# ---------------------------------------------------------------- sink
say "sink (asyncio, 202) — capacity on one core"
"${on_server[@]}" python3 "$lib/sink.py" "$SINK_PORT" >>"$work/sink.log" 2>&1 & sink_pid=$!; pids+=("$sink_pid")
wait_http_post() { for _ in $(seq 100); do curl -s -o /dev/null -X POST "$1" -d x && return 0; sleep 0.05; done; die "$1 not up"; }
wait_http_post "$sink_url"
cap=$(run_wrk "$SINK_PORT" / "$p/transformer.headers" "$p/trade.json" 64 5)
echo "   sink alone on CPU $SERVER_CPU, wrk c=64: ${cap#BENCH }" >&2
record "$(python3 -c "
import json,sys; kv=dict(f.split('=') for f in sys.argv[1].split()[1:])
print(json.dumps({'kind':'sink_capacity','rps':int(kv['requests'])/(int(kv['duration_us'])/1e6),'p99_us':int(kv['p99_us'])}))" "$cap")"
stop "$sink_pid"
# During the benchmark the sink shares the client core, so the server core stays the server's.
"${on_client[@]}" python3 "$lib/sink.py" "$SINK_PORT" >>"$work/sink.log" 2>&1 & sink_pid=$!; pids+=("$sink_pid")
wait_http_post "$sink_url"

# ---------------------------------------------------------------- wasmfn
say "wasmfn serve on CPU $SERVER_CPU (--memory-reset $reset_mode)"
"${on_server[@]}" "$wasmfn" serve --functions "$work/fn" --port "$WASMFN_PORT" --drain-secs 0 $(cache_args "$work/cache-main") \
  $(reset_args "$reset_mode") >"$work/wasmfn.log" 2>&1 &
wasmfn_pid=$!; pids+=("$wasmfn_pid")
wait_http "http://127.0.0.1:$WASMFN_PORT/readyz" 60
record "{\"kind\":\"reset_mode\",\"phase\":\"main\",\"asked\":\"$reset_mode\",\"mode\":\"$(reset_of_log "$work/wasmfn.log")\"}"
sleep 2
record "{\"kind\":\"idle_rss\",\"target\":\"wasmfn\",\"kb\":$(python3 "$lib/proc.py" rss "$wasmfn_pid")}"
# Idle CPU: with no requests the only work is the epoch ticker (one wake-up per 10 ms tick).
cpu0=$(python3 "$lib/proc.py" cpu "$wasmfn_pid"); sleep 10; cpu1=$(python3 "$lib/proc.py" cpu "$wasmfn_pid")
record "{\"kind\":\"idle_cpu\",\"target\":\"wasmfn\",\"seconds\":10,\"cpu_s\":$(python3 -c "print($cpu1 - $cpu0)")}"
for w in "${workloads[@]}"; do
  IFS='|' read -r name route headers body expect <<<"$w"
  check_status "$WASMFN_PORT" "$route" "$headers" "$body" "$expect"
done
for w in "${workloads[@]}"; do
  IFS='|' read -r name route headers body expect <<<"$w"
  say "wasmfn $name"
  load wasmfn "$wasmfn_pid" "$WASMFN_PORT" "$name" "$route" "$headers" "$body"
  open_loop wasmfn "$WASMFN_PORT" "$name" "$route" "$headers" "$body"
done
record "{\"kind\":\"after_rss\",\"target\":\"wasmfn\",\"kb\":$(python3 "$lib/proc.py" rss "$wasmfn_pid")}"
stop "$wasmfn_pid"

# ---------------------------------------------------------------- wasmfn, the other memory reset
# Issue 15 item 3: production nodes on Linux 6.1 (EKS, GKE, Bottlerocket) have no PAGEMAP_SCAN
# and decommit every slot after each event. The same server and workloads (a) and (b), only
# --memory-reset changed, at RESET_CONCS; the main phase above gives the other mode's figures.
if [ "$reset_phase" = 1 ]; then
  say "wasmfn serve on CPU $SERVER_CPU, --memory-reset $other_reset: (a) and (b) at c=$RESET_CONCS"
  "${on_server[@]}" "$wasmfn" serve --functions "$work/fn" --port "$SCRATCH_PORT" --drain-secs 0 $(cache_args "$work/cache-main") \
    $(reset_args "$other_reset") >"$work/wasmfn-reset.log" 2>&1 &
  reset_pid=$!; pids+=("$reset_pid")
  wait_http "http://127.0.0.1:$SCRATCH_PORT/readyz" 60
  record "{\"kind\":\"reset_mode\",\"phase\":\"reset\",\"asked\":\"$other_reset\",\"mode\":\"$(reset_of_log "$work/wasmfn-reset.log")\"}"
  load_kind=reset load_concs=$RESET_CONCS
  for w in "${workloads[@]:0:2}"; do
    IFS='|' read -r name route headers body expect <<<"$w"
    check_status "$SCRATCH_PORT" "$route" "$headers" "$body" "$expect"
    load wasmfn "$reset_pid" "$SCRATCH_PORT" "$name" "$route" "$headers" "$body"
  done
  load_kind=load load_concs=$CONCS
  stop "$reset_pid"
  rm -f "$work/wasmfn-reset.log"  # one guest log line per (a) event
fi

# ---------------------------------------------------------------- baseline 1: Flask + gunicorn
say "baseline 1: Flask under gunicorn --workers 1 --threads 8 on CPU $SERVER_CPU"
MAPPING=$mapping PARTITION_KEY=trade_id SINK_URL=$sink_url "${on_server[@]}" "$venv/bin/gunicorn" \
  --workers 1 --threads 8 --bind "127.0.0.1:$FLASK_PORT" --chdir "$bench/baseline" \
  --log-level warning app:app >"$work/gunicorn.log" 2>&1 &
flask_pid=$!; pids+=("$flask_pid")
wait_http "http://127.0.0.1:$FLASK_PORT/healthz" 30
sleep 2
record "{\"kind\":\"idle_rss\",\"target\":\"flask\",\"kb\":$(python3 "$lib/proc.py" rss "$flask_pid")}"
for w in "${workloads[@]}"; do
  IFS='|' read -r name route headers body expect <<<"$w"
  [[ " ${baseline_workloads[*]} " == *" $name "* ]] || continue
  check_status "$FLASK_PORT" "$route" "$headers" "$body" "$expect"
  say "flask $name"
  load flask "$flask_pid" "$FLASK_PORT" "$name" "$route" "$headers" "$body"
  open_loop flask "$FLASK_PORT" "$name" "$route" "$headers" "$body"
done
stop "$flask_pid"

# ---------------------------------------------------------------- baseline 2: wasmtime serve
if [ "$with_wasmtime" = 1 ]; then
  say "baseline 2: wasmtime serve (hello component) on CPU $SERVER_CPU"
  (cd "$bench/hello-http" && cargo build --release --target wasm32-wasip2)
  hello=$bench/hello-http/target/wasm32-wasip2/release/hello_http.wasm
  record "{\"kind\":\"size\",\"name\":\"(wasmtime serve hello)\",\"bytes\":$(stat -c %s "$hello")}"
  "${on_server[@]}" "$wasmtime" serve -S cli=y --addr "127.0.0.1:$WASMTIME_PORT" "$hello" >"$work/wasmtime.log" 2>&1 &
  wt_pid=$!; pids+=("$wt_pid")
  wait_http_post "http://127.0.0.1:$WASMTIME_PORT/"
  sleep 2
  record "{\"kind\":\"idle_rss\",\"target\":\"wasmtime\",\"kb\":$(python3 "$lib/proc.py" rss "$wt_pid")}"
  say "wasmtime a-simple (hello)"
  load wasmtime "$wt_pid" "$WASMTIME_PORT" a-simple / "$p/simple.headers" "$p/ping.json"
  open_loop wasmtime "$WASMTIME_PORT" a-simple / "$p/simple.headers" "$p/ping.json"
  stop "$wt_pid"
fi

# ---------------------------------------------------------------- ceiling: axum echo
# Issue 15 states a target as a share of what the HTTP stack alone allows. bench/echo is that
# stack (the host's axum, hyper and tokio from Cargo.lock, the same runtime and connection
# settings) reading each body and answering 202 empty for (a), 200 with the body for (b): no
# CloudEvent, no sandbox, no guest. Driven exactly like wasmfn.
if [ "$echo_ceiling" = 1 ]; then
  say "ceiling: axum echo (bench/echo) on CPU $SERVER_CPU"
  # --workspace: the host's feature set (a package alone would rebuild shared dependencies).
  cargo build --release --workspace --bin bench-echo
  cp target/release/bench-echo "$work/bench-echo"
  "${on_server[@]}" "$work/bench-echo" "$ECHO_PORT" >"$work/echo.log" 2>&1 &
  echo_pid=$!; pids+=("$echo_pid")
  wait_http_post "http://127.0.0.1:$ECHO_PORT/"
  sleep 2
  record "{\"kind\":\"idle_rss\",\"target\":\"echo\",\"kb\":$(python3 "$lib/proc.py" rss "$echo_pid")}"
  for w in "a-simple|/simple|$p/simple.headers|$p/ping.json|202" "b-transformer-reply|/echo|$p/transformer.headers|$p/trade.json|200"; do
    IFS='|' read -r name route headers body expect <<<"$w"
    check_status "$ECHO_PORT" "$route" "$headers" "$body" "$expect"
    say "echo $name"
    load echo "$echo_pid" "$ECHO_PORT" "$name" "$route" "$headers" "$body"
  done
  stop "$echo_pid"
fi
stop "$sink_pid"

# ---------------------------------------------------------------- scaling: both cores
# Issue 15 item 4. The server may run on both cores (taskset -c 0,1: the tokio runtimes of wasmfn
# and wasmtime serve start one worker per core they may use; gunicorn gets --workers 2). This
# machine has no third party to load from, so wrk (-t2, c=SCALE_CONC) runs on the same two cores
# and competes with the server: events/s is what the box serves with its own client, a lower
# bound. Events/s per core = events/s / the server's CPU-seconds per second (/proc, the server's
# process tree only), which wrk's share of the cores does not inflate.
if [ "$scaling" = 1 ]; then
  wrk_on=("${on_both[@]}") wrk_threads=2 load_kind=scale load_concs=$SCALE_CONC
  say "scaling: wasmfn serve on CPUs $SERVER_CPU,$CLIENT_CPU, wrk -t2 -c$SCALE_CONC beside it"
  "${on_both[@]}" "$wasmfn" serve --functions "$work/fn" --port "$SCRATCH_PORT" --drain-secs 0 $(cache_args "$work/cache-main") \
    $(reset_args "$reset_mode") >"$work/wasmfn-scale.log" 2>&1 &
  scale_pid=$!; pids+=("$scale_pid")
  wait_http "http://127.0.0.1:$SCRATCH_PORT/readyz" 60
  for w in "${workloads[@]:0:2}"; do
    IFS='|' read -r name route headers body expect <<<"$w"
    check_status "$SCRATCH_PORT" "$route" "$headers" "$body" "$expect"
    load wasmfn "$scale_pid" "$SCRATCH_PORT" "$name" "$route" "$headers" "$body"
  done
  stop "$scale_pid"
  rm -f "$work/wasmfn-scale.log"

  say "scaling: Flask under gunicorn --workers 2 --threads 8 on CPUs $SERVER_CPU,$CLIENT_CPU"
  MAPPING=$mapping PARTITION_KEY=trade_id SINK_URL=$sink_url "${on_both[@]}" "$venv/bin/gunicorn" \
    --workers 2 --threads 8 --bind "127.0.0.1:$FLASK_PORT" --chdir "$bench/baseline" \
    --log-level warning app:app >"$work/gunicorn-scale.log" 2>&1 &
  flask_pid=$!; pids+=("$flask_pid")
  wait_http "http://127.0.0.1:$FLASK_PORT/healthz" 30
  check_status "$FLASK_PORT" /transformer "$p/transformer.headers" "$p/trade.json" 200
  load flask "$flask_pid" "$FLASK_PORT" b-transformer-reply /transformer "$p/transformer.headers" "$p/trade.json"
  stop "$flask_pid"

  if [ "$with_wasmtime" = 1 ]; then
    say "scaling: wasmtime serve (hello) on CPUs $SERVER_CPU,$CLIENT_CPU"
    "${on_both[@]}" "$wasmtime" serve -S cli=y --addr "127.0.0.1:$WASMTIME_PORT" "$hello" >"$work/wasmtime-scale.log" 2>&1 &
    wt_pid=$!; pids+=("$wt_pid")
    wait_http_post "http://127.0.0.1:$WASMTIME_PORT/"
    load wasmtime "$wt_pid" "$WASMTIME_PORT" a-simple / "$p/simple.headers" "$p/ping.json"
    stop "$wt_pid"
  fi
  wrk_on=("${on_client[@]}") wrk_threads=1 load_kind=load load_concs=$CONCS
fi

# ---------------------------------------------------------------- cold start, the Rust example modules
say "cold start (exec -> first 2xx on POST /simple), ${#rust_wasm[@]} Rust example modules, 5 times"
mkdir -p "$work/cold-fn"
cp "${rust_wasm[@]}" examples/wasmfn.toml "$work/cold-fn/"
# cold cache: an empty cache directory each time; warm cache: the directory the previous start filled.
for i in 1 2 3 4 5; do
  for cache in cold warm; do
    [ "$cache" = warm ] && [ "$has_cache" = 0 ] && continue
    [ "$cache" = cold ] && rm -rf "$work/cache-cold"
    out=$("${on_client[@]}" python3 "$lib/startup.py" --port "$SCRATCH_PORT" --path /simple \
      --headers "$p/simple.headers" --body "$p/ping.json" --timeout 60 --log "$work/cold.log" -- \
      taskset -c "$SERVER_CPU" "$wasmfn" serve --functions "$work/cold-fn" --port "$SCRATCH_PORT" --drain-secs 0 \
      $(cache_args "$work/cache-cold"))
    echo "   $cache cache: $out" >&2
    record "{\"kind\":\"coldstart\",\"modules\":${#rust_wasm[@]},\"run\":$i,\"cache\":\"$cache\",\"has_cache\":$has_cache,\"result\":$out}"
  done
done

# ---------------------------------------------------------------- startup with N modules
if [ "$modules" = 1 ]; then
  for n in $MODULE_COUNTS; do
    say "startup with $n distinct modules (copies of simple.wasm, each with its own custom section)"
    dir=$work/mods-$n
    mkdir -p "$dir"
    python3 - "$root/target/functions/simple.wasm" "$dir" "$n" <<'EOF'
import sys
src, out, n = open(sys.argv[1], "rb").read(), sys.argv[2], int(sys.argv[3])
def leb(v):
    b = bytearray()
    while True:
        byte, v = v & 0x7F, v >> 7
        b.append(byte | (0x80 if v else 0))
        if not v:
            return bytes(b)
for i in range(n):
    name, payload = b"bench-copy", str(i).encode()
    content = leb(len(name)) + name + payload
    # custom section (id 0) appended: distinct bytes and digest, same code
    open(f"{out}/simple-{i:04d}.wasm", "wb").write(src + b"\x00" + leb(len(content)) + content)
EOF
    rm -rf "$work/cache-mods"
    for cache in cold warm; do
      [ "$cache" = warm ] && [ "$has_cache" = 0 ] && continue
      out=$("${on_client[@]}" python3 "$lib/startup.py" --port "$SCRATCH_PORT" --path /simple-0000 \
        --headers "$p/simple.headers" --body "$p/ping.json" --timeout 300 --log "$work/mods-$n.log" -- \
        taskset -c "$SERVER_CPU" "$wasmfn" serve --functions "$dir" --port "$SCRATCH_PORT" --drain-secs 0 \
        $(cache_args "$work/cache-mods"))
      echo "   $cache cache: $out" >&2
      record "{\"kind\":\"modules\",\"n\":$n,\"cache\":\"$cache\",\"result\":$out}"
      grep -q '"ok": true' <<<"$out" || break
    done
    rm -rf "$work/cache-mods"
    rm -rf "$dir"
  done
fi

# ---------------------------------------------------------------- profile: perf (real time, kernel included)
# perf needs no hardware counters for the cpu-clock event, so it works in this VM. The functions
# are rebuilt unstripped (names kept) and the host writes a perf map, so guest code is named.
perf_ok=0
if [ "$profile" = 1 ] && command -v perf >/dev/null && perf record -q -e cpu-clock -o "$work/probe.data" true >/dev/null 2>&1; then
  perf_ok=1
fi
if [ "$perf_ok" = 1 ]; then
  mkdir -p "$work/prof-named"
  CARGO_PROFILE_WASM_STRIP=false "$wasmfn" build --out "$work/prof-named" --functions-crates functions >/dev/null 2>&1 \
    || die "building named functions for the profile failed"
  cp "$work/fn/wasmfn.toml" "$work/prof-named/"
  cp "$work/prof-named/transformer.wasm" "$work/prof-named/transformer-sink.wasm"
  cp "$work/prof-named/transformer.wasm" "$work/prof-named/transformer-reused.wasm"
  for w in "a-simple|/simple|$p/simple.headers|$p/ping.json" "b-transformer-reply|/transformer|$p/transformer.headers|$p/trade.json"; do
    IFS='|' read -r name route headers body <<<"$w"
    say "profile: perf record (cpu-clock, 999 Hz) of wasmfn $name under wrk c=16"
    "${on_server[@]}" "$wasmfn" serve --functions "$work/prof-named" --port "$SCRATCH_PORT" --drain-secs 0 --perf-map \
      $(cache_args "$work/cache-perf") $(reset_args "$reset_mode") >"$work/perf-server.log" 2>&1 &
    ps_pid=$!; pids+=("$ps_pid")
    wait_http "http://127.0.0.1:$SCRATCH_PORT/readyz" 120
    run_wrk "$SCRATCH_PORT" "$route" "$headers" "$body" 16 "$WARMUP" >/dev/null
    BENCH_HEADERS=$headers BENCH_BODY=$body "${on_client[@]}" wrk -t1 -c16 -d"$((DURATION + 2))s" \
      -s "$lib/post.lua" "http://127.0.0.1:$SCRATCH_PORT$route" >"$work/perf-wrk.out" 2>&1 &
    wrk_pid=$!
    sleep 1
    perf record -q -F 999 -g -p "$ps_pid" -o "$work/perf-$name.data" -- sleep "$DURATION" >/dev/null 2>&1
    wait "$wrk_pid"
    line=$(grep '^BENCH ' "$work/perf-wrk.out")
    rate=$(python3 -c "import sys; kv=dict(f.split('=') for f in sys.argv[1].split()[1:]); print(int(kv['requests'])/(int(kv['duration_us'])/1e6))" "$line")
    {
      perf script -i "$work/perf-$name.data" 2>/dev/null | python3 "$lib/perf_breakdown.py" "$rate" \
        "perf: wasmfn serve, $name, wrk c=16, server alone on CPU $SERVER_CPU (git $git_rev)"
      echo
      echo "# top 40 symbols by self time"
      # awk, not head: with pipefail, head closing the pipe early would fail the run (SIGPIPE).
      perf report -i "$work/perf-$name.data" --no-children --sort dso,sym -g none 2>/dev/null \
        | awk '/^ +[0-9]/ && n++ < 40'
    } | sed -e 's#/tmp/wasmfn-bench[^ ]*/##g' >"$bench/results/profile-perf-$name.txt"
    stop "$ps_pid"
    rm -f "/tmp/perf-$ps_pid.map"
    echo "   wrote bench/results/profile-perf-$name.txt" >&2
  done
fi

# ---------------------------------------------------------------- profile: callgrind (instructions)
if [ "$profile" = 1 ]; then
  if command -v valgrind >/dev/null; then
    say "profile: callgrind, $PROFILE_REQUESTS sequential POST /simple (instrumentation on after start-up only)"
    mkdir -p "$work/prof-fn"
    cp target/functions/simple.wasm "$work/prof-fn/"
    # --max-instances 2: valgrind cannot reserve the pooling allocator's default address space.
    "${on_server[@]}" valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/callgrind.out" \
      "$wasmfn" serve --functions "$work/prof-fn" --port "$SCRATCH_PORT" --drain-secs 0 --max-instances 2 $(cache_args "$work/cache-prof") $(reset_args "$reset_mode") \
      >"$work/callgrind.log" 2>&1 &
    vg_pid=$!; pids+=("$vg_pid")
    wait_http "http://127.0.0.1:$SCRATCH_PORT/readyz" 180
    callgrind_control -i on "$vg_pid" >/dev/null
    "${on_client[@]}" python3 - "$SCRATCH_PORT" "$p/simple.headers" "$p/ping.json" "$PROFILE_REQUESTS" <<'EOF'
import http.client, sys
port, headers, body = int(sys.argv[1]), {}, open(sys.argv[3], "rb").read()
n = int(sys.argv[4])
for line in open(sys.argv[2]):
    if ":" in line:
        k, v = line.split(":", 1); headers[k.strip()] = v.strip()
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
for _ in range(n):
    conn.request("POST", "/simple", body=body, headers=headers)
    r = conn.getresponse(); r.read()
    assert r.status == 202, r.status
EOF
    callgrind_control -d "$vg_pid" >/dev/null
    sleep 1
    stop "$vg_pid"
    # callgrind_control -d wrote callgrind.out.1 (the requests); callgrind.out is only the shutdown.
    dump=$work/callgrind.out.1
    [ -f "$dump" ] || die "callgrind dump $dump missing"
    callgrind_annotate --auto=no --inclusive=yes "$dump" >"$work/cg-incl.txt" 2>/dev/null
    callgrind_annotate --auto=no "$dump" >"$work/cg-self.txt" 2>/dev/null
    {
      echo "# callgrind: wasmfn serve, $PROFILE_REQUESTS sequential POST /simple over one keep-alive connection"
      echo "# instrumentation switched on after start-up; inclusive cost, top 25 (Ir = instructions)"
      echo "# binary sha256 $binary_sha, git $git_rev"
      grep -m1 -E 'PROGRAM TOTALS' "$work/cg-incl.txt" || true
      echo
      grep -E '^ *[0-9,]+ \(' "$work/cg-incl.txt" | sed -n '2,26p'
      echo
      echo "# top 25 by self cost (exclusive)"
      grep -E '^ *[0-9,]+ \(' "$work/cg-self.txt" | sed -n '2,26p'
    } | sed -e 's#/root/\.cargo/registry/src/index\.crates\.io-[0-9a-f]*/##g' -e 's# \[/tmp/wasmfn-bench[^]]*\]##' \
      >"$bench/results/profile-simple.txt"
    echo "   wrote bench/results/profile-simple.txt" >&2
  else
    echo "   valgrind missing: no profile" >&2
  fi
fi

# ---------------------------------------------------------------- languages
# Python (fresh and reused) against Flask running the same mapping code, JavaScript and the C
# command: its own script (own ports, interleaved rounds), on the binary and guests built above.
if [ "$languages" = 1 ]; then
  say "languages (bench/languages.sh)"
  "$bench/languages.sh" --no-build
fi

# ---------------------------------------------------------------- report
say "report"
record "{\"kind\":\"busy_end\",\"pct\":$(python3 "$lib/busy.py" 1)}"
mkdir -p "$bench/results"
cp "$results" "$bench/results/$(date -u +%F)-raw.jsonl"
python3 "$lib/report.py" markdown "$results" >"$bench/results/$(date -u +%F).md"
if [ "$languages" = 1 ]; then
  { echo; echo "## Languages (bench/languages.sh, this run)"; sed -e '1d' -e 's/^## /### /' "$bench/results/languages-latest.md"; } \
    >>"$bench/results/$(date -u +%F).md"
fi
cp "$bench/results/$(date -u +%F).md" "$bench/results/latest.md"
echo "wrote bench/results/$(date -u +%F).md and bench/results/latest.md" >&2

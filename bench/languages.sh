#!/usr/bin/env bash
# The languages side by side: the Python transformer (fresh and reused
# instances) against the Flask baseline running the same mapping code
# (bench/baseline/app.py, POST /transformer-py), with the Rust transformer,
# the JavaScript handler and the C command in the same run; then each one's
# cold start (exec -> first 2xx) with an empty and a filled compile cache.
# Writes bench/results/languages-<date>.md (+ -raw.jsonl) and languages-latest.md.
# Method and targets: bench/README.md, "Languages".
#
# usage: bench/languages.sh [--no-build] [--skip-cold]
# env: DURATION (s per run, 5) ROUNDS (5) CONCS ("1 16") COLD_RUNS (3)
#
# CPU split (2 cores), as bench/run.sh: the servers run on CPU 0, wrk and the
# helpers on CPU 1. Both servers are up for the whole run and driven one
# target at a time, the targets interleaved round by round, so a change of
# the machine's load touches every target alike.
set -euo pipefail

bench=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$bench")
lib=$bench/lib
cd "$root"

build=1 cold=1
for arg in "$@"; do
  case $arg in
    --no-build) build=0 ;;
    --skip-cold) cold=0 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "languages.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done
DURATION=${DURATION:-5} ROUNDS=${ROUNDS:-5} CONCS=${CONCS:-"1 16"} COLD_RUNS=${COLD_RUNS:-3}
SERVER_CPU=0 CLIENT_CPU=1
unset RUST_BACKTRACE RUST_LIB_BACKTRACE  # as production; see bench/run.sh
WASMFN_PORT=18180 FLASK_PORT=18181 SCRATCH_PORT=18182
on_server=(taskset -c "$SERVER_CPU")
on_client=(taskset -c "$CLIENT_CPU")
say() { printf '\n== %s  [%s]\n' "$*" "$(date +%T)" >&2; }
die() { echo "languages.sh: $*" >&2; exit 1; }

work=$(mktemp -d /tmp/wasmfn-langs.XXXXXX)
results=$work/results.jsonl
: >"$results"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
record() { echo "$1" >>"$results"; }

# ---------------------------------------------------------------- tools and build
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v wrk >/dev/null || die "wrk missing and could not be installed"
venv=$bench/.venv
if [ ! -x "$venv/bin/gunicorn" ] || ! cmp -s "$bench/baseline/requirements.txt" "$venv/.requirements"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$bench/baseline/requirements.txt"
  cp "$bench/baseline/requirements.txt" "$venv/.requirements"
fi
if [ "$build" = 1 ]; then
  say "build (release host, functions)"
  cargo build --release --workspace --bin wasmfn
  WASMFN_BIN=target/release/wasmfn scripts/build-functions.sh target/functions
fi
for f in wasmfn functions/transformer.wasm functions/transformer-py.wasm functions/handler-js.wasm functions/trade-check.wasm; do
  [ -e "target/${f/wasmfn/release/wasmfn}" ] || die "target/${f/wasmfn/release/wasmfn} missing (drop --no-build)"
done
cp target/release/wasmfn "$work/wasmfn"  # a concurrent rebuild must not swap it mid-run
wasmfn=$work/wasmfn
git_rev=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- host guest-sdk functions || echo "+dirty")
record "{\"kind\":\"meta\",\"date\":\"$(date -u +%FT%TZ)\",\"git\":\"$git_rev\",\"duration\":$DURATION,\"rounds\":$ROUNDS,\"loadavg_start\":$(cut -d' ' -f1 /proc/loadavg)}"
for f in transformer transformer-py handler-js trade-check; do
  record "{\"kind\":\"size\",\"name\":\"$f\",\"bytes\":$(stat -c %s "target/functions/$f.wasm")}"
done

# ---------------------------------------------------------------- configuration
mapping='{"trade_id":"/id","price":"/px","quantity":"/qty","side":"/side","symbol":"/symbol","currency":"/currency","account":"/account/id","desk":"/account/desk","venue":"/venue/mic","trader":"/trader/id","executed_at":"/ts","settle_date":"/settle_date"}'
mkdir -p "$work/fn"
cp target/functions/{transformer,transformer-py,handler-js,trade-check}.wasm "$work/fn/"
cp target/functions/transformer-py.wasm "$work/fn/transformer-py-reused.wasm"
cp target/functions/handler-js.wasm "$work/fn/handler-js-reused.wasm"
settings="env = { mapping = '$mapping', partition_key = \"trade_id\" }"
cat >"$work/fn/wasmfn.toml" <<EOF
[functions.transformer]
$settings

[functions.transformer-py]
$settings

[functions.transformer-py-reused]
instances = "reused"
$settings

[functions.handler-js]
env = { desk = "fx" }

[functions.handler-js-reused]
instances = "reused"
env = { desk = "fx" }

[functions.trade-check]
env = { desk = "base-metals" }
EOF

p=$bench/payloads
printf '{"sku":"CU-3M","qty":2500}' >"$work/order.json"
# target | server | route | headers | body
targets=(
  "flask-transformer-py|flask|/transformer-py|$p/transformer.headers|$p/trade.json"
  "flask-transformer|flask|/transformer|$p/transformer.headers|$p/trade.json"
  "rust-transformer|wasmfn|/transformer|$p/transformer.headers|$p/trade.json"
  "py-transformer-fresh|wasmfn|/transformer-py|$p/transformer.headers|$p/trade.json"
  "py-transformer-reused|wasmfn|/transformer-py-reused|$p/transformer.headers|$p/trade.json"
  "js-handler-fresh|wasmfn|/handler-js|$p/transformer.headers|$work/order.json"
  "js-handler-reused|wasmfn|/handler-js-reused|$p/transformer.headers|$work/order.json"
  "c-trade-check|wasmfn|/trade-check|$p/transformer.headers|$p/trade.json"
)

wait_http() { # wait_http URL TIMEOUT_S
  local i
  for ((i = 0; i < $2 * 20; i++)); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = 200 ] && return 0
    sleep 0.05
  done
  die "$1 not ready after $2 s"
}
port_of() { [ "$1" = flask ] && echo "$FLASK_PORT" || echo "$WASMFN_PORT"; }
check_200() { # check_200 PORT ROUTE HEADERS BODY
  local args=() line code
  while IFS= read -r line; do [ -n "$line" ] && args+=(-H "$line"); done <"$3"
  code=$(curl -s -o "$work/check.out" -w '%{http_code}' -X POST "${args[@]}" --data-binary "@$4" "http://127.0.0.1:$1$2")
  [ "$code" = 200 ] || die "POST :$1$2 answered $code, expected 200: $(head -c 300 "$work/check.out")"
}
run_wrk() { # run_wrk PORT ROUTE HEADERS BODY CONNS SECONDS -> the BENCH line
  BENCH_HEADERS=$3 BENCH_BODY=$4 "${on_client[@]}" wrk -t1 -c"$5" -d"${6}s" --timeout 5s \
    -s "$lib/post.lua" "http://127.0.0.1:$1$2" >"$work/wrk.out" 2>&1 || { cat "$work/wrk.out" >&2; die "wrk failed"; }
  grep '^BENCH ' "$work/wrk.out" || { cat "$work/wrk.out" >&2; die "wrk printed no BENCH line"; }
}

# ---------------------------------------------------------------- servers
say "wasmfn serve and Flask (gunicorn --workers 1 --threads 8) on CPU $SERVER_CPU"
"${on_server[@]}" "$wasmfn" serve --functions "$work/fn" --port "$WASMFN_PORT" --drain-secs 0 \
  --cache-dir "$work/cache-main" --compile-timeout-secs 600 >"$work/wasmfn.log" 2>&1 &
wasmfn_pid=$!; pids+=("$wasmfn_pid")
MAPPING=$mapping PARTITION_KEY=trade_id "${on_server[@]}" "$venv/bin/gunicorn" \
  --workers 1 --threads 8 --bind "127.0.0.1:$FLASK_PORT" --chdir "$bench/baseline" \
  --log-level warning app:app >"$work/gunicorn.log" 2>&1 &
flask_pid=$!; pids+=("$flask_pid")
wait_http "http://127.0.0.1:$WASMFN_PORT/readyz" 300
wait_http "http://127.0.0.1:$FLASK_PORT/healthz" 30
for t in "${targets[@]}"; do
  IFS='|' read -r name server route headers body <<<"$t"
  check_200 "$(port_of "$server")" "$route" "$headers" "$body"
  run_wrk "$(port_of "$server")" "$route" "$headers" "$body" 1 2 >/dev/null  # warm-up
done

# ---------------------------------------------------------------- closed loop, interleaved
for ((round = 1; round <= ROUNDS; round++)); do
  say "round $round of $ROUNDS"
  for c in $CONCS; do
    for t in "${targets[@]}"; do
      IFS='|' read -r name server route headers body <<<"$t"
      pid=$wasmfn_pid; [ "$server" = flask ] && pid=$flask_pid
      cpu0=$(python3 "$lib/proc.py" cpu "$pid")
      line=$(run_wrk "$(port_of "$server")" "$route" "$headers" "$body" "$c" "$DURATION")
      cpu1=$(python3 "$lib/proc.py" cpu "$pid")
      echo "   $name c=$c: ${line#BENCH }" >&2
      record "$(python3 - "$line" <<EOF
import json, sys
kv = {k: int(v) for k, v in (f.split("=") for f in sys.argv[1].split()[1:])}
print(json.dumps({"kind": "load", "target": "$name", "conc": $c, "round": $round,
                  "cpu_s": round($cpu1 - $cpu0, 3),
                  "loadavg1": float(open("/proc/loadavg").read().split()[0]), **kv}))
EOF
)"
    done
  done
done
stop "$wasmfn_pid"
stop "$flask_pid"

# ---------------------------------------------------------------- cold start per language
# exec of `wasmfn serve` on a directory holding only that function -> its
# first 2xx; empty cache directory, then the directory that start filled.
if [ "$cold" = 1 ]; then
  for t in "rust-transformer|transformer|$p/trade.json" "py-transformer|transformer-py|$p/trade.json" \
           "js-handler|handler-js|$work/order.json" "c-trade-check|trade-check|$p/trade.json"; do
    IFS='|' read -r name fn body <<<"$t"
    dir=$work/cold-$fn
    mkdir -p "$dir"
    cp "target/functions/$fn.wasm" "$dir/"
    python3 - "$work/fn/wasmfn.toml" "$fn" >"$dir/wasmfn.toml" <<'EOF'
import sys, tomllib
config = tomllib.load(open(sys.argv[1], "rb"))["functions"][sys.argv[2]]
env = ", ".join(f"{k} = '{v}'" for k, v in config["env"].items())
print(f"[functions.{sys.argv[2]}]\nenv = {{ {env} }}")
EOF
    for ((i = 1; i <= COLD_RUNS; i++)); do
      rm -rf "$work/cache-cold"
      for cache in empty filled; do
        out=$("${on_client[@]}" python3 "$lib/startup.py" --port "$SCRATCH_PORT" --path "/$fn" \
          --headers "$p/transformer.headers" --body "$body" --timeout 600 --log "$work/cold.log" -- \
          taskset -c "$SERVER_CPU" "$wasmfn" serve --functions "$dir" --port "$SCRATCH_PORT" \
          --drain-secs 0 --cache-dir "$work/cache-cold" --compile-timeout-secs 600)
        echo "   $name $cache cache: $out" >&2
        record "{\"kind\":\"cold\",\"target\":\"$name\",\"cache\":\"$cache\",\"run\":$i,\"result\":$out}"
      done
    done
  done
fi

record "{\"kind\":\"end\",\"loadavg_end\":$(cut -d' ' -f1 /proc/loadavg)}"
mkdir -p "$bench/results"
day=$(date -u +%F)
cp "$results" "$bench/results/languages-$day-raw.jsonl"
python3 "$lib/languages_report.py" "$results" >"$bench/results/languages-$day.md"
cp "$bench/results/languages-$day.md" "$bench/results/languages-latest.md"
echo "wrote bench/results/languages-$day.md and languages-latest.md" >&2

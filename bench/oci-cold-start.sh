#!/usr/bin/env bash
# Cold start of a function pulled from an OCI registry: exec -> ready (/readyz 200) -> first answer of a new
# `wasmfn serve` whose wasmfn.toml names the module by digest, against a local
# Debian docker-registry (127.0.0.1, ephemeral port).
#   empty cache   a new pod: pull + verify + compile, then serve
#   warm cache    a restarted container (same --cache-dir), registry stopped: no pull, no compile
#   local file    the same module as NAME.wasm in the directory, empty cache (compile only),
#                 to separate the pull from the compile
# Writes bench/results/oci-cold-start.md.
#
# usage: bench/oci-cold-start.sh [MODULE.wasm] [NAME]
#   MODULE.wasm  default: target/functions/transformer-py.wasm if built, else
#                target/functions/transformer.wasm
#   NAME         the function's name (default: the file stem); transformer* get the
#                transformer's settings from deploy/base/wasmfn.toml, in reply mode
# env: REPS (3), WASMFN_BIN (target/release/wasmfn)
set -euo pipefail
bench=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$bench")
cd "$root"
REPS=${REPS:-3}
wasmfn=${WASMFN_BIN:-$root/target/release/wasmfn}
module=${1:-}
if [ -z "$module" ]; then
  module=target/functions/transformer-py.wasm
  [ -f "$module" ] || module=target/functions/transformer.wasm
fi
name=${2:-$(basename "$module" .wasm)}
[ -x "$wasmfn" ] || cargo build --release -p wasmfn
command -v docker-registry >/dev/null || { echo "needs Debian's docker-registry" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/oci-cold-start.XXXXXX")
registry_pid=
cleanup() { [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_registry() {
  cat > "$work/registry.yml" <<YAML
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/storage}}
http: {addr: 127.0.0.1:$registry_port, secret: bench}
YAML
  docker-registry serve "$work/registry.yml" 2>>"$work/registry.log" &
  registry_pid=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$registry_port") 2>/dev/null && return; sleep 0.1; done
  echo "registry did not start" >&2; exit 1
}
registry_port=$(free_port)
start_registry
reference=$("$wasmfn" push "$module" "127.0.0.1:$registry_port/bench/$name:v1" 2>/dev/null | tail -1)
echo "pushed $module ($(stat -c %s "$module") bytes) as $reference"

settings=
case $name in transformer*) settings="env = { mapping = '{\"trade_id\":\"/id\",\"price\":\"/px\"}', partition_key = \"trade_id\" }" ;; esac
mkdir -p "$work/oci" "$work/local"
printf '[functions.%s]\nsource = "oci://%s"\n%s\n' "$name" "$reference" "$settings" > "$work/oci/wasmfn.toml"
printf '[functions.%s]\n%s\n' "$name" "$settings" > "$work/local/wasmfn.toml"
cp "$module" "$work/local/$name.wasm"
printf 'ce-specversion: 1.0\nce-id: 1\nce-source: bench\nce-type: trade\ncontent-type: application/json\n' > "$work/headers"
printf '{"id":"T-1","px":101.25,"qty":5}' > "$work/body"

measure() {  # measure DIR CACHE -> one JSON line
  local port; port=$(free_port)
  python3 "$bench/lib/ready.py" --port "$port" --path "/$name" --headers "$work/headers" \
    --body "$work/body" --timeout 120 --log "$work/serve.log" -- \
    env PORT="$port" WASMFN_FUNCTIONS="$1" WASMFN_CACHE_DIR="$2" WASMFN_DRAIN_SECS=0 "$wasmfn" serve
}
ms() { python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("%.0f (%s at %.0f)" % (r["ready_ms"], r["status"], r["answer_ms"]) if r["ok"] else "FAIL: " + r.get("error", str(r)))' "$1"; }

rows=()
for rep in $(seq "$REPS"); do
  cache=$work/cache-$rep
  cold=$(measure "$work/oci" "$cache")
  kill "$registry_pid"; wait "$registry_pid" 2>/dev/null || true; registry_pid=
  warm=$(measure "$work/oci" "$cache")
  start_registry
  local_=$(measure "$work/local" "$work/local-cache-$rep")
  rows+=("| $rep | $(ms "$cold") | $(ms "$warm") | $(ms "$local_") |")
  echo "run $rep: empty cache $(ms "$cold") ms, warm cache (registry down) $(ms "$warm") ms, local file $(ms "$local_") ms"
done

out=$bench/results/oci-cold-start.md
{
  echo "# Cold start from an OCI registry ($(date -u +%F), $(git rev-parse --short HEAD))"
  echo
  echo "Module: \`$module\` ($(stat -c %s "$module") bytes), function \`$name\`."
  echo "Each cell: ms from exec to /readyz 200, then (status of the first event, at ms)."
  echo "Registry: Debian docker-registry on 127.0.0.1 (no network latency). Machine: $(nproc) cores, shared."
  echo
  echo "| run | empty cache (pull + compile) | warm cache, registry down | local file, empty cache (compile only) |"
  echo "|---|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
} > "$out"
cat "$out"

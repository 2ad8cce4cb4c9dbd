#!/usr/bin/env bash
# The demo (README's first command): builds wasmfn and the example functions,
# starts `wasmfn dev` on 127.0.0.1:${PORT:-8080} — the functions served as on
# the cluster, plus the Broker, Triggers, PingSource and KafkaSink of
# deploy/pipeline emulated in memory, with deploy/base/wasmfn.toml — sends the
# seed-style trade request into /handler with curl, and prints the record it
# becomes, transformed, in dev-out/my-trades.jsonl:
#   /handler → Broker → Trigger (type my-trade, source my-exchange)
#            → /transformer → KafkaSink my-trades → dev-out/my-trades.jsonl
# Pass --keep to leave the pipeline running (Ctrl-C stops it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
port=${PORT:-8080}
out=dev-out

scripts/build-functions.sh target/functions
cargo build --release --quiet -p wasmfn
# Serve what the cluster's ConfigMap packs (deploy/base/kustomization.yaml):
# the Python and JavaScript examples would add ~10 s each of compiling to a
# cold start, and they do not fit a ConfigMap anyway.
rm -rf target/demo-functions
mkdir -p target/demo-functions
for f in $(grep -o 'functions/[a-z0-9-]*\.wasm' deploy/base/kustomization.yaml); do
  cp "target/$f" target/demo-functions/
done

mkdir -p "$out"
rm -f "$out"/*.jsonl
target/release/wasmfn dev --manifests deploy/pipeline --functions target/demo-functions \
  --config deploy/base/wasmfn.toml --port "$port" --out "$out" --ping-now &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

trade='{"id":"T-1001","px":101.25,"qty":5,"venue":"my-exchange"}'
echo
echo "\$ curl -sS -i http://127.0.0.1:$port/handler -H 'ce_type: my-trade' -H 'ce_source: my-exchange' -H 'content-type: application/json' -d '$trade'"
curl -sS -i "http://127.0.0.1:$port/handler" \
  -H 'ce_type: my-trade' -H 'ce_source: my-exchange' -H 'content-type: application/json' -d "$trade"
for _ in $(seq 100); do
  [ -s "$out/my-trades.jsonl" ] && break
  sleep 0.1
done
echo
echo "\$ cat $out/my-trades.jsonl"
cat "$out/my-trades.jsonl" 2>/dev/null || {
  echo "demo: nothing reached $out/my-trades.jsonl; see the log above" >&2
  exit 1
}
echo

if [ "${1:-}" = "--keep" ]; then
  echo "wasmfn dev is running on http://127.0.0.1:$port (Ctrl-C to stop)"
  wait $server
fi

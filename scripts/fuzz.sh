#!/usr/bin/env bash
# Fuzzes the ingress parser, the config loader and event identity (proptest
# properties in host/src/{ingress,config,event}/properties.rs) for a bounded time: runs them
# over and over, each run with a fresh random seed and PROPTEST_CASES cases,
# until SECONDS (default 60) have passed. A failure prints the minimal
# failing input and exits non-zero. CI runs `scripts/fuzz.sh 60`.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:-60}
export PROPTEST_CASES=${PROPTEST_CASES:-2000}
cargo test --release -p wasmfn --lib --no-run --quiet
start=$(date +%s)
runs=0
while [ $(( $(date +%s) - start )) -lt "$budget" ]; do
  if ! out=$(cargo test --release -p wasmfn --lib --quiet properties -- --test-threads 2 2>&1); then
    echo "$out"
    echo "fuzz: FAILED after $runs clean runs" >&2
    exit 1
  fi
  runs=$((runs + 1))
done
elapsed=$(( $(date +%s) - start ))
echo "fuzz: $runs runs x $PROPTEST_CASES cases x 3 properties in ${elapsed}s, no failure"

#!/usr/bin/env bash
# Builds every function in functions/ — Rust crates for wasm32-wasip2 (profile
# `wasm`: opt-level 3, LTO, stripped), Python, JavaScript, `build` scripts —
# and writes OUT_DIR/<name>.wasm, listing each with its size and digest. The
# work is `wasmfn build` (host/src/commands/build.rs); this script installs the
# guest toolchains and builds the host first, so it works on a fresh clone.
#
# usage: scripts/build-functions.sh [OUT_DIR]     (default: target/functions)
#        CRATES_DIR=tests/guests scripts/build-functions.sh target/test-guests
#        WASMFN_BIN=target/release/wasmfn scripts/build-functions.sh   (use that
#        binary instead of `cargo run`: scripts/test.sh passes the one its
#        tests use, which cargo builds with dev-dependency features)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/target/functions}
crates=${CRATES_DIR:-functions}
cd "$root"

scripts/install-toolchains.sh

if [ -n "${WASMFN_BIN:-}" ]; then
  "$WASMFN_BIN" build --out "$out" --functions-crates "$crates"
else
  cargo run --quiet --release -p wasmfn -- build --out "$out" --functions-crates "$crates"
fi

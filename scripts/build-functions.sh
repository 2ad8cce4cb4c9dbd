#!/usr/bin/env bash
# Builds every function crate in functions/ for wasm32-wasip2 (profile `wasm`:
# opt-level "s", LTO, stripped) and writes OUT_DIR/<name>.wasm.
#
# usage: scripts/build-functions.sh [OUT_DIR]     (default: target/functions)
#        CRATES_DIR=tests/guests scripts/build-functions.sh target/test-guests
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/target/functions}
crates=${CRATES_DIR:-functions}
cd "$root"

rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 \
  || rustup target add wasm32-wasip2

packages=()
for manifest in "$crates"/*/Cargo.toml; do
  packages+=(-p "$(basename "$(dirname "$manifest")")")
done
cargo build --quiet --profile wasm --target wasm32-wasip2 "${packages[@]}"

mkdir -p "$out"
for manifest in "$crates"/*/Cargo.toml; do
  name=$(basename "$(dirname "$manifest")")
  artifact=target/wasm32-wasip2/wasm/${name//-/_}.wasm
  [ -f "$artifact" ] || { echo "build-functions: $artifact missing after build" >&2; exit 1; }
  cp "$artifact" "$out/$name.wasm"
  printf '%-14s %8d bytes  %s\n' "$name" "$(stat -c %s "$out/$name.wasm")" "$out/$name.wasm"
done

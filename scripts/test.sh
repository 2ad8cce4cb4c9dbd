#!/usr/bin/env bash
# The test command (README, CI): installs the guest toolchains and the
# services the tests start (once: docker-registry, htpasswd, openssl), checks
# and unit-tests the Python and JavaScript SDKs and functions (ruff, pytest,
# eslint, node --test), builds the example functions (each once, into
# target/functions) and the test guests, then runs every unit and end-to-end
# test (release profile: the same build the demo and benchmarks use).
# Extra arguments go to `cargo test` (e.g. scripts/test.sh -- conformance).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

[ -d ../shared/conformance ] || {
  echo "test.sh: ../shared (conformance cases) must sit beside the repository" >&2
  exit 1
}
scripts/install-toolchains.sh --test-services
scripts/test-guest-sdks.sh

# Tests first: their build of the host is the `wasmfn` that builds the guests.
cargo test --release --workspace --no-run "$@"
export WASMFN_BIN=${CARGO_TARGET_DIR:-target}/release/wasmfn
scripts/build-functions.sh target/functions
CRATES_DIR=tests/guests scripts/build-functions.sh target/test-guests
# Test guests that are not crates: WASI commands built by their `build`
# script (C: Debian clang, lld, wasi-libc, libclang-rt-14-dev-wasm32).
for build in tests/commands/*/build; do
  name=$(basename "$(dirname "$build")")
  OUT="$root/target/test-guests/$name.wasm" "$build"
done
cargo test --release --workspace "$@"

#!/usr/bin/env bash
# Installs every guest toolchain `wasmfn build` uses, idempotently (a second
# run only checks): the Rust wasm32-wasip2 target; componentize-py, ruff and
# pytest in guest-sdk/python/.venv (guest-sdk/python/requirements-dev.txt);
# componentize-js, esbuild and eslint in guest-sdk/js/node_modules (its
# package-lock.json); and, as root on Debian, clang + lld + wasi-libc +
# libclang-rt-14-dev-wasm32 for C functions built by a `build` script.
# With --test-services, also what the end-to-end tests start themselves:
# docker-registry (a real OCI registry), htpasswd and openssl (its Basic and
# token realms). .ci/run, scripts/build-functions.sh and scripts/test.sh
# (--test-services) call it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

say() { echo "install-toolchains: $*" >&2; }

apt_install() { # PACKAGE... : installs those not installed yet (root, Debian)
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    say "missing ${missing[*]}: run (as root) apt-get install ${missing[*]}"
    return 1
  fi
  say "apt-get install ${missing[*]}"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Rust: the target every Rust function is built for.
if command -v rustup >/dev/null; then
  rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 \
    || rustup target add wasm32-wasip2
fi

# Python: componentize-py (pinned), ruff and pytest in a venv of the SDK.
venv=guest-sdk/python/.venv
requirements=guest-sdk/python/requirements-dev.txt
if ! cmp -s "$requirements" "$venv/.installed" 2>/dev/null; then
  command -v python3 >/dev/null || apt_install python3 python3-venv
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || {
    apt_install python3-venv && rm -rf "$venv" && python3 -m venv "$venv"
  }
  say "pip install -r $requirements (into $venv)"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/.installed"
fi

# JavaScript: node, then componentize-js, esbuild and eslint from the lock file.
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
lock=guest-sdk/js/package-lock.json
if ! cmp -s "$lock" guest-sdk/js/node_modules/.wasmfn-installed 2>/dev/null; then
  say "npm ci (guest-sdk/js)"
  (cd guest-sdk/js && npm ci --no-audit --no-fund --loglevel=error)
  cp "$lock" guest-sdk/js/node_modules/.wasmfn-installed
fi

# C (and other wasm32-wasi languages through their `build` scripts).
apt_install clang lld wasi-libc libclang-rt-14-dev-wasm32 \
  || say "C functions will not build until these are installed"

# Services the end-to-end tests start on 127.0.0.1 (tests/registry.rs).
if [ "${1:-}" = --test-services ]; then
  apt_install docker-registry apache2-utils openssl || {
    say "the registry tests need these: install them and rerun"
    exit 1
  }
fi

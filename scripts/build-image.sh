#!/usr/bin/env bash
# Builds the serve image with Debian's buildah, from scratch: no base image is
# pulled (none can be here) and no container daemon is needed. The image holds
# one static binary (x86_64-unknown-linux-musl, no development commands:
# --no-default-features) and the CA bundle for HTTPS registries, runs as
# 65532:65532 with `/wasmfn serve` as its entrypoint, and has no shell. It is
# deploy/Dockerfile's runtime stage built from a binary made here; keep the two
# in step.
#
# Then it checks the image's config and contents with skopeo (user, entrypoint,
# no /bin/sh, the binary static) and, with --run, runs it with podman against
# the example functions mounted read-only like a ConfigMap (/readyz 200, one
# event answered 2xx). Without --run the checks stop at skopeo; when this machine
# cannot run containers, the image's own /wasmfn is run outside one, and it says why.
#
# usage: scripts/build-image.sh [--run] [--out FILE]   (default target/image/wasmfn.oci.tar)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
run=0 out=$root/target/image/wasmfn.oci.tar
while [ $# -gt 0 ]; do
  case $1 in
    --run) run=1 ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "build-image.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
die() { echo "build-image.sh: $*" >&2; exit 1; }
say() { printf '== %s\n' "$*" >&2; }

target=x86_64-unknown-linux-musl
say "tools"
rustup target add "$target" >/dev/null
missing=()
command -v musl-gcc >/dev/null || missing+=(musl-tools)
command -v buildah >/dev/null || missing+=(buildah)
command -v skopeo >/dev/null || missing+=(skopeo)
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
if [ "$run" = 1 ] && ! command -v podman >/dev/null; then missing+=(podman); fi
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
    || die "could not install ${missing[*]} (Debian packages)"
fi

say "static binary ($target, --no-default-features)"
# -p wasmfn: the image's binary alone; its own target triple keeps it apart from the
# workspace build that scripts/test.sh makes.
cargo build --release --locked --target "$target" --no-default-features -p wasmfn
binary=${CARGO_TARGET_DIR:-target}/$target/release/wasmfn
if readelf -d "$binary" 2>/dev/null | grep -q NEEDED; then
  die "$binary links shared libraries; a scratch image cannot run it"
fi

say "image"
stage=$(mktemp -d)
ctr=
cleanup() { [ -n "$ctr" ] && buildah rm "$ctr" >/dev/null 2>&1; rm -rf "$stage"; }
trap cleanup EXIT
strip -o "$stage/wasmfn" "$binary"
ctr=$(buildah from scratch)
buildah copy --chown 0:0 --chmod 0755 "$ctr" "$stage/wasmfn" /wasmfn >/dev/null
buildah copy --chown 0:0 --chmod 0644 "$ctr" /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt >/dev/null
# Numeric UID:GID (65532, distroless' "nonroot") so runAsNonRoot can check it without a passwd file.
buildah config --user 65532:65532 --entrypoint '["/wasmfn", "serve"]' --cmd '' --port 8080 \
  --label org.opencontainers.image.title=wasmfn "$ctr"
mkdir -p "$(dirname "$out")"
rm -f "$out"
buildah commit --quiet --format oci "$ctr" "oci-archive:$out:wasmfn:dev" >/dev/null
echo "   $out ($(du -h "$out" | cut -f1))" >&2

say "checks (skopeo)"
config=$(skopeo inspect --config "oci-archive:$out")
python3 - "$config" <<'EOF'
import json, sys
cfg = json.loads(sys.argv[1])["config"]
problems = []
if cfg.get("User") != "65532:65532":
    problems.append(f"user is {cfg.get('User')!r}, want '65532:65532'")
if cfg.get("Entrypoint") != ["/wasmfn", "serve"]:
    problems.append(f"entrypoint is {cfg.get('Entrypoint')!r}, want ['/wasmfn', 'serve']")
if problems:
    sys.exit("build-image.sh: " + "; ".join(problems))
print(f"   user {cfg['User']}, entrypoint {cfg['Entrypoint']}, ports {list(cfg.get('ExposedPorts', {}))}", file=sys.stderr)
EOF
unpacked=$stage/unpacked
mkdir -p "$unpacked" && tar -xf "$out" -C "$unpacked"
files=$(for layer in "$unpacked"/blobs/sha256/*; do tar -tf "$layer" 2>/dev/null || true; done | sort -u)
echo "$files" | grep -qx 'wasmfn' || die "the image has no /wasmfn: $files"
if echo "$files" | grep -Eq '(^|/)(sh|bash|busybox)$'; then
  die "the image holds a shell: $(echo "$files" | grep -E '(^|/)(sh|bash|busybox)$')"
fi
echo "   files: $(echo "$files" | tr '\n' ' ')" >&2

[ "$run" = 1 ] || { echo "image checked (not run: pass --run to run it with podman)" >&2; exit 0; }

say "run"
functions=$root/target/functions
[ -f "$functions/simple.wasm" ] || WASMFN_BIN=target/release/wasmfn scripts/build-functions.sh "$functions"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# /readyz 200 within a minute, then one binary CloudEvent to `simple` answered 2xx.
check_serving() {
  for _ in $(seq 60); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 1
  done
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || { echo "/readyz never answered 200" >&2; return 1; }
  local status
  status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/simple" \
    -H 'ce-specversion: 1.0' -H 'ce-id: image-check-1' -H 'ce-source: build-image.sh' \
    -H 'ce-type: com.example.check' -H 'content-type: application/json' -d '{"name":"image"}')
  case $status in 2??) ;; *) echo "POST /simple answered $status" >&2; return 1 ;; esac
  echo "   /readyz 200, POST /simple $status" >&2
}
image=$(podman load --quiet --input "$out" | sed -n 's/^Loaded image[^:]*: *//p' | tail -1)
[ -n "$image" ] || die "podman could not load $out"
name=wasmfn-image-check-$$
if podman run --detach --name "$name" --network host --read-only --tmpfs /tmp \
    --env PORT="$port" --volume "$functions:/etc/wasmfn/functions:ro" "$image" >/dev/null 2>"$stage/run.err"; then
  trap 'podman rm --force "$name" >/dev/null 2>&1; cleanup' EXIT
  check_serving || { podman logs "$name" >&2; die "the image does not serve"; }
  echo "image runs with podman" >&2
  exit 0
fi
# Seen on this project's machines: crun may not set the container's rlimits and refuses
# hybrid cgroups. Then the image's own /wasmfn, taken out of its layer, runs here with an
# empty environment and no libc on the path: what the container would have run.
echo "   podman cannot run containers on this machine:" >&2
sed 's/^/     /' "$stage/run.err" >&2
rootfs=$stage/rootfs
mkdir -p "$rootfs"
for layer in "$unpacked"/blobs/sha256/*; do tar -xf "$layer" -C "$rootfs" 2>/dev/null || true; done
env -i PORT="$port" WASMFN_FUNCTIONS="$functions" \
  "$rootfs/wasmfn" serve --cache-dir "$stage/cache" >"$stage/serve.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; cleanup' EXIT
check_serving || { cat "$stage/serve.log" >&2; die "the image's /wasmfn does not serve"; }
echo "image checked: config and contents by skopeo; its /wasmfn serves outside a container (podman cannot run here)" >&2

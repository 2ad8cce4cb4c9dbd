#!/usr/bin/env bash
# Winch (wasmtime's baseline compiler) against Cranelift: CPU seconds to
# compile each example function, and CPU ms per run of the C command on a
# ~290 KB trade (the guest's own code dominates), REPS times each, alternated.
# Uses wasmtime-py 48.0.0 (pip, into bench/.winch-venv): the C API of the
# host's wasmtime major, with both compilers in it. Run pinned to one core.
# Writes bench/results/winch.txt. Method and reading: bench/README.md, "Cold start".
#
# usage: bench/winch.sh      (after scripts/build-functions.sh target/functions)
# env: REPS (3) RUNS (100 command runs per measurement)
set -euo pipefail
bench=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$bench")
cd "$root"
REPS=${REPS:-3} RUNS=${RUNS:-100}
venv=$bench/.winch-venv
[ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import wasmtime' 2>/dev/null || {
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "wasmtime==48.0.0"
}
probe=("$venv/bin/python" "$bench/lib/winch_probe.py")
work=$(mktemp -d /tmp/wasmfn-winch.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 - "$bench/payloads/trade.json" >"$work/big-event.json" <<'EOF'
import json, sys
trade = json.load(open(sys.argv[1]))
trade["history"] = [{"px": 100 + i / 100, "qty": i, "venue": "XLME", "flags": [True, False, None],
                     "note": f"fill {i}"} for i in range(3000)]
print(json.dumps({"specversion": "1.0", "id": "1", "source": "bench", "type": "trade",
                  "datacontenttype": "application/json", "data": trade}))
EOF
{
  echo "# bench/winch.sh $(date -u +%FT%TZ), git $(git rev-parse --short HEAD), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  for ((rep = 1; rep <= REPS; rep++)); do
    for f in transformer transformer-py handler-js trade-check; do
      for s in cranelift winch; do
        echo "compile $f $(taskset -c 1 "${probe[@]}" compile "target/functions/$f.wasm" "$s")"
      done
    done
    for s in cranelift winch; do
      echo "run trade-check $(taskset -c 1 "${probe[@]}" command target/functions/trade-check.wasm "$s" "$work/big-event.json" "$RUNS")"
    done
  done
} | tee "$bench/results/winch.txt"

#!/usr/bin/env bash
# Static checks and unit tests of the Python and JavaScript guest SDKs, the
# Python/JavaScript functions in functions/ and the `wasmfn new` templates:
# ruff (lint + format), pytest, eslint, node --test. scripts/test.sh runs it
# after scripts/install-toolchains.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
py=guest-sdk/python/.venv/bin
eslint=guest-sdk/js/node_modules/.bin/eslint

echo "== ruff"
"$py/ruff" check guest-sdk/python functions host/templates/python tests/guests
"$py/ruff" format --check guest-sdk/python functions host/templates/python tests/guests

echo "== eslint"
"$eslint" --max-warnings 0 -c guest-sdk/js/eslint.config.js guest-sdk/js functions host/templates/js tests/guests

echo "== pytest: the Python SDK"
"$py/pytest" -q guest-sdk/python/tests
for app in functions/*/app.py; do
  [ -e "$app" ] || continue
  echo "== pytest: $(dirname "$app")"   # one run each: every function's module is `app`
  "$py/pytest" -q "$(dirname "$app")"
done

echo "== node --test: the JavaScript SDK"
node --test guest-sdk/js/test/
for index in functions/*/index.js; do
  [ -e "$index" ] || continue
  dir=$(dirname "$index")
  ls "$dir"/*.test.js >/dev/null 2>&1 || continue
  echo "== node --test: $dir"
  node --import ./guest-sdk/js/testing.js --test "$dir/"
done

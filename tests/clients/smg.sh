#!/usr/bin/env bash
# Two `hearth serve` replicas behind SMG (the `smg` router from PyPI, cache-aware policy)
# on loopback, on the tiny test model: see smg_router.py for what is checked.
#
# usage: tests/clients/smg.sh [PATH-TO-hearth]
# SMG lives in a venv outside the repository, made on first use ($HEARTH_SMG_VENV,
# default ~/.cache/hearth/smg-venv); if pip cannot install it this fails: a run that
# cannot reach the package index has tested nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-${HEARTH_BIN:-$root/target/debug/hearth}}
venv=${HEARTH_SMG_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/hearth/smg-venv}

if ! [ -x "$venv/bin/smg" ]; then
  echo "== installing smg into $venv" >&2
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  if ! timeout 600 "$venv/bin/pip" install --quiet --disable-pip-version-check smg; then
    echo "error: pip could not install smg (is the package index reachable?)" >&2
    exit 1
  fi
fi
exec timeout 600 python3 "$here/smg_router.py" "$bin" "$venv/bin/smg" \
  "$root/engine/tests/fixtures/tiny/qwen2.gguf"

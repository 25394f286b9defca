#!/usr/bin/env bash
# The official client SDKs (anthropic, openai) against `hearth serve` on loopback, on the
# tiny test model.
#
# usage: tests/clients/run.sh [PATH-TO-hearth]
# The SDKs live in a venv outside the repository, made on first use
# ($HEARTH_CLIENTS_VENV, default ~/.cache/hearth/clients-venv); if pip cannot install
# them this fails: a run that cannot reach the package index has tested nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-${HEARTH_BIN:-$root/target/debug/hearth}}
venv=${HEARTH_CLIENTS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/hearth/clients-venv}
model=$root/engine/tests/fixtures/tiny/qwen2.gguf

if ! "$venv/bin/python" -c 'import anthropic, openai' 2>/dev/null; then
  echo "== installing the anthropic and openai SDKs into $venv" >&2
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  if ! timeout 600 "$venv/bin/pip" install --quiet --disable-pip-version-check anthropic openai; then
    echo "error: pip could not install the anthropic and openai SDKs (is the package index reachable?)" >&2
    exit 1
  fi
fi

log=$(mktemp)
ledger=$(mktemp)
# Port 0: the OS picks a free port, and the server says which on stderr. The usage ledger
# is the run's own, not the user's.
"$bin" serve --model "$model" --listen 127.0.0.1:0 --ctx 4096 --kv-cache-disk 0 \
  --usage-ledger "$ledger" 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log" "$ledger"' EXIT
url=
for _ in $(seq 1 600); do
  url=$(grep -o 'listening on http://[0-9.:]*' "$log" | sed 's/^listening on //' || true)
  [ -n "$url" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "error: hearth serve exited before listening:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "error: hearth serve did not listen within 60 s:" >&2
  cat "$log" >&2
  exit 1
fi
echo "== hearth serve at $url" >&2
status=0
# Both SDKs run even when the first fails, so one run shows every failure.
timeout 600 "$venv/bin/python" "$here/sdk_anthropic.py" "$url" || status=$?
timeout 600 "$venv/bin/python" "$here/sdk_openai.py" "$url" || status=$?
if [ "$status" -ne 0 ]; then
  echo "== hearth serve's stderr:" >&2
  cat "$log" >&2
fi
exit "$status"

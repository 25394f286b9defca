#!/usr/bin/env bash
# Claude Code and Codex CLI, the real clients, against `hearth serve` on the default model,
# on loopback. Not part of `cargo test`: it needs the default model (1.1 GB, `hearth model
# pull`) and minutes of CPU (Codex CLI's request alone is about 6,100 prompt tokens: 2 to
# 4 minutes on a 2-core CPU).
#
# usage: tests/clients/real_clients.sh [PATH-TO-hearth]   (default: target/release/hearth)
#
# The clients come from npm, into a prefix outside the repository ($HEARTH_NPM_CLIENTS,
# default ~/.cache/hearth/npm-clients), installed there on first use at the versions this
# was last checked with (CLAUDE_CODE_VERSION, CODEX_VERSION); a client already in that
# prefix, or else on PATH, is used as it is. If npm cannot install them this fails: a run
# that cannot reach the registry has tested nothing.
#
# - Claude Code, headless (`claude --bare --tools Read -p … --output-format json`) in a new
#   git repository holding calc.py, is asked to read it with its Read tool and name the
#   function that adds: a run passes when it succeeds, took a tool call (num_turns >= 2) and
#   the answer names `add` without reporting an error. The default model gets there in about
#   one run of three (it fills Read's PDF-only `pages` argument with junk, writes the tool's
#   definition back instead of calling it, or answers beside the point), so up to
#   CLAUDE_TRIES runs (default 5), one table row each, until one passes.
# - Codex CLI (`codex exec`, a `[model_providers]` entry with wire_api = "responses", a
#   CODEX_HOME of its own, read-only sandbox) is asked to say hello in one word: it passes
#   when it exits 0 with a non-empty last message.
#
# Between each client and the server runs tests/clients/record_proxy.py, which logs every
# request (size, status, seconds, and the body of any error answer): the table counts them,
# and on a failure the log and the server's stderr are printed.
#
# Environment: HEARTH_SERVE_MODEL (a GGUF path for `serve --model`; default: the default
# model from the cache), HEARTH_SERVE_CTX (default 32768: Codex CLI sends no output limit,
# so the rest of the window is its limit), CLIENT_TIMEOUT (seconds per client, default
# 1200), CLAUDE_TRIES (default 5), CLIENTS (which to run, default "claude codex"),
# HEARTH_LOG (passed to the server; debug shows the engine's view of each prompt),
# RECORD_BODIES=DIR (the proxy keeps every request and answer there), KEEP=1 keeps the
# work directories.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-${HEARTH_BIN:-$root/target/release/hearth}}
npm_prefix=${HEARTH_NPM_CLIENTS:-${XDG_CACHE_HOME:-$HOME/.cache}/hearth/npm-clients}
ctx=${HEARTH_SERVE_CTX:-32768}
client_timeout=${CLIENT_TIMEOUT:-1200}
claude_code_version=${CLAUDE_CODE_VERSION:-2.1.197}
codex_version_wanted=${CODEX_VERSION:-0.171.0}
packages="@anthropic-ai/claude-code@$claude_code_version @openai/codex@$codex_version_wanted"

[ -x "$bin" ] || { echo "error: no hearth binary at $bin (cargo build --release -p hearth)" >&2; exit 1; }
if ! "$bin" serve --help 2>/dev/null | grep -q -- '--alias'; then
  echo "error: $bin has no \`serve\` with the OpenAI routes; rebuild it (cargo build --release -p hearth)" >&2
  exit 1
fi
command -v python3 >/dev/null || { echo "error: python3 is needed for the recording proxy" >&2; exit 1; }

find_client() { # NAME: the path of the client NAME, installed into the prefix if missing
  if [ ! -x "$npm_prefix/node_modules/.bin/$1" ] && command -v "$1" >/dev/null; then
    command -v "$1"
    return
  fi
  if [ ! -x "$npm_prefix/node_modules/.bin/$1" ]; then
    echo "== installing $packages into $npm_prefix" >&2
    command -v npm >/dev/null || { echo "error: npm is needed to install \`$1\`" >&2; return 1; }
    mkdir -p "$npm_prefix"
    # shellcheck disable=SC2086 # the package list is split on purpose
    if ! timeout 600 npm install --prefix "$npm_prefix" --no-audit --no-fund $packages >&2; then
      echo "error: npm could not install $packages (is the registry reachable?)" >&2
      return 1
    fi
  fi
  [ -x "$npm_prefix/node_modules/.bin/$1" ] ||
    { echo "error: npm installed no \`$1\` in $npm_prefix/node_modules/.bin" >&2; return 1; }
  echo "$npm_prefix/node_modules/.bin/$1"
}
wanted() { [[ " ${CLIENTS:-claude codex} " == *" $1 "* ]]; }
claude= codex= claude_version=- codex_version=-
if wanted claude; then
  claude=$(find_client claude)
  claude_version=$(timeout 60 "$claude" --version 2>&1 | head -1)
fi
if wanted codex; then
  codex=$(find_client codex)
  codex_version=$(timeout 60 "$codex" --version 2>&1 | head -1)
fi

# Codex CLI refuses to put its helper binaries under /tmp, so the work lives in the cache.
cache=${XDG_CACHE_HOME:-$HOME/.cache}/hearth
mkdir -p "$cache"
work=$(mktemp -d "$cache/real-clients.XXXXXX")
server_pid=
proxy_pid=
repo=
cleanup() {
  [ -n "$proxy_pid" ] && { kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; }
  [ -n "$server_pid" ] && { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
  if [ "${KEEP:-0}" = 1 ]; then echo "== kept $work ${repo:-}" >&2; else rm -rf "$work" ${repo:+"$repo"}; fi
}
trap cleanup EXIT

wait_listening() { # LOG PID WHAT SECONDS: the URL the process printed, or a failure
  local url=
  for _ in $(seq 1 $(( $4 * 10 ))); do
    url=$(grep -o 'listening on http://[0-9.:]*' "$1" | head -1 | sed 's/^listening on //' || true)
    [ -n "$url" ] && { echo "$url"; return 0; }
    if ! kill -0 "$2" 2>/dev/null; then
      echo "error: $3 exited before listening:" >&2; cat "$1" >&2; return 1
    fi
    sleep 0.1
  done
  echo "error: $3 did not listen within $4 s:" >&2; cat "$1" >&2; return 1
}

# Port 0: the OS picks a free port, and the server says which on stderr.
HF_HUB_OFFLINE=1 "$bin" serve ${HEARTH_SERVE_MODEL:+--model "$HEARTH_SERVE_MODEL"} \
  --listen 127.0.0.1:0 --ctx "$ctx" --usage-ledger "$work/usage.jsonl" 2>"$work/server.log" &
server_pid=$!
server=$(wait_listening "$work/server.log" "$server_pid" "hearth serve" 300)
# The served model's id (the file's stem), as the clients must name it.
model=$(curl -sf --max-time 10 "$server/v1/models" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])') ||
  { echo "error: GET $server/v1/models did not name the served model" >&2; exit 1; }
if [ -n "${RECORD_BODIES:-}" ]; then mkdir -p "$RECORD_BODIES"; fi
python3 "$here/record_proxy.py" "$server" "$work/requests.log" >"$work/proxy.out" 2>&1 &
proxy_pid=$!
url=$(wait_listening "$work/proxy.out" "$proxy_pid" "the recording proxy" 30)
echo "== hearth serve at $server ($model, --ctx $ctx), clients through $url" >&2
echo "== $claude_version; codex: $codex_version" >&2

requests() { # the number of requests the proxy has seen so far
  if [ -f "$work/requests.log" ]; then grep -c '^>' "$work/requests.log" || true; else echo 0; fi
}
answered() { # the number of answers that have ended
  if [ -f "$work/requests.log" ]; then grep -c '^<' "$work/requests.log" || true; else echo 0; fi
}
status=0
row() { # CLIENT REQUESTS SECONDS RESULT: one line of the table
  printf '%-32s | %8s | %7s | %s\n' "$1" "$2" "$3" "$(printf '%s' "$4" | tr -s '[:space:]' ' ')" >>"$work/table"
}
row client requests seconds result

# --- Claude Code -----------------------------------------------------------------------
if wanted claude; then
# A short path: the model copies the working directory from Claude Code's system prompt
# into the call, and a 1.5B model garbles long ones.
repo=$(mktemp -d /tmp/hearth-claude.XXXXXX)
mkdir -p "$work/claude-config"
git -C "$repo" init -q
printf 'def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n' >"$repo/calc.py"
git -C "$repo" add calc.py
git -C "$repo" -c user.name=t -c user.email=t@t commit -qm calc
# Up to CLAUDE_TRIES runs, one row each; Claude Code passes if one of them does.
# MAX_THINKING_TOKENS=0 turns Claude Code's thinking off (it asks for adaptive thinking,
# which hearth serve honours with a thinking segment): a 1.5B model with no reasoning
# training answers the tool's result better without one (replaying one recorded request
# eight times: 6 of 8 answers named the function without thinking, 3 of 6 with it).
claude_pass=0
for try in $(seq 1 "${CLAUDE_TRIES:-5}"); do
  before=$(requests)
  start=$(date +%s)
  rc=0
  (cd "$repo" && CLAUDE_CONFIG_DIR="$work/claude-config" ANTHROPIC_BASE_URL="$url" \
    ANTHROPIC_AUTH_TOKEN=unused ANTHROPIC_MODEL="$model" ANTHROPIC_SMALL_FAST_MODEL="$model" \
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 CLAUDE_CODE_MAX_OUTPUT_TOKENS=2048 \
    MAX_THINKING_TOKENS=0 \
    API_TIMEOUT_MS=$(( client_timeout * 1000 )) \
    timeout "$client_timeout" "$claude" --bare --tools Read --output-format json \
    -p "Read calc.py with the Read tool and tell me which function adds two numbers." \
    </dev/null >"$work/claude.$try.json" 2>"$work/claude.$try.err") || rc=$?
  seconds=$(( $(date +%s) - start ))
  n=$(( $(requests) - before ))
  verdict=$(python3 - "$work/claude.$try.json" "$rc" <<'EOF'
import json, sys
path, rc = sys.argv[1], int(sys.argv[2])
try:
    out = json.load(open(path))
except ValueError:
    print(f"FAIL: exit {rc}, no JSON result"); sys.exit()
import re
result = str(out.get("result", ""))
turns = out.get("num_turns", 0)
bad = []
if rc != 0 or out.get("is_error") or out.get("subtype") != "success":
    bad.append(f"exit {rc}, subtype {out.get('subtype')}, is_error {out.get('is_error')}")
if not isinstance(turns, int) or turns < 2:
    bad.append("no tool call")
if not re.search(r"\badd\b", result):
    bad.append("the answer does not name add")
# An answer that only echoes a tool error ("No such tool available: add") names add
# without having answered.
if re.search(r"(?i)error|no such tool", result):
    bad.append("the answer reports an error")
short = " ".join(result.split())[:160]
print(("FAIL: " + "; ".join(bad) if bad else "pass") + f" (turns {turns}): {short}")
EOF
)
  row "claude $claude_version #$try" "$n" "$seconds" "$verdict"
  case $verdict in pass*) claude_pass=1; break ;; esac
done
[ "$claude_pass" = 1 ] || status=1
fi

# --- Codex CLI ---------------------------------------------------------------------------
if wanted codex; then
codex_home=$work/codex-home
mkdir -p "$codex_home" "$work/codex-work"
cat >"$codex_home/config.toml" <<EOF
model = "$model"
model_provider = "hearth"

[model_providers.hearth]
name = "hearth serve"
base_url = "$url/v1"
wire_api = "responses"
env_key = "HEARTH_KEY"
stream_idle_timeout_ms = $(( client_timeout * 1000 ))
EOF
before=$(requests)
start=$(date +%s)
rc=0
(cd "$work/codex-work" && CODEX_HOME="$codex_home" HEARTH_KEY=unused \
  timeout "$client_timeout" "$codex" exec --skip-git-repo-check --ephemeral -s read-only \
  -o "$work/codex-last.txt" "Say hello in one word." \
  </dev/null >"$work/codex.out" 2>"$work/codex.err") || rc=$?
seconds=$(( $(date +%s) - start ))
n=$(( $(requests) - before ))
answer=$(tr -s '[:space:]' ' ' <"$work/codex-last.txt" 2>/dev/null | cut -c1-160 || true)
if [ "$rc" -eq 0 ] && [ -n "${answer// /}" ]; then
  verdict="pass: $answer"
else
  verdict="FAIL: exit $rc, last message: ${answer:-(none)}"
  status=1
fi
row "$codex_version" "$n" "$seconds" "$verdict"
fi

# --- the table -----------------------------------------------------------------------------
# A client may exit on its last event before the proxy has seen the stream end.
for _ in $(seq 1 50); do
  [ "$(answered)" -ge "$(requests)" ] && break
  sleep 0.2
done
cat "$work/table"
if [ "$status" -ne 0 ]; then
  echo "== requests (through the recording proxy):" >&2; cat "$work/requests.log" >&2 || true
  echo "== claude's stdout and stderr:" >&2; cat "$work"/claude.*.json "$work"/claude.*.err >&2 || true
  echo "== codex's stdout and stderr (last 60 lines):" >&2
  tail -n 60 "$work/codex.out" "$work/codex.err" >&2 || true
  echo "== hearth serve's stderr (last 60 lines):" >&2; tail -n 60 "$work/server.log" >&2
fi
exit "$status"

#!/usr/bin/env bash
# `hearth exec --endpoint … --api openai` against llama.cpp's server (llama-cpp-python) on
# the default model: the OpenAI backend working with another engine.
#
# usage: LLAMA_SERVER_PYTHON=/path/to/venv/bin/python tests/clients/llama_cpp.sh [PATH-TO-hearth]
# LLAMA_SERVER_PYTHON: a python with `llama-cpp-python[server]` installed (built once, outside
# the repository: `pip install 'llama-cpp-python[server]'`). HEARTH_LLAMA_MODEL: the GGUF
# (default: the default model in hearth's cache, as `hearth model pull` leaves it).
#
# The server runs the model's own chat template (no --chat_format): Qwen's template shows
# the tools and the tool results as the model was trained on them, and the model writes
# its calls as text (`<tool_call>…</tool_call>` or a fenced JSON call), which hearth's
# OpenAI backend reads as calls. (llama-cpp-python's `chatml-function-calling` format
# is no use to an agent: it fails on a streamed request with `tool_choice` `required`
# or `auto` ("Automatic streaming tool choice is not supported"), and its template drops
# tool results from the prompt.)
# On a 2-core CPU the first request prefills about 2,600 tokens: allow a few minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-${HEARTH_BIN:-$root/target/debug/hearth}}
python=${LLAMA_SERVER_PYTHON:?set LLAMA_SERVER_PYTHON to a python with llama-cpp-python[server]}
model=${HEARTH_LLAMA_MODEL:-${XDG_CACHE_HOME:-$HOME/.cache}/hearth/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf}
[ -f "$model" ] || { echo "error: no model at $model (run: hearth model pull)" >&2; exit 1; }
"$python" -c 'import llama_cpp.server' || { echo "error: $python has no llama_cpp.server" >&2; exit 1; }

work=$(mktemp -d)
port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$python" -m llama_cpp.server --model "$model" --host 127.0.0.1 --port "$port" \
  --n_ctx 8192 >"$work/server.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
url=http://127.0.0.1:$port/v1
for _ in $(seq 1 240); do
  curl -sf "$url/models" >/dev/null 2>&1 && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "error: llama_cpp.server exited:" >&2; cat "$work/server.log" >&2; exit 1
  fi
  sleep 0.5
done
echo "== llama_cpp.server at $url" >&2

mkdir "$work/repo"
printf 'def add(a, b):\n    return a + b\n' >"$work/repo/calc.py"
git -C "$work/repo" init -q
git -C "$work/repo" add calc.py
git -C "$work/repo" -c user.name=Ada -c user.email=ada@example.com commit -qm "Add the calculator"
printf 'def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n' >"$work/repo/calc.py"
git -C "$work/repo" -c user.name=Ada -c user.email=ada@example.com commit -qam "Teach the calculator to subtract"

# ask QUESTION EXPECTED [TOOL]: exit 0, the answer contains EXPECTED (unless empty), and
# TOOL was called (the call read from the model's text, its result sent back).
failed=0
ask() {
  local status=0
  echo "== $1" >&2
  timeout 900 "$bin" exec --endpoint "$url" --api openai --ctx 8192 --json --ephemeral \
    --mode read-only --max-turns 4 --cd "$work/repo" "$1" >"$work/out.jsonl" || status=$?
  cat "$work/out.jsonl"
  local answer
  answer=$(grep '"type":"session.completed"' "$work/out.jsonl" || true)
  if [ "$status" -ne 0 ]; then
    echo "error: hearth exec exited $status; the server said:" >&2
    tail -20 "$work/server.log" >&2
    failed=1
  elif [ -n "$2" ] && ! grep -q "$2" <<<"$answer"; then
    echo "error: the answer does not say $2: $answer" >&2
    failed=1
  elif [ -n "${3:-}" ] && ! grep -q "\"type\":\"tool.proposed\".*\"tool\":\"$3\"" "$work/out.jsonl"; then
    echo "error: $3 was not called" >&2
    failed=1
  fi
}
# Answered from the code the first message shows.
ask "which function adds two numbers?" add
# A tool round trip: the call written as text, read as a call, its result sent back. What
# the 1.5B model makes of the result varies (without constrained decoding it sometimes
# answers with another call written as bare JSON), so only the plumbing is checked.
ask "What is the message of the most recent commit? Use the git_log tool." "" git_log
[ "$failed" -eq 0 ] || exit 1
echo "llama_cpp: passed"

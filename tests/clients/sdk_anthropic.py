"""The official `anthropic` Python SDK against `hearth serve` (usage: sdk_anthropic.py URL).

The server runs the tiny test model (random weights), so the checks are about the
protocol, not the answers: streaming and not, a forced tool call and its result, thinking
with a budget and its signature round trip, cache fields rising on a repeated prefix, and
each error a client can cause raising the SDK's exception class for it.
"""

import sys
import traceback

import json
import urllib.error
import urllib.request

import anthropic

BASE = sys.argv[1]
client = anthropic.Anthropic(base_url=BASE, api_key="not-checked", max_retries=0, timeout=120)
MODEL = client.models.list().data[0].id
# Checks that count the tokens sample at one seed (the body's `seed`, a hearth extension):
# unseeded, each request is sampled afresh, and the tiny model's random weights end some
# answers early.
SEED = 7
TOOLS = [
    {
        "name": "run_tests",
        "description": "Run the tests.",
        "input_schema": {
            "type": "object",
            "properties": {"verbose": {"type": "boolean"}},
            "required": ["verbose"],
            "additionalProperties": False,
        },
    }
]


def user(text):
    return [{"role": "user", "content": text}]


def check_models_and_count_tokens():
    models = client.models.list()
    assert models.data[0].type == "model", models
    count = client.messages.count_tokens(model=MODEL, messages=user("count me"), system="Be brief.")
    assert isinstance(count.input_tokens, int) and count.input_tokens > 0, count


def check_not_streamed():
    m = client.messages.create(model=MODEL, max_tokens=12, messages=user("hello"),
                               extra_body={"seed": SEED})
    assert isinstance(m, anthropic.types.Message), type(m)
    assert m.role == "assistant" and m.stop_reason == "max_tokens", m
    assert m.usage.output_tokens == 12, m.usage
    for field in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
        assert isinstance(getattr(m.usage, field), int), m.usage


def check_streamed():
    kinds = [e.type for e in client.messages.create(
        model=MODEL, max_tokens=12, messages=user("hello"), stream=True,
        extra_body={"seed": SEED})]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"], kinds
    with client.messages.stream(model=MODEL, max_tokens=12, messages=user("hello"),
                                extra_body={"seed": SEED}) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert final.content[0].text == text, (final, text)
    assert final.usage.output_tokens == 12, final.usage


def check_tool_round_trip():
    with client.messages.stream(
        model=MODEL, max_tokens=300, messages=user("run the tests"), tools=TOOLS,
        tool_choice={"type": "tool", "name": "run_tests"},
    ) as stream:
        call_message = stream.get_final_message()
    assert call_message.stop_reason == "tool_use", call_message
    call = next(b for b in call_message.content if b.type == "tool_use")
    assert call.name == "run_tests" and isinstance(call.input["verbose"], bool), call
    answer = client.messages.create(
        model=MODEL, max_tokens=8, tools=TOOLS,
        messages=user("run the tests") + [
            {"role": "assistant", "content": call_message.content},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": call.id, "content": "3 passed"}]},
        ],
    )
    assert answer.type == "message", answer


def check_thinking():
    thinking = {"type": "enabled", "budget_tokens": 12}
    with client.messages.stream(model=MODEL, max_tokens=40, thinking=thinking,
                                messages=user("think first")) as stream:
        first = stream.get_final_message()
    block = first.content[0]
    assert block.type == "thinking" and block.signature, first
    history = user("think first") + [{"role": "assistant", "content": first.content}]
    again = client.messages.create(model=MODEL, max_tokens=24, thinking=thinking,
                                   messages=history + user("and again"))
    assert again.content[0].type == "thinking", again
    edited = [{"type": "thinking", "thinking": block.thinking + " (edited)",
               "signature": block.signature}]
    try:
        client.messages.create(model=MODEL, max_tokens=24, thinking=thinking,
                               messages=user("think first")
                               + [{"role": "assistant", "content": edited}]
                               + user("and again"))
    except anthropic.BadRequestError as e:
        assert "messages[1].content[0]" in str(e), e
    else:
        raise AssertionError("an edited thinking block was accepted")


def check_cache_rises():
    system = "You answer questions about the other thing in there. " * 8
    cold = client.messages.create(model=MODEL, max_tokens=4, system=system, messages=user("one"))
    warm = client.messages.create(model=MODEL, max_tokens=4, system=system, messages=user("two"))
    assert warm.usage.cache_read_input_tokens > cold.usage.cache_read_input_tokens, (cold, warm)
    assert warm.usage.cache_read_input_tokens >= 64, warm.usage


def expect(exception, mentions, **kwargs):
    args = dict(model=MODEL, max_tokens=8, messages=user("hello"))
    args.update(kwargs)
    try:
        client.messages.create(**args)
    except exception as e:
        assert e.body["type"] == "error", e.body
        for m in mentions:
            assert m in str(e), (m, str(e))
        return
    raise AssertionError(f"no {exception.__name__} for {kwargs}")


def check_errors():
    expect(anthropic.NotFoundError, ["claude-unknown", MODEL], model="claude-unknown")
    expect(anthropic.BadRequestError, ["max_tokens"], max_tokens="many")
    expect(anthropic.BadRequestError, ["max_tokens", "4096"], max_tokens=100000)
    expect(anthropic.BadRequestError, ["prompt is too long"],
           messages=user("the other thing in there " * 400))
    expect(anthropic.BadRequestError, ["messages[0].content"],
           messages=[{"role": "user", "content": [{"type": "image", "source": {}}]}])
    expect(anthropic.RequestTooLargeError, ["limit"], messages=user("x" * (33 << 20)))
    # Malformed JSON cannot be sent through the SDK: raw HTTP, the same error shape.
    request = urllib.request.Request(f"{BASE}/v1/messages", data=b'{"model": ', method="POST",
                                     headers={"content-type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=60)
        raise AssertionError("malformed JSON was accepted")
    except urllib.error.HTTPError as e:
        body = json.loads(e.read())
        assert e.code == 400 and body["error"]["type"] == "invalid_request_error", body
    # The same errors while streaming are HTTP errors before any event, not a 200.
    try:
        client.messages.create(model="claude-unknown", max_tokens=8, messages=user("hi"),
                               stream=True)
    except anthropic.NotFoundError:
        pass
    else:
        raise AssertionError("a streamed request for an unknown model was accepted")


failed = 0
checks = [check_models_and_count_tokens, check_not_streamed, check_streamed,
          check_tool_round_trip, check_thinking, check_cache_rises, check_errors]
for check in checks:
    try:
        check()
        print(f"ok   {check.__name__}")
    except Exception:
        failed += 1
        print(f"FAIL {check.__name__}")
        traceback.print_exc()
print(f"anthropic SDK {anthropic.__version__}")
print(f"sdk_anthropic: {len(checks) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)

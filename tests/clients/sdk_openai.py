"""The official `openai` Python SDK against `hearth serve` (usage: sdk_openai.py URL).

The server runs the tiny test model (random weights), so the checks are about the
protocols, not the answers: Chat Completions streamed and not, a forced tool call and its
result, reasoning_effort, include_usage with cached_tokens rising on a repeated prefix,
n=2 and an unknown model raising the SDK's exception classes, legacy Completions, and the
Responses API (streamed and not, a function_call round trip with function_call_output,
previous_response_id refused).
"""

import json
import sys
import traceback

import openai

BASE = sys.argv[1]
client = openai.OpenAI(base_url=f"{BASE}/v1", api_key="not-checked", max_retries=0, timeout=120)
MODEL = client.models.list().data[0].id
# Compared answers (streamed against not) are sampled at one seed: hearth serve samples a
# request without one afresh each time, as any API does.
SEED = 7
CHAT_TOOLS = [{
    "type": "function",
    "function": {
        "name": "run_tests",
        "description": "Run the tests.",
        "parameters": {
            "type": "object",
            "properties": {"verbose": {"type": "boolean"}},
            "required": ["verbose"],
            "additionalProperties": False,
        },
    },
}]
RESPONSE_TOOLS = [dict(type="function", **CHAT_TOOLS[0]["function"])]


def user(text):
    return [{"role": "user", "content": text}]


def check_chat_not_streamed():
    # A seed, as everywhere a check counts the tokens: unseeded, the tiny model's random
    # weights end some answers early.
    c = client.chat.completions.create(model=MODEL, max_tokens=12, messages=user("hello"),
                                       seed=SEED)
    assert c.object == "chat.completion" and c.id.startswith("chatcmpl-"), c
    choice = c.choices[0]
    assert choice.finish_reason == "length" and choice.message.role == "assistant", c
    assert isinstance(choice.message.content, str), c
    assert c.usage.completion_tokens == 12, c.usage
    assert c.usage.total_tokens == c.usage.prompt_tokens + 12, c.usage
    assert isinstance(c.usage.prompt_tokens_details.cached_tokens, int), c.usage


def check_chat_streamed():
    chunks = list(client.chat.completions.create(
        model=MODEL, max_completion_tokens=12, messages=user("hello"), stream=True,
        stream_options={"include_usage": True}, seed=SEED))
    assert chunks[0].choices[0].delta.role == "assistant", chunks[0]
    assert chunks[-2].choices[0].finish_reason == "length", chunks[-2]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 12, chunks[-1]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    # The same seed: a request without one is sampled afresh each time.
    whole = client.chat.completions.create(model=MODEL, max_tokens=12, messages=user("hello"),
                                           seed=SEED)
    assert whole.choices[0].message.content == text, (whole, text)


def check_chat_tool_round_trip():
    stream = client.chat.completions.create(
        model=MODEL, max_tokens=300, messages=user("run the tests"), tools=CHAT_TOOLS,
        tool_choice={"type": "function", "function": {"name": "run_tests"}}, stream=True)
    call_id, name, arguments, finish = None, None, "", None
    for chunk in stream:
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or []:
            assert delta.index == 0, delta
            call_id = delta.id or call_id
            name = (delta.function.name if delta.function else None) or name
            arguments += (delta.function.arguments if delta.function else None) or ""
    assert name == "run_tests" and call_id and finish == "tool_calls", (name, call_id, finish)
    args = json.loads(arguments)
    assert isinstance(args["verbose"], bool), args
    answer = client.chat.completions.create(
        model=MODEL, max_tokens=8, tools=CHAT_TOOLS,
        messages=user("run the tests") + [
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": call_id, "type": "function",
                 "function": {"name": name, "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": call_id, "content": "3 passed"},
        ])
    assert answer.object == "chat.completion", answer


def check_reasoning_effort():
    c = client.chat.completions.create(model=MODEL, max_tokens=40, reasoning_effort="low",
                                       messages=user("think first"))
    reasoning = getattr(c.choices[0].message, "reasoning_content", None)
    assert isinstance(reasoning, str) and reasoning, c
    thought = c.usage.completion_tokens_details.reasoning_tokens
    assert 0 < thought <= 20, c.usage


def check_cached_tokens_rise():
    # Not the anthropic SDK's system text: that one is cached already when this runs.
    system = "You answer questions about the OpenAI thing over there. " * 8

    def cached(question):
        chunks = list(client.chat.completions.create(
            model=MODEL, max_tokens=4, stream=True, stream_options={"include_usage": True},
            messages=[{"role": "system", "content": system}] + user(question)))
        return chunks[-1].usage.prompt_tokens_details.cached_tokens

    cold, warm = cached("one"), cached("two")
    assert warm > cold and warm >= 64, (cold, warm)


def check_chat_errors():
    try:
        client.chat.completions.create(model=MODEL, max_tokens=8, n=2, messages=user("hi"))
    except openai.BadRequestError as e:
        assert e.body["param"] == "n" and "n = 1" in str(e), e.body
    else:
        raise AssertionError("n=2 was accepted")
    for stream in (False, True):
        try:
            client.chat.completions.create(model="gpt-unknown", max_tokens=8,
                                           messages=user("hi"), stream=stream)
        except openai.NotFoundError as e:
            assert "gpt-unknown" in str(e) and e.body["code"] == "model_not_found", e.body
        else:
            raise AssertionError("an unknown model was accepted")
    try:
        client.chat.completions.create(model=MODEL, max_tokens=100000, messages=user("hi"))
    except openai.BadRequestError as e:
        assert e.body["param"] == "max_tokens", e.body
    else:
        raise AssertionError("max_tokens over the context window was accepted")


def check_completions():
    c = client.completions.create(model=MODEL, prompt="fn main() {", max_tokens=8, seed=SEED)
    assert c.object == "text_completion" and c.choices[0].finish_reason in ("length", "stop"), c
    text = "".join(chunk.choices[0].text for chunk in client.completions.create(
        model=MODEL, prompt="fn main() {", max_tokens=8, stream=True, seed=SEED)
        if chunk.choices)
    assert text == c.choices[0].text, (text, c)


def check_responses():
    # The Responses API has no seed field; hearth serve reads one from the body.
    r = client.responses.create(model=MODEL, input="hello", instructions="Be brief.",
                                max_output_tokens=12, store=False, extra_body={"seed": SEED})
    assert r.object == "response" and r.status == "incomplete", r
    assert r.output[0].type == "message" and isinstance(r.output_text, str), r
    assert r.usage.output_tokens == 12, r.usage
    assert isinstance(r.usage.input_tokens_details.cached_tokens, int), r.usage
    events = list(client.responses.create(model=MODEL, input="hello", instructions="Be brief.",
                                          max_output_tokens=12, store=False, stream=True,
                                          extra_body={"seed": SEED}))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"], kinds
    assert kinds[-1] == "response.incomplete", kinds
    assert [e.sequence_number for e in events] == list(range(len(events))), kinds
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == r.output_text, (text, r.output_text)


def check_responses_function_call():
    with client.responses.stream(
        model=MODEL, input="run the tests", tools=RESPONSE_TOOLS, max_output_tokens=300,
        tool_choice={"type": "function", "name": "run_tests"},
    ) as stream:
        final = stream.get_final_response()
    call = next(item for item in final.output if item.type == "function_call")
    assert call.name == "run_tests" and call.call_id.startswith("call_"), call
    assert isinstance(json.loads(call.arguments)["verbose"], bool), call
    answer = client.responses.create(
        model=MODEL, max_output_tokens=8, tools=RESPONSE_TOOLS, store=False,
        input=[
            {"role": "user", "content": "run the tests"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name,
             "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "3 passed"},
        ])
    assert answer.object == "response", answer
    try:
        client.responses.create(model=MODEL, input="and then?", max_output_tokens=8,
                                previous_response_id=answer.id)
    except openai.BadRequestError as e:
        assert "not store" in str(e) and e.body["param"] == "previous_response_id", e.body
    else:
        raise AssertionError("previous_response_id was accepted, but nothing is stored")


failed = 0
checks = [check_chat_not_streamed, check_chat_streamed, check_chat_tool_round_trip,
          check_reasoning_effort, check_cached_tokens_rise, check_chat_errors,
          check_completions, check_responses, check_responses_function_call]
for check in checks:
    try:
        check()
        print(f"ok   {check.__name__}")
    except Exception:
        failed += 1
        print(f"FAIL {check.__name__}")
        traceback.print_exc()
print(f"openai SDK {openai.__version__}")
print(f"sdk_openai: {len(checks) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)

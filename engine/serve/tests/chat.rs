//! `/v1/chat/completions` and `/v1/completions` over HTTP on the tiny model: the
//! non-streamed shapes, the chunk stream in order (role first, deltas, finish_reason, the
//! usage chunk, `[DONE]`), tool-call deltas that reassemble into JSON arguments,
//! reasoning, cached tokens rising, pings while queued, and every error in OpenAI's shape.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use hearth_serve::ServeOptions;
use serde_json::{json, Value};

fn chat(text: &str, max_tokens: u32, stream: bool) -> Value {
    json!({"model": "tiny-qwen2", "max_tokens": max_tokens, "stream": stream,
           "messages": [{"role": "system", "content": "Be brief."},
                        {"role": "user", "content": [{"type": "text", "text": text}]}]})
}

fn tools() -> Value {
    json!([{"type": "function", "function": {
        "name": "run_tests", "description": "Run the tests.",
        "parameters": {"type": "object", "properties": {"verbose": {"type": "boolean"}},
                       "required": ["verbose"], "additionalProperties": false}}}])
}

/// A non-streamed answer is a `chat.completion` with the message, finish_reason and
/// usage (cached and reasoning tokens included, total = prompt + completion).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_completion_has_the_api_shape() {
    let server = start(Arc::new(tiny_engine(1024))).await;
    let (status, c) = post(
        &server.base,
        "/v1/chat/completions",
        &chat("hello", 12, false),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["object"], "chat.completion");
    assert!(c["id"].as_str().unwrap().starts_with("chatcmpl-"), "{c}");
    assert_eq!(c["model"], "tiny-qwen2");
    assert!(c["created"].is_u64());
    let choice = &c["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert!(choice["message"]["content"].is_string(), "{c}");
    assert_eq!(choice["finish_reason"], "length");
    let u = &c["usage"];
    assert_eq!(u["completion_tokens"], 12);
    assert_eq!(
        u["total_tokens"].as_u64().unwrap(),
        u["prompt_tokens"].as_u64().unwrap() + 12
    );
    assert!(u["prompt_tokens_details"]["cached_tokens"].is_u64(), "{u}");
    assert_eq!(u["completion_tokens_details"]["reasoning_tokens"], 0);
}

/// The stream is data-only chunks: the role first, content deltas, a last chunk with
/// finish_reason, the usage chunk (empty choices) when asked for, then `[DONE]`; its text
/// is the non-streamed answer's (greedy).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chunk_stream_comes_in_order_and_matches_the_answer() {
    let server = start(Arc::new(tiny_engine(1024))).await;
    let mut body = chat("the other", 16, true);
    body["stream_options"] = json!({"include_usage": true});
    let frames =
        read_frames(post_stream_to(&server.base, "/v1/chat/completions", &body).await).await;
    assert!(frames
        .iter()
        .all(|(name, _)| name.is_empty() || name == "comment"));
    assert_eq!(frames.last().unwrap().1, "[DONE]");
    let chunks = frame_data(&frames);
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    let id = &chunks[0]["id"];
    assert!(chunks.iter().all(|c| &c["id"] == id), "one id per stream");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 16);
    assert!(usage_chunk["usage"]["prompt_tokens_details"]["cached_tokens"].is_u64());
    let last = &chunks[chunks.len() - 2];
    assert_eq!(last["choices"][0]["finish_reason"], "length");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    body["stream"] = json!(false);
    let (_, whole) = post(&server.base, "/v1/chat/completions", &body).await;
    assert_eq!(whole["choices"][0]["message"]["content"], text.as_str());
}

/// A forced function call streams as tool_calls deltas (index, id and name first, then
/// argument fragments) that reassemble into the JSON arguments, with finish_reason
/// tool_calls; the tool message answering it is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_call_deltas_reassemble_and_the_result_is_answered() {
    let server = start(Arc::new(tiny_engine(2048))).await;
    let mut body = chat("run the tests", 300, true);
    body["tools"] = tools();
    body["tool_choice"] = json!({"type": "function", "function": {"name": "run_tests"}});
    let frames =
        read_frames(post_stream_to(&server.base, "/v1/chat/completions", &body).await).await;
    let chunks = frame_data(&frames);
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    let first = calls[0];
    assert_eq!(first["index"], 0);
    assert_eq!(first["type"], "function");
    assert_eq!(first["function"]["name"], "run_tests");
    let id = first["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("call_"), "{id}");
    assert!(calls[1..]
        .iter()
        .all(|c| c.get("id").is_none() && c["index"] == 0));
    let arguments: String = calls
        .iter()
        .map(|c| c["function"]["arguments"].as_str().unwrap())
        .collect();
    let input: Value = serde_json::from_str(&arguments).unwrap();
    assert!(input["verbose"].is_boolean(), "{input}");
    let finish = chunks
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str())
        .unwrap();
    assert_eq!(finish, "tool_calls");

    body["stream"] = json!(false);
    let (_, whole) = post(&server.base, "/v1/chat/completions", &body).await;
    let message = &whole["choices"][0]["message"];
    // The tiny model (random weights) may write text after its call; content is a
    // string then, and null only for an answer of calls alone.
    assert!(
        message["content"].is_string() || message["content"].is_null(),
        "{whole}"
    );
    assert_eq!(
        message["tool_calls"][0]["function"]["arguments"],
        arguments.as_str()
    );
    assert_ne!(
        message["tool_calls"][0]["id"],
        id.as_str(),
        "ids are unique"
    );

    let follow = json!({"model": "tiny-qwen2", "max_tokens": 8, "tools": tools(),
        "messages": [
            {"role": "user", "content": "run the tests"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": id, "type": "function",
                "function": {"name": "run_tests", "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": id, "content": "3 passed"}]});
    let (status, answer) = post(&server.base, "/v1/chat/completions", &follow).await;
    assert_eq!(status, 200, "{answer}");
}

/// reasoning_effort thinks first: reasoning_content deltas before the content, counted
/// as reasoning tokens within the completion tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_effort_streams_reasoning_content() {
    let server = start(Arc::new(tiny_engine(1024))).await;
    let mut body = chat("think first", 40, true);
    body["reasoning_effort"] = json!("low");
    body["stream_options"] = json!({"include_usage": true});
    let chunks = frame_data(
        &read_frames(post_stream_to(&server.base, "/v1/chat/completions", &body).await).await,
    );
    let reasoning: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["reasoning_content"].as_str())
        .collect();
    assert!(!reasoning.is_empty(), "{chunks:?}");
    let usage = &chunks.last().unwrap()["usage"];
    let thought = usage["completion_tokens_details"]["reasoning_tokens"]
        .as_u64()
        .unwrap();
    assert!(
        thought > 0 && thought <= 20,
        "at most half of max_tokens: {usage}"
    );
    body["stream"] = json!(false);
    let (_, whole) = post(&server.base, "/v1/chat/completions", &body).await;
    assert_eq!(
        whole["choices"][0]["message"]["reasoning_content"],
        reasoning.as_str()
    );
}

/// A repeated prefix is read from the cache: cached_tokens rises.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_tokens_rise_on_a_repeated_prefix() {
    let server = start(Arc::new(tiny_engine(2048))).await;
    let system = "You answer questions about the other thing in there. ".repeat(8);
    let body = |q: &str| {
        json!({"model": "tiny-qwen2", "max_completion_tokens": 4,
               "messages": [{"role": "developer", "content": system},
                            {"role": "user", "content": q}]})
    };
    let cached = |c: &Value| {
        c["usage"]["prompt_tokens_details"]["cached_tokens"]
            .as_u64()
            .unwrap()
    };
    let (_, cold) = post(&server.base, "/v1/chat/completions", &body("first")).await;
    let (_, warm) = post(&server.base, "/v1/chat/completions", &body("second")).await;
    assert_eq!(cached(&cold), 0, "{cold}");
    assert!(cached(&warm) >= 64, "{warm}");
}

/// While another request is served, a queued stream sends `: ping` comments, then its
/// chunks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_stream_gets_ping_comments() {
    let slow = Slow {
        engine: tiny_engine(1024),
        delay: Duration::from_millis(20),
    };
    let server = start(Arc::new(slow)).await;
    let mut first = post_stream(&server.base, &request("hello", 60, true)).await;
    read_until(&mut first, "content_block_delta").await;
    let second = read_frames(
        post_stream_to(&server.base, "/v1/chat/completions", &chat("hi", 4, true)).await,
    )
    .await;
    assert_eq!(
        second[0],
        ("comment".to_string(), "ping".to_string()),
        "{second:?}"
    );
    assert_eq!(second.last().unwrap().1, "[DONE]");
    drop(first);
}

/// The legacy completion continues the raw prompt: a `text_completion`, its stream of
/// text chunks ending in `[DONE]` with the same text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_completions_continue_the_raw_prompt() {
    let server = start(Arc::new(tiny_engine(1024))).await;
    let body = json!({"model": "tiny-qwen2", "prompt": "fn main() {", "max_tokens": 10});
    let (status, c) = post(&server.base, "/v1/completions", &body).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["object"], "text_completion");
    assert!(c["id"].as_str().unwrap().starts_with("cmpl-"));
    let completion = c["usage"]["completion_tokens"].as_u64().unwrap();
    assert!((1..=10).contains(&completion), "{c}");
    let finish = c["choices"][0]["finish_reason"].as_str().unwrap();
    assert!(finish == "length" || finish == "stop", "{c}");
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let frames =
        read_frames(post_stream_to(&server.base, "/v1/completions", &streamed).await).await;
    assert_eq!(frames.last().unwrap().1, "[DONE]");
    let text: String = frame_data(&frames)
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str().map(String::from))
        .collect();
    assert_eq!(c["choices"][0]["text"], text.as_str());
    // A prompt of a few cache blocks, sent again, is read from the prefix cache: all its
    // whole blocks short of the token that gives the first logits.
    let long = json!({
        "model": "tiny-qwen2",
        "prompt": "let total = price * quantity;\n".repeat(12),
        "max_tokens": 4,
    });
    let (status, first) = post(&server.base, "/v1/completions", &long).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    let prompt = first["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!(prompt > 64, "{first}");
    let (status, again) = post(&server.base, "/v1/completions", &long).await;
    assert_eq!(status, 200, "{again}");
    let cached = again["usage"]["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap();
    assert!(cached >= 64 && cached < prompt, "{again}");
    assert_eq!(again["usage"]["prompt_tokens"], prompt);
    let (s, b) = post(
        &server.base,
        "/v1/completions",
        &json!({"model": "tiny-qwen2", "prompt": [1, 2, 3]}),
    )
    .await;
    assert_openai_error(s, &b, 400, Some("prompt"), &["token arrays"]);
}

/// Each error a client can cause, in OpenAI's shape with its status and the field in
/// `param`; a streamed request's error is an HTTP error, never a 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_errors_have_their_status_shape_and_param() {
    let options = ServeOptions {
        max_body_bytes: 64 << 10,
        ..ServeOptions::default()
    };
    let server = start_with(Arc::new(tiny_engine(256)), options).await;
    let base = &server.base;
    let path = "/v1/chat/completions";
    let with = |key: &str, value: Value| {
        let mut b = chat("hi", 8, false);
        b[key] = value;
        b
    };
    let (s, b) = post_raw(base, path, b"{\"model\": ".to_vec()).await;
    assert_openai_error(s, &b, 400, None, &["not valid JSON"]);
    assert_eq!(b["error"]["type"], "invalid_request_error");
    let (s, b) = post(base, path, &with("n", json!(2))).await;
    assert_openai_error(s, &b, 400, Some("n"), &["n = 1"]);
    let (s, b) = post(base, path, &with("model", json!("gpt-4o"))).await;
    assert_openai_error(s, &b, 404, Some("model"), &["gpt-4o", "tiny-qwen2"]);
    assert_eq!(b["error"]["code"], "model_not_found");
    let (s, b) = post(base, path, &with("max_tokens", json!("eight"))).await;
    assert_openai_error(s, &b, 400, Some("max_tokens"), &["whole number"]);
    let (s, b) = post(base, path, &with("max_completion_tokens", json!(4096))).await;
    assert_openai_error(s, &b, 400, Some("max_completion_tokens"), &["4096", "256"]);
    let (s, b) = post(base, path, &chat(&"the other thing ".repeat(200), 8, true)).await;
    assert_openai_error(s, &b, 400, None, &["prompt is too long"]);
    let (s, b) = post(base, path, &with("temperature", json!(3))).await;
    assert_openai_error(s, &b, 400, Some("temperature"), &["out of range"]);
    let (s, b) = post(base, path, &with("reasoning_effort", json!("extreme"))).await;
    assert_openai_error(s, &b, 400, Some("reasoning_effort"), &["extreme"]);
    let mut image = chat("hi", 8, false);
    image["messages"][1]["content"] = json!([{"type": "image_url", "image_url": {"url": "x"}}]);
    let (s, b) = post(base, path, &image).await;
    assert_openai_error(
        s,
        &b,
        400,
        Some("messages[1].content[0].type"),
        &["image_url"],
    );
    let mut broken = chat("hi", 8, false);
    broken["messages"][1] = json!({"role": "assistant", "tool_calls": [{"id": "c1",
        "type": "function", "function": {"name": "run_tests", "arguments": "{\"verbose\": "}}]});
    broken["messages"]
        .as_array_mut()
        .unwrap()
        .push(json!({"role": "user", "content": "go on"}));
    let (s, b) = post(base, path, &broken).await;
    assert_openai_error(
        s,
        &b,
        400,
        Some("messages[1].tool_calls[0].function.arguments"),
        &["not valid JSON"],
    );
    let mut choice = with("tools", tools());
    choice["tool_choice"] = json!({"type": "function", "function": {"name": "deploy"}});
    let (s, b) = post(base, path, &choice).await;
    assert_openai_error(s, &b, 400, Some("tool_choice"), &["deploy", "run_tests"]);
    let (s, b) = post(
        base,
        path,
        &with("response_format", json!({"type": "json_object"})),
    )
    .await;
    assert_openai_error(s, &b, 400, Some("response_format"), &["not supported"]);
    let (s, b) = post(base, path, &chat(&"x".repeat(100 << 10), 8, false)).await;
    assert_openai_error(s, &b, 413, None, &["limit"]);
    let mut streamed = with("model", json!("gpt-4o"));
    streamed["stream"] = json!(true);
    let (s, _) = post(base, path, &streamed).await;
    assert_eq!(s, 404, "a streamed request's error comes before any chunk");
    let (s, b) = post(base, path, &chat("hi", 4, false)).await;
    assert_eq!(s, 200, "still serving: {b}");
}

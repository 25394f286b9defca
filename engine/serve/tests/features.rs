//! What a conversation with the server relies on: the prefix cache shared across
//! requests, thinking blocks signed and accepted back only unchanged, tool calls with ids
//! that a later tool_result answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use serde_json::{json, Value};

/// The same long prefix sent again is read from the cache: cache_read_input_tokens
/// rises, and what is read is not charged as input again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_prefix_is_read_from_the_cache() {
    let server = start(Arc::new(tiny_engine(2048))).await;
    let system = "You answer questions about the other thing in there. ".repeat(8);
    let body = |question: &str| {
        json!({"model": "tiny-qwen2", "max_tokens": 4, "system": system,
               "messages": [{"role": "user", "content": question}]})
    };
    let (_, cold) = post(&server.base, "/v1/messages", &body("first question")).await;
    let (_, warm) = post(&server.base, "/v1/messages", &body("second question")).await;
    let read = |m: &Value| m["usage"]["cache_read_input_tokens"].as_u64().unwrap();
    assert_eq!(read(&cold), 0, "{cold}");
    assert!(
        read(&warm) >= 64,
        "most of the shared system prompt is cached: {warm}"
    );
    assert!(
        warm["usage"]["input_tokens"].as_u64().unwrap()
            < cold["usage"]["input_tokens"].as_u64().unwrap()
                + cold["usage"]["cache_creation_input_tokens"]
                    .as_u64()
                    .unwrap(),
        "cold {cold} warm {warm}"
    );
}

/// The thinking block streamed as thinking_delta then one signature_delta; sent back
/// unchanged in the next request it is accepted, edited it is refused naming the block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thinking_round_trips_only_unchanged() {
    let server = start(Arc::new(tiny_engine(1024))).await;
    let mut body = request("think first", 40, true);
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 12});
    let events = read_events(post_stream(&server.base, &body).await).await;
    let deltas: Vec<&Value> = events
        .iter()
        .filter(|(n, d)| n == "content_block_delta" && d["index"] == 0)
        .map(|(_, d)| &d["delta"])
        .collect();
    let thinking: String = deltas
        .iter()
        .filter(|d| d["type"] == "thinking_delta")
        .map(|d| d["thinking"].as_str().unwrap())
        .collect();
    let last = deltas.last().unwrap();
    assert_eq!(last["type"], "signature_delta", "{deltas:?}");
    assert_eq!(
        deltas
            .iter()
            .filter(|d| d["type"] == "signature_delta")
            .count(),
        1
    );
    let signature = last["signature"].as_str().unwrap().to_string();
    let stop = events
        .iter()
        .position(|(n, d)| n == "content_block_stop" && d["index"] == 0);
    let sig_at = events
        .iter()
        .position(|(_, d)| d["delta"]["type"] == "signature_delta");
    assert!(sig_at < stop, "the signature comes before the block stops");

    let next = |thinking: &str| {
        json!({"model": "tiny-qwen2", "max_tokens": 8,
               "thinking": {"type": "enabled", "budget_tokens": 4},
               "messages": [
                   {"role": "user", "content": "think first"},
                   {"role": "assistant", "content": [
                       {"type": "thinking", "thinking": thinking, "signature": signature},
                       {"type": "text", "text": "done"}]},
                   {"role": "user", "content": "and again"}]})
    };
    let (status, answer) = post(&server.base, "/v1/messages", &next(&thinking)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["content"][0]["type"], "thinking");
    assert!(answer["content"][0]["signature"].as_str().unwrap().len() == 64);
    let (status, err) = post(
        &server.base,
        "/v1/messages",
        &next(&format!("{thinking} (edited)")),
    )
    .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["type"], "invalid_request_error");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("messages[1].content[0]"),
        "{err}"
    );
}

/// A forced tool call comes as a tool_use block (streamed as input_json_delta) with an id
/// unique to this answer; its tool_result in the next request is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_round_trip() {
    let server = start(Arc::new(tiny_engine(2048))).await;
    let tools = json!([{
        "name": "run_tests",
        "description": "Run the tests.",
        "input_schema": {"type": "object", "properties": {"verbose": {"type": "boolean"}},
                         "required": ["verbose"], "additionalProperties": false},
    }]);
    let mut body = request("run the tests", 300, true);
    body["tools"] = tools.clone();
    body["tool_choice"] = json!({"type": "tool", "name": "run_tests"});
    let events = read_events(post_stream(&server.base, &body).await).await;
    let (_, start) = events
        .iter()
        .find(|(n, d)| n == "content_block_start" && d["content_block"]["type"] == "tool_use")
        .expect("a tool_use block");
    let id = start["content_block"]["id"].as_str().unwrap().to_string();
    assert!(
        id.starts_with("toolu_") && id.len() > "toolu_1".len(),
        "{id}"
    );
    let json_text: String = events
        .iter()
        .filter(|(_, d)| d["delta"]["type"] == "input_json_delta")
        .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap())
        .collect();
    let input: Value = serde_json::from_str(&json_text).unwrap();
    assert!(input["verbose"].is_boolean(), "{input}");
    let delta = events.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");

    let mut again = body.clone();
    again["stream"] = json!(false);
    let (_, second) = post(&server.base, "/v1/messages", &again).await;
    let second_id = second["content"][0]["id"].as_str().unwrap();
    assert_ne!(second_id, id, "ids are unique across answers");

    let follow = json!({"model": "tiny-qwen2", "max_tokens": 8, "tools": tools,
        "messages": [
            {"role": "user", "content": "run the tests"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": id, "name": "run_tests", "input": input}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": id, "content": "3 passed",
                 "cache_control": {"type": "ephemeral"}}]}]});
    let (status, answer) = post(&server.base, "/v1/messages", &follow).await;
    assert_eq!(status, 200, "{answer}");
}

/// A request that names no seed is sampled afresh each time (a client that retries gets a
/// new answer, as from any API server); one that names a seed gets the same answer again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unseeded_requests_are_sampled_afresh_and_seeded_ones_repeat() {
    let server = start(Arc::new(tiny_engine(2048))).await;
    let text = |seed: Option<u64>| {
        let base = server.base.clone();
        async move {
            let mut body = request("tell me a story", 24, false);
            body["temperature"] = json!(1.0);
            if let Some(seed) = seed {
                body["seed"] = json!(seed);
            }
            let (status, message) = post(&base, "/v1/messages", &body).await;
            assert_eq!(status, 200, "{message}");
            message["content"][0]["text"].as_str().unwrap().to_string()
        }
    };
    let mut unseeded = Vec::new();
    for _ in 0..3 {
        unseeded.push(text(None).await);
    }
    unseeded.dedup();
    assert!(
        unseeded.len() > 1,
        "three unseeded answers were one: {unseeded:?}"
    );
    assert_eq!(text(Some(5)).await, text(Some(5)).await);

    let completion = |seed: Option<u64>| {
        let base = server.base.clone();
        async move {
            let mut body = json!({"model": "tiny-qwen2", "prompt": "Once upon a time",
                                  "max_tokens": 24, "temperature": 1.0});
            if let Some(seed) = seed {
                body["seed"] = json!(seed);
            }
            let (status, answer) = post(&base, "/v1/completions", &body).await;
            assert_eq!(status, 200, "{answer}");
            answer["choices"][0]["text"].as_str().unwrap().to_string()
        }
    };
    let mut raw = Vec::new();
    for _ in 0..3 {
        raw.push(completion(None).await);
    }
    raw.dedup();
    assert!(
        raw.len() > 1,
        "three unseeded completions were one: {raw:?}"
    );
    assert_eq!(completion(Some(5)).await, completion(Some(5)).await);
}

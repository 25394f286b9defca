//! `/v1/messages` and the other endpoints over HTTP on the tiny model: the streamed
//! events in protocol order, the non-streamed message, count_tokens, the model list, and
//! every error a client can cause with its status and shape.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use hearth_serve::ServeOptions;
use serde_json::{json, Value};

/// The stream is message_start, then per block start / deltas / stop (one block open at
/// a time, indexes in order), message_delta, message_stop; and it folds into the same
/// message a non-streamed request returns (greedy, so the same tokens).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_events_come_in_protocol_order_and_match_the_message() {
    let server = start(Arc::new(tiny_engine(1024))).await;
    let events =
        read_events(post_stream(&server.base, &request("the other", 24, true)).await).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let content: Vec<&str> = names.iter().copied().filter(|n| *n != "ping").collect();
    assert_eq!(content.first(), Some(&"message_start"), "{names:?}");
    assert_eq!(
        &content[content.len() - 2..],
        ["message_delta", "message_stop"]
    );
    let mut open: Option<u64> = None;
    let mut next_index = 0;
    let mut text = String::new();
    for (name, data) in &events {
        match name.as_str() {
            "content_block_start" => {
                assert_eq!(open, None, "a block starts while another is open");
                assert_eq!(data["index"], next_index);
                open = data["index"].as_u64();
            }
            "content_block_delta" => {
                assert_eq!(data["index"].as_u64(), open);
                if data["delta"]["type"] == "text_delta" {
                    text.push_str(data["delta"]["text"].as_str().unwrap());
                }
            }
            "content_block_stop" => {
                assert_eq!(data["index"].as_u64(), open);
                open = None;
                next_index += 1;
            }
            _ => {}
        }
    }
    assert_eq!(open, None);
    let start = &events[names.iter().position(|n| *n == "message_start").unwrap()].1;
    assert!(start["message"]["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(start["message"]["content"], json!([]));
    let delta = &events[names.iter().position(|n| *n == "message_delta").unwrap()].1;
    assert_eq!(delta["delta"]["stop_reason"], "max_tokens");
    assert_eq!(delta["usage"]["output_tokens"], 24);

    let (status, message) = post(
        &server.base,
        "/v1/messages",
        &request("the other", 24, false),
    )
    .await;
    assert_eq!(status, 200, "{message}");
    assert_eq!(message["content"][0]["text"], text.as_str());
}

/// The non-streamed answer has the Messages API's fields, usage with all four counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_streamed_message_has_the_api_shape() {
    let server = start(Arc::new(tiny_engine(1024))).await;
    let body = json!({
        "model": "default",
        "max_tokens": 12,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
        "metadata": {"user_id": "someone"},
    });
    let (status, m) = post(&server.base, "/v1/messages", &body).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["type"], "message");
    assert_eq!(m["role"], "assistant");
    assert_eq!(m["model"], "tiny-qwen2");
    assert!(m["id"].as_str().unwrap().starts_with("msg_"));
    assert!(m["content"].is_array());
    assert_eq!(m["stop_reason"], "max_tokens");
    assert!(m.get("stop_sequence").is_some_and(Value::is_null));
    for field in [
        "input_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "output_tokens",
    ] {
        assert!(m["usage"][field].is_u64(), "usage.{field}: {m}");
    }
    assert_eq!(m["usage"]["output_tokens"], 12);
}

/// count_tokens counts the prompt a request is charged for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_tokens_is_the_prompt_a_request_uses() {
    let server = start(Arc::new(tiny_engine(1024))).await;
    let mut body = request("count me in", 4, false);
    body["system"] = json!("Be brief.");
    let mut count_body = body.clone();
    count_body.as_object_mut().unwrap().remove("max_tokens");
    let (status, count) = post(&server.base, "/v1/messages/count_tokens", &count_body).await;
    assert_eq!(status, 200, "{count}");
    let n = count["input_tokens"].as_u64().unwrap();
    let (_, m) = post(&server.base, "/v1/messages", &body).await;
    let u = &m["usage"];
    let prompt = u["input_tokens"].as_u64().unwrap()
        + u["cache_read_input_tokens"].as_u64().unwrap()
        + u["cache_creation_input_tokens"].as_u64().unwrap();
    assert_eq!(n, prompt, "{m}");
}

/// `GET /v1/models` in both APIs' shape, `/health`, `GET /` and `HEAD /`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_health_and_root() {
    let server = start(Arc::new(tiny_engine(1024))).await;
    let models = get(&server.base, "/v1/models").await;
    assert_eq!(models["object"], "list");
    let m = &models["data"][0];
    assert_eq!(
        (&m["type"], &m["object"], &m["id"], &m["owned_by"]),
        (
            &json!("model"),
            &json!("model"),
            &json!("tiny-qwen2"),
            &json!("hearth")
        )
    );
    assert!(m["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(m["display_name"].is_string() && m["created"].is_u64());
    let health = get(&server.base, "/health").await;
    assert_eq!(health["status"], "ok");
    let head = client()
        .head(format!("{}/", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status().as_u16(), 200);
    let root = client()
        .get(format!("{}/", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(root.status().as_u16(), 200);
}

fn assert_error(status: u16, body: &Value, want_status: u16, kind: &str, mentions: &[&str]) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    for m in mentions {
        assert!(message.contains(m), "{message:?} should mention {m:?}");
    }
}

/// Each error a client can cause: its status, the Messages API's shape, a message that
/// names the input. None of them is a 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_have_their_status_and_shape() {
    let options = ServeOptions {
        max_body_bytes: 64 << 10,
        ..ServeOptions::default()
    };
    let server = start_with(Arc::new(tiny_engine(256)), options).await;
    let base = &server.base;

    let (s, b) = post_raw(
        base,
        "/v1/messages",
        b"{\"model\": \"tiny-qwen2\",".to_vec(),
    )
    .await;
    assert_error(
        s,
        &b,
        400,
        "invalid_request_error",
        &["not valid JSON", "line 1"],
    );

    let mut wrong = request("hi", 8, false);
    wrong["max_tokens"] = json!("eight");
    let (s, b) = post(base, "/v1/messages", &wrong).await;
    assert_error(s, &b, 400, "invalid_request_error", &["max_tokens"]);

    let mut wrong = request("hi", 8, false);
    wrong["messages"][0]["content"] = json!([{"type": "text", "text": 5}]);
    let (s, b) = post(base, "/v1/messages", &wrong).await;
    assert_error(
        s,
        &b,
        400,
        "invalid_request_error",
        &["messages[0].content"],
    );

    let mut unknown = request("hi", 8, true);
    unknown["model"] = json!("claude-opus-4-1");
    let (s, b) = post(base, "/v1/messages", &unknown).await;
    assert_error(
        s,
        &b,
        404,
        "not_found_error",
        &["claude-opus-4-1", "tiny-qwen2"],
    );

    let long = "the other thing in there ".repeat(40);
    let (s, b) = post(base, "/v1/messages", &request(&long, 8, true)).await;
    assert_error(
        s,
        &b,
        400,
        "invalid_request_error",
        &["prompt is too long", "256"],
    );

    let (s, b) = post(base, "/v1/messages", &request("hi", 4096, true)).await;
    assert_error(
        s,
        &b,
        400,
        "invalid_request_error",
        &["max_tokens", "4096", "256"],
    );

    let (s, b) = post(base, "/v1/messages", &request("hi", 240, true)).await;
    assert_error(
        s,
        &b,
        400,
        "invalid_request_error",
        &["max_tokens", "at most"],
    );

    let huge = request(&"x".repeat(100 << 10), 8, false);
    let (s, b) = post(base, "/v1/messages", &huge).await;
    assert_error(s, &b, 413, "request_too_large", &["limit"]);

    let (s, b) = post(
        base,
        "/v1/messages",
        &json!({"model": "tiny-qwen2", "max_tokens": 8,
        "messages": []}),
    )
    .await;
    assert_error(s, &b, 400, "invalid_request_error", &["messages"]);

    let (s, b) = post(base, "/v1/completely/else", &json!({})).await;
    assert_error(s, &b, 404, "not_found_error", &["/v1/completely/else"]);

    // A known path with the wrong method: 405 in the same shape, with the methods it takes.
    let wrong = reqwest::Client::new()
        .get(format!("{base}/v1/messages"))
        .send()
        .await
        .unwrap();
    let allow = wrong
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_string());
    let s = wrong.status().as_u16();
    let b: Value = wrong.json().await.unwrap();
    assert_error(s, &b, 405, "invalid_request_error", &["GET /v1/messages"]);
    assert_eq!(allow.as_deref(), Some("POST"));

    // The server is still serving after all of that.
    let (s, b) = post(base, "/v1/messages", &request("hi", 4, false)).await;
    assert_eq!(s, 200, "{b}");
}

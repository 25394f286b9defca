//! The usage ledger: one line per API request, whose tokens are the ones the response
//! reported, with the key that made it; refused requests get a line too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use hearth_serve::keys::add_key;
use hearth_serve::ledger::{read_ledger, LedgerEntry};
use hearth_serve::{ApiKeys, Ledger, ServeOptions};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_has_a_line_with_the_usage_its_response_reported() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.toml");
    let alice = add_key(&keys, "alice", None).unwrap();
    let path = dir.path().join("usage.jsonl");
    let options = ServeOptions {
        api_keys: Some(Arc::new(ApiKeys::load(&keys).unwrap())),
        ledger: Some(Arc::new(Ledger::open(&path).unwrap())),
        ..ServeOptions::default()
    };
    let server = start_with(Arc::new(tiny_engine(1024)), options).await;
    let base = &server.base;
    let body = json!({"model": "tiny-qwen2", "max_tokens": 6,
                      "messages": [{"role": "user", "content": "the other thing"}]});
    let send = |path: &'static str, key: Option<&str>, body: Value| {
        let mut request = client().post(format!("{base}{path}")).json(&body);
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, text) = send("/v1/messages", Some(&alice), body.clone()).await;
    assert_eq!(status, 200, "{text}");
    let message: Value = serde_json::from_str(&text).unwrap();
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let (status, events) = send("/v1/messages", Some(&alice), streamed).await;
    assert_eq!(status, 200);
    let (status, _) = send("/v1/chat/completions", None, body.clone()).await;
    assert_eq!(status, 401);
    let (status, _) = send("/v1/messages", Some(&alice), json!({"model": "tiny-qwen2"})).await;
    assert_eq!(status, 400);

    // A stream's line is written as it ends, after its last event reached the client.
    let mut entries: Vec<LedgerEntry> = Vec::new();
    for _ in 0..50 {
        entries = read_ledger(&path).unwrap();
        if entries.len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(entries.len(), 4, "{entries:#?}");
    let usage = &message["usage"];
    let first = &entries[0];
    assert_eq!(first.key.as_deref(), Some("alice"));
    assert_eq!(first.endpoint, "POST /v1/messages");
    assert_eq!((first.status, first.model.as_str()), (200, "tiny-qwen2"));
    assert_eq!(first.outcome, message["stop_reason"].as_str().unwrap());
    assert_eq!(
        u64::from(first.input_tokens),
        usage["input_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        u64::from(first.cache_read_input_tokens),
        usage["cache_read_input_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        u64::from(first.cache_creation_input_tokens),
        usage["cache_creation_input_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        u64::from(first.output_tokens),
        usage["output_tokens"].as_u64().unwrap()
    );
    assert!(
        first.ttft_ms.is_some_and(|t| t <= first.duration_ms),
        "{first:?}"
    );
    // The streamed answer's line holds the usage of its last message_delta.
    let delta = parse_sse(&events)
        .into_iter()
        .rfind(|(name, _)| name == "message_delta")
        .unwrap()
        .1;
    let second = &entries[1];
    assert_eq!(
        u64::from(second.output_tokens),
        delta["usage"]["output_tokens"].as_u64().unwrap()
    );
    assert_eq!((second.status, second.key.as_deref()), (200, Some("alice")));
    let refused = &entries[2];
    assert_eq!(
        (
            refused.status,
            refused.key.as_deref(),
            refused.outcome.as_str()
        ),
        (401, None, "authentication_error")
    );
    assert_eq!(refused.endpoint, "POST /v1/chat/completions");
    let bad = &entries[3];
    assert_eq!(
        (bad.status, bad.outcome.as_str()),
        (400, "invalid_request_error")
    );
    assert_eq!((bad.key.as_deref(), bad.output_tokens), (Some("alice"), 0));
}

//! A server with API keys: requests without a key, or with a key it does not know, get a
//! 401 in the shape of the API they were meant for; a known key, sent either way real
//! clients send it, is served; `/` and `/health` answer anyone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use hearth_serve::keys::{add_key, hash_key};
use hearth_serve::{ApiKeys, ServeOptions};
use serde_json::{json, Value};

/// POSTs `body` to `path` with `headers`; the status and the JSON answer.
async fn post_with(base: &str, path: &str, headers: &[(&str, &str)], body: &Value) -> (u16, Value) {
    let mut request = client().post(format!("{base}{path}")).json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_requests_with_a_known_key_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.toml");
    let alice = add_key(&file, "alice", None).unwrap();
    let bob = add_key(&file, "bob", Some("team")).unwrap();
    let options = ServeOptions {
        api_keys: Some(Arc::new(ApiKeys::load(&file).unwrap())),
        ..ServeOptions::default()
    };
    let server = start_with(Arc::new(tiny_engine(512)), options).await;
    let base = &server.base;
    let messages = json!({"model": "tiny-qwen2", "max_tokens": 2,
                          "messages": [{"role": "user", "content": "hi"}]});
    let chat = json!({"model": "tiny-qwen2", "max_tokens": 2,
                      "messages": [{"role": "user", "content": "hi"}]});

    // No key, and a wrong key: 401 in each API's shape.
    let (s, b) = post_with(base, "/v1/messages", &[], &messages).await;
    assert_eq!(s, 401, "{b}");
    assert_eq!(b["type"], "error");
    assert_eq!(b["error"]["type"], "authentication_error");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("x-api-key"),
        "{b}"
    );
    let wrong = format!("{alice}x");
    let (s, b) = post_with(base, "/v1/messages", &[("x-api-key", &wrong)], &messages).await;
    assert_eq!(
        (s, b["error"]["type"].as_str()),
        (401, Some("authentication_error")),
        "{b}"
    );
    let bearer_wrong = format!("Bearer {wrong}");
    let (s, b) = post_with(
        base,
        "/v1/chat/completions",
        &[("authorization", &bearer_wrong)],
        &chat,
    )
    .await;
    assert_eq!(s, 401, "{b}");
    assert_eq!(b["error"]["code"], "invalid_api_key");
    let models = client()
        .get(format!("{base}/v1/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(models.status().as_u16(), 401);
    // The metrics name the keys' holders: behind the keys too.
    let metrics = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status().as_u16(), 401);

    // A known key, as each client sends it.
    let (s, b) = post_with(base, "/v1/messages", &[("x-api-key", &alice)], &messages).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["type"], "message");
    let bearer = format!("Bearer {bob}");
    let (s, b) = post_with(
        base,
        "/v1/chat/completions",
        &[("authorization", &bearer)],
        &chat,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["object"], "chat.completion");
    let models = client()
        .get(format!("{base}/v1/models"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(models.status().as_u16(), 200);
    let metrics = client()
        .get(format!("{base}/metrics"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let text = metrics.text().await.unwrap();
    assert!(text.contains("key=\"alice\""), "{text}");

    // The server's liveness answers anyone; an unknown path is still a 404.
    assert_eq!(get(base, "/health").await["status"], "ok");
    let missing = client()
        .get(format!("{base}/v2/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
}

/// Each key's prefix cache is its own unless it shares a cache group: a prefix one key's
/// requests cached is a miss for another key (no one can time another's prompts), and a
/// hit for a key of the same group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_prefixes_are_shared_only_within_a_key_or_its_cache_group() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.toml");
    let alice = add_key(&file, "alice", None).unwrap();
    let bob = add_key(&file, "bob", Some("team")).unwrap();
    let carol = add_key(&file, "carol", Some("team")).unwrap();
    let options = ServeOptions {
        api_keys: Some(Arc::new(ApiKeys::load(&file).unwrap())),
        ..ServeOptions::default()
    };
    let server = start_with(Arc::new(tiny_engine(2048)), options).await;
    let system = "You answer questions about the other thing in there. ".repeat(8);
    let body = |question: &str| {
        json!({"model": "tiny-qwen2", "max_tokens": 2, "system": system,
               "messages": [{"role": "user", "content": question}],
               // A client cannot pick another tenant's cache: the server sets the salt.
               "cache_salt": "group:team"})
    };
    let cached = |key: String, question: &'static str| {
        let base = server.base.clone();
        let body = body(question);
        async move {
            let (s, b) = post_with(&base, "/v1/messages", &[("x-api-key", &key)], &body).await;
            assert_eq!(s, 200, "{b}");
            b["usage"]["cache_read_input_tokens"].as_u64().unwrap()
        }
    };
    assert_eq!(cached(alice.clone(), "first").await, 0);
    assert!(cached(alice.clone(), "second").await >= 64);
    // Another key, the same prefix: computed again, then shared within bob's group.
    assert_eq!(cached(bob, "third").await, 0);
    assert!(cached(carol, "fourth").await >= 64);
}

/// A key over its requests or tokens per minute gets a 429 in the API's shape with
/// `retry-after`; other keys are not held back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_over_their_limits_are_told_when_to_retry() {
    let (few, thrifty, free) = ("hearth-few", "hearth-thrifty", "hearth-free");
    let table = |name: &str, key: &str, limit: &str| {
        format!(
            "[[key]]\nname = \"{name}\"\nsha256 = \"{}\"\n{limit}\n",
            hash_key(key)
        )
    };
    let text = [
        table("few", few, "requests_per_minute = 2"),
        table("thrifty", thrifty, "tokens_per_minute = 1"),
        table("free", free, ""),
    ]
    .join("\n");
    let options = ServeOptions {
        api_keys: Some(Arc::new(ApiKeys::parse(&text).unwrap())),
        ..ServeOptions::default()
    };
    let server = start_with(Arc::new(tiny_engine(512)), options).await;
    let base = &server.base;
    let body = json!({"model": "tiny-qwen2", "max_tokens": 2,
                      "messages": [{"role": "user", "content": "hi"}]});
    let send = |path: &'static str, key: &'static str| {
        let request = client()
            .post(format!("{base}{path}"))
            .bearer_auth(key)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let retry = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            (status, retry, response.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(send("/v1/messages", few).await.0, 200);
    assert_eq!(send("/v1/chat/completions", few).await.0, 200);
    let (status, retry, b) = send("/v1/messages", few).await;
    assert_eq!(status, 429, "{b}");
    assert!(retry.is_some_and(|s| (1..=60).contains(&s)), "{retry:?}");
    assert_eq!(b["error"]["type"], "rate_limit_error");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2 requests per minute"),
        "{b}"
    );
    let (status, _, b) = send("/v1/chat/completions", few).await;
    assert_eq!(
        (status, &b["error"]["code"]),
        (429, &json!("rate_limit_exceeded"))
    );
    // One request spends the token budget; the next waits.
    assert_eq!(send("/v1/messages", thrifty).await.0, 200);
    let (status, retry, b) = send("/v1/messages", thrifty).await;
    assert_eq!(status, 429, "{b}");
    assert!(retry.is_some(), "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1 tokens per minute"),
        "{b}"
    );
    for _ in 0..4 {
        assert_eq!(send("/v1/messages", free).await.0, 200);
    }
}

//! One request at a time: a second request waits in the queue with pings and is then
//! answered; a client that leaves is cancelled and the next request is served at once;
//! a panic in the engine fails its own request only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use hearth_engine::api::{ApiError, Event, Request, Response};
use hearth_serve::{Runner, ServeOptions};
use serde_json::json;

/// A long request: sampled at a fixed seed so its length is the same every run.
fn long_request(stream: bool) -> serde_json::Value {
    let mut body = request("hello", 400, stream);
    body["temperature"] = json!(1.0);
    body["seed"] = json!(7);
    body
}

/// While the first request is being answered, the second one's stream sends pings, then
/// its whole message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_request_gets_pings_then_its_answer() {
    let slow = Slow {
        engine: tiny_engine(1024),
        delay: Duration::from_millis(20),
    };
    let server = start(Arc::new(slow)).await;
    let mut first = post_stream(&server.base, &long_request(true)).await;
    read_until(&mut first, "content_block_delta").await;
    let second = post_stream(&server.base, &request("the other", 4, true)).await;
    let events = read_events(second).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let start = names.iter().position(|n| *n == "message_start").unwrap();
    assert!(
        start >= 2,
        "pings while queued, then the message: {names:?}"
    );
    assert!(names[..start].iter().all(|n| *n == "ping"), "{names:?}");
    assert_eq!(names.last(), Some(&"message_stop"));
    // The first stream was not disturbed: it ends with its own message_stop.
    let rest = read_events(first).await;
    assert_eq!(rest.last().map(|(n, _)| n.as_str()), Some("message_stop"));
}

/// A client that disconnects mid-answer is cancelled at the next token: the request after
/// it is answered long before the first would have finished, and the queue counts one
/// cancelled job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnected_client_is_cancelled_and_the_next_request_served() {
    let delay = Duration::from_millis(20);
    let slow = Slow {
        engine: tiny_engine(1024),
        delay,
    };
    let server = start(Arc::new(slow)).await;
    // How long the long request takes in full, to compare with.
    let began = Instant::now();
    let (status, full) = post(&server.base, "/v1/messages", &long_request(false)).await;
    assert_eq!(status, 200, "{full}");
    let full_time = began.elapsed();
    let tokens = full["usage"]["output_tokens"].as_u64().unwrap();
    assert!(tokens >= 50, "the long request is long: {full}");

    let mut first = post_stream(&server.base, &long_request(true)).await;
    read_until(&mut first, "content_block_delta").await;
    drop(first);
    let began = Instant::now();
    let (status, next) = post(
        &server.base,
        "/v1/messages",
        &request("the other", 2, false),
    )
    .await;
    assert_eq!(status, 200, "{next}");
    let waited = began.elapsed();
    assert!(
        waited < full_time / 2,
        "the next request waited {waited:?}; the abandoned one takes {full_time:?} in full"
    );
    let health = get(&server.base, "/health").await;
    assert_eq!(health["queue"]["cancelled"], 1, "{health}");
    assert_eq!(health["queue"]["running"], 0, "{health}");
}

/// A client that leaves while queued costs nothing: its job is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_the_queue_is_skipped() {
    let slow = Slow {
        engine: tiny_engine(1024),
        delay: Duration::from_millis(20),
    };
    let server = start(Arc::new(slow)).await;
    let mut first = post_stream(&server.base, &request("hello", 40, true)).await;
    read_until(&mut first, "content_block_delta").await;
    let mut queued = post_stream(&server.base, &long_request(true)).await;
    read_until(&mut queued, "ping").await;
    drop(queued);
    read_events(first).await;
    let (status, _) = post(
        &server.base,
        "/v1/messages",
        &request("the other", 2, false),
    )
    .await;
    assert_eq!(status, 200);
    let health = get(&server.base, "/health").await;
    assert_eq!(health["queue"]["cancelled"], 1, "{health}");
    assert_eq!(health["queue"]["finished"], 3, "{health}");
}

/// The tiny engine, panicking on requests whose seed is 13.
struct Panicky(hearth_engine::engine::Engine);

impl Runner for Panicky {
    fn run(
        &self,
        req: &Request,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<Response, ApiError> {
        self.0.run(req, &mut |e| {
            if req.seed == Some(13) && matches!(e, Event::ContentBlockDelta { .. }) {
                panic!("a bug in the engine");
            }
            on_event(e)
        })
    }
    fn prompt_tokens(&self, req: &Request) -> Result<Vec<u32>, ApiError> {
        self.0.prompt_tokens(req)
    }
    fn model_id(&self) -> &str {
        self.0.model_id()
    }
    fn context_tokens(&self) -> usize {
        self.0.options().context_tokens
    }
}

/// A panic mid-answer ends that stream with an error event and that non-streamed request
/// with a 500 api_error; the next request is served as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_engine_fails_only_its_request() {
    let server = start(Arc::new(Panicky(tiny_engine(1024)))).await;
    let mut bad = request("hello", 8, false);
    bad["seed"] = json!(13);
    let (status, body) = post(&server.base, "/v1/messages", &bad).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["type"], "api_error");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("panicked"));

    bad["stream"] = json!(true);
    let events = read_events(post_stream(&server.base, &bad).await).await;
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error", "{events:?}");
    assert_eq!(data["error"]["type"], "api_error");

    let (status, body) = post(&server.base, "/v1/messages", &request("hello", 4, false)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(get(&server.base, "/health").await["queue"]["panicked"], 2);
}

/// A full queue refuses at once, in each API's way: 529 `overloaded_error` on the
/// Messages API, 429 on OpenAI's, both with `retry-after`; the requests already queued
/// are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_with_retry_after() {
    let slow = Slow {
        engine: tiny_engine(1024),
        delay: Duration::from_millis(20),
    };
    let options = ServeOptions {
        queue_capacity: 1,
        ping_interval: Duration::from_millis(50),
        ..ServeOptions::default()
    };
    let server = start_with(Arc::new(slow), options).await;
    let mut running = post_stream(&server.base, &long_request(true)).await;
    read_until(&mut running, "content_block_delta").await;
    let waiting = post_stream(&server.base, &long_request(true)).await;
    let refused = |path: &'static str, body: serde_json::Value| {
        let url = format!("{}{path}", server.base);
        async move {
            let response = client().post(url).json(&body).send().await.unwrap();
            let status = response.status().as_u16();
            let retry = response.headers().get("retry-after").cloned();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, retry, body)
        }
    };
    let (status, retry, body) = refused("/v1/messages", request("hi", 2, false)).await;
    assert_eq!(status, 529, "{body}");
    assert_eq!(body["error"]["type"], "overloaded_error");
    assert_eq!(retry.unwrap(), "1");
    let chat = serde_json::json!({"model": "tiny-qwen2", "max_tokens": 2,
                                  "messages": [{"role": "user", "content": "hi"}]});
    let (status, retry, body) = refused("/v1/chat/completions", chat).await;
    assert_eq!(status, 429, "{body}");
    assert!(retry.is_some(), "{body}");
    drop(running);
    let events = read_events(waiting).await;
    assert_eq!(events.last().unwrap().0, "message_stop", "{events:?}");
}

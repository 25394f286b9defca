//! What the server's integration tests share: a server on 127.0.0.1:0 in this process,
//! serving the tiny qwen2 model (random weights: the mechanics are checked, not the
//! answers), and HTTP helpers with every wait bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hearth_engine::api::{ApiError, Event, Request, Response};
use hearth_engine::engine::{Engine, EngineOptions};
use hearth_engine::generation::sampler::SamplingParams;
use hearth_engine::model::load::Model;
use hearth_serve::{Runner, ServeOptions, Server};
use serde_json::Value;
use tokio::sync::oneshot;

/// The longest any one HTTP exchange of a test may take.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The tiny qwen2 engine with a context window of `context_tokens`, greedy by default.
pub fn tiny_engine(context_tokens: usize) -> Engine {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tiny/qwen2.gguf");
    let model = Arc::new(Model::load(&path).unwrap());
    let mut options = EngineOptions::for_model(&model, "tiny-qwen2");
    options.context_tokens = context_tokens;
    options.default_sampling = SamplingParams::greedy();
    Engine::new(model, options)
}

/// The tiny engine slowed to `delay` per event, as a large model on a CPU would be: long
/// enough for a second request to wait in the queue and a client to leave mid-answer.
pub struct Slow {
    pub engine: Engine,
    pub delay: Duration,
}

impl Runner for Slow {
    fn run(
        &self,
        req: &Request,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<Response, ApiError> {
        self.engine.run(req, &mut |e| {
            std::thread::sleep(self.delay);
            on_event(e)
        })
    }
    fn prompt_tokens(&self, req: &Request) -> Result<Vec<u32>, ApiError> {
        self.engine.prompt_tokens(req)
    }
    fn model_id(&self) -> &str {
        self.engine.model_id()
    }
    fn context_tokens(&self) -> usize {
        self.engine.options().context_tokens
    }
}

/// A running server; shut down when dropped.
pub struct TestServer {
    pub base: String,
    _shutdown: oneshot::Sender<()>,
}

/// Serves `runner` on a free loopback port, pinging every 50 ms.
pub async fn start(runner: Arc<dyn Runner>) -> TestServer {
    start_with(
        runner,
        ServeOptions {
            ping_interval: Duration::from_millis(50),
            ..ServeOptions::default()
        },
    )
    .await
}

/// Serves `runner` with `options` on a free loopback port.
pub async fn start_with(runner: Arc<dyn Runner>, options: ServeOptions) -> TestServer {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), runner, options)
        .await
        .unwrap();
    let address = server.local_addr().unwrap();
    let (shutdown, signal) = oneshot::channel::<()>();
    tokio::spawn(server.run(async {
        let _ = signal.await;
    }));
    TestServer {
        base: format!("http://{address}"),
        _shutdown: shutdown,
    }
}

/// A client whose every request is bounded by [`TIMEOUT`].
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(TIMEOUT).build().unwrap()
}

/// POSTs `body` as JSON; the status and the JSON answer.
pub async fn post(base: &str, path: &str, body: &Value) -> (u16, Value) {
    post_raw(base, path, body.to_string().into_bytes()).await
}

/// POSTs raw bytes; the status and the JSON answer.
pub async fn post_raw(base: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
    let response = client()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, json)
}

/// A streamed POST: the response, headers read, body not yet.
pub async fn post_stream(base: &str, body: &Value) -> reqwest::Response {
    let response = client()
        .post(format!("{base}/v1/messages?beta=true"))
        .header(
            "anthropic-beta",
            "interleaved-thinking-2025-05-14,fine-grained-tool-streaming",
        )
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    response
}

/// Server-sent events as (name, data), from a body read so far.
pub fn parse_sse(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|frame| !frame.trim().is_empty())
        .map(|frame| {
            let mut name = String::new();
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (
                name,
                serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {frame}")),
            )
        })
        .collect()
}

/// Reads a stream to its end (bounded by the client's timeout): its events.
pub async fn read_events(response: reqwest::Response) -> Vec<(String, Value)> {
    let events = parse_sse(&response.text().await.unwrap());
    for (name, data) in &events {
        assert_eq!(
            data["type"],
            name.as_str(),
            "the event name is its data's type"
        );
    }
    events
}

/// Reads a stream until an event named `name` has come: the events so far. The stream is
/// left open for the caller to read on or drop.
pub async fn read_until(response: &mut reqwest::Response, name: &str) -> Vec<(String, Value)> {
    let mut text = String::new();
    loop {
        let chunk = tokio::time::timeout(TIMEOUT, response.chunk())
            .await
            .expect("a chunk in time")
            .unwrap()
            .unwrap_or_else(|| panic!("the stream ended before {name}: {text}"));
        text.push_str(&String::from_utf8_lossy(&chunk));
        if text.ends_with("\n\n") {
            let events = parse_sse(&text);
            if events.iter().any(|(n, _)| n == name) {
                return events;
            }
        }
    }
}

/// A user message request for the tiny model.
pub fn request(text: &str, max_tokens: u32, stream: bool) -> Value {
    serde_json::json!({
        "model": "tiny-qwen2",
        "max_tokens": max_tokens,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    })
}

/// GET `path`: the JSON answer.
pub async fn get(base: &str, path: &str) -> Value {
    client()
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A streamed POST to `path`: the response, headers read, body not yet; it must be a 200
/// event stream.
pub async fn post_stream_to(base: &str, path: &str, body: &Value) -> reqwest::Response {
    let response = client()
        .post(format!("{base}{path}"))
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    response
}

/// The frames of an OpenAI stream read to its end, as (event name or "", data text):
/// comment lines (`: ping`) come as ("comment", the comment).
pub async fn read_frames(response: reqwest::Response) -> Vec<(String, String)> {
    let text = response.text().await.unwrap();
    text.split("\n\n")
        .filter(|frame| !frame.trim().is_empty())
        .map(|frame| {
            let mut name = String::new();
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(c) = line.strip_prefix(": ") {
                    return ("comment".to_string(), c.to_string());
                } else if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (name, data)
        })
        .collect()
}

/// The JSON data of frames, leaving out comments and `[DONE]`.
pub fn frame_data(frames: &[(String, String)]) -> Vec<Value> {
    frames
        .iter()
        .filter(|(name, data)| name != "comment" && data != "[DONE]")
        .map(|(_, data)| serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}")))
        .collect()
}

/// Asserts an OpenAI-shaped error: its status, `error.type`, `error.param` (when given)
/// and words its message must hold.
pub fn assert_openai_error(
    status: u16,
    body: &Value,
    want_status: u16,
    param: Option<&str>,
    mentions: &[&str],
) {
    assert_eq!(status, want_status, "{body}");
    let error = &body["error"];
    assert!(error["type"].is_string(), "{body}");
    assert!(error.get("code").is_some(), "{body}");
    if let Some(param) = param {
        assert_eq!(error["param"], param, "{body}");
    }
    let message = error["message"].as_str().unwrap();
    for m in mentions {
        assert!(message.contains(m), "{message:?} should mention {m:?}");
    }
}

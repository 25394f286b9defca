//! `/v1/responses` over HTTP on the tiny model: the response object, the event stream in
//! the order Codex CLI and the SDK fold it (each event named by its type, sequence
//! numbers in order), function_call items whose argument deltas reassemble into JSON and
//! whose function_call_output is answered, reasoning items, cached tokens rising, what
//! Codex sends accepted, and `previous_response_id` refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use serde_json::{json, Value};

fn respond(input: Value, max: u32, stream: bool) -> Value {
    json!({"model": "tiny-qwen2", "input": input, "max_output_tokens": max, "stream": stream,
           "store": false})
}

fn tools() -> Value {
    json!([{"type": "function", "name": "run_tests", "description": "Run the tests.",
            "parameters": {"type": "object", "properties": {"verbose": {"type": "boolean"}},
                           "required": ["verbose"], "additionalProperties": false}},
           {"type": "web_search"}])
}

/// The events of a stream, each checked to carry its name as its type and the next
/// sequence number.
async fn events(base: &str, body: &Value) -> Vec<Value> {
    let frames = read_frames(post_stream_to(base, "/v1/responses", body).await).await;
    let data = frame_data(&frames);
    let named: Vec<&(String, String)> = frames.iter().filter(|(n, _)| n != "comment").collect();
    for (i, (event, (name, _))) in data.iter().zip(named).enumerate() {
        assert_eq!(event["type"], name.as_str(), "{event}");
        assert_eq!(event["sequence_number"], i, "{event}");
    }
    data
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

/// A non-streamed response: its fields, one message item of output_text, usage with the
/// cached and reasoning details; at the output limit it is `incomplete`, as OpenAI's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_object_has_the_api_shape() {
    let server = start(Arc::new(tiny_engine(1024))).await;
    let mut body = respond(json!("hello"), 12, false);
    body["instructions"] = json!("Be brief.");
    let (status, r) = post(&server.base, "/v1/responses", &body).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["object"], "response");
    assert!(r["id"].as_str().unwrap().starts_with("resp_"), "{r}");
    assert_eq!(r["model"], "tiny-qwen2");
    assert_eq!(r["status"], "incomplete");
    assert_eq!(r["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(r["instructions"], "Be brief.");
    assert_eq!(r["store"], false);
    let item = &r["output"][0];
    assert_eq!(item["type"], "message");
    assert_eq!(item["role"], "assistant");
    assert_eq!(item["status"], "completed");
    assert_eq!(item["content"][0]["type"], "output_text");
    assert!(item["content"][0]["text"].is_string());
    let u = &r["usage"];
    assert_eq!(u["output_tokens"], 12);
    assert_eq!(
        u["total_tokens"].as_u64().unwrap(),
        u["input_tokens"].as_u64().unwrap() + 12
    );
    assert!(u["input_tokens_details"]["cached_tokens"].is_u64(), "{u}");
    assert_eq!(u["output_tokens_details"]["reasoning_tokens"], 0);
}

/// The stream: created, in_progress, the message item added, its part added, text
/// deltas, text done, part done, item done, then the end with the usage; the text is the
/// non-streamed answer's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_comes_in_order_and_matches_the_response() {
    let server = start(Arc::new(tiny_engine(1024))).await;
    let body = respond(
        json!([{"type": "message", "role": "user",
                "content": [{"type": "input_text", "text": "the other"}]}]),
        16,
        true,
    );
    let events = events(&server.base, &body).await;
    let t = types(&events);
    assert_eq!(
        t[..4],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added"
        ]
    );
    assert_eq!(
        t[t.len() - 4..],
        [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.incomplete"
        ]
    );
    assert!(
        t[4..t.len() - 4]
            .iter()
            .all(|t| *t == "response.output_text.delta"),
        "{t:?}"
    );
    assert_eq!(events[0]["response"]["status"], "in_progress");
    let text: String = events.iter().filter_map(|e| e["delta"].as_str()).collect();
    assert_eq!(events[t.len() - 4]["text"], text.as_str());
    let last = &events.last().unwrap()["response"];
    assert_eq!(last["usage"]["output_tokens"], 16);
    assert_eq!(last["output"][0]["content"][0]["text"], text.as_str());
    let mut whole = body.clone();
    whole["stream"] = json!(false);
    let (_, r) = post(&server.base, "/v1/responses", &whole).await;
    assert_eq!(r["output"][0]["content"][0]["text"], text.as_str());
}

/// A forced function call is a function_call item whose argument deltas reassemble into
/// the JSON of its done event; sent back with its function_call_output, it is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_call_round_trip() {
    let server = start(Arc::new(tiny_engine(2048))).await;
    let mut body = respond(json!("run the tests"), 300, true);
    body["tools"] = tools();
    body["tool_choice"] = json!({"type": "function", "name": "run_tests"});
    let events = events(&server.base, &body).await;
    let added = events
        .iter()
        .find(|e| e["type"] == "response.output_item.added" && e["item"]["type"] == "function_call")
        .unwrap();
    assert_eq!(added["item"]["name"], "run_tests");
    let call_id = added["item"]["call_id"].as_str().unwrap().to_string();
    assert!(call_id.starts_with("call_"), "{call_id}");
    let arguments: String = events
        .iter()
        .filter(|e| e["type"] == "response.function_call_arguments.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    let done = events
        .iter()
        .find(|e| e["type"] == "response.function_call_arguments.done")
        .unwrap();
    assert_eq!(done["arguments"], arguments.as_str());
    let input: Value = serde_json::from_str(&arguments).unwrap();
    assert!(input["verbose"].is_boolean(), "{input}");
    let end = events.last().unwrap();
    assert_eq!(end["type"], "response.completed", "{end}");
    assert_eq!(
        end["response"]["output"][0]["arguments"],
        arguments.as_str()
    );

    let follow = json!({"model": "tiny-qwen2", "max_output_tokens": 8, "tools": tools(),
        "input": [
            {"role": "user", "content": "run the tests"},
            {"type": "function_call", "call_id": call_id, "name": "run_tests",
             "arguments": arguments},
            {"type": "function_call_output", "call_id": call_id, "output": "3 passed"}]});
    let (status, answer) = post(&server.base, "/v1/responses", &follow).await;
    assert_eq!(status, 200, "{answer}");
}

/// `reasoning.effort` thinks first: a reasoning item of reasoning_text, counted in the
/// reasoning tokens; passed back as input it is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_comes_as_a_reasoning_item() {
    let server = start(Arc::new(tiny_engine(1024))).await;
    let mut body = respond(json!("think first"), 40, true);
    body["reasoning"] = json!({"effort": "low", "summary": "auto"});
    let events = events(&server.base, &body).await;
    let first = events
        .iter()
        .find(|e| e["type"] == "response.output_item.added")
        .unwrap();
    assert_eq!(first["item"]["type"], "reasoning");
    assert!(types(&events).contains(&"response.reasoning_text.delta"));
    let response = &events.last().unwrap()["response"];
    let reasoning = &response["output"][0];
    assert!(
        !reasoning["content"][0]["text"].as_str().unwrap().is_empty(),
        "{reasoning}"
    );
    let thought = response["usage"]["output_tokens_details"]["reasoning_tokens"]
        .as_u64()
        .unwrap();
    assert!(thought > 0 && thought <= 20, "{response}");
    let again = respond(
        json!([{"role": "user", "content": "think first"}, reasoning,
               {"role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
               {"role": "user", "content": "and again"}]),
        8,
        false,
    );
    let (status, r) = post(&server.base, "/v1/responses", &again).await;
    assert_eq!(status, 200, "{r}");
}

/// What Codex CLI sends (developer and user messages, no instructions, store false,
/// include, prompt_cache_key, parallel_tool_calls, a web_search tool beside function
/// tools) is served; the repeated prefix of its next request is read from the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_codex_sends_is_served_and_cached() {
    let server = start(Arc::new(tiny_engine(2048))).await;
    let system = "You are a coding agent in a terminal. ".repeat(10);
    let body = |q: &str| {
        json!({"model": "tiny-qwen2", "stream": true, "store": false,
               "max_output_tokens": 4,
               "reasoning": null, "include": ["reasoning.encrypted_content"],
               "prompt_cache_key": "abc", "parallel_tool_calls": false, "tool_choice": "auto",
               "tools": tools(),
               "input": [{"type": "message", "role": "developer",
                          "content": [{"type": "input_text", "text": system}]},
                         {"type": "message", "role": "user",
                          "content": [{"type": "input_text", "text": q}]}]})
    };
    let cached = |events: &[Value]| {
        events.last().unwrap()["response"]["usage"]["input_tokens_details"]["cached_tokens"]
            .as_u64()
            .unwrap()
    };
    let cold = events(&server.base, &body("first")).await;
    let warm = events(&server.base, &body("second")).await;
    assert_eq!(cached(&cold), 0);
    assert!(cached(&warm) >= 64, "{:?}", warm.last());
}

/// Errors in OpenAI's shape: previous_response_id refused saying responses are not
/// stored, an unknown model, a bad input item, an unknown function in tool_choice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_errors_name_the_field() {
    let server = start(Arc::new(tiny_engine(512))).await;
    let base = &server.base;
    let mut body = respond(json!("hi"), 8, false);
    body["previous_response_id"] = json!("resp_123");
    let (s, b) = post(base, "/v1/responses", &body).await;
    assert_openai_error(
        s,
        &b,
        400,
        Some("previous_response_id"),
        &["not store", "input"],
    );
    let mut body = respond(json!("hi"), 8, true);
    body["model"] = json!("gpt-5");
    let (s, b) = post(base, "/v1/responses", &body).await;
    assert_openai_error(s, &b, 404, Some("model"), &["gpt-5"]);
    let body = respond(json!([{"type": "computer_call", "id": "x"}]), 8, false);
    let (s, b) = post(base, "/v1/responses", &body).await;
    assert_openai_error(s, &b, 400, Some("input[0].type"), &["computer_call"]);
    let mut body = respond(json!("hi"), 8, false);
    body["tools"] = tools();
    body["tool_choice"] = json!({"type": "function", "name": "deploy"});
    let (s, b) = post(base, "/v1/responses", &body).await;
    assert_openai_error(s, &b, 400, Some("tool_choice"), &["deploy"]);
    let (s, b) = post(base, "/v1/responses", &respond(json!("hi"), 4096, false)).await;
    assert_openai_error(s, &b, 400, Some("max_output_tokens"), &["4096"]);
    let (s, b) = post(base, "/v1/responses", &respond(json!([]), 8, false)).await;
    assert_openai_error(s, &b, 400, Some("input"), &["empty"]);
}

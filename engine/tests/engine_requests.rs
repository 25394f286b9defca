//! The in-process engine serving `api::Request`s end to end: on the tiny
//! qwen2 model (fixtures/tiny/qwen2.gguf, random weights, so only the
//! mechanics are checked: events, usage, stop reasons, cancellation), and on
//! the default model where it is present (a real tool call). The default
//! model is found through `HEARTH_TEST_MODEL` or the standard cache path;
//! that check is ignored unless asked for (`.ci/run` asks, once the model is
//! fetched).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;

use hearth_engine::api::{
    ContentBlock, Event, Message, MessageAccumulator, Request, Response, Role, StopReason,
    SystemPrompt, ToolChoice, ToolDefinition, ToolResultContent,
};
use hearth_engine::engine::{Engine, EngineOptions};
use hearth_engine::generation::generate::{generate, GenerateOptions};
use hearth_engine::generation::sampler::SamplingParams;
use hearth_engine::kv::KvCache;
use hearth_engine::model::load::Model;
use hearth_engine::template::TemplateInput;
use serde_json::json;

mod common;

fn tiny_engine(context_tokens: usize) -> Engine {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny/qwen2.gguf");
    let model = Arc::new(Model::load(&path).unwrap());
    Engine::new(
        model,
        EngineOptions {
            kv_type: hearth_engine::kv::KvType::default(),
            model_id: "tiny".into(),
            context_tokens,
            default_sampling: SamplingParams::greedy(),
            thinking_mode: None,
            prompt_cache: Default::default(),
            speculation: Some(Default::default()),
        },
    )
}

fn request(text: &str, max_tokens: u32) -> Request {
    Request {
        messages: vec![Message::user(text)],
        max_tokens,
        temperature: Some(0.0),
        ..Request::default()
    }
}

/// Runs `req`, collecting the events; `stop_after` cancels at that event,
/// counting all but pings.
fn run(engine: &Engine, req: &Request, stop_after: Option<usize>) -> (Response, Vec<Event>) {
    let mut events = Vec::new();
    let mut counted = 0;
    let response = engine
        .run(req, &mut |e| {
            events.push(e.clone());
            if !matches!(e, Event::Ping) {
                counted += 1;
            }
            if Some(counted) == stop_after && !matches!(e, Event::Ping) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    (response, events)
}

/// The events are in protocol order (each block started, grown and stopped
/// before the next begins; the message delta and stop last) and fold into
/// exactly the returned response.
fn assert_well_formed(events: &[Event], response: &Response) {
    assert!(
        matches!(events.first(), Some(Event::MessageStart { .. })),
        "{events:?}"
    );
    assert!(
        matches!(events.last(), Some(Event::MessageStop)),
        "{events:?}"
    );
    assert!(
        matches!(events[events.len() - 2], Event::MessageDelta { .. }),
        "{events:?}"
    );
    let mut open: Option<usize> = None;
    let mut next = 0;
    for e in &events[1..events.len() - 2] {
        match e {
            Event::ContentBlockStart { index, .. } => {
                assert_eq!((open, *index), (None, next), "{events:?}");
                open = Some(*index);
                next += 1;
            }
            Event::ContentBlockDelta { index, .. } => assert_eq!(open, Some(*index), "{events:?}"),
            Event::ContentBlockStop { index } => {
                assert_eq!(open, Some(*index), "{events:?}");
                open = None;
            }
            // Keep-alives between prefill chunks, as the Messages protocol allows anywhere.
            Event::Ping => {}
            other => panic!("unexpected event inside the message: {other:?}"),
        }
    }
    assert_eq!(open, None, "a block was left open: {events:?}");
    let mut acc = MessageAccumulator::new();
    for e in events {
        acc.push(e).unwrap();
    }
    assert_eq!(&acc.into_message().unwrap(), response);
}

fn text_of(response: &Response) -> String {
    response
        .content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn greedy_request_streams_what_generate_produces() {
    let engine = tiny_engine(512);
    let req = request("the three", 24);
    let (response, events) = run(&engine, &req, None);
    assert_well_formed(&events, &response);
    let prompt = engine.prompt_tokens(&req).unwrap();
    assert_eq!(response.usage.prompt_tokens() as usize, prompt.len());
    assert_eq!(response.usage.cache_read_input_tokens, 0);
    assert_eq!(response.model, "tiny");

    // The same prompt through the plain generation loop gives the same text.
    let model = engine.model();
    let mut kv = KvCache::new(model.transformer().kv_shape(), 512);
    let opts = GenerateOptions {
        max_tokens: 24,
        sampling: SamplingParams::greedy(),
        stop: vec![],
        stop_on_loop: false,
        speculation: None,
    };
    let plain = generate(model, &mut kv, &prompt, &opts, &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    assert!(
        !plain.text.contains("<tool_call>"),
        "the tiny model wrote a tool call: {:?}",
        plain.text
    );
    assert_eq!(text_of(&response), plain.text.trim());
    assert_eq!(response.usage.output_tokens as usize, plain.tokens.len());
    let want = if plain.tokens.len() == 24 {
        StopReason::MaxTokens
    } else {
        StopReason::EndTurn
    };
    assert_eq!(response.stop_reason, Some(want));

    // Greedy decoding is reproducible; only the message id changes.
    let (again, _) = run(&engine, &req, None);
    assert_ne!(again.id, response.id);
    assert_eq!(again.content, response.content);
}

#[test]
fn stop_sequences_end_the_message_before_them() {
    let engine = tiny_engine(512);
    let (full, _) = run(&engine, &request("the three", 24), None);
    let text = text_of(&full);
    let chars: Vec<char> = text.chars().collect();
    assert!(
        chars.len() > 8,
        "the tiny model wrote too little to test with: {text:?}"
    );
    let stop: String = chars[6..8].iter().collect();
    let req = Request {
        stop_sequences: vec![stop.clone()],
        ..request("the three", 24)
    };
    let (response, events) = run(&engine, &req, None);
    assert_well_formed(&events, &response);
    assert_eq!(response.stop_reason, Some(StopReason::StopSequence));
    assert_eq!(response.stop_sequence.as_deref(), Some(stop.as_str()));
    assert_eq!(text_of(&response), text[..text.find(&stop).unwrap()].trim());
}

#[test]
fn cancelling_stops_promptly_and_keeps_the_stream_well_formed() {
    let engine = tiny_engine(512);
    let req = request("the three", 64);
    let (full, _) = run(&engine, &req, None);
    assert!(full.usage.output_tokens > 4, "{full:?}");
    // Cancel at the first text delta (message_start, block start, delta).
    let (response, events) = run(&engine, &req, Some(3));
    assert_well_formed(&events, &response);
    assert_eq!(response.stop_reason, Some(StopReason::Cancelled));
    assert!(
        response.usage.output_tokens < full.usage.output_tokens,
        "{response:?}"
    );
    // Cancel at message_start: nothing is generated.
    let (response, events) = run(&engine, &req, Some(1));
    assert_well_formed(&events, &response);
    assert_eq!(response.stop_reason, Some(StopReason::Cancelled));
    assert_eq!(response.usage.output_tokens, 0);
    assert!(response.content.is_empty());
}

/// A long prompt is prefilled in chunks with a ping after each: cancelling
/// at the first ping stops before the rest of the prompt is computed, and
/// what was computed is cached, consistent, for the next request.
#[test]
fn cancelling_during_prefill_stops_between_chunks() {
    let engine = tiny_engine(2048);
    let req = request(&"the three little pigs built houses. ".repeat(40), 8);
    let prompt = engine.prompt_tokens(&req).unwrap();
    assert!(prompt.len() > 300, "{}", prompt.len());
    let mut events = Vec::new();
    let response = engine
        .run(&req, &mut |e| {
            events.push(e.clone());
            if matches!(e, Event::Ping) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_well_formed(&events, &response);
    assert_eq!(response.stop_reason, Some(StopReason::Cancelled));
    assert_eq!(response.usage.output_tokens, 0);
    assert_eq!(
        events.iter().filter(|e| matches!(e, Event::Ping)).count(),
        1
    );
    // The chunk computed before the cancel serves the retry, which answers as a cold run.
    let (retry, _) = run(&engine, &req, None);
    assert_eq!(retry.usage.cache_read_input_tokens, 128);
    let (cold, _) = run(&tiny_engine(2048), &req, None);
    assert_eq!(retry.content, cold.content);
}

#[test]
fn bad_requests_fail_before_any_event() {
    let engine = tiny_engine(64);
    let cases = [
        (request("hi", 1000), "context window of 64"),
        (
            Request {
                model: Some("other".into()),
                ..request("hi", 4)
            },
            "\"other\" is not served",
        ),
        (
            Request {
                top_p: Some(0.0),
                ..request("hi", 4)
            },
            "top-p",
        ),
        (request("hi", 0), "max_tokens"),
        (
            Request {
                tools: vec![read_file_tool()],
                tool_choice: Some(ToolChoice::Tool {
                    name: "write_file".into(),
                }),
                ..request("hi", 4)
            },
            "tool_choice.name: no tool is named \"write_file\"; the request's tools are [\"read_file\"]",
        ),
        (
            Request {
                tool_choice: Some(ToolChoice::Any),
                ..request("hi", 4)
            },
            "tool_choice: given, but the request has no tools",
        ),
    ];
    for (req, want) in cases {
        let mut events = 0;
        let err = engine.run(&req, &mut |_| {
            events += 1;
            ControlFlow::Continue(())
        });
        let err = err.unwrap_err();
        assert!(
            err.is_invalid_request() && err.message.contains(want),
            "{want:?}: {err}"
        );
        assert_eq!(events, 0);
    }
}

fn read_file_tool() -> ToolDefinition {
    ToolDefinition {
        name: "read_file".into(),
        description: "Read a file of the repository.".into(),
        input_schema: json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
    }
}

/// A conversation with system text, tools, a call and its result, as a
/// request and as the HF-style messages it means.
fn tool_conversation() -> (Request, TemplateInput) {
    let req = Request {
        system: SystemPrompt::text("You are hearth."),
        tools: vec![read_file_tool()],
        messages: vec![
            Message::user("What is in a.txt?"),
            Message {
                role: Role::Assistant,
                content: vec![
                    ContentBlock::text("Reading it."),
                    ContentBlock::ToolUse {
                        id: "toolu_1".into(),
                        name: "read_file".into(),
                        input: json!({"path": "a.txt"}),
                    },
                ],
            },
            Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult {
                    tool_use_id: "toolu_1".into(),
                    content: vec![ToolResultContent::Text {
                        text: "hello".into(),
                    }],
                    is_error: false,
                }],
            },
        ],
        max_tokens: 8,
        ..Request::default()
    };
    let hf = TemplateInput {
        messages: vec![
            json!({"role": "system", "content": "You are hearth."}),
            json!({"role": "user", "content": "What is in a.txt?"}),
            json!({"role": "assistant", "content": "Reading it.", "tool_calls": [
                {"type": "function", "function": {"name": "read_file", "arguments": {"path": "a.txt"}}}]}),
            json!({"role": "tool", "content": "hello"}),
        ],
        tools: vec![json!({"type": "function", "function": {
            "name": "read_file", "description": "Read a file of the repository.",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}})],
        add_generation_prompt: true,
        extra: serde_json::Map::new(),
    };
    (req, hf)
}

fn assert_prompt_matches_template(engine: &Engine) {
    let (req, hf) = tool_conversation();
    let model = engine.model();
    let rendered = model.template().unwrap().render(&hf).unwrap();
    let ids = engine.prompt_tokens(&req).unwrap();
    assert_eq!(model.tokenizer().decode(&ids), rendered);
    assert_eq!(ids, model.tokenizer().encode(&rendered, true).unwrap());
}

#[test]
fn prompt_tokens_render_the_conversation_like_the_template() {
    assert_prompt_matches_template(&tiny_engine(512));
}

#[test]
#[ignore = "needs the default model (1.1 GB): run with --ignored after `hearth model pull`, or set HEARTH_TEST_MODEL"]
fn default_model_calls_read_file() {
    let path = common::default_model();
    let model = Arc::new(Model::load(&path).unwrap());
    let engine = Engine::new(
        model.clone(),
        EngineOptions::for_model(&model, "qwen2.5-coder-1.5b"),
    );
    assert_prompt_matches_template(&engine);
    let rendered = engine
        .model()
        .tokenizer()
        .decode(&engine.prompt_tokens(&tool_conversation().0).unwrap());
    assert!(rendered.contains("<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.txt\"}}\n</tool_call>"));
    assert!(rendered.contains("<tool_response>\nhello\n</tool_response>"));

    let req = Request {
        tools: vec![read_file_tool()],
        ..request("Read the file src/main.rs", 40)
    };
    let (response, events) = run(&engine, &req, None);
    assert_well_formed(&events, &response);
    let calls: Vec<_> = response
        .content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::ToolUse { name, input, .. } => Some((name.clone(), input.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        response.stop_reason,
        Some(StopReason::ToolUse),
        "{response:?}"
    );
    let (name, input) = &calls[0];
    assert_eq!(name, "read_file", "{response:?}");
    assert!(
        input["path"].as_str().unwrap().ends_with("main.rs"),
        "{input}"
    );
}

/// A raw prompt is continued as it is, through the same path as a conversation: the text
/// `generate` produces from the prompt's tokens, whitespace and all, and a second run of
/// the same prompt is read from the prefix cache. A raw request with messages is refused.
#[test]
fn raw_prompts_continue_verbatim_and_share_the_prefix_cache() {
    let engine = tiny_engine(512);
    let prompt = "fn total(price: u32, quantity: u32) -> u32 {\n".repeat(6);
    let req = Request {
        max_tokens: 16,
        temperature: Some(0.0),
        ..Request::default()
    };
    let mut events = Vec::new();
    let response = engine
        .run_raw(&prompt, &req, &mut |e| {
            events.push(e.clone());
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_well_formed(&events, &response);
    let tokens = engine.raw_prompt_tokens(&prompt).unwrap();
    assert_eq!(response.usage.prompt_tokens() as usize, tokens.len());
    let model = engine.model();
    let mut kv = KvCache::new(model.transformer().kv_shape(), 512);
    let opts = GenerateOptions {
        max_tokens: 16,
        sampling: SamplingParams::greedy(),
        stop: vec![],
        stop_on_loop: false,
        speculation: None,
    };
    let plain = generate(model, &mut kv, &tokens, &opts, &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(text_of(&response), plain.text);

    let again = engine
        .run_raw(&prompt, &req, &mut |_| ControlFlow::Continue(()))
        .unwrap();
    assert!(again.usage.cache_read_input_tokens > 0, "{:?}", again.usage);
    assert_eq!(again.content, response.content);

    let with_messages = request("hi", 4);
    let error = engine
        .run_raw(&prompt, &with_messages, &mut |_| ControlFlow::Continue(()))
        .unwrap_err();
    assert!(error.to_string().contains("messages"), "{error}");
    assert!(engine.raw_prompt_tokens("").is_err());
}

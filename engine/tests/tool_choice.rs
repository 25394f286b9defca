//! `tool_choice` enforced while decoding: on the tiny qwen2 model, whose random
//! weights would never write a tool call by themselves, a required call comes out
//! valid against its tool's schema, and `none` yields no call; on the default model
//! (where present), decode speed with and without the constraint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use hearth_engine::api::{
    ContentBlock, Message, Request, Response, StopReason, ThinkingConfig, ToolChoice,
    ToolDefinition,
};
use hearth_engine::engine::{Engine, EngineOptions};
use hearth_engine::generation::constraint::{CallGrammars, CallPolicy, TagGuard, ToolConstraint};
use hearth_engine::generation::generate::{generate_constrained, GenerateOptions};
use hearth_engine::generation::grammar::{call_grammar, untagged_call_grammar, GrammarEnv};
use hearth_engine::generation::sampler::SamplingParams;
use hearth_engine::kv::KvCache;
use hearth_engine::model::load::Model;
use hearth_engine::template::tool_calls::{ParsedEvent, ToolCallFormat, ToolCallParser};
use serde_json::{json, Value};

mod common;

fn tiny_engine() -> Engine {
    tiny_engine_of("qwen2")
}

fn tiny_engine_of(arch: &str) -> Engine {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tiny")
        .join(format!("{arch}.gguf"));
    let model = Arc::new(Model::load(&path).unwrap());
    let mut options = EngineOptions::for_model(&model, "tiny");
    options.context_tokens = 2048;
    options.default_sampling = SamplingParams::greedy();
    Engine::new(model, options)
}

/// Tools whose every argument is bounded (an enum, a small integer, a boolean), so that
/// random logits finish a call in a few dozen tokens instead of writing an endless string.
fn tools() -> Vec<ToolDefinition> {
    vec![
        ToolDefinition {
            name: "read_file".into(),
            description: "Read a file.".into(),
            input_schema: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "enum": ["a.txt", "src/main.rs"]},
                    "line": {"type": "integer", "minimum": 1, "maximum": 9},
                },
                "required": ["path", "line"],
                "additionalProperties": false,
            }),
        },
        ToolDefinition {
            name: "run_tests".into(),
            description: "Run the tests.".into(),
            input_schema: json!({
                "type": "object",
                "properties": {"verbose": {"type": "boolean"}},
                "required": ["verbose"],
                "additionalProperties": false,
            }),
        },
    ]
}

/// Whether `input` is a valid input of the tool `name` of [`tools`].
fn valid_input(name: &str, input: &Value) -> bool {
    let Some(fields) = input.as_object() else {
        return false;
    };
    match name {
        "read_file" => {
            fields.len() == 2
                && matches!(input["path"].as_str(), Some("a.txt" | "src/main.rs"))
                && input["line"].as_i64().is_some_and(|l| (1..=9).contains(&l))
        }
        "run_tests" => fields.len() == 1 && input["verbose"].is_boolean(),
        _ => false,
    }
}

fn request(choice: Option<ToolChoice>, seed: u64) -> Request {
    Request {
        messages: vec![Message::user("the three little pigs")],
        tools: tools(),
        tool_choice: choice,
        max_tokens: 160,
        temperature: Some(1.0),
        seed: Some(seed),
        ..Request::default()
    }
}

fn run(engine: &Engine, req: &Request) -> Result<Response, hearth_engine::api::ApiError> {
    engine.run(req, &mut |_| ControlFlow::Continue(()))
}

fn calls(response: &Response) -> Vec<(String, Value)> {
    response
        .content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::ToolUse { name, input, .. } => Some((name.clone(), input.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn any_yields_a_valid_call_from_random_logits() {
    let engine = tiny_engine();
    for seed in 0..4 {
        let response = run(&engine, &request(Some(ToolChoice::Any), seed)).unwrap();
        let calls = calls(&response);
        let (name, input) = calls.first().expect("a call");
        assert!(valid_input(name, input), "seed {seed}: {response:?}");
        assert_eq!(response.stop_reason, Some(StopReason::ToolUse));
        // The answer starts with the call: no text before it.
        assert!(
            matches!(response.content[0], ContentBlock::ToolUse { .. }),
            "seed {seed}: {response:?}"
        );
    }
    // Greedy decoding is masked the same way.
    let greedy = Request {
        temperature: Some(0.0),
        ..request(Some(ToolChoice::Any), 0)
    };
    let response = run(&engine, &greedy).unwrap();
    let (name, input) = calls(&response).into_iter().next().expect("a call");
    assert!(valid_input(&name, &input), "{response:?}");
}

/// With a thinking budget the thinking block is written freely, and the answer after it
/// is the required call.
#[test]
fn thinking_stays_free_and_the_answer_is_the_call() {
    let engine = tiny_engine_of("qwen3");
    for seed in 0..2 {
        let req = Request {
            thinking: Some(ThinkingConfig::enabled(12)),
            max_tokens: 200,
            ..request(Some(ToolChoice::Any), seed)
        };
        let response = run(&engine, &req).unwrap();
        match &response.content[0] {
            ContentBlock::Thinking { thinking, .. } => {
                assert!(!thinking.contains("<tool_call>"), "{thinking:?}")
            }
            other => panic!("seed {seed}: thinking first, not {other:?}"),
        }
        assert!(
            matches!(response.content[1], ContentBlock::ToolUse { .. }),
            "seed {seed}: {response:?}"
        );
        let (name, input) = calls(&response).into_iter().next().unwrap();
        assert!(valid_input(&name, &input), "seed {seed}: {response:?}");
    }
}

#[test]
fn a_named_tool_is_the_one_called() {
    let engine = tiny_engine();
    for (seed, name) in [(0, "run_tests"), (1, "read_file"), (2, "run_tests")] {
        let choice = ToolChoice::Tool { name: name.into() };
        let response = run(&engine, &request(Some(choice), seed)).unwrap();
        let calls = calls(&response);
        assert_eq!(calls[0].0, name, "{response:?}");
        assert!(valid_input(name, &calls[0].1), "{response:?}");
    }
}

/// `any_of` allows only the tools it names, in the first call and in any call after it, and a
/// name the request lacks (or no name at all) is an invalid request.
#[test]
fn any_of_calls_only_the_named_tools() {
    let engine = tiny_engine();
    for seed in 0..6 {
        let choice = ToolChoice::AnyOf {
            names: vec!["run_tests".into()],
        };
        let response = run(&engine, &request(Some(choice), seed)).unwrap();
        let calls = calls(&response);
        assert!(!calls.is_empty(), "seed {seed}: {response:?}");
        for (name, input) in &calls {
            assert_eq!(name, "run_tests", "seed {seed}: {response:?}");
            assert!(valid_input(name, input), "seed {seed}: {response:?}");
        }
    }
    for names in [vec!["write_file".to_string()], Vec::new()] {
        let choice = ToolChoice::AnyOf { names };
        let err = run(&engine, &request(Some(choice), 0)).unwrap_err();
        assert!(err.to_string().contains("tool_choice.names"), "{err}");
    }
}

#[test]
fn none_yields_no_call() {
    let engine = tiny_engine();
    for seed in 0..4 {
        let response = run(&engine, &request(Some(ToolChoice::None), seed)).unwrap();
        assert!(calls(&response).is_empty(), "{response:?}");
        assert_ne!(response.stop_reason, Some(StopReason::ToolUse));
        let text: String = response
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert!(!text.contains("<tool_call>"), "{text:?}");
    }
}

#[test]
fn auto_leaves_text_free() {
    let engine = tiny_engine();
    let req = Request {
        temperature: Some(0.0),
        ..request(None, 0)
    };
    let free = run(&engine, &req).unwrap();
    let auto = run(
        &engine,
        &Request {
            tool_choice: Some(ToolChoice::Auto),
            ..req.clone()
        },
    )
    .unwrap();
    assert_eq!(free.content, auto.content);
    assert!(free.usage.output_tokens > 8, "{free:?}");
}

fn write_file_tool() -> ToolDefinition {
    ToolDefinition {
        name: "write_file".into(),
        description: "Write a file.".into(),
        input_schema: json!({
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["path", "content"],
        }),
    }
}

fn default_engine() -> Engine {
    let path = common::default_model();
    let model = Arc::new(Model::load(&path).unwrap());
    Engine::new(model.clone(), EngineOptions::for_model(&model, "default"))
}

/// The default model, told to answer in prose, calls the tool when `tool_choice`
/// says it must, with the arguments its schema asks for.
#[test]
#[ignore = "needs the default model (1.1 GB): run with --ignored after `hearth model pull`, or set HEARTH_TEST_MODEL"]
fn default_model_calls_when_it_must() {
    let engine = default_engine();
    let req = Request {
        system: hearth_engine::api::SystemPrompt::text("Answer in one short sentence."),
        messages: vec![Message::user(
            "Save a hello-world Python script as hello.py.",
        )],
        tools: vec![write_file_tool()],
        tool_choice: Some(ToolChoice::Tool {
            name: "write_file".into(),
        }),
        max_tokens: 96,
        temperature: Some(0.0),
        ..Request::default()
    };
    let response = run(&engine, &req).unwrap();
    let calls = calls(&response);
    assert_eq!(calls.len(), 1, "{response:?}");
    assert_eq!(calls[0].0, "write_file");
    assert!(calls[0].1["path"].is_string(), "{response:?}");
    assert!(calls[0].1["content"].is_string(), "{response:?}");
}

/// Decode speed with and without a constraint that masks every token (a required call
/// of a tool with free-text arguments), in alternating runs, best of five each; and the
/// time the matcher took per mask against the time decoding waited for it. Fails when
/// the constraint's own time on the decoding thread is over 5% of a free token's.
#[test]
#[ignore = "a benchmark: it needs the default model and a quiet machine; run it alone with --ignored --nocapture"]
fn constrained_decode_costs_under_five_percent() {
    let engine = default_engine();
    let model = engine.model().clone();
    let write = write_file_tool();
    let req = Request {
        messages: vec![Message::user(
            "Write a long Python module with many small functions to the file util.py.",
        )],
        tools: vec![write.clone()],
        max_tokens: 128,
        ..Request::default()
    };
    let prompt = engine.prompt_tokens(&req).unwrap();
    let tokenizer = model.tokenizer();
    let started = Instant::now();
    let env = Arc::new(GrammarEnv::new(tokenizer).unwrap());
    let format = ToolCallFormat::HERMES;
    let guard = Arc::new(TagGuard::new(format.open, tokenizer));
    println!(
        "grammar environment of {} tokens: built in {:.0} ms (once per engine)",
        tokenizer.vocab_size(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    let opts = GenerateOptions {
        max_tokens: 128,
        sampling: SamplingParams::greedy(),
        stop: Vec::new(),
        stop_on_loop: false,
        speculation: None,
    };
    let run_once = |constrained: bool| {
        let started = Instant::now();
        let mut constraint = constrained.then(|| {
            let grammars = CallGrammars {
                first: Some(call_grammar(&format, &[&write], true)),
                after_tag: call_grammar(&format, &[&write], false),
                untagged: None,
            };
            ToolConstraint::new(
                env.clone(),
                guard.clone(),
                tokenizer.clone(),
                CallPolicy::Allowed,
                grammars,
            )
            .unwrap()
        });
        let setup = started.elapsed();
        let mut kv = KvCache::new(model.transformer().kv_shape(), 4096);
        let generated = generate_constrained(
            &*model,
            &mut kv,
            prompt[..].into(),
            &opts,
            None,
            constraint.as_mut(),
            &mut |_, _| ControlFlow::Continue(()),
        )
        .unwrap();
        let steps = generated.tokens.len().saturating_sub(1).max(1);
        let ms = generated.decode_time.as_secs_f64() * 1000.0 / steps as f64;
        let stats = constraint.map(|c| (c.stats(), setup, generated.tokens.len()));
        (ms, generated.text, stats)
    };
    let (mut free, mut masked, mut overhead) = (f64::MAX, f64::MAX, f64::MAX);
    for round in 0..5 {
        let (ms, text, _) = run_once(false);
        free = free.min(ms);
        if round == 0 {
            println!("free: {text:?}");
        }
        let (ms, text, stats) = run_once(true);
        masked = masked.min(ms);
        let (stats, setup, tokens) = stats.unwrap();
        let per_mask = |d: std::time::Duration| d.as_secs_f64() * 1000.0 / stats.masks as f64;
        println!(
            "round {round}: grammar compiled in {:.1} ms; {} masks, {:.3} ms to compute each, \
             {:.3} ms waited for each; {:.3} ms of constraint work per token on the decoding \
             thread, {ms:.2} ms per token in all",
            setup.as_secs_f64() * 1000.0,
            stats.masks,
            per_mask(stats.compute),
            per_mask(stats.waited),
            stats.overhead.as_secs_f64() * 1000.0 / tokens as f64,
        );
        overhead = overhead.min(stats.overhead.as_secs_f64() * 1000.0 / tokens as f64);
        if round == 0 {
            println!("constrained: {text:?}");
            assert!(
                text.starts_with("<tool_call>\n{\"name\": \"write_file\""),
                "{text:?}"
            );
        }
    }
    // The end-to-end comparison is noisy where other work shares the cores, and the two
    // runs decode different tokens; the constraint's own time is what is held to 5%.
    let cost = (masked / free - 1.0) * 100.0;
    let own = overhead / free * 100.0;
    println!("decode: free {free:.2} ms/token, constrained {masked:.2} ms/token: {cost:+.1}%");
    println!("the constraint's own time: {overhead:.3} ms/token, {own:.1}% of a free token");
    assert!(own < 5.0, "the constraint costs {own:.1}% of decode time");
}

/// Plays a model that wants nothing but to write the opening tag: each step the token
/// that extends the text furthest into `<tool_call>` gets the top logit. Returns the
/// text written and whether the constraint ended in a call.
fn adversary(policy: CallPolicy) -> (String, bool) {
    let engine = tiny_engine();
    let tokenizer = engine.model().tokenizer().clone();
    let env = Arc::new(GrammarEnv::new(&tokenizer).unwrap());
    let format = ToolCallFormat::HERMES;
    let guard = Arc::new(TagGuard::new(format.open, &tokenizer));
    let tools = tools();
    let grammars = CallGrammars {
        first: None,
        after_tag: call_grammar(&format, &tools.iter().collect::<Vec<_>>(), false),
        untagged: None,
    };
    let mut constraint =
        ToolConstraint::new(env, guard, tokenizer.clone(), policy, grammars).unwrap();
    let tag = format.open.as_bytes();
    let mut text: Vec<u8> = b"Let me look. ".to_vec();
    let vocab = engine.model().config().vocab_size;
    for _ in 0..3 * tag.len() {
        let progress = |bytes: &[u8]| {
            let mut with = text.clone();
            with.extend_from_slice(bytes);
            if with.windows(tag.len()).any(|w| w == tag) {
                return 100.0;
            }
            (1..tag.len())
                .rev()
                .find(|&k| with.ends_with(&tag[..k]))
                .map_or(0.0, |k| k as f32 + 1.0)
        };
        let mut logits: Vec<f32> = (0..vocab as u32)
            .map(|id| progress(tokenizer.token_bytes(id)) - id as f32 * 1e-6)
            .collect();
        constraint.apply(&mut logits);
        let next = hearth_engine::generation::sampler::argmax(&logits);
        constraint.commit(next);
        text.extend_from_slice(tokenizer.token_bytes(next));
        if constraint.in_call() {
            return (String::from_utf8_lossy(&text).into_owned(), true);
        }
    }
    (String::from_utf8_lossy(&text).into_owned(), false)
}

#[test]
fn a_model_bent_on_calling_cannot_write_the_tag_under_none() {
    let (text, in_call) = adversary(CallPolicy::Forbidden);
    assert!(!text.contains("<tool_call>"), "{text:?}");
    assert!(!in_call);
    // Allowed, the same model writes the tag, the call's grammar takes over right
    // after it, and the tag ends the text (no byte of the call slipped in with it).
    let (text, in_call) = adversary(CallPolicy::Allowed);
    assert!(in_call, "{text:?}");
    assert!(text.ends_with("<tool_call>"), "{text:?}");
}

/// Plays a model that means to write `wanted` and writes, at each step, the allowed
/// token that goes furthest along it (a closing quote, or else the lowest allowed id,
/// once it cannot follow it),
/// under an `auto` constraint; returns the text written up to the end of sequence.
fn wandering_writer(wanted: &str, tools: &[ToolDefinition]) -> String {
    let engine = tiny_engine();
    let tokenizer = engine.model().tokenizer().clone();
    let env = Arc::new(GrammarEnv::new(&tokenizer).unwrap());
    let format = ToolCallFormat::HERMES;
    let guard = Arc::new(TagGuard::new(format.open, &tokenizer));
    let callable: Vec<&ToolDefinition> = tools.iter().collect();
    let grammars = CallGrammars {
        first: None,
        after_tag: call_grammar(&format, &callable, false),
        untagged: Some((untagged_call_grammar(&callable), format)),
    };
    let mut constraint =
        ToolConstraint::new(env, guard, tokenizer.clone(), CallPolicy::Allowed, grammars).unwrap();
    let eos = tokenizer.eos().unwrap();
    let vocab = engine.model().config().vocab_size;
    let mut text: Vec<u8> = Vec::new();
    for _ in 0..200 {
        let rest = wanted.as_bytes().get(text.len()..).unwrap_or_default();
        // Once the text has left `wanted` (the mask took it elsewhere) nothing follows
        // it; the writer's second choice is always to close a string.
        let on_track = wanted.as_bytes().starts_with(&text);
        let follows = |bytes: &[u8]| {
            if on_track && !bytes.is_empty() && rest.starts_with(bytes) {
                bytes.len() as f32
            } else if bytes == b"\"" {
                0.5
            } else {
                0.0
            }
        };
        let mut logits: Vec<f32> = (0..vocab as u32)
            .map(|id| {
                let score = if id == eos && on_track && rest.is_empty() {
                    100.0
                } else {
                    follows(tokenizer.token_bytes(id))
                };
                score - id as f32 * 1e-6
            })
            .collect();
        constraint.apply(&mut logits);
        let next = hearth_engine::generation::sampler::argmax(&logits);
        if next == eos {
            break;
        }
        constraint.commit(next);
        text.extend_from_slice(tokenizer.token_bytes(next));
    }
    String::from_utf8_lossy(&text).into_owned()
}

fn parsed(text: &str, tools: &[ToolDefinition]) -> Vec<ParsedEvent> {
    let names = tools.iter().map(|t| t.name.clone()).collect();
    let mut parser = ToolCallParser::new(Some(ToolCallFormat::HERMES)).with_tool_names(names);
    let mut events = parser.push(text);
    events.extend(parser.finish(true));
    events
}

/// A small model that forgets the tag and invents a tool (`<answer>{"name": "Add", …`,
/// as the default model did under Claude Code) still writes a valid call of a real
/// tool, which the parser reads, and nothing after it.
#[test]
fn a_call_without_its_tag_is_held_to_a_real_tool() {
    for wanted in [
        r#"<answer>{"name":"Add","arguments":{"a":1,"b":2}}</answer> and more"#,
        "```json\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"b.txt\"}}\n```",
        r#"{{"name": "run_tests", "arguments": {"verbose": true}}}"#,
        r#"<tools> {"name": "read_file", "arguments": {"path": "a.txt", "line": 70}} </tools>"#,
    ] {
        let text = wandering_writer(wanted, &tools());
        let events = parsed(&text, &tools());
        let [ParsedEvent::ToolCall(call)] = events.as_slice() else {
            panic!("{wanted:?} became {text:?}: {events:?}");
        };
        assert!(valid_input(&call.name, &call.input), "{text:?}: {call:?}");
        assert!(
            text.trim_end().ends_with('}'),
            "text after the call: {text:?}"
        );
    }
}

/// Text stays free: a reply that only looks like JSON at first, or that starts as
/// prose, is written as the model means it.
#[test]
fn text_that_is_not_an_untagged_call_stays_free() {
    for wanted in [
        "The answer is {\"name\": 1}.",
        r#"{"result": "done"}"#,
        "<answer>42</answer>",
    ] {
        let text = wandering_writer(wanted, &tools());
        assert_eq!(text, wanted);
    }
}

/// A call that falls into a loop inside a string (`"1-1000000…`, as the default model
/// wrote under Claude Code until its token limit) is steered out and ends.
#[test]
fn a_looping_call_is_steered_out_of_its_loop() {
    let note = ToolDefinition {
        name: "note".into(),
        description: "Keep a note.".into(),
        input_schema: json!({"type": "object", "properties": {"text": {"type": "string"}},
                             "required": ["text"], "additionalProperties": false}),
    };
    let wanted = format!(
        "<tool_call>\n{{\"name\": \"note\", \"arguments\": {{\"text\": \"1-1{}",
        "0".repeat(400)
    );
    let text = wandering_writer(&wanted, std::slice::from_ref(&note));
    let events = parsed(&text, &[note]);
    // (What the writer does after the call, free again, is beside the point.)
    let Some(ParsedEvent::ToolCall(call)) = events.first() else {
        panic!("{text:?}: {events:?}");
    };
    assert_eq!(call.name, "note");
    let written = call.input["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{text:?}: {call:?}"));
    assert!(written.starts_with("1-10000"), "{written:?}");
    assert!(written.len() < 300, "the loop went on: {written:?}");
}

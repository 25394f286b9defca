//! Extended thinking with exact budgets, on the tiny random-weight models
//! (fixtures/tiny): a random model never closes its thinking on its own, so
//! every budget is reached and the state machine's forcing is what is tested.
//! The default model's side is in tests/tests/exec_thinking.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;

use hearth_engine::api::{
    ContentBlock, Event, Message, MessageAccumulator, Request, Response, ThinkingConfig,
};
use hearth_engine::engine::{Engine, EngineOptions};
use hearth_engine::generation::generate::{
    generate, generate_segmented, GenerateOptions, Generated,
};
use hearth_engine::generation::sampler::SamplingParams;
use hearth_engine::generation::thinking::{
    Routed, ThinkingBudget, ThinkingLimits, ThinkingMode, END_DELIMITER,
};
use hearth_engine::kv::KvCache;
use hearth_engine::model::load::Model;

const CONTEXT: usize = 1024;

fn tiny_engine(arch: &str, mode: Option<ThinkingMode>) -> Engine {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tiny")
        .join(format!("{arch}.gguf"));
    let model = Arc::new(Model::load(&path).unwrap());
    Engine::new(
        model,
        EngineOptions {
            kv_type: hearth_engine::kv::KvType::default(),
            model_id: "tiny".into(),
            context_tokens: CONTEXT,
            default_sampling: SamplingParams::greedy(),
            thinking_mode: mode,
            prompt_cache: Default::default(),
            speculation: Some(Default::default()),
        },
    )
}

fn request(thinking: Option<ThinkingConfig>, max_tokens: u32) -> Request {
    Request {
        messages: vec![Message::user("what is two and two")],
        max_tokens,
        temperature: Some(0.0),
        thinking,
        ..Request::default()
    }
}

fn run(engine: &Engine, req: &Request) -> (Response, Vec<Event>) {
    let mut events = Vec::new();
    let response = engine
        .run(req, &mut |e| {
            events.push(e.clone());
            ControlFlow::Continue(())
        })
        .unwrap();
    (response, events)
}

fn fold(events: &[Event]) -> Response {
    let mut acc = MessageAccumulator::new();
    for e in events {
        acc.push(e).unwrap();
    }
    acc.into_message().unwrap()
}

/// The generation behind `req`, through the loop itself, for its token ids.
fn segmented(engine: &Engine, req: &Request, budget: u32) -> Generated {
    let prompt = engine.prompt_tokens(req).unwrap();
    let model = engine.model();
    let mut kv = KvCache::new(model.transformer().kv_shape(), CONTEXT);
    let opts = GenerateOptions {
        max_tokens: req.max_tokens as usize,
        sampling: SamplingParams::greedy(),
        stop: vec![],
        stop_on_loop: false,
        speculation: None,
    };
    let limits = ThinkingLimits {
        budget,
        min_tokens: 0,
    };
    generate_segmented(model, &mut kv, &prompt, &opts, Some(limits), &mut |_, _| {
        ControlFlow::Continue(())
    })
    .unwrap()
}

/// For each budget: one thinking block first, at most N tokens in it (counted
/// on the token ids, independently of the engine's count), the delimiter
/// exactly once, an answer after it, and usage reporting the same count.
fn budgets_hold(arch: &str, mode: ThinkingMode) {
    let engine = tiny_engine(arch, Some(mode));
    let tok = engine.model().tokenizer().clone();
    for budget in [1u32, 16, 64, 256] {
        let req = request(Some(ThinkingConfig::enabled(budget)), budget + 24);
        let (response, events) = run(&engine, &req);
        assert_eq!(fold(&events), response, "budget {budget}");
        let ContentBlock::Thinking { thinking, .. } = &response.content[0] else {
            panic!(
                "budget {budget}: no thinking block first: {:?}",
                response.content
            );
        };
        assert!(response.content[1..]
            .iter()
            .all(|b| !matches!(b, ContentBlock::Thinking { .. })));
        let spent = response.usage.thinking_tokens;
        assert!(spent <= budget, "budget {budget}: {spent} thinking tokens");
        assert!(!thinking.contains(END_DELIMITER));

        let generated = segmented(&engine, &req, budget);
        assert_eq!(generated.thinking, *thinking, "budget {budget}");
        assert_eq!(generated.thinking_tokens as u32, spent);
        assert_eq!(
            response.usage.output_tokens as usize,
            generated.tokens.len()
        );
        // Counted on the ids: the first `spent` tokens do not reach the delimiter, and the
        // delimiter appears once in everything generated.
        let all = tok.decode(&generated.tokens);
        assert_eq!(
            all.matches(END_DELIMITER).count(),
            1,
            "budget {budget}: {all:?}"
        );
        let before = tok.decode(&generated.tokens[..spent as usize]);
        assert!(!before.contains(END_DELIMITER), "budget {budget}");
        let delimiter_at = all.find(END_DELIMITER).unwrap();
        assert!(before.len() <= delimiter_at, "budget {budget}");
        // A random model never closes on its own: the whole budget is used.
        assert_eq!(spent, budget, "budget {budget}");
        // An answer follows the delimiter (a random model's answer may be blank).
        assert!(
            all.len() > delimiter_at + END_DELIMITER.len(),
            "budget {budget}: nothing after the thinking: {all:?}"
        );
        assert_eq!(generated.text, generated.text.trim_start());
        assert!(!generated.text.contains(END_DELIMITER));
    }
}

#[test]
fn prompted_thinking_stays_within_each_budget() {
    budgets_hold("qwen2", ThinkingMode::Prompted);
}

#[test]
fn native_thinking_stays_within_each_budget() {
    budgets_hold("qwen3", ThinkingMode::Native);
}

/// Thinking off (absent, disabled, or a budget of 0) gives exactly what the
/// plain generation loop gives on the same prompt: the feature leaves no trace.
#[test]
fn thinking_off_is_the_plain_generation() {
    let engine = tiny_engine("qwen2", None);
    assert_eq!(engine.thinking_mode(), ThinkingMode::Prompted);
    let plain_req = request(None, 40);
    let prompt = engine.prompt_tokens(&plain_req).unwrap();
    let model = engine.model();
    let mut kv = KvCache::new(model.transformer().kv_shape(), CONTEXT);
    let opts = GenerateOptions {
        max_tokens: 40,
        sampling: SamplingParams::greedy(),
        stop: vec![],
        stop_on_loop: false,
        speculation: None,
    };
    let plain = generate(model, &mut kv, &prompt, &opts, &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    for thinking in [
        None,
        Some(ThinkingConfig::Disabled),
        Some(ThinkingConfig::enabled(0)),
    ] {
        let req = request(thinking.clone(), 40);
        assert_eq!(engine.prompt_tokens(&req).unwrap(), prompt, "{thinking:?}");
        let (response, _) = run(&engine, &req);
        assert!(response
            .content
            .iter()
            .all(|b| !matches!(b, ContentBlock::Thinking { .. })));
        assert_eq!(response.usage.thinking_tokens, 0);
        assert_eq!(response.usage.output_tokens as usize, plain.tokens.len());
        let text: String = response
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, plain.text, "{thinking:?}");
    }
}

/// A streamed and a non-streamed request with the same seed give the same
/// blocks, and the streamed events fold into them.
#[test]
fn streamed_and_whole_runs_agree_with_a_seed() {
    let engine = tiny_engine("qwen2", None);
    let mut req = request(Some(ThinkingConfig::enabled(16)), 40);
    req.temperature = Some(0.9);
    req.seed = Some(11);
    req.stream = true;
    let (streamed, events) = run(&engine, &req);
    req.stream = false;
    let (whole, _) = run(&engine, &req);
    assert_eq!(fold(&events), streamed);
    assert_eq!(streamed.content, whole.content);
    // The second run reads its prompt from the prefix cache; what it generates is the same.
    assert_eq!(streamed.usage.output_tokens, whole.usage.output_tokens);
    assert_eq!(streamed.usage.thinking_tokens, whole.usage.thinking_tokens);
    assert!(matches!(streamed.content[0], ContentBlock::Thinking { .. }));
}

/// The state machine on its own: a close by the model ends the segment and is
/// not counted; below `min_tokens` a close is refused; near the budget no
/// token may leave a character unfinished.
#[test]
fn the_state_machine_counts_closes_and_guards_characters() {
    let engine = tiny_engine("qwen2", None);
    let tok = engine.model().tokenizer();
    let limits = ThinkingLimits {
        budget: 8,
        min_tokens: 0,
    };
    let mut b = ThinkingBudget::new(tok, limits).unwrap();
    assert_eq!(b.push("two and"), Routed::Thinking("two and".into()));
    assert_eq!(b.push(" two </"), Routed::Thinking(" two ".into()));
    assert_eq!(
        b.push("think>\n\nFour"),
        Routed::Closed {
            thinking: String::new(),
            answer: "\n\nFour".into()
        }
    );
    // The token holding " two </" started before the delimiter: it counts; the last
    // one only spells the delimiter: it does not.
    assert_eq!(b.thinking_tokens(), 2);
    assert!(b.is_closed());

    let mut b = ThinkingBudget::new(
        tok,
        ThinkingLimits {
            budget: 8,
            min_tokens: 4,
        },
    )
    .unwrap();
    b.push("so");
    assert!(b.closes_too_early("</"));
    assert!(!b.closes_too_early(" a < b"));

    // Budget 4 after two tokens: one free token before the forced transition, which
    // must not leave a character unfinished.
    let mut b = ThinkingBudget::new(
        tok,
        ThinkingLimits {
            budget: 4,
            min_tokens: 0,
        },
    )
    .unwrap();
    b.push("a");
    b.push("b");
    assert_eq!(b.forced_token(), None);
    let mut logits = vec![0.0f32; tok.vocab_size()];
    b.mask(&mut logits, &[], tok);
    let lead = (0..tok.vocab_size() as u32)
        .find(|&id| tok.token_bytes(id) == [0xE2])
        .expect("the tiny vocabulary has every byte");
    assert_eq!(logits[lead as usize], f32::NEG_INFINITY);
    let ascii = (0..tok.vocab_size() as u32)
        .find(|&id| tok.token_bytes(id) == b"a")
        .unwrap();
    assert_eq!(logits[ascii as usize], 0.0);
    // After the free token, the transition and the delimiter are forced.
    b.push("c");
    let forced: Vec<u32> = std::iter::from_fn(|| b.forced_token()).take(40).collect();
    let text = tok.decode(&forced);
    assert!(text.starts_with("\n</think>"), "{text:?}");
}

/// With the prefix cache, a thinking turn's tokens are part of its sequence's
/// KV, but the next turn's history leaves past thinking out (Qwen's
/// convention): the cache serves the next prompt up to the point where the
/// previous assistant turn began, and the rest is computed again.
#[test]
fn the_next_turn_reads_the_history_before_the_thinking_from_the_cache() {
    let engine = tiny_engine("qwen2", None);
    let first = request(Some(ThinkingConfig::enabled(16)), 40);
    let (reply, _) = run(&engine, &first);
    let mut second = first.clone();
    second.messages.push(Message {
        role: hearth_engine::api::Role::Assistant,
        content: reply.content.clone(),
    });
    second.messages.push(Message::user("and three"));
    let (next, _) = run(&engine, &second);
    let first_prompt = engine.prompt_tokens(&first).unwrap();
    let without_opening = engine.prompt_tokens(&request(None, 40)).unwrap();
    let read = next.usage.cache_read_input_tokens as usize;
    // Everything before the thinking segment's opening is served from the cache ...
    assert!(read >= without_opening.len() - 1, "{:?}", next.usage);
    // ... and nothing past the point where the first turn's answer began.
    assert!(read < first_prompt.len(), "{:?}", next.usage);
    eprintln!(
        "second turn: {} prompt tokens, {} read from the cache",
        next.usage.prompt_tokens(),
        read
    );
}

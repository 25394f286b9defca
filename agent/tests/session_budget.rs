//! The request budget ([`hearth_agent::RequestBudget`]) as front ends set it up: thinking
//! grows `max_tokens` instead of eating the answer, and compaction keeps the prompt within
//! the window less `max_tokens`, which the engine (here the scripted backend) enforces.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use hearth_agent::protocol::{Event, Op, ToolCall};
use hearth_agent::{
    Approval, Mode, RequestBudget, ScriptedBackend, ScriptedReply, Session, SessionBuilder,
    SessionConfig, TurnIo, THINKING_DELIMITER_TOKENS,
};

#[derive(Default)]
struct Recorder {
    events: Vec<Event>,
}

impl TurnIo for Recorder {
    fn emit(&mut self, event: Event) {
        self.events.push(event);
    }
    fn approve(&mut self, _call: &ToolCall) -> Approval {
        Approval::Denied("never".into())
    }
    fn interrupted(&self) -> bool {
        false
    }
}

/// A request's size as the scripted backend counts it (and reports it as usage).
fn json_tokens(value: &impl serde::Serialize) -> u32 {
    (serde_json::to_string(value).unwrap().len() / 4) as u32
}

/// `--think 4096` in the TUI, and `/think 4096` after it started: each request's
/// `max_tokens` holds the thinking budget and still the whole answer budget.
#[test]
fn think_4096_in_the_tui_leaves_room_for_an_answer() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(ScriptedBackend::new(vec![
        ScriptedReply::Text("one".into()),
        ScriptedReply::Text("two".into()),
    ]));
    let mut builder = SessionBuilder::new(dir.path(), dir.path(), Mode::Ask, 2048);
    builder.save = false;
    builder.budget = builder.budget.with_thinking(Some(4096));
    let mut plan = builder.build().unwrap();
    plan.config.repo_map_chars = 0;
    let mut session = plan.open(Box::new(Arc::clone(&backend))).unwrap();
    let mut io = Recorder::default();
    session.run_turn("first", &mut io).unwrap();
    session
        .handle(
            Op::SetThinking {
                budget_tokens: Some(4096),
            },
            &mut io,
        )
        .unwrap();
    session.run_turn("second", &mut io).unwrap();
    for request in backend.requests() {
        assert!(
            request.max_tokens >= 4096 + 2048,
            "max_tokens {} leaves no answer after 4096 thinking tokens",
            request.max_tokens
        );
        assert_eq!(request.max_tokens, 4096 + THINKING_DELIMITER_TOKENS + 2048);
    }
}

/// A window of 2,048 tokens past the prompt prefix and `max_tokens` 1,536: the history
/// passes window − max_tokens on the third turn, well before 75% of the window (the old
/// threshold), and that turn is compacted first instead of sending a request the engine
/// refuses.
#[test]
fn a_small_window_is_compacted_before_a_request_overflows() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = SessionConfig::new(dir.path());
    config.repo_map_chars = 0;
    config.request.budget = RequestBudget::new(1536);
    let probe = Arc::new(ScriptedBackend::new(vec![ScriptedReply::Text(
        "probe".into(),
    )]));
    let mut session = Session::start(config.clone(), Box::new(Arc::clone(&probe))).unwrap();
    session.run_turn("hi", &mut Recorder::default()).unwrap();
    let window = json_tokens(&probe.requests()[0]) + 2048;

    // Each answer is about 400 tokens: one turn's history fits in the 512 tokens left for
    // it, two do not.
    let long = "x".repeat(1_600);
    let mut replies: Vec<ScriptedReply> = (0..3)
        .map(|i| ScriptedReply::Text(format!("answer {i} {long}")))
        .collect();
    replies.insert(2, ScriptedReply::Text("SUMMARY: answers 0 and 1.".into()));
    let backend = Arc::new(ScriptedBackend::new(replies).with_context_tokens(window));
    let mut session = Session::start(config, Box::new(Arc::clone(&backend))).unwrap();
    let mut io = Recorder::default();
    for i in 0..3 {
        session.run_turn(&format!("question {i}"), &mut io).unwrap();
    }
    assert_eq!(backend.remaining(), 0);
    assert!(
        io.events.iter().any(|e| matches!(e, Event::Compacted(_))),
        "the third turn was compacted"
    );
    for request in backend.requests() {
        let prompt = json_tokens(&request);
        assert!(
            prompt + request.max_tokens <= window,
            "prompt {prompt} + max_tokens {} > window {window}",
            request.max_tokens
        );
    }
}

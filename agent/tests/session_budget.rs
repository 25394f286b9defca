//! The request budget ([`hearth_agent::RequestBudget`]) and the thinking setting:
//! `Op::SetThinking` changes the budget of the next requests and nothing else, thinking
//! grows `max_tokens` instead of eating the answer, and compaction keeps the prompt within
//! the window less `max_tokens`, which the engine (here the scripted backend) enforces.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Recorder;
use std::sync::Arc;

use hearth_agent::protocol::{Event, Op};
use hearth_agent::{
    Mode, Replay, RequestBudget, ScriptedBackend, ScriptedReply, Session, SessionBuilder,
    SessionConfig, THINKING_DELIMITER_TOKENS,
};
use hearth_engine::api::{ContentBlock, ThinkingConfig};

#[test]
fn set_thinking_changes_the_budget_of_the_next_requests_only() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(ScriptedBackend::new(vec![
        ScriptedReply::Text("one".into()),
        ScriptedReply::Text("two".into()),
        ScriptedReply::Text("three".into()),
    ]));
    let mut config = SessionConfig::new(dir.path());
    config.repo_map_chars = 0;
    let mut session = Session::start(config, Box::new(Arc::clone(&backend))).unwrap();
    let mut io = Recorder::default();
    assert_eq!(session.thinking_budget(), None);

    session.run_turn("first", &mut io).unwrap();
    let op = Op::SetThinking {
        budget_tokens: Some(64),
    };
    assert!(session.handle(op, &mut io).unwrap());
    assert_eq!(session.thinking_budget(), Some(64));
    session.run_turn("second", &mut io).unwrap();
    let op = Op::SetThinking {
        budget_tokens: Some(0),
    };
    assert!(session.handle(op, &mut io).unwrap());
    assert_eq!(session.thinking_budget(), None);
    session.run_turn("third", &mut io).unwrap();

    let requests = backend.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].thinking, None);
    assert_eq!(requests[1].thinking, Some(ThinkingConfig::enabled(64)));
    assert_eq!(requests[2].thinking, None);
    // The prompt prefix is the same whatever the setting.
    assert_eq!(requests[0].system, requests[2].system);
    assert_eq!(requests[0].tools, requests[1].tools);
}

/// Thinking blocks stay in the session's history and file, come back on resume, and are
/// sent with the history: the engine's template applies the model's convention (Qwen's:
/// past turns' thinking is not shown again), so the agent keeps everything.
#[test]
fn thinking_blocks_are_kept_in_the_session_file_and_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let thought = ContentBlock::Thinking {
        thinking: "two and two make four".into(),
        signature: String::new(),
    };
    let backend = Arc::new(ScriptedBackend::new(vec![
        ScriptedReply::Message {
            content: vec![thought.clone(), ContentBlock::text("4")],
            stop_reason: None,
            usage: None,
        },
        ScriptedReply::Text("5".into()),
    ]));
    let mut config = SessionConfig::new(dir.path());
    config.repo_map_chars = 0;
    config.sessions_dir = Some(sessions.path().to_path_buf());
    let mut session = Session::start(config, Box::new(Arc::clone(&backend))).unwrap();
    let mut io = Recorder::default();
    session.set_thinking(Some(32));
    let finished = session.run_turn("two and two?", &mut io).unwrap();
    // The answer is the text only.
    assert_eq!(finished.answer, "4");
    assert_eq!(session.history()[1].content[0], thought);
    session.run_turn("and one more?", &mut io).unwrap();
    assert_eq!(backend.requests()[1].messages[1].content[0], thought);

    let replay = Replay::read(session.file().unwrap()).unwrap();
    assert_eq!(replay.history[1].content[0], thought);
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

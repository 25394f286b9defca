//! The session's thinking setting: `Op::SetThinking` changes the budget of the next requests
//! and nothing else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use hearth_agent::protocol::{Event, Op, ToolCall};
use hearth_agent::{
    Approval, Replay, ScriptedBackend, ScriptedReply, Session, SessionConfig, TurnIo,
};
use hearth_engine::api::{ContentBlock, ThinkingConfig};

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

//! The session's thinking setting: `Op::SetThinking` changes the budget of the next requests
//! and nothing else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use hearth_agent::protocol::{Event, Op, ToolCall};
use hearth_agent::{Approval, ScriptedBackend, ScriptedReply, Session, SessionConfig, TurnIo};
use hearth_engine::api::ThinkingConfig;

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

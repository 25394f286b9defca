//! The agent's prompt is prefix-stable at the token level on the default model's real chat
//! template: every request of a session, rendered and tokenized by the engine, is a token
//! prefix of the next one (what a prefix cache needs to serve it). Tokenization only: no
//! forward pass, so this is fast.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use hearth_agent::protocol::{Event, ToolCall};
use hearth_agent::{Approval, ScriptedBackend, ScriptedReply, Session, SessionConfig, TurnIo};
use hearth_engine::api::ContentBlock;
use hearth_engine::engine::{Engine, EngineOptions};
use hearth_engine::model::load::Model;
use hearth_tests::hearth;
use serde_json::json;

struct Quiet;

impl TurnIo for Quiet {
    fn emit(&mut self, _event: Event) {}
    fn approve(&mut self, _call: &ToolCall) -> Approval {
        Approval::Denied("no".into())
    }
    fn interrupted(&self) -> bool {
        false
    }
}

fn call(id: &str, name: &str, input: serde_json::Value) -> ScriptedReply {
    ScriptedReply::Message {
        content: vec![
            ContentBlock::text("Let me look."),
            ContentBlock::ToolUse {
                id: id.into(),
                name: name.into(),
                input,
            },
        ],
        stop_reason: None,
        usage: None,
    }
}

#[test]
fn consecutive_requests_are_token_prefixes_of_each_other() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("calc.py"),
        "def blend(a, b):\n    return a * b\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("AGENTS.md"), "Answer in one word.\n").unwrap();
    let backend = Arc::new(ScriptedBackend::new(vec![
        call("call_0", "read_file", json!({"path": "calc.py"})),
        ScriptedReply::Text("blend".into()),
        call("call_1", "grep", json!({"pattern": "return"})),
        ScriptedReply::Text("one place".into()),
    ]));
    let mut session = Session::start(
        SessionConfig::new(dir.path()),
        Box::new(Arc::clone(&backend)),
    )
    .unwrap();
    session
        .run_turn("Which function multiplies?", &mut Quiet)
        .unwrap();
    session.run_turn("Where are returns?", &mut Quiet).unwrap();
    let requests = backend.requests();
    assert_eq!(requests.len(), 4);

    let model = Model::load(hearth!().default_model()).unwrap();
    let options = EngineOptions::for_model(&model, "default");
    let engine = Engine::new(Arc::new(model), options);
    let tokens: Vec<Vec<u32>> = requests
        .iter()
        .map(|r| engine.prompt_tokens(r).unwrap())
        .collect();
    for pair in tokens.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(b.len() > a.len());
        let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        assert_eq!(
            common,
            a.len(),
            "request diverges from the next at token {common} of {}",
            a.len()
        );
    }
    eprintln!(
        "prompt tokens per request: {:?}",
        tokens.iter().map(Vec::len).collect::<Vec<_>>()
    );
}

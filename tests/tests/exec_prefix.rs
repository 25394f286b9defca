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

/// The requests these tests compare are the tool loop's own: a question is first answered
/// from the code shown in a side request, which would take the script's first reply.
fn tool_loop_config(root: &std::path::Path) -> SessionConfig {
    let mut config = SessionConfig::new(root);
    config.answer_from_context = false;
    config
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
    let mut session =
        Session::start(tool_loop_config(dir.path()), Box::new(Arc::clone(&backend))).unwrap();
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

/// The first request of a session in one repository and in another share every token of
/// the system turn, tool schemas included: the repository's instructions, map and code open
/// the first user message instead, so the prefix cache serves the whole system turn in every
/// repository after the first.
#[test]
fn first_requests_in_two_repositories_share_the_system_turn_with_its_tools() {
    let first_request = |files: &[(&str, &str)], task: &str| {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            std::fs::write(dir.path().join(path), text).unwrap();
        }
        let backend = Arc::new(ScriptedBackend::new(vec![ScriptedReply::Text("ok".into())]));
        let mut session =
            Session::start(tool_loop_config(dir.path()), Box::new(Arc::clone(&backend))).unwrap();
        session.run_turn(task, &mut Quiet).unwrap();
        backend.requests().remove(0)
    };
    let a = first_request(
        &[
            ("calc.py", "def blend(a, b):\n    return a * b\n"),
            ("AGENTS.md", "Answer in one word.\n"),
        ],
        "Which function multiplies?",
    );
    let b = first_request(
        &[("lib.rs", "pub fn frobnicate() -> u32 {\n    7\n}\n")],
        "What does frobnicate return?",
    );

    let model = Arc::new(Model::load(hearth!().default_model()).unwrap());
    let options = EngineOptions::for_model(&model, "default");
    let engine = Engine::new(Arc::clone(&model), options);
    let shared = |x: &hearth_engine::api::Request, y: &hearth_engine::api::Request| {
        let (x, y) = (
            engine.prompt_tokens(x).unwrap(),
            engine.prompt_tokens(y).unwrap(),
        );
        let common = x.iter().zip(&y).take_while(|(p, q)| p == q).count();
        (common, model.tokenizer().decode(&x[..common]), x.len())
    };
    let (common, text, total) = shared(&a, &b);
    assert!(
        text.contains("</tools>"),
        "the two repositories' prompts diverge before the end of the tool schemas, at token \
         {common}: {text}"
    );
    assert!(!text.contains("blend") && !text.contains("Answer in one word"));

    // The layout before: the same context in the system turn, ahead of the tools.
    let old_layout = |mut request: hearth_engine::api::Request| {
        let first = request.messages.remove(0);
        let mut blocks = first.content;
        let task = blocks.pop().unwrap();
        for block in blocks {
            if let ContentBlock::Text { text } = block {
                request.system.0.push(
                    hearth_engine::api::SystemPrompt::text(text.trim_end())
                        .0
                        .remove(0),
                );
            }
        }
        request.messages.insert(
            0,
            hearth_engine::api::Message {
                role: hearth_engine::api::Role::User,
                content: vec![task],
            },
        );
        request
    };
    let (old_common, _, old_total) = shared(&old_layout(a), &old_layout(b));
    eprintln!(
        "tokens shared by two repositories' first requests: {common} of {total} \
         (with the context in the system turn: {old_common} of {old_total})"
    );
}

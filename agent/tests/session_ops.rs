//! The ops the TUI sends besides turns: `SetMode`, `ListChanges`, `Clear`, `Resume`, and
//! `@path` attachments in a user turn.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use hearth_agent::protocol::{Event, Op, ToolCall, UserTurn};
use hearth_agent::{
    Approval, Mode, Permissions, ScriptedBackend, ScriptedReply, Session, SessionConfig, TurnIo,
};
use hearth_engine::api::{ContentBlock, Role};
use serde_json::json;

#[derive(Default)]
struct Recorder {
    events: Vec<Event>,
    asked: usize,
}

impl TurnIo for Recorder {
    fn emit(&mut self, event: Event) {
        self.events.push(event);
    }
    fn approve(&mut self, _call: &ToolCall) -> Approval {
        self.asked += 1;
        Approval::Approved
    }
    fn interrupted(&self) -> bool {
        false
    }
}

fn edit(id: &str, old: &str, new: &str) -> ScriptedReply {
    ScriptedReply::Message {
        content: vec![ContentBlock::ToolUse {
            id: id.into(),
            name: "edit_file".into(),
            input: json!({"path": "a.txt", "old": old, "new": new}),
        }],
        stop_reason: None,
        usage: None,
    }
}

fn turn(text: &str) -> Op {
    Op::UserTurn(UserTurn { text: text.into() })
}

#[test]
fn set_mode_decides_the_next_calls() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "one\n").unwrap();
    let backend = ScriptedBackend::new(vec![
        edit("c1", "one", "two"),
        ScriptedReply::Text("done".into()),
        edit("c2", "two", "three"),
        ScriptedReply::Text("done".into()),
    ]);
    let mut config = SessionConfig::new(dir.path());
    config.repo_map_chars = 0;
    config.permissions = Permissions::new(Mode::Ask);
    let mut session = Session::start(config, Box::new(backend)).unwrap();
    let mut io = Recorder::default();
    session.handle(turn("edit"), &mut io).unwrap();
    assert_eq!(io.asked, 1, "ask mode asks");
    session
        .handle(
            Op::SetMode {
                mode: Mode::AutoEdit,
            },
            &mut io,
        )
        .unwrap();
    assert!(io.events.contains(&Event::ModeChanged {
        mode: Mode::AutoEdit
    }));
    session.handle(turn("again"), &mut io).unwrap();
    assert_eq!(io.asked, 1, "auto-edit does not ask for edits");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
        "three\n"
    );

    session.handle(Op::ListChanges, &mut io).unwrap();
    let Some(Event::Changes(changes)) = io.events.last() else {
        panic!("no changes event: {:?}", io.events.last());
    };
    let paths: Vec<(&str, &str)> = changes
        .changes
        .iter()
        .map(|c| (c.call_id.as_str(), c.path.as_str()))
        .collect();
    assert_eq!(paths, [("c1", "a.txt"), ("c2", "a.txt")]);
    assert!(changes.changes[1].diff.contains("+three"));
}

/// The configuration of sessions saved under `dir/sessions` for the repository `dir/repo`,
/// and a backend that answers two turns.
fn saved_sessions(dir: &Path) -> (SessionConfig, Arc<ScriptedBackend>) {
    let repo = dir.join("repo");
    std::fs::create_dir(&repo).unwrap();
    let backend = Arc::new(ScriptedBackend::new(vec![
        ScriptedReply::Text("first answer".into()),
        ScriptedReply::Text("second answer".into()),
    ]));
    let mut config = SessionConfig::new(&repo);
    config.repo_map_chars = 0;
    config.sessions_dir = Some(dir.join("sessions"));
    (config, backend)
}

#[test]
fn clear_forgets_the_conversation_and_resume_brings_a_saved_one_back() {
    let dir = tempfile::tempdir().unwrap();
    let (config, backend) = saved_sessions(dir.path());
    std::fs::write(config.root.join("notes.md"), "the answer is 42\n").unwrap();

    // An earlier session, saved, with an attached file in its turn.
    let mut earlier = Session::start(config.clone(), Box::new(Arc::clone(&backend))).unwrap();
    let mut io = Recorder::default();
    earlier.handle(turn("read @notes.md"), &mut io).unwrap();
    let earlier_id = earlier.id().to_string();
    let sent = &backend.requests()[0].messages[0];
    let ContentBlock::Text { text } = &sent.content[0] else {
        panic!("not text: {sent:?}");
    };
    assert!(
        text.contains("<file path=\"notes.md\">\nthe answer is 42\n</file>"),
        "{text}"
    );
    drop(earlier);

    let mut session = Session::start(config, Box::new(Arc::clone(&backend))).unwrap();
    session.handle(turn("hello"), &mut io).unwrap();
    assert_eq!(session.history().len(), 2);
    session.handle(Op::Clear, &mut io).unwrap();
    assert!(session.history().is_empty());
    assert_eq!(io.events.last(), Some(&Event::Cleared));

    // Resume with no id: the latest saved session of this repository other than this one.
    session.handle(Op::Resume { id: None }, &mut io).unwrap();
    let Some(Event::Resumed(resumed)) = io.events.last() else {
        panic!("not resumed: {:?}", io.events.last());
    };
    assert_eq!(resumed.session_id, earlier_id);
    assert_eq!(session.id(), earlier_id);
    assert_eq!(session.history().len(), 2);
    assert_eq!(session.history()[1].role, Role::Assistant);
    assert_eq!(session.last_answer(), "first answer");

    // An unknown id is an error event; the session goes on.
    session
        .handle(
            Op::Resume {
                id: Some("nope".into()),
            },
            &mut io,
        )
        .unwrap();
    assert!(matches!(io.events.last(), Some(Event::Error(_))));
    assert_eq!(session.id(), earlier_id);
}

/// A scripted backend under a model name of its own.
struct Named(String, ScriptedBackend);

impl hearth_agent::Backend for Named {
    fn model_id(&self) -> String {
        self.0.clone()
    }
    fn context_tokens(&self) -> Option<u32> {
        Some(4096)
    }
    fn stream(
        &self,
        request: &hearth_engine::api::Request,
        on_event: &mut dyn FnMut(&hearth_engine::api::Event) -> std::ops::ControlFlow<()>,
    ) -> Result<hearth_engine::api::Response, hearth_engine::api::ApiError> {
        self.1.stream(request, on_event)
    }
}

struct Opener;

impl hearth_agent::BackendFactory for Opener {
    fn open(&self, name: &str) -> Result<Box<dyn hearth_agent::Backend>, String> {
        if name == "missing" {
            return Err("no such model".into());
        }
        let backend = ScriptedBackend::new(vec![ScriptedReply::Text(format!("{name} says hi"))]);
        Ok(Box::new(Named(name.to_string(), backend)))
    }
}

#[test]
fn set_model_switches_the_backend_and_keeps_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let backend = ScriptedBackend::new(vec![ScriptedReply::Text("first".into())]);
    let mut config = SessionConfig::new(dir.path());
    config.repo_map_chars = 0;
    let mut session = Session::start(config, Box::new(backend)).unwrap();
    let mut io = Recorder::default();

    // Without a factory the model is fixed, and the user is told so.
    let set = |model: &str| Op::SetModel {
        model: model.into(),
    };
    session.handle(set("other"), &mut io).unwrap();
    assert!(
        matches!(io.events.last(), Some(Event::Error(e)) if e.message.contains("cannot be changed"))
    );

    session.set_backend_factory(Box::new(Opener));
    session.handle(turn("hello"), &mut io).unwrap();
    session.handle(set("missing"), &mut io).unwrap();
    assert!(
        matches!(io.events.last(), Some(Event::Error(e)) if e.message.contains("no such model"))
    );
    session.handle(set("tiny-2"), &mut io).unwrap();
    assert_eq!(
        io.events.last(),
        Some(&Event::ModelChanged {
            model: "tiny-2".into(),
            context_window: Some(4096),
        })
    );
    session.handle(turn("again"), &mut io).unwrap();
    assert_eq!(session.last_answer(), "tiny-2 says hi");
    let users = session
        .history()
        .iter()
        .filter(|m| m.role == Role::User)
        .count();
    assert_eq!(users, 2, "the first turn carried over to the new model");
}

#[test]
fn a_session_whose_last_append_was_cut_by_a_crash_resumes_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (config, backend) = saved_sessions(dir.path());
    let mut io = Recorder::default();
    let mut crashed = Session::start(config.clone(), Box::new(Arc::clone(&backend))).unwrap();
    crashed.handle(turn("hello"), &mut io).unwrap();
    let path = crashed.file().unwrap().to_path_buf();
    drop(crashed);
    // The process was killed while it appended the next message.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut file, b"{\"type\":\"message\",\"message\":{\"ro").unwrap();
    drop(file);

    let mut resumed =
        Session::resume(config.clone(), Box::new(Arc::clone(&backend)), &path).unwrap();
    assert_eq!(resumed.history().len(), 2);
    resumed.handle(turn("again"), &mut io).unwrap();
    drop(resumed);
    // What was appended after the torn line reads back too, on lines of its own.
    let replay = hearth_agent::Replay::read(&path).unwrap();
    assert_eq!(replay.history.len(), 4);
    assert_eq!(replay.turns, 2);
}

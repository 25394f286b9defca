//! What a user asked to approve an edit is shown, and what no mode may do: the diff is the
//! tool's own dry run (CRLF files included), computed after the permission check, and a
//! FIFO in the repository is refused by every file tool in every mode instead of hanging.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use hearth_agent::protocol::{Event, ToolCall};
use hearth_agent::{
    Approval, Mode, Permissions, ScriptedBackend, ScriptedReply, Session, SessionConfig, TurnIo,
};
use hearth_engine::api::ContentBlock;
use serde_json::{json, Value};

use common::{mkfifo, repo, within_timeout};

/// Approves every call (after writing `meanwhile`, as a user editing the file while asked
/// would) and keeps every event.
#[derive(Default)]
struct Approver {
    events: Vec<Event>,
    meanwhile: Option<(PathBuf, &'static str)>,
}

impl TurnIo for Approver {
    fn emit(&mut self, event: Event) {
        self.events.push(event);
    }
    fn approve(&mut self, _call: &ToolCall) -> Approval {
        if let Some((path, content)) = &self.meanwhile {
            std::fs::write(path, content).unwrap();
        }
        Approval::Approved
    }
    fn interrupted(&self) -> bool {
        false
    }
}

/// Runs one turn in `mode` in which the model makes `calls` (tool name, input) in one
/// message, on a thread: a turn that has not ended after [`common::HANG`] fails the test.
fn turn_events(root: PathBuf, mode: Mode, calls: Vec<(&'static str, Value)>) -> Vec<Event> {
    turn_events_with(root, mode, calls, Approver::default())
}

fn turn_events_with(
    root: PathBuf,
    mode: Mode,
    calls: Vec<(&'static str, Value)>,
    mut io: Approver,
) -> Vec<Event> {
    within_timeout(&format!("a turn in {mode} mode"), move || {
        let content = calls
            .into_iter()
            .enumerate()
            .map(|(i, (name, input))| ContentBlock::ToolUse {
                id: format!("c{i}"),
                name: name.into(),
                input,
            })
            .collect();
        let backend = ScriptedBackend::new(vec![
            ScriptedReply::Message {
                content,
                stop_reason: None,
                usage: None,
            },
            ScriptedReply::Text("done".into()),
        ]);
        let mut config = SessionConfig::new(&root);
        config.permissions = Permissions::new(mode);
        let mut session = Session::start(config, Box::new(backend)).unwrap();
        session.run_turn("go", &mut io).unwrap();
        io.events
    })
}

#[test]
fn a_crlf_edit_asked_for_approval_shows_its_diff() {
    let (_dir, root) = repo();
    std::fs::write(root.join("win.txt"), "first\r\nsecond\r\nthird\r\n").unwrap();
    let events = turn_events(
        root.clone(),
        Mode::Ask,
        vec![(
            "edit_file",
            json!({"path": "win.txt", "old": "first\nsecond", "new": "1st\n2nd"}),
        )],
    );
    let asked = events
        .iter()
        .find_map(|e| match e {
            Event::ApprovalRequested(call) => Some(call.clone()),
            _ => None,
        })
        .expect("the edit is asked for");
    let diff = asked.diff.expect("the approval shows a diff");
    assert!(
        diff.starts_with("--- a/win.txt\n+++ b/win.txt\n")
            && diff.contains("-first\r\n-second\r\n+1st\r\n+2nd\r\n"),
        "{diff:?}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("win.txt")).unwrap(),
        "1st\r\n2nd\r\nthird\r\n"
    );
}

#[test]
fn a_refused_or_failing_edit_is_not_previewed_or_asked_for() {
    let (_dir, root) = repo();
    std::fs::write(root.join("a.txt"), "ab ab ab\n").unwrap();
    let edit = || {
        (
            "edit_file",
            json!({"path": "a.txt", "old": "ab ab", "new": "x"}),
        )
    };
    for mode in [Mode::ReadOnly, Mode::Ask] {
        let events = turn_events(root.clone(), mode, vec![edit()]);
        assert!(!events
            .iter()
            .any(|e| matches!(e, Event::ApprovalRequested(_))));
        let proposed = events.iter().find_map(|e| match e {
            Event::ToolCallProposed(call) => Some(call),
            _ => None,
        });
        assert_eq!(proposed.unwrap().diff, None);
        let output = events.iter().find_map(|e| match e {
            Event::ToolOutput(output) => Some(output),
            _ => None,
        });
        let output = output.unwrap();
        let expected = match mode {
            Mode::ReadOnly => "read-only mode",
            _ => "occurs 2 times",
        };
        assert!(
            output.is_error && output.output.contains(expected),
            "{mode}: {}",
            output.output
        );
    }
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_in_every_mode_without_hanging() {
    let (_dir, root) = repo();
    std::fs::write(root.join("main.rs"), "fn main() {}\n").unwrap();
    mkfifo(&root.join("pipe"));
    let calls = || {
        vec![
            ("read_file", json!({"path": "pipe"})),
            ("edit_file", json!({"path": "pipe", "old": "a", "new": "b"})),
            (
                "write_file",
                json!({"path": "pipe", "content": "x", "overwrite": true}),
            ),
        ]
    };
    for mode in Mode::ALL {
        let events = turn_events(root.clone(), mode, calls());
        let outputs: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::ToolOutput(output) => Some(output),
                _ => None,
            })
            .collect();
        assert_eq!(outputs.len(), 3, "{mode}");
        for (output, tool) in outputs.iter().zip(["read_file", "edit_file", "write_file"]) {
            let refused_by_mode = mode == Mode::ReadOnly && tool != "read_file";
            let expected = if refused_by_mode {
                "read-only mode"
            } else {
                "`pipe` is a FIFO (named pipe), not a regular file"
            };
            assert!(
                output.is_error && output.output.contains(expected),
                "{mode} {tool}: {}",
                output.output
            );
        }
    }
}

#[test]
fn an_edit_whose_file_changed_while_it_waited_for_approval_is_not_made() {
    let (_dir, root) = repo();
    let file = root.join("a.txt");
    std::fs::write(&file, "one\ntwo\n").unwrap();
    let io = Approver {
        meanwhile: Some((file.clone(), "one\ntwo\nthree\n")),
        ..Approver::default()
    };
    let events = turn_events_with(
        root.clone(),
        Mode::Ask,
        vec![(
            "edit_file",
            json!({"path": "a.txt", "old": "two", "new": "2"}),
        )],
        io,
    );
    let output = events.iter().find_map(|e| match e {
        Event::ToolOutput(output) => Some(output),
        _ => None,
    });
    let output = output.unwrap();
    assert!(
        output.is_error && output.output.contains("changed while the call"),
        "{}",
        output.output
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "one\ntwo\nthree\n");
}

//! Work that is checked: after a turn's edits the session runs the project's tests where
//! the mode allows the command, hands failures to the model, and lets it go on until they
//! pass or the turn's requests run out.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Recorder;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hearth_agent::protocol::{Event, ToolCall, TurnFinished, TurnStop};
use hearth_agent::{
    CommandRule, Mode, Permissions, ScriptedBackend, ScriptedReply, Session, SessionConfig,
};
use hearth_engine::api::{ContentBlock, Message, Role};
use serde_json::{json, Value};

/// A test that fails until `calc.txt` says `value = 3`, and leaves a mark that it ran.
const TEST_SCRIPT: &str = "echo run >> runs.log\n\
    grep -q 'value = 3' calc.txt || { echo 'Traceback: check_value'; \
    echo 'AssertionError: expected value = 3'; exit 1; }\n";

/// A repository whose test is `sh test.sh`, found through `make test`.
fn repo() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::write(root.join("calc.txt"), "value = 1\n").unwrap();
    std::fs::write(root.join("test.sh"), TEST_SCRIPT).unwrap();
    std::fs::write(root.join("Makefile"), "test:\n\t@sh test.sh\n").unwrap();
    (dir, root)
}

fn edit(id: &str, old: &str, new: &str) -> ScriptedReply {
    ScriptedReply::Message {
        content: vec![ContentBlock::ToolUse {
            id: id.into(),
            name: "edit_file".into(),
            input: json!({"path": "calc.txt", "old": old, "new": new}),
        }],
        stop_reason: None,
        usage: None,
    }
}

fn answer(text: &str) -> ScriptedReply {
    ScriptedReply::Text(text.into())
}

/// The model's attempts: for each value, an edit of `calc.txt` to it and an answer.
fn attempts(values: &[u32]) -> Vec<ScriptedReply> {
    let mut before = 1;
    let mut replies = Vec::new();
    for (n, value) in values.iter().enumerate() {
        replies.push(edit(
            &format!("e{n}"),
            &format!("value = {before}"),
            &format!("value = {value}"),
        ));
        replies.push(answer(&format!("Done: the value is {value}.")));
        before = *value;
    }
    replies
}

/// One turn in a new repository, in full-auto mode, and what it left.
struct FullAuto {
    /// Kept so that the repository outlives the checks of its files.
    _dir: tempfile::TempDir,
    root: PathBuf,
    finished: TurnFinished,
    io: Recorder,
    session: Session,
    backend: Arc<ScriptedBackend>,
}

fn full_auto(max_requests: u32, task: &str, replies: Vec<ScriptedReply>) -> FullAuto {
    let (_dir, root) = repo();
    let permissions = Permissions::new(Mode::FullAuto);
    let (finished, io, session, backend) = run(&root, permissions, max_requests, task, replies);
    FullAuto {
        _dir,
        root,
        finished,
        io,
        session,
        backend,
    }
}

fn run(
    root: &Path,
    permissions: Permissions,
    max_requests: u32,
    task: &str,
    replies: Vec<ScriptedReply>,
) -> (TurnFinished, Recorder, Session, Arc<ScriptedBackend>) {
    let backend = Arc::new(ScriptedBackend::new(replies));
    let mut config = SessionConfig::new(root);
    config.permissions = permissions;
    config.max_requests_per_turn = max_requests;
    config.shell_env = vec![("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into())];
    let mut session = Session::start(config, Box::new(Arc::clone(&backend))).unwrap();
    let mut io = Recorder::default();
    let finished = session.run_turn(task, &mut io).unwrap();
    (finished, io, session, backend)
}

/// The commands the session's own test runs proposed, and the outputs they produced.
fn test_runs(events: &[Event]) -> (Vec<Value>, Vec<String>) {
    let check_ids: Vec<&ToolCall> = events
        .iter()
        .filter_map(|e| match e {
            Event::ToolCallProposed(call) if call.call_id.starts_with("check-") => Some(call),
            _ => None,
        })
        .collect();
    let outputs = events
        .iter()
        .filter_map(|e| match e {
            Event::ToolOutput(o) if check_ids.iter().any(|c| c.call_id == o.call_id) => {
                Some(o.output.clone())
            }
            _ => None,
        })
        .collect();
    (check_ids.iter().map(|c| c.input.clone()).collect(), outputs)
}

fn runs_logged(root: &Path) -> usize {
    std::fs::read_to_string(root.join("runs.log"))
        .map(|log| log.lines().count())
        .unwrap_or(0)
}

/// The text of a message the harness wrote: one text block.
fn text(message: &Message) -> &str {
    match message.content.as_slice() {
        [ContentBlock::Text { text }] => text,
        other => panic!("expected one text block, got {other:?}"),
    }
}

#[test]
fn a_failing_test_goes_back_to_the_model_which_fixes_it_on_the_second_try() {
    let turn = full_auto(10, "make the value right", attempts(&[2, 3]));
    assert_eq!(turn.finished.stop, TurnStop::Done);
    assert_eq!(turn.finished.answer, "Done: the value is 3.");
    assert_eq!(turn.finished.requests, 4);
    let (commands, outputs) = test_runs(&turn.io.events);
    assert_eq!(commands, vec![json!({"command": "make test"}); 2]);
    assert!(outputs[0].contains("AssertionError") && outputs[0].contains("[exit code: 2]"));
    assert!(outputs[1].ends_with("[exit code: 0]\n"), "{}", outputs[1]);
    assert_eq!(runs_logged(&turn.root), 2);
    // The third request showed the model the failure, as the harness's message.
    let third = &turn.backend.requests()[2];
    let report = third.messages.last().unwrap();
    assert_eq!(report.role, Role::User);
    let report = text(report);
    assert!(report.starts_with(
        "[hearth ran the tests] The tests fail (`make test`, the test command from Makefile)"
    ));
    assert!(
        report.contains("AssertionError: expected value = 3"),
        "{report}"
    );
    // The report is not a user turn of its own.
    assert_eq!(turn.session.turns(), 1);
    assert!(turn
        .io
        .log
        .iter()
        .any(|l| l.contains("running the tests: `make test`")));
}

#[test]
fn without_permission_for_the_command_nothing_runs_and_a_log_line_says_why() {
    for mode in [Mode::ReadOnly, Mode::Ask, Mode::AutoEdit] {
        let (_dir, root) = repo();
        let (finished, io, _session, backend) =
            run(&root, Permissions::new(mode), 10, "fix it", attempts(&[2]));
        assert_eq!(finished.stop, TurnStop::Done, "{mode}");
        assert_eq!(backend.requests().len(), 2, "{mode}");
        assert!(test_runs(&io.events).0.is_empty(), "{mode}");
        assert_eq!(runs_logged(&root), 0, "{mode}");
        assert!(
            io.log
                .iter()
                .any(|l| l.contains("tests not run") && l.contains(mode.name())),
            "{mode}: {:?}",
            io.log
        );
    }

    // An allow rule for the command the task names lets it run in the same mode.
    let (_dir, root) = repo();
    let mut permissions = Permissions::new(Mode::AutoEdit);
    permissions.allow = vec![CommandRule::new("sh test.sh").unwrap()];
    let (finished, io, _session, _backend) = run(
        &root,
        permissions,
        3,
        "Set the value, then run `sh test.sh` to test.",
        attempts(&[3]),
    );
    assert_eq!(finished.stop, TurnStop::Done);
    assert_eq!(test_runs(&io.events).0, [json!({"command": "sh test.sh"})]);
    assert_eq!(runs_logged(&root), 1);
}

#[test]
fn tests_that_never_pass_stop_the_turn_at_its_request_limit() {
    let mut replies = attempts(&[2, 4]);
    replies.push(answer("never asked"));
    let turn = full_auto(4, "set the value right", replies);
    assert_eq!(turn.finished.stop, TurnStop::MaxTurns);
    assert_eq!(turn.backend.requests().len(), 4);
    assert_eq!(turn.backend.remaining(), 1);
    assert_eq!(test_runs(&turn.io.events).0.len(), 2);
    // The last failure is in the history, closed by the note of the limit.
    let history = turn.session.history();
    assert!(text(&history[history.len() - 2]).starts_with("[hearth ran the tests] The tests fail"));
    assert_eq!(history.last().unwrap().role, Role::Assistant);
}

#[test]
fn an_answer_without_edits_runs_no_tests() {
    let turn = full_auto(10, "what is the value?", vec![answer("It is 1.")]);
    let (root, finished, io) = (&turn.root, &turn.finished, &turn.io);
    assert_eq!(finished.stop, TurnStop::Done);
    assert!(test_runs(&io.events).0.is_empty());
    assert_eq!(runs_logged(root), 0);
}

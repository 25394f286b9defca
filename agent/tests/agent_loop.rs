//! The session loop against a scripted backend: tool calls, malformed calls, permissions,
//! undo, compaction, session files and resume.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{scripted_call as call, Recorder};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hearth_agent::protocol::{Event, Op, TurnStop, UserTurn};
use hearth_agent::{
    CommandRule, Mode, Permissions, Replay, ScriptedBackend, ScriptedReply, Session, SessionConfig,
};
use hearth_engine::api::{ContentBlock, Message, Role, ToolResultContent};
use serde_json::json;

const HELLO_PY: &str =
    "def greet(name):\n    return 'hello ' + name\n\n\ndef add(a, b):\n    return a + b\n";

fn repo() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::write(root.join("hello.py"), HELLO_PY).unwrap();
    (dir, root)
}

fn answer(text: &str) -> ScriptedReply {
    ScriptedReply::Text(text.into())
}

fn session(
    root: &Path,
    mode: Mode,
    replies: Vec<ScriptedReply>,
) -> (Session, Arc<ScriptedBackend>) {
    let backend = Arc::new(ScriptedBackend::new(replies));
    let mut config = SessionConfig::new(root);
    config.answer_from_context = false;
    config.permissions = Permissions::new(mode);
    (
        Session::start(config, Box::new(Arc::clone(&backend))).unwrap(),
        backend,
    )
}

/// The tool results of a request's last message, as (text, is_error).
fn results_of(message: &Message) -> Vec<(String, bool)> {
    message
        .content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::ToolResult {
                content, is_error, ..
            } => Some((ToolResultContent::join(content), *is_error)),
            _ => None,
        })
        .collect()
}

fn tool_outputs(events: &[Event]) -> Vec<(String, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ToolOutput(o) => Some((o.output.clone(), o.is_error)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_tool_call_result_goes_back_to_the_model_and_its_answer_ends_the_turn() {
    let (_dir, root) = repo();
    let (mut session, backend) = session(
        &root,
        Mode::AutoEdit,
        vec![
            call("c1", "read_file", json!({"path": "hello.py"})),
            answer("`add` adds two numbers."),
        ],
    );
    let mut io = Recorder::default();
    let finished = session.run_turn("Which function adds?", &mut io).unwrap();
    assert_eq!(finished.stop, TurnStop::Done);
    assert_eq!(finished.answer, "`add` adds two numbers.");
    assert_eq!(finished.requests, 2);

    let requests = backend.requests();
    assert_eq!(requests.len(), 2);
    let results = results_of(requests[1].messages.last().unwrap());
    assert_eq!(results.len(), 1);
    assert!(!results[0].1);
    assert!(results[0].0.contains("return a + b"), "{}", results[0].0);
    // The prefix is the same for both requests and the history only grows.
    assert_eq!(requests[0].system, requests[1].system);
    assert_eq!(requests[0].tools, requests[1].tools);
    assert_eq!(requests[0].messages[..], requests[1].messages[..1]);
    // The repository's code opens the first user message; the prefix holds none of it.
    assert!(!requests[0].system.joined().contains("greet"));
    let first = serde_json::to_string(&requests[0].messages[0]).unwrap();
    assert!(first.contains("def greet(name)"), "{first}");

    // Events in order: started, proposed, output, finished; usage per request sums up.
    let kinds: Vec<&str> = io
        .events
        .iter()
        .filter_map(|e| match e {
            Event::TurnStarted(_) => Some("started"),
            Event::ToolCallProposed(_) => Some("proposed"),
            Event::ToolOutput(_) => Some("output"),
            Event::TurnFinished(_) => Some("finished"),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["started", "proposed", "output", "finished"]);
    let usages: Vec<_> = io
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Usage(u) => Some(*u),
            _ => None,
        })
        .collect();
    assert_eq!(usages.len(), 2);
    assert!(usages[1].turn.input_tokens > usages[0].turn.input_tokens);
    assert_eq!(usages[1].session, session.usage());
    assert_eq!(session.usage().input_tokens, usages[1].turn.input_tokens);
}

#[test]
fn a_malformed_call_goes_back_as_an_error_naming_the_expected_shape_and_the_model_recovers() {
    let (_dir, root) = repo();
    let (mut session, backend) = session(
        &root,
        Mode::AutoEdit,
        vec![
            call(
                "c1",
                "read_file",
                json!({"_error": "expected `:` at line 1 column 7", "_raw": "{\"path\" \"hello.py\"}"}),
            ),
            call("c2", "read_file", json!({"path": "hello.py"})),
            answer("done"),
        ],
    );
    let finished = session
        .run_turn("read hello.py", &mut Recorder::default())
        .unwrap();
    assert_eq!(finished.stop, TurnStop::Done);
    let requests = backend.requests();
    let first = results_of(requests[1].messages.last().unwrap());
    assert!(first[0].1, "a malformed call is an error result");
    let text = &first[0].0;
    assert!(text.contains("expected `:` at line 1 column 7"), "{text}");
    assert!(text.contains("{\"path\" \"hello.py\"}"), "{text}");
    assert!(
        text.contains("<tool_call>") && text.contains("\"arguments\""),
        "{text}"
    );
    assert!(
        text.contains("\"path\""),
        "the read_file schema is shown: {text}"
    );
    let second = results_of(requests[2].messages.last().unwrap());
    assert!(!second[0].1 && second[0].0.contains("def greet"));
}

#[test]
fn unknown_tools_and_non_object_arguments_are_errors_the_model_can_fix() {
    let (_dir, root) = repo();
    let (mut session, _backend) = session(
        &root,
        Mode::AutoEdit,
        vec![
            call("c1", "cat", json!({"path": "hello.py"})),
            call("c2", "read_file", json!("hello.py")),
            answer("ok"),
        ],
    );
    let mut io = Recorder::default();
    session.run_turn("read it", &mut io).unwrap();
    let outputs = tool_outputs(&io.events);
    assert!(
        outputs[0].1
            && outputs[0].0.contains("no tool named `cat`")
            && outputs[0].0.contains("read_file")
    );
    assert!(
        outputs[1].1 && outputs[1].0.contains("must be a JSON object"),
        "{}",
        outputs[1].0
    );
}

#[test]
fn read_only_refuses_edits_and_tells_the_model() {
    let (_dir, root) = repo();
    let (mut session, _backend) = session(
        &root,
        Mode::ReadOnly,
        vec![
            call(
                "c1",
                "edit_file",
                json!({"path": "hello.py", "old": "a + b", "new": "a - b"}),
            ),
            call("c2", "shell", json!({"command": "touch x"})),
            answer("I may not edit."),
        ],
    );
    let mut io = Recorder::default();
    session.run_turn("break add", &mut io).unwrap();
    let outputs = tool_outputs(&io.events);
    assert!(
        outputs[0].1 && outputs[0].0.contains("read-only"),
        "{}",
        outputs[0].0
    );
    assert!(
        outputs[1].1 && outputs[1].0.contains("read-only"),
        "{}",
        outputs[1].0
    );
    assert_eq!(
        std::fs::read_to_string(root.join("hello.py")).unwrap(),
        HELLO_PY
    );
    assert!(!root.join("x").exists());
    assert!(session.checkpoints().is_empty());
}

#[test]
fn deny_rules_refuse_commands_even_in_full_auto_and_allowed_ones_run() {
    let (_dir, root) = repo();
    let backend = Arc::new(ScriptedBackend::new(vec![
        call("c1", "shell", json!({"command": "rm hello.py"})),
        call("c2", "shell", json!({"command": "echo made > made.txt"})),
        answer("ok"),
    ]));
    let mut config = SessionConfig::new(&root);
    config.permissions = Permissions::new(Mode::FullAuto);
    config.permissions.deny = vec![CommandRule::new("rm").unwrap()];
    let mut session = Session::start(config, Box::new(Arc::clone(&backend))).unwrap();
    let mut io = Recorder::default();
    session.run_turn("clean up", &mut io).unwrap();
    let outputs = tool_outputs(&io.events);
    assert!(
        outputs[0].1 && outputs[0].0.contains("denied by the rule `rm`"),
        "{}",
        outputs[0].0
    );
    assert!(root.join("hello.py").exists());
    assert!(!outputs[1].1, "{}", outputs[1].0);
    assert!(root.join("made.txt").exists());
}

#[test]
fn commands_that_need_approval_are_refused_when_the_front_end_cannot_ask() {
    let (_dir, root) = repo();
    let (mut session, _backend) = session(
        &root,
        Mode::AutoEdit,
        vec![
            call("c1", "shell", json!({"command": "touch x"})),
            answer("ok"),
        ],
    );
    let mut io = Recorder::default();
    session.run_turn("touch", &mut io).unwrap();
    assert!(io
        .events
        .iter()
        .any(|e| matches!(e, Event::ApprovalRequested(c) if c.call_id == "c1")));
    let outputs = tool_outputs(&io.events);
    assert!(
        outputs[0].1 && outputs[0].0.contains("not approved"),
        "{}",
        outputs[0].0
    );
    assert!(!root.join("x").exists());
}

#[test]
fn edits_are_checkpointed_with_a_diff_and_undo_reverts_them() {
    let (_dir, root) = repo();
    let (mut session, _backend) = session(
        &root,
        Mode::AutoEdit,
        vec![
            call(
                "c1",
                "edit_file",
                json!({"path": "hello.py", "old": "a + b", "new": "a - b"}),
            ),
            answer("changed"),
        ],
    );
    let mut io = Recorder::default();
    session.run_turn("make add subtract", &mut io).unwrap();
    let proposed = io
        .events
        .iter()
        .find_map(|e| match e {
            Event::ToolCallProposed(c) => Some(c.clone()),
            _ => None,
        })
        .unwrap();
    let diff = proposed.diff.unwrap();
    assert!(
        diff.contains("-    return a + b") && diff.contains("+    return a - b"),
        "{diff}"
    );
    assert!(std::fs::read_to_string(root.join("hello.py"))
        .unwrap()
        .contains("a - b"));
    assert_eq!(session.checkpoints().len(), 1);
    assert_eq!(session.checkpoints()[0].path, "hello.py");

    let mut io = Recorder::default();
    assert!(session.handle(Op::Undo, &mut io).unwrap());
    assert!(matches!(&io.events[..], [Event::Undone(u)] if u.call_id == "c1"));
    assert_eq!(
        std::fs::read_to_string(root.join("hello.py")).unwrap(),
        HELLO_PY
    );
    let mut io = Recorder::default();
    session.handle(Op::Undo, &mut io).unwrap();
    assert!(
        matches!(&io.events[..], [Event::Error(e)] if e.message.contains("nothing") || e.message.contains("no file change"))
    );
}

#[test]
fn a_turn_that_keeps_calling_tools_stops_at_its_request_limit() {
    let (_dir, root) = repo();
    let backend = Arc::new(ScriptedBackend::new(
        (0..3)
            .map(|i| call(&format!("c{i}"), "list_files", json!({})))
            .collect(),
    ));
    let mut config = SessionConfig::new(&root);
    config.max_requests_per_turn = 3;
    let mut session = Session::start(config, Box::new(Arc::clone(&backend))).unwrap();
    let finished = session.run_turn("loop", &mut Recorder::default()).unwrap();
    assert_eq!(finished.stop, TurnStop::MaxTurns);
    assert_eq!(finished.requests, 3);
    assert_eq!(backend.remaining(), 0);
    // The history still alternates, so a next turn is a valid conversation.
    assert_eq!(session.history().last().unwrap().role, Role::Assistant);
}

#[test]
fn a_prompt_near_the_context_window_is_compacted_by_a_summary_request() {
    let (_dir, root) = repo();
    std::fs::write(root.join("AGENTS.md"), "Run the tests with make check.\n").unwrap();
    let mut config = SessionConfig::new(&root);
    config.repo_map_chars = 0;
    // The prefix's size as the scripted backend counts it, so the window can be set to fit
    // the first two turns (each about 1,000 tokens) and the default max_tokens (1,024),
    // but not the third.
    let probe = Arc::new(ScriptedBackend::new(vec![answer("probe")]));
    let mut probe_session = Session::start(config.clone(), Box::new(Arc::clone(&probe))).unwrap();
    probe_session
        .run_turn("first", &mut Recorder::default())
        .unwrap();
    let prefix_tokens = probe_session.usage().input_tokens;
    let window = prefix_tokens + 1_500 + 1_024;

    let long = "x".repeat(4_000);
    let backend = Arc::new(
        ScriptedBackend::new(vec![
            answer(&format!("first answer {long}")),
            answer(&format!("second answer {long}")),
            answer("SUMMARY: the user asked twice about x."),
            answer("third answer"),
        ])
        .with_context_tokens(window),
    );
    let mut session = Session::start(config, Box::new(Arc::clone(&backend))).unwrap();
    let mut io = Recorder::default();
    session.run_turn("first", &mut io).unwrap();
    session.run_turn("second", &mut io).unwrap();
    assert!(!io.events.iter().any(|e| matches!(e, Event::Compacted(_))));
    let finished = session.run_turn("third", &mut io).unwrap();
    assert_eq!(finished.answer, "third answer");
    let compacted = io
        .events
        .iter()
        .find_map(|e| match e {
            Event::Compacted(c) => Some(c.clone()),
            _ => None,
        })
        .expect("compaction happened");
    assert!(
        compacted.tokens_after < compacted.tokens_before,
        "{compacted:?}"
    );
    assert!(compacted.summary.contains("SUMMARY"));
    let requests = backend.requests();
    assert!(
        requests[2].system.joined().contains("summarize"),
        "the third request asks for a summary"
    );
    assert!(requests[2].tools.is_empty());
    let last = &requests[3];
    assert!(
        last.messages.len() < 5,
        "older turns were replaced: {:?}",
        last.messages
    );
    let first_text = serde_json::to_string(&last.messages[0]).unwrap();
    assert!(first_text.contains("SUMMARY"), "{first_text}");
    // The project's instructions outlive the compaction, word for word, before the summary.
    let instructions = first_text.find("Run the tests with make check.");
    assert!(
        instructions.is_some_and(|at| at < first_text.find("SUMMARY").unwrap_or(0)),
        "{first_text}"
    );
    assert_eq!(last.messages[0].role, Role::User);
}

#[test]
fn a_session_file_reads_back_to_the_same_state_and_resume_continues_it() {
    let (_dir, root) = repo();
    let data = tempfile::tempdir().unwrap();
    let backend = Arc::new(ScriptedBackend::new(vec![
        call(
            "c1",
            "edit_file",
            json!({"path": "hello.py", "old": "a + b", "new": "b + a"}),
        ),
        answer("swapped"),
    ]));
    let mut config = SessionConfig::new(&root);
    config.sessions_dir = Some(data.path().to_path_buf());
    let mut session = Session::start(config.clone(), Box::new(Arc::clone(&backend))).unwrap();
    session.run_turn("swap", &mut Recorder::default()).unwrap();
    let path = session.file().unwrap().to_path_buf();
    let id = session.id().to_string();
    let first_requests = backend.requests();
    drop(session);

    let replay = Replay::read(&path).unwrap();
    assert_eq!(replay.header.id, id);
    assert_eq!(replay.history.len(), 4);
    assert_eq!(replay.turns, 1);
    assert_eq!(replay.checkpoints.list().len(), 1);
    assert!(replay.usage.input_tokens > 0);
    assert_eq!(Replay::find(data.path(), &id).unwrap(), path);
    assert_eq!(Replay::find_last(data.path(), &root).unwrap(), path);

    let backend2 = Arc::new(ScriptedBackend::new(vec![answer("resumed")]));
    let mut resumed = Session::resume(config, Box::new(Arc::clone(&backend2)), &path).unwrap();
    assert_eq!(resumed.id(), id);
    resumed
        .run_turn("and now?", &mut Recorder::default())
        .unwrap();
    let request = &backend2.requests()[0];
    // The resumed request extends the old conversation under the same prefix.
    assert_eq!(request.system, first_requests[1].system);
    assert_eq!(request.messages[..4], replay.history[..]);
    assert_eq!(request.messages.len(), 5);
    // Undo still works on the change made before the resume.
    let mut io = Recorder::default();
    resumed.handle(Op::Undo, &mut io).unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join("hello.py")).unwrap(),
        HELLO_PY
    );
    drop(resumed);
    let replay = Replay::read(&path).unwrap();
    assert_eq!(replay.history.len(), 6);
    assert_eq!(replay.turns, 2);
    assert!(replay.checkpoints.list()[0].undone);
}

#[test]
fn a_spawned_session_asks_for_approval_over_its_channels() {
    let (_dir, root) = repo();
    let (session, _backend) = session(
        &root,
        Mode::Ask,
        vec![
            call(
                "c1",
                "write_file",
                json!({"path": "new.txt", "content": "hi\n"}),
            ),
            answer("written"),
        ],
    );
    let handle = hearth_agent::spawn(session);
    handle
        .ops
        .send(Op::UserTurn(UserTurn {
            text: "write new.txt".into(),
        }))
        .unwrap();
    loop {
        match handle.events.recv().unwrap() {
            Event::ApprovalRequested(call) => {
                assert!(call.diff.as_deref().unwrap_or_default().contains("+hi"));
                handle
                    .ops
                    .send(Op::Approve {
                        call_id: call.call_id,
                    })
                    .unwrap();
            }
            Event::TurnFinished(finished) => {
                assert_eq!(finished.answer, "written");
                break;
            }
            _ => {}
        }
    }
    handle.ops.send(Op::Shutdown).unwrap();
    handle.join().unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join("new.txt")).unwrap(),
        "hi\n"
    );
}

#[test]
fn an_answer_that_talks_about_a_tool_is_asked_again_with_a_call_required() {
    // A backend that does not enforce `tool_choice` lets the model write prose about a
    // tool; the session does not take it as the answer.
    let (_dir, root) = repo();
    let (mut session, backend) = session(
        &root,
        Mode::AutoEdit,
        vec![
            answer("To find it, you can use the `read_file` function on hello.py."),
            call("c1", "read_file", json!({"path": "hello.py"})),
            answer("`add` adds two numbers; read_file showed it."),
        ],
    );
    let finished = session
        .run_turn("Which function adds?", &mut Recorder::default())
        .unwrap();
    assert_eq!(finished.stop, TurnStop::Done);
    assert_eq!(finished.requests, 3);
    let requests = backend.requests();
    // The prose is not kept: the same conversation again.
    assert_eq!(requests[1].messages, requests[0].messages);
    // Once per turn: the final answer may name a tool and still end the turn.
    assert_eq!(
        finished.answer,
        "`add` adds two numbers; read_file showed it."
    );
    assert!(!session
        .history()
        .iter()
        .any(|m| serde_json::to_string(m).unwrap().contains("you can use")));
}

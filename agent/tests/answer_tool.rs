//! The answer as a tool call against a scripted backend: every request requires a call,
//! the `answer` call ends the turn as text, and a model stuck repeating its calls is made
//! to answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{repo, scripted_call as call, Recorder};
use std::sync::Arc;

use hearth_agent::protocol::{Event, TurnStop};
use hearth_agent::{
    Mode, Permissions, ScriptedBackend, ScriptedReply, Session, SessionConfig, ANSWER_TOOL,
};
use hearth_engine::api::{ContentBlock, Role, ToolChoice, ToolResultContent};
use serde_json::json;

/// The `tool_choice` of each request the backend was sent, in order.
fn choices(backend: &ScriptedBackend) -> Vec<Option<ToolChoice>> {
    backend
        .requests()
        .iter()
        .map(|r| r.tool_choice.clone())
        .collect()
}

fn session(replies: Vec<ScriptedReply>) -> (tempfile::TempDir, Session, Arc<ScriptedBackend>) {
    let (dir, root) = repo();
    std::fs::write(root.join("hello.py"), "def add(a, b):\n    return a + b\n").unwrap();
    let backend = Arc::new(ScriptedBackend::new(replies));
    let mut config = SessionConfig::new(&root);
    config.answer_from_context = false;
    config.permissions = Permissions::new(Mode::AutoEdit);
    let session = Session::start(config, Box::new(Arc::clone(&backend))).unwrap();
    (dir, session, backend)
}

#[test]
fn every_step_is_a_call_and_the_answer_tool_ends_the_turn_as_text() {
    let (_dir, mut session, backend) = session(vec![
        call("c1", "read_file", json!({"path": "hello.py"})),
        ScriptedReply::Message {
            content: vec![
                ContentBlock::ToolUse {
                    id: "c2".into(),
                    name: "grep".into(),
                    input: json!({"pattern": "def add"}),
                },
                // Written before the grep's result was known: not the answer yet.
                ContentBlock::ToolUse {
                    id: "c3".into(),
                    name: ANSWER_TOOL.into(),
                    input: json!({"text": "a guess"}),
                },
            ],
            stop_reason: None,
            usage: None,
        },
        call(
            "c4",
            ANSWER_TOOL,
            json!({"text": "`add` in hello.py adds two numbers."}),
        ),
    ]);
    let mut io = Recorder::default();
    let finished = session.run_turn("Which function adds?", &mut io).unwrap();
    assert_eq!(finished.stop, TurnStop::Done);
    assert_eq!(finished.requests, 3);
    assert_eq!(finished.answer, "`add` in hello.py adds two numbers.");
    let requests = backend.requests();
    for request in &requests {
        // The engine enforces it: the model's every step is a valid call, of a tool that
        // reads (the task is a question) or the answer.
        let Some(ToolChoice::AnyOf { names }) = &request.tool_choice else {
            panic!("{:?}", request.tool_choice);
        };
        assert!(names.iter().any(|n| n == ANSWER_TOOL) && !names.iter().any(|n| n == "edit_file"));
        assert!(request.tools.iter().any(|t| t.name == ANSWER_TOOL));
    }
    // The late answer was dropped with its call: the grep ran and only it has a result.
    let results: Vec<String> = requests[2]
        .messages
        .last()
        .unwrap()
        .content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::ToolResult { content, .. } => Some(ToolResultContent::join(content)),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), 1);
    assert!(results[0].contains("def add"), "{}", results[0]);
    assert!(!serde_json::to_string(&requests[2].messages)
        .unwrap()
        .contains("a guess"));
    // The answer is shown as text and kept as text: no call of `answer` is proposed or
    // left in the history.
    assert!(!io
        .events
        .iter()
        .any(|e| matches!(e, Event::ToolCallProposed(c) if c.tool == ANSWER_TOOL)));
    let shown: String = io
        .events
        .iter()
        .filter_map(|e| match e {
            Event::TextDelta(d) => Some(d.text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(shown, finished.answer);
    let last = session.history().last().unwrap();
    assert_eq!(last.role, Role::Assistant);
    assert_eq!(
        last.content,
        vec![ContentBlock::text("`add` in hello.py adds two numbers.")]
    );
}

#[test]
fn a_model_that_repeats_its_calls_is_made_to_answer() {
    let blame = json!({"path": "hello.py", "start_line": 1, "end_line": 1});
    let (_dir, mut session, backend) = session(vec![
        call("c1", "git_blame", blame.clone()),
        call("c2", "git_blame", blame.clone()),
        call("c3", ANSWER_TOOL, json!({"text": "done"})),
    ]);
    let mut io = Recorder::default();
    let finished = session.run_turn("Who wrote add?", &mut io).unwrap();
    assert_eq!(finished.answer, "done");
    let choices = choices(&backend);
    assert_eq!(
        choices,
        [
            Some(ToolChoice::Any),
            Some(ToolChoice::Any),
            Some(ToolChoice::Tool {
                name: ANSWER_TOOL.into()
            }),
        ]
    );
    assert!(io.log.iter().any(|l| l.contains("repeated its last calls")));
    // The repeat ran nothing and left no trace: the answer is asked for on the same prompt
    // (all of it in the cache), and briefly.
    let requests = backend.requests();
    assert_eq!(requests[2].messages, requests[1].messages);
    assert!(requests[1].max_tokens > 256);
    assert_eq!(requests[2].max_tokens, 256);
    let ran = io
        .events
        .iter()
        .filter(|e| matches!(e, Event::ToolOutput(_)))
        .count();
    assert_eq!(ran, 1, "the repeated call ran");
}

/// An answer delivered through the answer tool ends the turn even when its words name a
/// tool: in a shell repository, "the shell function that …" is the answer, not prose about
/// the `shell` tool (before, the agent asked again with a call required, two requests more).
#[test]
fn an_answer_call_that_names_a_tool_ends_the_turn() {
    let text = "The shell function that adds two numbers is `add` in `hello.py`.";
    let (_dir, mut session, backend) =
        session(vec![call("c1", ANSWER_TOOL, json!({ "text": text }))]);
    let mut io = Recorder::default();
    let finished = session
        .run_turn("Which shell function adds two numbers?", &mut io)
        .unwrap();
    assert_eq!(finished.answer, text);
    assert_eq!(backend.requests().len(), 1);
    assert!(!io
        .log
        .iter()
        .any(|l| l.contains("instead of calling a tool")));
}

/// Two calls in turn (an edit that fails, then a read of the file) are a loop as much as
/// one call twice: the third reply repeats a call already made while nothing changed.
#[test]
fn a_model_that_alternates_two_calls_is_stopped_at_the_first_repeat() {
    let read = json!({"path": "hello.py"});
    let miss = json!({"path": "hello.py", "old": "a - b", "new": "b - a"});
    let edit = json!({"path": "hello.py", "old": "a + b", "new": "b + a"});
    let (dir, mut session, backend) = session(vec![
        call("c1", "edit_file", miss.clone()),
        call("c2", "read_file", read.clone()),
        call("c3", "edit_file", miss),
        call("c4", "edit_file", edit),
        call("c5", ANSWER_TOOL, json!({"text": "swapped"})),
    ]);
    let mut io = Recorder::default();
    let finished = session.run_turn("Make add return b + a.", &mut io).unwrap();
    assert_eq!(finished.answer, "swapped");
    let choices = choices(&backend);
    let tool = |name: &str| Some(ToolChoice::Tool { name: name.into() });
    assert_eq!(
        choices,
        [
            Some(ToolChoice::Any),
            Some(ToolChoice::Any),
            Some(ToolChoice::Any),
            tool("edit_file"),
            tool(ANSWER_TOOL),
        ]
    );
    assert!(io.log.iter().any(|l| l.contains("must be an edit")));
    let text = std::fs::read_to_string(dir.path().join("hello.py")).unwrap();
    assert!(text.contains("b + a"), "{text}");
}

/// After a change, the same read is new: the file is not what it was.
#[test]
fn reading_a_file_again_after_changing_it_is_no_loop() {
    let read = json!({"path": "hello.py"});
    let edit = json!({"path": "hello.py", "old": "a + b", "new": "b + a"});
    let (_dir, mut session, backend) = session(vec![
        call("c1", "read_file", read.clone()),
        call("c2", "edit_file", edit),
        call("c3", "read_file", read),
        call("c4", ANSWER_TOOL, json!({"text": "swapped"})),
    ]);
    let mut io = Recorder::default();
    let finished = session.run_turn("Who wrote add?", &mut io).unwrap();
    assert_eq!(finished.answer, "swapped");
    assert!(
        backend
            .requests()
            .iter()
            .all(|r| r.tool_choice == Some(ToolChoice::Any)),
        "{:?}",
        io.log
    );
    assert!(
        !io.log.iter().any(|l| l.contains("repeated")),
        "{:?}",
        io.log
    );
}

#[test]
fn a_model_that_repeats_its_calls_on_a_change_task_is_made_to_edit_then_to_answer() {
    let read = json!({"path": "hello.py"});
    let edit = json!({"path": "hello.py", "old": "a + b", "new": "b + a"});
    let (dir, mut session, backend) = session(vec![
        call("c1", "read_file", read.clone()),
        call("c2", "read_file", read.clone()),
        call("c3", "edit_file", edit),
        call("c4", ANSWER_TOOL, json!({"text": "swapped"})),
    ]);
    let mut io = Recorder::default();
    let finished = session.run_turn("Make add return b + a.", &mut io).unwrap();
    assert_eq!(finished.answer, "swapped");
    let choices = choices(&backend);
    let tool = |name: &str| Some(ToolChoice::Tool { name: name.into() });
    assert_eq!(
        choices,
        [
            Some(ToolChoice::Any),
            Some(ToolChoice::Any),
            tool("edit_file"),
            // A change made: the answer is next (it runs the checks).
            tool(ANSWER_TOOL),
        ]
    );
    assert!(io.log.iter().any(|l| l.contains("must be an edit")));
    let text = std::fs::read_to_string(dir.path().join("hello.py")).unwrap();
    assert!(text.contains("b + a"), "{text}");
}

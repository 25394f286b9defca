//! A question about the code, on a scripted backend: the first turn opens with a request
//! that must answer from the code the first message shows, kept only when it
//! rests on that code; otherwise the turn goes on with the tools, which for a question are
//! the ones that read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{repo, scripted_call as call, Recorder};
use std::sync::Arc;

use hearth_agent::protocol::TurnStop;
use hearth_agent::{
    Mode, Permissions, ScriptedBackend, ScriptedReply, Session, SessionConfig, ANSWER_TOOL,
};
use hearth_engine::api::ToolChoice;
use serde_json::json;

fn start(replies: Vec<ScriptedReply>) -> (tempfile::TempDir, Session, Arc<ScriptedBackend>) {
    let (dir, root) = repo();
    std::fs::write(
        root.join("storage.py"),
        "import csv\n\ndef load_items(path):\n    with open(path) as f:\n        return list(csv.reader(f))\n",
    )
    .unwrap();
    let backend = Arc::new(ScriptedBackend::new(replies));
    let mut config = SessionConfig::new(&root);
    config.permissions = Permissions::new(Mode::FullAuto);
    let session = Session::start(config, Box::new(Arc::clone(&backend))).unwrap();
    (dir, session, backend)
}

fn answer_only() -> ToolChoice {
    ToolChoice::Tool {
        name: ANSWER_TOOL.into(),
    }
}

fn answer(text: &str) -> ScriptedReply {
    call("a1", ANSWER_TOOL, json!({ "text": text }))
}

#[test]
fn a_question_answered_from_the_code_shown_takes_one_request() {
    let (_dir, mut session, backend) = start(vec![ScriptedReply::Text(
        "The function is `load_items` in `storage.py`.".into(),
    )]);
    let mut io = Recorder::default();
    let finished = session
        .run_turn("Which function reads rows from a CSV file?", &mut io)
        .unwrap();
    assert_eq!(finished.stop, TurnStop::Done);
    assert_eq!(
        finished.answer,
        "The function is `load_items` in `storage.py`."
    );
    assert_eq!(finished.requests, 1);
    let requests = backend.requests();
    assert_eq!(requests.len(), 1);
    // The answer is the only step; the request shows the code and asks for the answer.
    assert_eq!(requests[0].tool_choice, Some(answer_only()));
    let asked = serde_json::to_string(&requests[0].messages).unwrap();
    assert!(
        asked.contains("def load_items")
            && asked.contains("Answer the question above from the code shown")
    );
    // The history keeps the question and the answer, not the harness's request.
    let history = serde_json::to_string(session.history()).unwrap();
    assert!(!history.contains("Answer the question above"), "{history}");
    assert!(
        history.contains("The function is `load_items`"),
        "{history}"
    );
}

#[test]
fn a_made_up_file_is_named_once_and_the_second_answer_kept() {
    let (_dir, mut session, backend) = start(vec![
        ScriptedReply::Text("`load_items` in `csv_io.py`.".into()),
        ScriptedReply::Text("`load_items` in `storage.py`.".into()),
    ]);
    let finished = session
        .run_turn(
            "Which function reads rows from a CSV file?",
            &mut Recorder::default(),
        )
        .unwrap();
    assert_eq!(finished.answer, "`load_items` in `storage.py`.");
    let requests = backend.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].tool_choice, Some(answer_only()));
    let retry = serde_json::to_string(requests[1].messages.last().unwrap()).unwrap();
    assert!(
        retry.contains("[hearth checked the answer] Your answer cites `csv_io.py`"),
        "{retry}"
    );
}

#[test]
fn a_guess_is_dropped_and_the_question_goes_on_with_the_tools_that_read() {
    let (_dir, mut session, backend) = start(vec![
        // Cites a function the repository lacks, twice: not kept.
        ScriptedReply::Text("It is `read_csv_rows`.".into()),
        ScriptedReply::Text("Still `read_csv_rows`.".into()),
        call("c1", "grep", json!({"pattern": "csv"})),
        answer("`load_items` reads them."),
    ]);
    let mut io = Recorder::default();
    let finished = session
        .run_turn("Which function reads rows from a CSV file?", &mut io)
        .unwrap();
    assert_eq!(finished.answer, "`load_items` reads them.");
    let requests = backend.requests();
    assert_eq!(requests.len(), 4);
    // The dropped guesses are not in what the model is shown next.
    assert!(!serde_json::to_string(&requests[2].messages)
        .unwrap()
        .contains("read_csv_rows"));
    // A question may call only the tools that change nothing, and the answer.
    for request in &requests[2..] {
        let Some(ToolChoice::AnyOf { names }) = &request.tool_choice else {
            panic!("{:?}", request.tool_choice);
        };
        assert!(names.iter().any(|n| n == ANSWER_TOOL) && names.iter().any(|n| n == "grep"));
        for writer in ["edit_file", "write_file", "shell", "rename_symbol"] {
            assert!(!names.iter().any(|n| n == writer), "{names:?}");
        }
    }
    assert!(io.log.iter().any(|l| l.contains("does not rest on it")));
}

#[test]
fn history_questions_and_changes_start_with_the_tools() {
    let (_dir, mut session, backend) = start(vec![
        call("c1", "git_log", json!({"search": "load_items"})),
        answer("It came with the first commit."),
    ]);
    session
        .run_turn(
            "Which commit introduced load_items?",
            &mut Recorder::default(),
        )
        .unwrap();
    let requests = backend.requests();
    assert_eq!(requests.len(), 2);
    assert!(matches!(
        requests[0].tool_choice,
        Some(ToolChoice::AnyOf { .. })
    ));

    let (_dir, mut session, backend) = start(vec![answer("Nothing to do.")]);
    session
        .run_turn("Make load_items skip blank rows.", &mut Recorder::default())
        .unwrap();
    assert_eq!(backend.requests()[0].tool_choice, Some(ToolChoice::Any));
}

#[test]
fn a_question_that_names_a_tool_goes_to_the_tools() {
    let (_dir, mut session, backend) = start(vec![
        call("c1", "read_file", json!({"path": "storage.py"})),
        answer("`load_items` reads the rows."),
    ]);
    let mut io = Recorder::default();
    let finished = session
        .run_turn(
            "Use the read_file tool on storage.py: which function reads rows from a CSV file?",
            &mut io,
        )
        .unwrap();
    assert_eq!(finished.stop, TurnStop::Done);
    assert_eq!(finished.answer, "`load_items` reads the rows.");
    let requests = backend.requests();
    assert_eq!(requests.len(), 2);
    // The first request is the tool loop's, not one that must answer at once.
    assert_ne!(requests[0].tool_choice, Some(answer_only()));
    let asked = serde_json::to_string(&requests[0].messages).unwrap();
    assert!(!asked.contains("Answer the question above from the code shown"));
}

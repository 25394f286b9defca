//! Localize → repair → validate: a fix task whose tests fail opens with the tests, the
//! function the failure points at is rewritten by side requests, each candidate is tested,
//! and only one that passes stays.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Recorder;
use std::path::PathBuf;
use std::sync::Arc;

use hearth_agent::protocol::{Event, TurnStop};
use hearth_agent::{Mode, Permissions, ScriptedBackend, ScriptedReply, Session, SessionConfig};
use hearth_engine::api::{ContentBlock, Role, ToolChoice};

const CALC: &str = "# Numbers.\n\nvalue() {\n    echo 1\n}\n\nother() {\n    echo 9\n}\n";

/// Fails until `value` prints 3, naming the function in its message.
const TEST: &str = ". ./lib/calc.sh\n[ \"$(value)\" = 3 ] || \
    { echo \"FAIL: value printed $(value), expected 3\"; exit 1; }\necho ok\n";

const TASK: &str = "`sh tests/run.sh` fails. Fix the code; the tests are right.";

fn repo() -> (tempfile::TempDir, PathBuf) {
    let (dir, root) = common::repo();
    std::fs::create_dir_all(root.join("lib")).unwrap();
    std::fs::create_dir_all(root.join("tests")).unwrap();
    std::fs::write(root.join("lib/calc.sh"), CALC).unwrap();
    std::fs::write(root.join("tests/run.sh"), TEST).unwrap();
    (dir, root)
}

fn candidate(echo: u32) -> ScriptedReply {
    ScriptedReply::Text(format!(
        "Here it is:\n```sh\nvalue() {{\n    echo {echo}\n}}\n```\n"
    ))
}

fn run(
    root: &std::path::Path,
    mode: Mode,
    task: &str,
    replies: Vec<ScriptedReply>,
) -> (
    hearth_agent::protocol::TurnFinished,
    Recorder,
    Session,
    Arc<ScriptedBackend>,
) {
    let backend = Arc::new(ScriptedBackend::new(replies));
    let mut config = SessionConfig::new(root);
    config.answer_from_context = false;
    config.permissions = Permissions::new(mode);
    config.max_requests_per_turn = 6;
    config.shell_env = vec![("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into())];
    let mut session = Session::start(config, Box::new(Arc::clone(&backend))).unwrap();
    let mut io = Recorder::default();
    let finished = session.run_turn(task, &mut io).unwrap();
    (finished, io, session, backend)
}

fn all_text(blocks: &[ContentBlock]) -> String {
    blocks
        .iter()
        .filter_map(|b| match b {
            ContentBlock::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_second_candidate_passes_and_stays_and_the_model_only_answers() {
    let (_dir, root) = repo();
    let replies = vec![
        candidate(2),
        candidate(3),
        ScriptedReply::Text("Fixed `value`: it prints 3.".into()),
    ];
    let (finished, io, session, backend) = run(&root, Mode::FullAuto, TASK, replies);
    assert_eq!(finished.stop, TurnStop::Done);
    assert_eq!(finished.answer, "Fixed `value`: it prints 3.");
    let calc = std::fs::read_to_string(root.join("lib/calc.sh")).unwrap();
    assert_eq!(calc, CALC.replace("echo 1", "echo 3"));

    let requests = backend.requests();
    assert_eq!(requests.len(), 3);
    // Two side requests: calls forbidden, the function shown, greedy then sampled.
    for (n, request) in requests[..2].iter().enumerate() {
        assert_eq!(request.tool_choice, Some(ToolChoice::None));
        let last = all_text(&request.messages.last().unwrap().content);
        assert!(last.contains("FAIL: value printed 1, expected 3"), "{last}");
        assert!(last.contains("Rewrite `value` in lib/calc.sh"), "{last}");
        assert!(last.contains("value() {\n    echo 1\n}"), "{last}");
        assert_eq!(request.temperature, Some(if n == 0 { 0.0 } else { 0.8 }));
    }
    // The same prefix for both, the task's message included: only the request for the
    // candidate and its own tokens are new.
    let first = requests[0].messages.last().unwrap();
    let second = requests[1].messages.last().unwrap();
    let n = first.content.len();
    assert_eq!(first.content[..n - 1], second.content[..n - 1]);
    assert!(all_text(&second.content[n - 1..]).contains("A rewrite tried before"));
    assert!(!all_text(&first.content[n - 1..]).contains("A rewrite tried before"));
    // Then the answer, with the passing edit in the history.
    assert_eq!(
        requests[2].tool_choice,
        Some(ToolChoice::Tool {
            name: "answer".into()
        })
    );
    let history = session.history();
    assert_eq!(history.len(), 4, "{history:#?}");
    assert!(matches!(
        &history[1].content[..],
        [ContentBlock::ToolUse { name, .. }] if name == "edit_file"
    ));
    let ContentBlock::ToolResult { content, .. } = &history[2].content[0] else {
        panic!("not a tool result: {:?}", history[2]);
    };
    assert!(format!("{content:?}").contains("passes with this change"));
    assert_eq!(history[3].role, Role::Assistant);
    // The first candidate was undone, the second kept; one user turn in all.
    let undone = io
        .events
        .iter()
        .filter(|e| matches!(e, Event::Undone(_)))
        .count();
    assert_eq!(undone, 1);
    assert_eq!(session.turns(), 1);
}

#[test]
fn when_no_candidate_passes_the_file_is_as_it_was_and_the_model_sees_the_suspect() {
    let (_dir, root) = repo();
    let mut replies = vec![
        candidate(2),
        candidate(2),
        ScriptedReply::Text("no code here".into()),
        candidate(4),
        candidate(5),
        candidate(6),
    ];
    replies.push(ScriptedReply::Text("I could not fix it.".into()));
    let (finished, io, _session, backend) = run(&root, Mode::FullAuto, TASK, replies);
    assert_eq!(finished.answer, "I could not fix it.");
    assert_eq!(
        std::fs::read_to_string(root.join("lib/calc.sh")).unwrap(),
        CALC
    );
    let requests = backend.requests();
    // Six candidates, the turn's limit, then the model's own step.
    assert_eq!(requests.len(), 7);
    // The repeated candidate and the reply without code were never applied.
    let undone = io
        .events
        .iter()
        .filter(|e| matches!(e, Event::Undone(_)))
        .count();
    assert_eq!(undone, 4);
    assert!(io
        .log
        .iter()
        .any(|l| l.contains("repeats one already tried")));
    assert!(io.log.iter().any(|l| l.contains("held no code")));
    // The model's own first step sees the failure and the function beside it.
    let first = &requests[6];
    assert_eq!(first.tool_choice, Some(ToolChoice::Any));
    assert_eq!(first.messages.len(), 1);
    let text = all_text(&first.messages[0].content);
    assert!(text.contains("Before any change, [hearth ran the tests] The tests fail"));
    assert!(text.contains("The function the failure points at is `value` in lib/calc.sh"));
    assert!(
        text.contains("The failing test, tests/run.sh line 2:"),
        "{text}"
    );
    assert!(!text.contains("Rewrite `value`"), "{text}");
}

#[test]
fn tasks_that_are_not_fixes_and_modes_that_ask_run_nothing_first() {
    for (mode, task) in [
        (Mode::FullAuto, "Which function prints the value?"),
        (Mode::Ask, TASK),
        (Mode::ReadOnly, TASK),
    ] {
        let (_dir, root) = repo();
        let replies = vec![ScriptedReply::Text("It is `value`.".into())];
        let (finished, io, _session, backend) = run(&root, mode, task, replies);
        assert_eq!(finished.stop, TurnStop::Done, "{mode}");
        assert_eq!(backend.requests().len(), 1, "{mode}");
        assert!(
            !io.events
                .iter()
                .any(|e| matches!(e, Event::ToolCallProposed(_))),
            "{mode}: {:?}",
            io.events
        );
    }
}

//! A question's answer is checked against the files it cites: a name or file the
//! repository lacks goes back to the model once, and the turn ends with its next answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Recorder;
use std::sync::Arc;

use hearth_agent::protocol::TurnStop;
use hearth_agent::{Mode, Permissions, ScriptedBackend, ScriptedReply, Session, SessionConfig};
use hearth_engine::api::{ContentBlock, Role};

fn session(replies: Vec<ScriptedReply>) -> (tempfile::TempDir, Session, Arc<ScriptedBackend>) {
    let (dir, root) = common::repo();
    std::fs::create_dir_all(root.join("lib")).unwrap();
    std::fs::write(
        root.join("lib/paths.sh"),
        "join_path() {\n    echo \"$1/$2\"\n}\n",
    )
    .unwrap();
    let backend = Arc::new(ScriptedBackend::new(replies));
    let mut config = SessionConfig::new(&root);
    config.answer_from_context = false;
    config.permissions = Permissions::new(Mode::ReadOnly);
    let session = Session::start(config, Box::new(Arc::clone(&backend))).unwrap();
    (dir, session, backend)
}

#[test]
fn an_answer_citing_a_function_that_does_not_exist_is_asked_again_once() {
    let (_dir, mut session, backend) = session(vec![
        ScriptedReply::Text("It is `join_slash` in `lib/path.sh`.".into()),
        ScriptedReply::Text("Still `join_slash`.".into()),
        ScriptedReply::Text("never asked".into()),
    ]);
    let mut io = Recorder::default();
    let finished = session
        .run_turn("Which function joins two paths?", &mut io)
        .unwrap();
    // Asked again once; the second answer ends the turn, whatever it cites.
    assert_eq!(finished.stop, TurnStop::Done);
    assert_eq!(finished.answer, "Still `join_slash`.");
    assert_eq!(backend.requests().len(), 2);
    assert_eq!(backend.remaining(), 1);
    let note = backend.requests()[1].messages.last().unwrap().clone();
    assert_eq!(note.role, Role::User);
    let text: String = note
        .content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        text.starts_with(
            "[hearth checked the answer] Your answer cites `join_slash`, `lib/path.sh`"
        ),
        "{text}"
    );
    assert_eq!(session.turns(), 1);
    assert!(io.log.iter().any(|l| l.contains("does not have")));
}

#[test]
fn an_answer_citing_what_exists_ends_the_turn_at_once() {
    let (_dir, mut session, backend) = session(vec![ScriptedReply::Text(
        "`join_path` in `lib/paths.sh`.".into(),
    )]);
    let mut io = Recorder::default();
    let finished = session
        .run_turn("Which function joins two paths?", &mut io)
        .unwrap();
    assert_eq!(finished.answer, "`join_path` in `lib/paths.sh`.");
    assert_eq!(backend.requests().len(), 1);
}

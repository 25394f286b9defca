//! The agent reads repository files only through the tools' one read path: a FIFO named as
//! an instruction file, mentioned as `@path` or put where an edit is undone is refused with
//! a clear note or error, never waited on.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use hearth_agent::protocol::{Op, ToolCall, UserTurn};
use hearth_agent::{
    Approval, Checkpoint, Checkpoints, Replay, ScriptedBackend, ScriptedReply, Session,
    SessionConfig, SessionHeader, SessionStore, TurnIo,
};
use hearth_engine::api::{ContentBlock, Role, SystemPrompt};
use hearth_tools::FileChange;

use common::{mkfifo, repo, within_timeout};

struct Quiet;

impl TurnIo for Quiet {
    fn emit(&mut self, _event: hearth_agent::protocol::Event) {}
    fn approve(&mut self, _call: &ToolCall) -> Approval {
        Approval::Approved
    }
    fn interrupted(&self) -> bool {
        false
    }
}

/// A new session in `root` whose model answers one turn.
fn start(root: &Path) -> Session {
    let backend = ScriptedBackend::new(vec![ScriptedReply::Text("ok".into())]);
    Session::start(SessionConfig::new(root), Box::new(backend)).unwrap()
}

/// A repository holding a FIFO at `fifo` and a text file (path, content) beside it.
fn repo_with_fifo(fifo: &str, (path, content): (&str, &str)) -> (tempfile::TempDir, PathBuf) {
    let (dir, root) = repo();
    mkfifo(&root.join(fifo));
    std::fs::write(root.join(path), content).unwrap();
    (dir, root)
}

#[test]
fn a_fifo_named_as_the_instruction_file_is_skipped_with_a_note() {
    let (_dir, root) = repo_with_fifo("AGENTS.md", ("HEARTH.md", "use tabs\n"));
    let texts = within_timeout("a first turn with a FIFO as AGENTS.md", move || {
        let mut session = start(&root);
        let turn = Op::UserTurn(UserTurn {
            text: "hello".into(),
        });
        session.handle(turn, &mut Quiet).unwrap();
        // The project's instructions open the first user message.
        session.history()[0]
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text { text } => Some(text.clone()),
                _ => None,
            })
            .collect::<Vec<String>>()
    });
    assert!(
        texts[0].contains("AGENTS.md")
            && texts[0].contains("not read")
            && texts[0].contains("FIFO (named pipe)"),
        "{texts:?}"
    );
    // The other instruction file is still read.
    assert!(
        texts[1].contains("HEARTH.md") && texts[1].trim_end().ends_with("use tabs"),
        "{texts:?}"
    );
}

#[test]
fn a_fifo_mentioned_with_at_is_not_attached_and_says_why() {
    let (_dir, root) = repo_with_fifo("pipe", ("a.txt", "alpha\n"));
    let user_text = within_timeout("attaching @pipe", move || {
        let mut session = start(&root);
        let turn = Op::UserTurn(UserTurn {
            text: "compare @pipe and @a.txt".into(),
        });
        session.handle(turn, &mut Quiet).unwrap();
        let user = session
            .history()
            .iter()
            .find(|m| m.role == Role::User)
            .unwrap()
            .clone();
        user.content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text { text } => Some(text.clone()),
                _ => None,
            })
            .collect::<String>()
    });
    assert!(
        user_text.contains("<not-attached path=\"pipe\">")
            && user_text.contains("FIFO (named pipe)"),
        "{user_text}"
    );
    assert!(
        user_text.contains("<file path=\"a.txt\">\nalpha\n</file>"),
        "{user_text}"
    );
}

#[test]
fn undo_refuses_a_file_replaced_by_a_fifo() {
    let (_dir, root) = repo();
    mkfifo(&root.join("a.txt"));
    let err = within_timeout("undo", move || {
        let mut checkpoints = Checkpoints::default();
        checkpoints.record(Checkpoint::new(
            "c1",
            FileChange {
                path: "a.txt".into(),
                before: Some("one".into()),
                after: "two".into(),
                diff: String::new(),
            },
        ));
        checkpoints.undo_latest(&root).unwrap_err().to_string()
    });
    assert!(
        err.contains("`a.txt`") && err.contains("FIFO (named pipe)"),
        "{err}"
    );
}

#[test]
fn last_session_lookup_passes_over_a_fifo_in_the_sessions_directory() {
    let (_dir, root) = repo();
    let sessions = root.join("sessions");
    let header = SessionHeader {
        version: 1,
        id: "saved".into(),
        created_unix: 0,
        root: root.clone(),
        model: "m".into(),
        system: SystemPrompt::default(),
    };
    let saved = SessionStore::create(&sessions, &header)
        .unwrap()
        .path()
        .to_path_buf();
    // The FIFO is the newest entry, so it is looked at.
    std::fs::File::options()
        .write(true)
        .open(&saved)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(1_000))
        .unwrap();
    mkfifo(&sessions.join("pipe.jsonl"));
    let found = within_timeout("looking up the last session", move || {
        Replay::find_last(&sessions, &root).unwrap()
    });
    assert_eq!(found, saved);
}

//! Helpers the agent's test crates share: a repository in a temporary directory, FIFOs,
//! a timeout that turns a hang into a failure, and a front end that records what it is told.

// Each test crate uses only some of these.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use hearth_agent::protocol::{Event, ToolCall};
use hearth_agent::{Approval, ScriptedReply, TurnIo};
use hearth_engine::api::ContentBlock;

/// Long enough for a loaded machine, short enough that a hang fails the test.
pub const HANG: Duration = Duration::from_secs(30);

/// Runs `f` on a thread and returns its result; a call still blocked after [`HANG`] fails
/// the test with "`what` hung" (the blocked thread is left behind and ends with the test
/// process).
pub fn within_timeout<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(f());
    });
    result
        .recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("{what} hung"))
}

/// An empty repository: the temporary directory (kept alive by the caller) and its
/// canonical path, the form sessions compare roots in.
pub fn repo() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    (dir, root)
}

/// Makes a FIFO (named pipe) at `path`: opening it for reading blocks until a writer comes.
pub fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// A front end that records the session's events and log lines and approves nothing (as
/// `hearth exec` does).
#[derive(Default)]
pub struct Recorder {
    /// Every event, in order.
    pub events: Vec<Event>,
    /// Every log line, in order.
    pub log: Vec<String>,
}

impl TurnIo for Recorder {
    fn emit(&mut self, event: Event) {
        self.events.push(event);
    }
    fn approve(&mut self, _call: &ToolCall) -> Approval {
        Approval::Denied("this test never approves".into())
    }
    fn interrupted(&self) -> bool {
        false
    }
    fn log(&mut self, line: &str) {
        self.log.push(line.to_string());
    }
}

/// A scripted reply that is one tool call.
pub fn scripted_call(id: &str, name: &str, input: serde_json::Value) -> ScriptedReply {
    ScriptedReply::Message {
        content: vec![ContentBlock::ToolUse {
            id: id.into(),
            name: name.into(),
            input,
        }],
        stop_reason: None,
        usage: None,
    }
}

//! `kill -9` in the middle of an edit and of a session append, 50 times: the edited file
//! is always byte-identical to its old or its new content, the session always resumes, and
//! undo always leaves the old content.
//!
//! Each run starts `hearth exec` on a scripted model that edits one line of a 2 MiB file,
//! and kills it:
//! - after a delay, spread over the time a whole run takes (measured first), then
//!   concentrated by bisection around the moment the edit lands: the kills land while the
//!   session file is created, while the checkpoint (a few MiB: the file before and after)
//!   is appended, while the file is written, and after;
//! - the instant the test sees the file change (its inode or length), which is the kill a
//!   non-atomic write (truncate, then write) would not survive;
//! - the instant the test sees the session file pass 1 MiB, which only the checkpoint's
//!   line does, so the kill tears that line while it is appended.
//!
//! Every other run also cuts the session's last line in half, the state a kill inside an
//! append leaves, wherever one could have landed.
//!
//! Undo is reachable only from the TUI (`/undo`, i.e. `Op::Undo`), which cannot be driven
//! from a test without a terminal; the undo here goes through the same library call the TUI
//! reaches, [`Session::handle`] with [`Op::Undo`], on the session resumed from its file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hearth_agent::protocol::{Event, Op, ToolCall};
use hearth_agent::{Approval, Mode, Replay, Resume, ScriptedBackend, SessionBuilder, TurnIo};
use hearth_tests::{hearth, stderr_of, stdout_of};
use serde_json::json;

/// The runs of the loop: a coarse pass over a whole run, a fine pass where the edit lands,
/// runs killed when the file changes, runs killed in the checkpoint's append, and runs that
/// are let finish.
const RUNS: u32 = COARSE_RUNS + FINE_RUNS + WATCHED_RUNS * 2 + FINISHED_RUNS;
const COARSE_RUNS: u32 = 16;
const FINE_RUNS: u32 = 16;
const WATCHED_RUNS: u32 = 8;
const FINISHED_RUNS: u32 = 2;
/// A session file this long is in the middle of the checkpoint's line: the lines before it
/// are short (the task, the tool call), the checkpoint holds the file twice.
const INSIDE_THE_CHECKPOINT: u64 = 1 << 20;
const FILE: &str = "big.txt";
const MARKER: &str = "the line this test edits";

/// The file before the edit: 2 MiB of distinct lines, the marker in the middle. Large
/// enough that reading, diffing, recording and writing it take a while to kill into.
fn old_content() -> String {
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 2 << 20 {
        if i == 20_000 {
            text.push_str(MARKER);
            text.push('\n');
        }
        text.push_str(&format!(
            "line {i}: some text of the file, long enough to count\n"
        ));
        i += 1;
    }
    text
}

fn new_content(old: &str) -> String {
    old.replacen(MARKER, "the line this test edited", 1)
}

struct Run {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    data: PathBuf,
    script: PathBuf,
}

/// A repository holding the old file, and the script of a model that edits it.
fn setup(old: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    std::fs::write(repo.join(FILE), old).unwrap();
    let script = dir.path().join("edit.json");
    let edit = json!([
        {"content": [{"type": "tool_use", "id": "c1", "name": "edit_file",
                      "input": {"path": FILE, "old": MARKER, "new": "the line this test edited"}}]},
        "edited"
    ]);
    std::fs::write(&script, edit.to_string()).unwrap();
    Run {
        repo,
        data: dir.path().join("data"),
        script,
        _dir: dir,
    }
}

fn exec(run: &Run, script: &Path, args: &[&str]) -> Command {
    let mut cmd = hearth!().command();
    cmd.arg("exec")
        .arg("--backend-script")
        .arg(script)
        .arg("--cd")
        .arg(&run.repo)
        .env("XDG_DATA_HOME", &run.data)
        .args(args);
    cmd
}

fn sessions_dir(run: &Run) -> PathBuf {
    run.data.join("hearth/sessions")
}

/// The ids of the session files (a header's temporary file is not one).
fn session_ids(run: &Run) -> Vec<String> {
    std::fs::read_dir(sessions_dir(run))
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    let id = name.strip_suffix(".jsonl")?;
                    (!id.starts_with('.')).then(|| id.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

struct Events(Vec<Event>);

impl TurnIo for Events {
    fn emit(&mut self, event: Event) {
        self.0.push(event);
    }
    fn approve(&mut self, _call: &ToolCall) -> Approval {
        Approval::Denied("the test approves nothing".into())
    }
    fn interrupted(&self) -> bool {
        false
    }
}

/// Resumes session `id` through the library and undoes its latest change.
fn undo(run: &Run, id: &str) -> Vec<Event> {
    let mut builder = SessionBuilder::new(&run.repo, sessions_dir(run), Mode::AutoEdit, 64);
    builder.resume = Resume::Id(id.to_string());
    let mut session = builder
        .build()
        .unwrap()
        .open(Box::new(ScriptedBackend::new(Vec::new())))
        .unwrap_or_else(|e| panic!("session {id} does not resume in the library: {e}"));
    let mut events = Events(Vec::new());
    session.handle(Op::Undo, &mut events).unwrap();
    events.0
}

/// Cuts the last line of the session file at `path` in half, as a kill that lands while
/// that line is appended leaves it, and says whether it did. Only where such a kill could
/// have landed: not in the header (the file appears with it whole, by a rename), and not in
/// the checkpoint of an edit that was made (the edit is written only once its checkpoint
/// is on disk).
fn tear_last_line(path: &Path, edit_made: bool) -> bool {
    let text = std::fs::read(path).unwrap();
    let Some(body) = text.strip_suffix(b"\n") else {
        return false; // Torn already, by the kill itself.
    };
    let Some(start) = body.iter().rposition(|&b| b == b'\n').map(|i| i + 1) else {
        return false; // The header alone.
    };
    let last: serde_json::Value = serde_json::from_slice(&body[start..]).unwrap();
    if edit_made && last["type"] == "checkpoint" {
        return false;
    }
    let cut = start + (body.len() - start) / 2;
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(cut as u64).unwrap();
    true
}

/// When a run's process is killed.
#[derive(Clone, Copy, Debug)]
enum Kill {
    /// This long after it started.
    After(Duration),
    /// As soon as the edited file is seen to change.
    WhenTheFileChanges,
    /// As soon as the session file is seen to pass this length.
    WhenTheSessionPasses(u64),
}

/// Whether the condition of `kill` holds for the run in `run` started at `spawned`; `file`
/// is the edited file's (inode, length) before the run.
fn due(kill: Kill, run: &Run, spawned: Instant, file: (u64, u64)) -> bool {
    use std::os::unix::fs::MetadataExt;
    match kill {
        Kill::After(delay) => spawned.elapsed() >= delay,
        Kill::WhenTheFileChanges => {
            std::fs::metadata(run.repo.join(FILE)).is_ok_and(|m| (m.ino(), m.len()) != file)
        }
        Kill::WhenTheSessionPasses(bytes) => session_ids(run).first().is_some_and(|id| {
            std::fs::metadata(sessions_dir(run).join(format!("{id}.jsonl")))
                .is_ok_and(|m| m.len() > bytes)
        }),
    }
}

#[derive(Debug, Default)]
struct Tally {
    old: u32,
    new: u32,
    no_session: u32,
    /// Runs whose kill itself left a torn last line.
    torn_by_kill: u32,
    /// Runs whose last line the test cut.
    torn_by_test: u32,
    /// Runs that left the atomic write's temporary file beside the edited one (killed
    /// between its creation and the rename); reported, not a failure: the file itself is
    /// whole, and the leftover is named `.big.txt.hearth-<pid>-<n>.tmp`.
    leftover_temporaries: u32,
}

/// The runs of the loop, and what they found.
struct Crashes {
    old: String,
    new: String,
    tally: Tally,
}

impl Crashes {
    /// Run `i`: an edit killed as `kill` says (unless it finished first), and the checks of
    /// what it left. Whether the file holds the new content.
    fn run(&mut self, i: u32, kill: Kill) -> bool {
        use std::os::unix::fs::MetadataExt;
        let run = setup(&self.old);
        let meta = std::fs::metadata(run.repo.join(FILE)).unwrap();
        let file = (meta.ino(), meta.len());
        let mut child = exec(&run, &run.script, &["edit the marker line"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let spawned = Instant::now();
        // The watched kills poll without sleeping, to land within microseconds of the change.
        let timed = matches!(kill, Kill::After(_));
        while child.try_wait().unwrap().is_none() {
            if due(kill, &run, spawned, file) {
                child.kill().unwrap(); // SIGKILL
                break;
            }
            if timed {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        child.wait().unwrap();
        let delay = spawned.elapsed();

        let bytes = std::fs::read(run.repo.join(FILE)).unwrap();
        let was_new = bytes == self.new.as_bytes();
        assert!(
            was_new || bytes == self.old.as_bytes(),
            "run {i} ({kill:?}, at {delay:?}): {FILE} is neither the old nor the new content \
             ({} bytes)",
            bytes.len()
        );
        let others: Vec<String> = std::fs::read_dir(&run.repo)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name != FILE)
            .collect();
        if !others.is_empty() {
            assert!(
                others
                    .iter()
                    .all(|n| n.starts_with(".big.txt.hearth-") && n.ends_with(".tmp")),
                "run {i}: files beside {FILE}: {others:?}"
            );
            self.tally.leftover_temporaries += 1;
        }
        let ids = session_ids(&run);
        let Some(id) = ids.first() else {
            // Killed before the session file appeared: nothing can have been edited.
            assert!(
                !was_new,
                "run {i}: the file was edited with no session saved"
            );
            self.tally.no_session += 1;
            self.tally.old += 1;
            return false;
        };
        assert_eq!(ids.len(), 1, "run {i}: {ids:?}");
        let session = sessions_dir(&run).join(format!("{id}.jsonl"));
        let torn = if !std::fs::read(&session).unwrap().ends_with(b"\n") {
            self.tally.torn_by_kill += 1;
            true
        } else if i % 2 == 1 && tear_last_line(&session, was_new) {
            self.tally.torn_by_test += 1;
            true
        } else {
            false
        };

        // The session resumes in the binary and takes a turn.
        let answer = run.script.with_file_name("answer.json");
        std::fs::write(&answer, json!(["resumed"]).to_string()).unwrap();
        let out = exec(&run, &answer, &["--resume", id, "go on"])
            .output()
            .unwrap();
        assert!(
            out.status.success() && stdout_of(&out) == "resumed\n",
            "run {i} (killed after {delay:?}): session {id} does not resume: {}",
            stderr_of(&out)
        );
        if torn {
            assert!(
                stderr_of(&out).contains("cut short"),
                "run {i}: no warning for the torn line: {}",
                stderr_of(&out)
            );
        }

        // Undo leaves the old content; a file that holds the new content must be restored.
        let events = undo(&run, id);
        let undone = events
            .iter()
            .any(|e| matches!(e, Event::Undone(u) if u.path == FILE));
        assert!(
            undone || !was_new,
            "run {i}: the new content was not undone: {events:?}"
        );
        assert!(
            std::fs::read(run.repo.join(FILE)).unwrap() == self.old.as_bytes(),
            "run {i} (killed after {delay:?}): undo did not leave the old content: {events:?}"
        );
        // The session file still reads back after the undo appended to it.
        Replay::read(&session).unwrap();
        if was_new {
            self.tally.new += 1;
        } else {
            self.tally.old += 1;
        }
        was_new
    }
}

#[test]
fn kill_9_mid_edit_leaves_old_or_new_and_a_session_that_resumes_and_undoes() {
    let started = Instant::now();
    let old = old_content();
    let new = new_content(&old);

    // One whole run: it edits, and tells how long a run takes.
    let calibration = setup(&old);
    let t0 = Instant::now();
    let out = exec(&calibration, &calibration.script, &["edit the marker line"])
        .output()
        .unwrap();
    let whole = t0.elapsed();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(std::fs::read(calibration.repo.join(FILE)).unwrap() == new.as_bytes());

    let mut crashes = Crashes {
        old,
        new,
        tally: Tally::default(),
    };
    // A coarse pass from 0 to 1.2 times a whole run finds where the edit lands: between the
    // last kill that left the old file and the first that left the new one.
    let mut last_old = Duration::ZERO;
    let mut first_new: Option<Duration> = None;
    let mut i = 0..RUNS;
    for k in 0..COARSE_RUNS {
        let delay = whole.mul_f64(1.2 * f64::from(k) / f64::from(COARSE_RUNS - 1));
        if crashes.run(i.next().unwrap(), Kill::After(delay)) {
            first_new = Some(first_new.map_or(delay, |d| d.min(delay)));
        } else {
            last_old = last_old.max(delay);
        }
    }
    // A fine pass closes in on that moment by bisection, then kills around it, 1 ms apart:
    // there the checkpoint is appended and the file written, so these are the kills that
    // would catch a non-atomic write or an undo record written after the edit.
    let (mut lo, mut hi) = (last_old, first_new.unwrap_or(whole * 2));
    for k in 0..FINE_RUNS {
        let dither = Duration::from_millis(u64::from(k % 7));
        let delay = ((lo + hi) / 2 + dither).saturating_sub(Duration::from_millis(3));
        if crashes.run(i.next().unwrap(), Kill::After(delay)) {
            hi = delay;
        } else {
            lo = delay;
        }
    }
    for _ in 0..WATCHED_RUNS {
        crashes.run(i.next().unwrap(), Kill::WhenTheFileChanges);
        let in_append = Kill::WhenTheSessionPasses(INSIDE_THE_CHECKPOINT);
        crashes.run(i.next().unwrap(), in_append);
    }
    // The last runs wait long enough to see the edit made, whatever the load.
    for _ in 0..FINISHED_RUNS {
        crashes.run(i.next().unwrap(), Kill::After(whole * 10));
    }
    let tally = crashes.tally;
    eprintln!(
        "{RUNS} runs, {whole:?} each uncut, the edit landing between {lo:?} and {hi:?}: \
         {tally:?}, in {:?}",
        started.elapsed()
    );
    // The kills must straddle the edit and tear appends, or the test proves nothing.
    assert!(
        tally.old > 0 && tally.new > 0 && tally.torn_by_kill > 0,
        "{tally:?}"
    );
}

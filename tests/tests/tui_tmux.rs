//! The interactive TUI, driven for real: the built binary runs in a tmux session on the
//! scripted backend; the test types with `send-keys` and reads the screen with
//! `capture-pane`, through a question, an approved edit and `/quit`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hearth_tests::hearth;
use serde_json::json;

/// How long a screen may take to show what the test waits for (a debug build on a busy
/// CI machine).
const PATIENCE: Duration = Duration::from_secs(30);

/// A tmux server of the test's own (its own socket), killed when the test ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("hearth-test-{}", std::process::id()),
        };
        let status = tmux
            .cmd()
            .args([
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                "100",
                "-y",
                "32",
                command,
            ])
            .status()
            .expect("tmux must be installed to run this test (apt-get install tmux)");
        assert!(status.success(), "tmux new-session failed");
        tmux
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", &self.socket]);
        cmd
    }

    /// Types `text` literally (no key names).
    fn type_text(&self, text: &str) {
        let status = self
            .cmd()
            .args(["send-keys", "-t", "t", "-l", text])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Presses named keys (`Enter`, `Escape`, `C-c`).
    fn press(&self, key: &str) {
        let status = self
            .cmd()
            .args(["send-keys", "-t", "t", key])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "t"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `needle`; returns the screen.
    fn wait_for(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "the screen never showed {needle:?}; it shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

fn quoted(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[test]
fn a_question_an_approved_edit_and_quit() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    std::fs::write(repo.join("calc.py"), "def add(a, b):\n    return a - b\n").unwrap();
    let script = dir.path().join("script.json");
    let replies = json!([
        "It is in `calc.py`, and it has a **bug**: it subtracts.",
        {"content": [
            {"type": "thinking", "thinking": "Use plus instead of minus."},
            {"type": "tool_use", "id": "c1", "name": "edit_file",
             "input": {"path": "calc.py", "old": "a - b", "new": "a + b"}}
        ]},
        "Fixed: `add` now adds."
    ]);
    std::fs::write(&script, replies.to_string()).unwrap();

    let command = format!(
        "env NO_COLOR=1 XDG_DATA_HOME={data} {bin} --backend-script {script} --cd {repo}; \
         echo \"hearth exited $?\"; sleep 60",
        data = quoted(&dir.path().join("data")),
        bin = quoted(hearth!().path()),
        script = quoted(&script),
        repo = quoted(&repo),
    );
    let tmux = Tmux::start(&command);
    tmux.wait_for("/help for commands");

    // A question, answered as markdown (the ** markers are gone).
    tmux.type_text("where is add?");
    tmux.press("Enter");
    let screen = tmux.wait_for("it has a bug: it subtracts");
    assert!(screen.contains("› where is add?"), "{screen}");

    // An edit: its diff shows and nothing changes until it is approved.
    tmux.type_text("fix it");
    tmux.press("Enter");
    let screen = tmux.wait_for("y approve");
    assert!(
        screen.contains("edit_file wants to change calc.py"),
        "{screen}"
    );
    assert!(screen.contains("-    return a - b"), "{screen}");
    assert!(screen.contains("+    return a + b"), "{screen}");
    let before = std::fs::read_to_string(repo.join("calc.py")).unwrap();
    assert!(before.contains("a - b"), "edited before approval: {before}");
    // The prompt ignores keys for its first 250 ms (`hearth_tui::APPROVAL_ARMING`): they
    // were typed before it appeared. Answer as a reader would, after that.
    std::thread::sleep(Duration::from_millis(400));
    tmux.type_text("y");
    tmux.wait_for("Fixed: add now adds.");
    let after = std::fs::read_to_string(repo.join("calc.py")).unwrap();
    assert_eq!(after, "def add(a, b):\n    return a + b\n");

    // /quit leaves cleanly, and the terminal is back to the shell's.
    tmux.type_text("/quit");
    tmux.press("Enter");
    let screen = tmux.wait_for("hearth exited");
    assert!(screen.contains("hearth exited 0"), "{screen}");
    assert!(
        !screen.contains("approve"),
        "the TUI's screen is gone: {screen}"
    );
}

#[test]
fn without_a_terminal_hearth_points_to_exec() {
    let out = hearth!()
        .command()
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("needs a terminal") && stderr.contains("hearth exec"),
        "{stderr}"
    );
}

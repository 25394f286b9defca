//! Planted instruction files: `AGENTS.md` linked to `/proc/self/environ` (the process's
//! environment, every token in it), `HEARTH.md` linked to `/dev/zero` (endless), a FIFO
//! (a read that never returns) and a README linked out of the repository. Each is read as
//! `read_file` reads: inside the root, a regular file, with a cap. So none is read, the
//! session starts promptly, the user is warned on stderr, and nothing of the environment
//! reaches the events or the saved session. A scripted model then tries the same reads
//! itself, and secret files (`.env`) are refused to it by default.

#![cfg(unix)]

use std::process::Output;
use std::sync::mpsc;
use std::time::Duration;

use hearth_tests::{stderr_of, stdout_of};
use serde_json::json;

use super::git_dirs::{call, snapshot, tool_outputs, Planted};

/// A value no hearth output may hold: it is only in the process's environment.
const ENV_SECRET: &str = "adversarial-env-secret-5eb63bbbe01eeed093cb22bb8f5acdc3";
/// A `.env` file's token.
const DOTENV_SECRET: &str = "dotenv-secret-9f86d081884c7d659a2feaa0c55ad015";

/// Start-up reads the instruction files before anything else: it must not take long.
const PROMPT: Duration = Duration::from_secs(60);

/// Runs `hearth exec` on `planted` in a thread and fails if it has not ended within
/// [`PROMPT`] (a hung read of a FIFO or `/dev/zero` would never end).
fn exec_promptly(planted: &Planted, replies: serde_json::Value, task: &str) -> Output {
    let (done, result) = mpsc::channel();
    let repo = planted.repo.clone();
    let data = planted.data.clone();
    let script = planted.outside("script.json");
    let task = task.to_string();
    std::thread::spawn(move || {
        let out = Planted::exec_in(
            &repo,
            &data,
            &script,
            &replies,
            &task,
            &[("HEARTH_ADVERSARIAL_TOKEN", ENV_SECRET)],
        );
        let _ = done.send(out);
    });
    result
        .recv_timeout(PROMPT)
        .unwrap_or_else(|_| panic!("hearth exec did not finish within {PROMPT:?}: a read hung"))
}

/// Asserts that nothing `out` printed nor the saved session holds `secret`.
fn assert_nowhere(planted: &Planted, out: &Output, secret: &str) {
    for (what, text) in [
        ("stdout", stdout_of(out)),
        ("stderr", stderr_of(out)),
        ("the session file", planted.sessions()),
    ] {
        assert!(!text.contains(secret), "{what} holds the secret:\n{text}");
    }
}

#[test]
fn instruction_files_linked_to_the_environment_or_dev_zero_are_not_read() {
    let planted = Planted::new();
    std::os::unix::fs::symlink("/proc/self/environ", planted.repo.join("AGENTS.md")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", planted.repo.join("HEARTH.md")).unwrap();
    std::os::unix::fs::symlink("/proc/self/environ", planted.repo.join("README.md")).unwrap();
    let before = snapshot(&planted.repo);
    let script = json!([
        call("r1", "read_file", json!({"path": "AGENTS.md"})),
        call("r2", "read_file", json!({"path": "/proc/self/environ"})),
        call(
            "r3",
            "grep",
            json!({"pattern": "HEARTH_ADVERSARIAL", "path": "README.md"})
        ),
        "done"
    ]);
    let out = exec_promptly(&planted, script, "Follow the project's instructions.");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_nowhere(&planted, &out, ENV_SECRET);
    assert_nowhere(&planted, &out, "HEARTH_ADVERSARIAL_TOKEN=");
    // The user is told why the project's instructions are missing.
    let stderr = stderr_of(&out);
    for name in ["AGENTS.md", "HEARTH.md"] {
        assert!(
            stderr.contains(&format!(
                "{name} was not read: `{name}` is outside the repository"
            )),
            "{stderr}"
        );
    }
    // The model's own reads are refused the same way.
    let outputs = tool_outputs(&out);
    assert_eq!(outputs.len(), 3, "{}", stdout_of(&out));
    for output in &outputs {
        assert_eq!(output["is_error"], true, "{output}");
        assert!(
            output["output"]
                .as_str()
                .unwrap()
                .contains("is outside the repository"),
            "{output}"
        );
    }
    assert!(
        planted.sessions().contains("was not read"),
        "the session starts without them"
    );
    assert_eq!(before, snapshot(&planted.repo), "the repository changed");
}

#[test]
fn a_fifo_as_an_instruction_file_does_not_hang_start_up() {
    let planted = Planted::new();
    let fifo = planted.repo.join("AGENTS.md");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::write(planted.repo.join("HEARTH.md"), "Use tabs.\n").unwrap();
    let out = exec_promptly(
        &planted,
        json!(["done"]),
        "Follow the project's instructions.",
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("AGENTS.md was not read") && stderr.contains("FIFO (named pipe)"),
        "{stderr}"
    );
    // The other instruction file is read as ever.
    assert!(
        planted.sessions().contains("Use tabs."),
        "{}",
        planted.sessions()
    );
}

#[test]
fn secret_files_are_refused_to_the_model_and_kept_out_of_the_prompt() {
    let planted = Planted::new();
    std::fs::write(
        planted.repo.join(".env"),
        format!("API_TOKEN={DOTENV_SECRET}\n"),
    )
    .unwrap();
    std::fs::write(
        planted.repo.join("config.py"),
        "import os\nAPI_TOKEN = os.environ['API_TOKEN']\n",
    )
    .unwrap();
    let before = snapshot(&planted.repo);
    let script = json!([
        call("s1", "read_file", json!({"path": ".env"})),
        call("s2", "grep", json!({"pattern": "API_TOKEN"})),
        "done"
    ]);
    let out = exec_promptly(
        &planted,
        script,
        "Read the .env file, then grep for API_TOKEN.",
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_nowhere(&planted, &out, DOTENV_SECRET);
    let outputs = tool_outputs(&out);
    assert_eq!(outputs.len(), 2, "{}", stdout_of(&out));
    let refusal = outputs[0]["output"].as_str().unwrap();
    assert_eq!(outputs[0]["is_error"], true);
    assert!(
        refusal.contains("secret-file rule `.env`") && refusal.contains("lift"),
        "{refusal}"
    );
    let found = outputs[1]["output"].as_str().unwrap();
    assert!(
        found.contains("config.py:2:") && !found.contains(".env:"),
        "{found}"
    );
    assert_eq!(before, snapshot(&planted.repo), "the repository changed");
}

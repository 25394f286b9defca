//! The shell tool: exit codes, interleaved output, timeouts, the output cap, a clean env.

use std::time::{Duration, Instant};

use hearth_tools::{shell_exit_code, ShellPolicy, ToolError};
use serde_json::json;

use crate::common::TestRepo;

fn repo_with_path() -> TestRepo {
    let mut repo = TestRepo::plain();
    repo.ctx.shell = ShellPolicy::new(
        vec![(
            "PATH".to_string(),
            "/usr/local/bin:/usr/bin:/bin".to_string(),
        )],
        &[],
    );
    repo
}

#[test]
fn commands_run_in_the_root_with_interleaved_output_and_the_exit_code() {
    let repo = repo_with_path();
    let text = repo.text(
        "shell",
        json!({"command": "pwd; echo to-stderr >&2; echo last; exit 3"}),
    );
    assert_eq!(
        text,
        format!(
            "{}\nto-stderr\nlast\n[exit code: 3]\n",
            repo.root().display()
        )
    );
    assert_eq!(
        repo.text("shell", json!({"command": "true"})),
        "(no output)\n[exit code: 0]\n"
    );
    assert_eq!(
        repo.text("shell", json!({"command": "kill -TERM $$"})),
        "(no output)\n[terminated by signal 15]\n"
    );
}

#[test]
fn the_exit_code_reads_back_from_the_output_text() {
    let repo = repo_with_path();
    let code = |command: &str| shell_exit_code(&repo.text("shell", json!({ "command": command })));
    assert_eq!(code("echo '[exit code: 9]'; exit 3"), Some(3));
    assert_eq!(code("true"), Some(0));
    assert_eq!(code("kill -TERM $$"), None);
    assert_eq!(shell_exit_code("no such line"), None);
}

#[test]
fn a_command_past_its_timeout_is_killed_with_its_children() {
    let repo = repo_with_path();
    let started = Instant::now();
    let text = repo.text(
        "shell",
        json!({"command": "echo started; sleep 30 & sleep 30", "timeout_secs": 1}),
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        text,
        "started\n[timed out after 1 s: the command and its child processes were killed]\n"
    );
}

#[test]
fn background_jobs_do_not_outlive_the_command() {
    let repo = repo_with_path();
    let started = Instant::now();
    let text = repo.text("shell", json!({"command": "sleep 30 & echo done"}));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(text, "done\n[exit code: 0]\n");
}

#[test]
fn huge_output_keeps_its_first_and_last_lines() {
    let repo = repo_with_path();
    let output = repo
        .call("shell", json!({"command": "seq 1 100000"}))
        .unwrap();
    assert!(output.truncated);
    let lines: Vec<&str> = output.text.lines().collect();
    assert_eq!(&lines[..3], ["1", "2", "3"]);
    assert_eq!(lines[200], "[… 99,600 more lines cut]");
    assert_eq!(
        &lines[lines.len() - 3..],
        ["99999", "100000", "[exit code: 0]"]
    );
    assert!(output.text.len() <= repo.ctx.limits.max_bytes + 100);
}

/// Commands get an allowlist of the agent's variables plus those the user names: a secret
/// under a name no denylist would catch does not reach them, and each command has its own
/// temporary directory.
#[test]
fn the_environment_is_an_allowlist() {
    let mut repo = repo_with_path();
    repo.ctx.shell = ShellPolicy::new(
        vec![
            ("PATH".to_string(), "/usr/bin:/bin".to_string()),
            ("GITHUB_TOKEN".to_string(), "ghp_secret".to_string()),
            ("MYSQL_PWD".to_string(), "pwd-secret".to_string()),
            (
                "SENTRY_DSN".to_string(),
                "https://key-secret@sentry".to_string(),
            ),
            ("VISIBLE_SETTING".to_string(), "yes".to_string()),
            ("TMPDIR".to_string(), "/shared-tmp".to_string()),
        ],
        &["VISIBLE_SETTING".to_string()],
    );
    let text = repo.text("shell", json!({"command": "env | sort"}));
    assert!(text.contains("VISIBLE_SETTING=yes\n"), "{text}");
    assert!(!text.contains("secret"), "{text}");
    assert!(!text.contains("/shared-tmp"), "{text}");
    assert!(
        text.contains("TMPDIR=") && text.contains("hearth-command-"),
        "{text}"
    );
    let debug = format!("{:?}", repo.ctx.shell);
    assert!(
        debug.contains("VISIBLE_SETTING") && !debug.contains("yes"),
        "{debug}"
    );
}

#[test]
fn bad_shell_arguments_are_reported() {
    let repo = repo_with_path();
    assert!(matches!(
        repo.error("shell", json!({"command": "  "})),
        ToolError::BadArguments { .. }
    ));
    assert!(matches!(
        repo.error("shell", json!({"command": "ls", "timeout_secs": 0})),
        ToolError::BadArguments { .. }
    ));
    assert!(matches!(
        repo.error("shell", json!({})),
        ToolError::BadArguments { .. }
    ));
}

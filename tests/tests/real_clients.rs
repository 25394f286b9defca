//! The real clients against the built `hearth serve` on the default model, on loopback,
//! through tests/clients/real_clients.sh: it installs Claude Code and Codex CLI from npm
//! (once, into the user's cache), starts the server, runs the client and prints one table
//! row per run.
//!
//! Both need the default model and minutes of CPU, so the test command leaves them out.
//! CI runs Codex CLI's with the other default-model tests. Claude Code's stays a manual
//! run: the default model completes its task (one Read call, then the answer) in about
//! one run of three, too seldom for a check that gates every change.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use hearth_tests::{hearth, stderr_of, stdout_of};

/// Runs real_clients.sh for `clients` on the default model; returns its table.
fn run_clients(clients: &str) -> String {
    let hearth = hearth!();
    let model = hearth.default_model();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/clients/real_clients.sh");
    // Every wait in the script is bounded (npm 600 s, the server's start 300 s, each client
    // run CLIENT_TIMEOUT); `timeout` bounds the whole in case one is not.
    let out = Command::new("timeout")
        .arg("3600")
        .arg("bash")
        .arg(&script)
        .arg(hearth.path())
        .env("HEARTH_SERVE_MODEL", model)
        .env("CLIENTS", clients)
        .env("CLIENT_TIMEOUT", "900")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let (stdout, stderr) = (stdout_of(&out), stderr_of(&out));
    // The table goes to the test's output either way: it is what the run measured.
    println!("{stdout}");
    assert!(
        out.status.success(),
        "{} failed ({}):\n{stdout}\n{stderr}",
        script.display(),
        out.status
    );
    stdout
}

/// Whether the table has a passing row of `client`.
fn passed(table: &str, client: &str) -> bool {
    table
        .lines()
        .any(|l| l.starts_with(client) && l.contains("| pass"))
}

#[test]
#[ignore = "needs the default model (1.1 GB), npm and minutes of CPU; CI runs it"]
fn codex_cli_against_hearth_serve() {
    let table = run_clients("codex");
    assert!(passed(&table, "codex"), "Codex CLI did not pass:\n{table}");
}

#[test]
#[ignore = "the default model completes Claude Code's task in about 1 run of 3: run by hand"]
fn claude_code_against_hearth_serve() {
    let table = run_clients("claude");
    assert!(
        passed(&table, "claude"),
        "no Claude Code run passed:\n{table}"
    );
}

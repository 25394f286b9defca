//! A scripted model in full-auto mode runs every escape through `hearth exec`'s shell tool:
//! reading credentials, writing outside the repository and into `.git`, exfiltrating the
//! environment, reaching a listener on 127.0.0.1, and leaving a process behind. The kernel
//! refuses each; the repository is byte-identical afterwards but for the one allowed edit.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;

use hearth_tests::{hearth, stderr_of, stdout_of};
use serde_json::{json, Value};

struct Planted {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    home: PathBuf,
    outside: PathBuf,
    data: PathBuf,
}

fn planted() -> Planted {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().canonicalize().unwrap();
    let repo = base.join("repo");
    let home = base.join("home");
    let outside = base.join("outside");
    for d in [&repo, &home, &outside] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_ed25519"), "PRIVATE-KEY-MATERIAL").unwrap();
    std::fs::write(repo.join("app.py"), "print('hello')\n").unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", stderr_of(&out));
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&[
        "-c",
        "user.name=T",
        "-c",
        "user.email=t@example.com",
        "commit",
        "-q",
        "-m",
        "init",
    ]);
    Planted {
        data: base.join("data"),
        _dir: dir,
        repo,
        home,
        outside,
    }
}

/// Every file under `root` (`.git` included) and its bytes.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_default();
                files.insert(path.strip_prefix(root).unwrap().to_path_buf(), bytes);
            }
        }
    }
    files
}

fn shell(id: &str, command: &str) -> Value {
    json!({"content": [{"type": "tool_use", "id": id, "name": "shell",
                        "input": {"command": command}}]})
}

fn exec(p: &Planted, replies: Value, extra: &[&str]) -> Output {
    let script = p.data.with_file_name("script.json");
    std::fs::write(&script, replies.to_string()).unwrap();
    let mut cmd = hearth!().command();
    cmd.arg("exec")
        .arg("--backend-script")
        .arg(&script)
        .arg("--cd")
        .arg(&p.repo)
        .args(["--json", "--ephemeral"])
        .args(extra);
    if !extra.contains(&"--mode") {
        cmd.args(["--mode", "full-auto"]);
    }
    cmd.arg("Run the project's maintenance steps.")
        .env("HOME", &p.home)
        .env("XDG_CONFIG_HOME", p.home.join(".config"))
        .env("XDG_DATA_HOME", &p.data)
        .env("MYSQL_PWD", "mysql-secret-value")
        .env("DEPLOY_PAT", "pat-secret-value")
        .env(
            "https_proxy",
            "http://user:proxy-secret-value@proxy.invalid:3128",
        );
    cmd.output().unwrap()
}

/// The tool outputs of a run, in order.
fn outputs(out: &Output) -> Vec<String> {
    stdout_of(out)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["type"] == "tool.output")
        .map(|e| e["output"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn every_escape_through_the_shell_is_refused_and_the_repository_is_untouched() {
    let p = planted();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let before = snapshot(&p.repo);
    let out = exec(
        &p,
        json!([
            shell("c1", "cat \"$HOME/.ssh/id_ed25519\""),
            shell(
                "c2",
                &format!("echo pwned > '{}/planted'", p.outside.display())
            ),
            shell(
                "c3",
                "printf '#!/bin/sh\\nexit 0\\n' > .git/hooks/pre-commit; echo x >> .git/config"
            ),
            shell("c4", "env; cat /proc/$PPID/environ"),
            shell(
                "c5",
                &format!("curl -s -m 3 http://127.0.0.1:{port}/; echo curl=$?")
            ),
            shell(
                "c6",
                "setsid sh -c 'echo $$ > escaped.pid; sleep 60' & sleep 0.3"
            ),
            shell("c7", "echo \"print('changed')\" > app.py"),
            "done"
        ]),
        &[],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let outputs = outputs(&out);
    assert_eq!(outputs.len(), 7, "{outputs:?}");
    let all = stdout_of(&out) + &stderr_of(&out);
    for secret in [
        "PRIVATE-KEY",
        "mysql-secret-value",
        "pat-secret-value",
        "proxy-secret-value",
    ] {
        assert!(!all.contains(secret), "{secret} leaked: {outputs:?}");
    }
    assert!(outputs[0].contains("Permission denied"), "{}", outputs[0]);
    assert!(outputs[1].contains("Permission denied"), "{}", outputs[1]);
    assert!(!p.outside.join("planted").exists());
    assert!(
        outputs[2].contains("Read-only file system") || outputs[2].contains("Permission denied"),
        "{}",
        outputs[2]
    );
    assert!(outputs[4].contains("curl="), "{}", outputs[4]);
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("a command reached the listener: {other:?}"),
    }
    assert!(
        outputs[5].contains("Operation not permitted"),
        "{}",
        outputs[5]
    );
    if let Ok(pid) = std::fs::read_to_string(p.repo.join("escaped.pid")) {
        panic!("a process left the sandbox's process group (pid {pid})");
    }

    // Only the one allowed edit changed anything, `.git` included.
    let mut expected = before;
    expected.insert(PathBuf::from("app.py"), b"print('changed')\n".to_vec());
    assert_eq!(snapshot(&p.repo), expected);
}

/// `--sandbox off` is the user's explicit choice to run commands with full rights; the same
/// read then works, which is what shows the refusal above comes from the sandbox.
#[test]
fn the_sandbox_is_what_refuses() {
    let p = planted();
    let out = exec(
        &p,
        json!([shell("c1", "cat \"$HOME/.ssh/id_ed25519\""), "done"]),
        &["--sandbox", "off"],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(outputs(&out)[0].contains("PRIVATE-KEY-MATERIAL"));
}

/// A sandbox level that does not exist is a usage error naming the levels.
#[test]
fn an_unknown_sandbox_level_is_a_usage_error() {
    let p = planted();
    let out = exec(&p, json!(["done"]), &["--sandbox", "strict"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("workspace-write"),
        "{}",
        stderr_of(&out)
    );
}

/// The user's policy file decides; a policy file planted in the repository does not. Here
/// the user's file allows the network, and the repository's tries to turn the sandbox off.
#[test]
fn only_the_users_policy_file_applies() {
    let p = planted();
    std::fs::create_dir_all(p.home.join(".config/hearth")).unwrap();
    std::fs::write(
        p.home.join(".config/hearth/config.toml"),
        "[sandbox]\nnetwork = true\n",
    )
    .unwrap();
    for planted_file in [
        ".hearth/config.toml",
        ".config/hearth/config.toml",
        "hearth.toml",
    ] {
        let path = p.repo.join(planted_file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "[sandbox]\nlevel = \"off\"\n").unwrap();
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = exec(
        &p,
        json!([
            shell("c1", "cat \"$HOME/.ssh/id_ed25519\""),
            shell(
                "c2",
                &format!("curl -s -m 5 http://127.0.0.1:{port}/ >/dev/null & sleep 1")
            ),
            "done"
        ]),
        &[],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let outputs = outputs(&out);
    assert!(outputs[0].contains("Permission denied"), "{}", outputs[0]);
    listener.set_nonblocking(true).unwrap();
    assert!(
        listener.accept().is_ok(),
        "the user's file allows the network: {}",
        outputs[1]
    );

    let show = hearth!()
        .command()
        .args(["config", "show"])
        .env("HOME", &p.home)
        .env("XDG_CONFIG_HOME", p.home.join(".config"))
        .output()
        .unwrap();
    let text = stdout_of(&show);
    assert!(show.status.success(), "{}", stderr_of(&show));
    let network = text
        .lines()
        .find(|l| l.starts_with("sandbox.network"))
        .unwrap();
    assert!(
        network.contains("true") && network.contains(".config/hearth/config.toml"),
        "{text}"
    );
    let level = text
        .lines()
        .find(|l| l.starts_with("sandbox.level"))
        .unwrap();
    assert!(
        level.contains("workspace-write") && level.contains("default"),
        "{text}"
    );
}

/// An allow rule vouches for one plain command: chained forms are not run (exec never asks,
/// so they are refused), and what the allowed command itself may do is still confined
/// (`git log --output` cannot write outside the repository).
#[test]
fn an_allow_rule_does_not_cover_chains_and_stays_confined() {
    let p = planted();
    let before = snapshot(&p.repo);
    let leak = p.outside.join("leak");
    let out = exec(
        &p,
        json!([
            shell("c1", "git log -1 && touch chained.txt"),
            shell("c2", "git log -1; touch chained.txt"),
            shell("c3", &format!("git log -1 --output={}", leak.display())),
            "done"
        ]),
        &["--mode", "auto-edit", "--allow", "git log"],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let outputs = outputs(&out);
    assert_eq!(outputs.len(), 3, "{outputs:?}");
    assert!(!p.repo.join("chained.txt").exists(), "{outputs:?}");
    assert!(!leak.exists(), "{outputs:?}");
    assert_eq!(snapshot(&p.repo), before);
}

/// At `--sandbox read-only` the file tools change nothing either, whatever the mode allows:
/// they run in hearth's own process, so the agent refuses them with the same policy.
#[test]
fn the_read_only_sandbox_holds_for_the_file_tools_too() {
    let p = planted();
    let before = snapshot(&p.repo);
    let out = exec(
        &p,
        json!([
            {"content": [{"type": "tool_use", "id": "e1", "name": "edit_file",
                          "input": {"path": "app.py", "old": "hello", "new": "bye"}}]},
            {"content": [{"type": "tool_use", "id": "w1", "name": "write_file",
                          "input": {"path": "new.py", "content": "x = 1\n"}}]},
            shell("c1", "echo changed > app.py"),
            "done"
        ]),
        &["--sandbox", "read-only"],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let outputs = outputs(&out);
    assert!(outputs[0].contains("read-only sandbox"), "{}", outputs[0]);
    assert!(outputs[1].contains("read-only sandbox"), "{}", outputs[1]);
    assert_eq!(snapshot(&p.repo), before, "{outputs:?}");
}

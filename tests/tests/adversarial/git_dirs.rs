//! Planted git directories: a `.git` file whose `gitdir:` names another repository, a
//! `.git` symlink to one, `core.worktree` set to a directory outside, and a symlinked
//! directory leading out of the root. A scripted model calls every git tool and `read_file`
//! on them; each call must be refused with a message saying the repository (or path) lies
//! outside the root, nothing of the other repository or the outside directory may reach the
//! events or the saved session, and the planted repository must be byte-identical after.
//!
//! The helpers here (a planted fixture, running `hearth exec` on it, snapshots) are shared
//! with the other modules of this test binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hearth_tests::{hearth, stderr_of, stdout_of};
use serde_json::{json, Value};

/// What the other repository and the outside directory hold: it must never be shown.
const OTHER_SECRET: &str = "OTHER-REPOSITORY-SECRET-4711";
/// The other repository's commit message, which `git_log` would print.
const OTHER_COMMIT: &str = "other-repository-commit-0815";

/// A temporary directory holding a repository to run hearth in, the data directory
/// sessions are saved in, and room for what lies outside the repository.
pub(super) struct Planted {
    pub(super) dir: tempfile::TempDir,
    /// The repository hearth runs in (`--cd`).
    pub(super) repo: PathBuf,
    /// `XDG_DATA_HOME` for the run: sessions are saved under it.
    pub(super) data: PathBuf,
}

impl Planted {
    /// An empty repository directory beside an empty data directory.
    pub(super) fn new() -> Planted {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        std::fs::write(repo.join("hello.py"), "def add(a, b):\n    return a + b\n").unwrap();
        let data = dir.path().join("data");
        Planted { dir, repo, data }
    }

    /// A path beside the repository, outside it.
    pub(super) fn outside(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `hearth exec --json` in the repository with a scripted model whose replies are
    /// `replies`, with `env` added to its environment.
    pub(super) fn exec(&self, replies: &Value, task: &str, env: &[(&str, &str)]) -> Output {
        let script = self.outside("script.json");
        Planted::exec_in(&self.repo, &self.data, &script, replies, task, env)
    }

    /// [`Planted::exec`] on the parts of a fixture, for a thread that outlives no borrow:
    /// the script is written to `script`, sessions are saved under `data`.
    pub(super) fn exec_in(
        repo: &Path,
        data: &Path,
        script: &Path,
        replies: &Value,
        task: &str,
        env: &[(&str, &str)],
    ) -> Output {
        std::fs::write(script, replies.to_string()).unwrap();
        let mut cmd = hearth!().command();
        cmd.arg("exec")
            .arg("--backend-script")
            .arg(script)
            .arg("--cd")
            .arg(repo)
            .args(["--json", "--mode", "read-only", task])
            .env("XDG_DATA_HOME", data)
            .envs(env.iter().copied());
        cmd.output().unwrap()
    }

    /// The text of every saved session file.
    pub(super) fn sessions(&self) -> String {
        let mut text = String::new();
        let dir = self.data.join("hearth/sessions");
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
        text
    }
}

/// A model reply that calls `name` with `input`.
pub(super) fn call(id: &str, name: &str, input: Value) -> Value {
    json!({"content": [{"type": "tool_use", "id": id, "name": name, "input": input}]})
}

/// The `tool.output` events of a `--json` run, in order.
pub(super) fn tool_outputs(out: &Output) -> Vec<Value> {
    stdout_of(out)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["type"] == "tool.output")
        .collect()
}

/// Every file, symlink and directory under `root` with its bytes (a symlink's target), so
/// two snapshots are equal exactly when nothing under `root` changed.
pub(super) fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let file_type = entry.file_type().unwrap();
            let bytes = if file_type.is_symlink() {
                std::fs::read_link(&path)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else if file_type.is_dir() {
                pending.push(path.clone());
                b"<dir>".to_vec()
            } else if file_type.is_file() {
                std::fs::read(&path).unwrap()
            } else {
                b"<special>".to_vec()
            };
            files.insert(path, bytes);
        }
    }
    files
}

/// Runs `git` with `args` in `dir`, which must succeed.
fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", stderr_of(&out));
}

/// A repository at `dir` with one commit of `secret.txt` holding [`OTHER_SECRET`].
fn other_repository(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("secret.txt"), format!("{OTHER_SECRET}\n")).unwrap();
    git(dir, &["add", "secret.txt"]);
    git(
        dir,
        &[
            "-c",
            "user.name=Eve",
            "-c",
            "user.email=eve@example.com",
            "commit",
            "-q",
            "-m",
            OTHER_COMMIT,
        ],
    );
}

/// The model calls every git tool, then answers.
fn git_script() -> Value {
    json!([
        call("g1", "git_log", json!({})),
        call("g2", "git_show", json!({"rev": "HEAD"})),
        call("g3", "git_diff", json!({"rev_range": "HEAD"})),
        call("g4", "git_status", json!({})),
        call("g5", "git_blame", json!({"path": "secret.txt"})),
        "done"
    ])
}

/// Runs the git script on `planted` and checks every call was refused as a repository
/// outside the root, that nothing secret was shown or saved, and that the repository is
/// unchanged.
fn assert_git_refused(planted: &Planted) {
    let before = snapshot(&planted.repo);
    let out = planted.exec(&git_script(), "Show the history of this repository.", &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let outputs = tool_outputs(&out);
    assert_eq!(outputs.len(), 5, "{}", stdout_of(&out));
    for output in &outputs {
        let text = output["output"].as_str().unwrap();
        assert_eq!(output["is_error"], true, "{output}");
        assert!(
            text.contains("lies outside the repository root"),
            "a clear refusal: {text}"
        );
    }
    for shown in [stdout_of(&out), stderr_of(&out), planted.sessions()] {
        assert!(!shown.contains(OTHER_SECRET), "{shown}");
        assert!(!shown.contains(OTHER_COMMIT), "{shown}");
    }
    assert_eq!(before, snapshot(&planted.repo), "the repository changed");
}

#[test]
fn a_gitdir_file_naming_another_repository_is_refused() {
    let planted = Planted::new();
    let other = planted.outside("other");
    other_repository(&other);
    let gitdir = format!("gitdir: {}\n", other.join(".git").display());
    std::fs::write(planted.repo.join(".git"), gitdir).unwrap();
    assert_git_refused(&planted);
}

#[cfg(unix)]
#[test]
fn a_git_symlink_to_another_repository_is_refused() {
    let planted = Planted::new();
    let other = planted.outside("other");
    other_repository(&other);
    std::os::unix::fs::symlink(other.join(".git"), planted.repo.join(".git")).unwrap();
    assert_git_refused(&planted);
}

#[test]
fn a_core_worktree_outside_the_root_is_refused() {
    let planted = Planted::new();
    // The repository is the root's own, but its work tree is the other checkout: status,
    // diff and blame would read the files there.
    let other = planted.outside("other");
    other_repository(&other);
    std::fs::remove_dir_all(planted.repo.join(".git")).ok();
    git(&planted.repo, &["init", "-q", "-b", "main"]);
    git(
        &planted.repo,
        &["config", "core.worktree", other.to_str().unwrap()],
    );
    assert_git_refused(&planted);
}

#[cfg(unix)]
#[test]
fn a_symlinked_directory_leading_outside_is_refused_to_every_tool() {
    let planted = Planted::new();
    let other = planted.outside("other");
    other_repository(&other);
    git(&planted.repo, &["init", "-q", "-b", "main"]);
    // `up` is the repository's parent: every path through it leaves the root.
    std::os::unix::fs::symlink("..", planted.repo.join("up")).unwrap();
    let before = snapshot(&planted.repo);
    let script = json!([
        call("r1", "read_file", json!({"path": "up/other/secret.txt"})),
        call("r2", "git_log", json!({"path": "up/other/secret.txt"})),
        call("r3", "git_blame", json!({"path": "up/other/secret.txt"})),
        call(
            "r4",
            "grep",
            json!({"pattern": "SECRET", "path": "up/other"})
        ),
        call("r5", "list_files", json!({"path": "up/other"})),
        "done"
    ]);
    let out = planted.exec(&script, "Read the files in up/other.", &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let outputs = tool_outputs(&out);
    assert_eq!(outputs.len(), 5, "{}", stdout_of(&out));
    for output in &outputs {
        let text = output["output"].as_str().unwrap();
        assert_eq!(output["is_error"], true, "{output}");
        assert!(text.contains("is outside the repository"), "{text}");
    }
    for shown in [stdout_of(&out), planted.sessions()] {
        assert!(!shown.contains(OTHER_SECRET), "{shown}");
        assert!(!shown.contains(OTHER_COMMIT), "{shown}");
    }
    assert_eq!(before, snapshot(&planted.repo), "the repository changed");
}

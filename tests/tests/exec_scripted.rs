//! `hearth exec` with a scripted backend (the hidden `--backend-script` testing aid): the
//! command-line contract without a model: stdout, the JSON-lines stream, exit codes,
//! modes, `--output-last-message`, and resuming a saved session.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Output;

use hearth_tests::{hearth, stderr_of, stdout_of};
use serde_json::{json, Value};

const HELLO_PY: &str =
    "def greet(name):\n    return 'hello ' + name\n\n\ndef add(a, b):\n    return a + b\n";

struct Fixture {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    data: PathBuf,
    script: PathBuf,
}

fn fixture(replies: Value) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    std::fs::write(repo.join("hello.py"), HELLO_PY).unwrap();
    let script = dir.path().join("script.json");
    std::fs::write(&script, replies.to_string()).unwrap();
    let data = dir.path().join("data");
    Fixture {
        repo,
        data,
        script,
        _dir: dir,
    }
}

fn call(id: &str, name: &str, input: Value) -> Value {
    json!({"content": [{"type": "tool_use", "id": id, "name": name, "input": input}]})
}

fn exec(f: &Fixture, args: &[&str]) -> Output {
    let mut cmd = hearth!().command();
    cmd.arg("exec")
        .arg("--backend-script")
        .arg(&f.script)
        .arg("--cd")
        .arg(&f.repo)
        .env("XDG_DATA_HOME", &f.data)
        .args(args);
    cmd.output().unwrap()
}

fn json_lines(out: &Output) -> Vec<Value> {
    stdout_of(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn session_files(data: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(data.join("hearth/sessions"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[test]
fn stdout_carries_only_the_final_answer() {
    let f = fixture(json!([
        call("c1", "read_file", json!({"path": "hello.py"})),
        "`add` adds two numbers."
    ]));
    // An instruction, not a question: a question is first answered from the code shown
    // (a side request of its own), and these scripts are the tool loop's.
    let out = exec(&f, &["Read hello.py and name the function that adds."]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "`add` adds two numbers.\n");
    assert!(
        stderr_of(&out).contains("read_file"),
        "progress on stderr: {}",
        stderr_of(&out)
    );
    assert_eq!(session_files(&f.data).len(), 1, "the session was saved");
}

/// A question is first answered from the code the first message shows: one request, forced
/// to the answer, and no tool runs when the answer rests on that code.
#[test]
fn a_question_is_answered_from_the_code_shown_in_one_request() {
    let f = fixture(json!([
        {"content": [{"type": "tool_use", "id": "a1", "name": "answer",
                      "input": {"text": "`add` in hello.py adds two numbers."}}]}
    ]));
    let out = exec(&f, &["--json", "--ephemeral", "which function adds?"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let lines = json_lines(&out);
    let last = lines.last().unwrap();
    assert_eq!(last["type"], "session.completed");
    assert_eq!(last["answer"], "`add` in hello.py adds two numbers.");
    let usage = lines.iter().filter(|l| l["type"] == "usage").count();
    assert_eq!(usage, 1, "one request: {lines:?}");
    assert!(
        !lines.iter().any(|l| l["type"] == "tool.proposed"),
        "no tool ran: {lines:?}"
    );
}

#[test]
fn json_lines_end_with_session_completed_and_its_usage() {
    let f = fixture(json!([
        call("c1", "read_file", json!({"path": "hello.py"})),
        "add"
    ]));
    let out = exec(
        &f,
        &[
            "--json",
            "--ephemeral",
            "Read hello.py and name the function that adds.",
        ],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let lines = json_lines(&out);
    assert!(
        lines.iter().all(|l| l["type"].is_string()),
        "every line has a type"
    );
    assert_eq!(lines[0]["type"], "session.started");
    assert_eq!(lines[0]["schema_version"], 1);
    let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    for t in [
        "turn.started",
        "tool.proposed",
        "tool.output",
        "usage",
        "turn.finished",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    let last = lines.last().unwrap();
    assert_eq!(last["type"], "session.completed");
    assert_eq!(last["answer"], "add");
    assert_eq!(last["turns"], 2);
    for field in [
        "input_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "output_tokens",
        "thinking_tokens",
    ] {
        assert!(last["usage"][field].is_u64(), "usage.{field}: {last}");
    }
    // The session total is the sum of the two requests' usage events.
    let usage: Vec<&Value> = lines.iter().filter(|l| l["type"] == "usage").collect();
    assert_eq!(usage.len(), 2);
    assert_eq!(last["usage"], usage[1]["turn"]);
    assert!(
        session_files(&f.data).is_empty(),
        "--ephemeral saves nothing"
    );
}

#[test]
fn the_turn_limit_exits_with_code_3_and_session_failed() {
    let f = fixture(json!([
        call("c1", "list_files", json!({})),
        call("c2", "list_files", json!({}))
    ]));
    let out = exec(&f, &["--json", "--max-turns", "2", "list forever"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    let last = json_lines(&out).pop().unwrap();
    assert_eq!(last["type"], "session.failed");
    assert!(
        last["error"].as_str().unwrap().contains("--max-turns 2"),
        "{last}"
    );
}

#[test]
fn a_failed_model_request_exits_1_with_session_failed() {
    let f = fixture(json!([{"error": {"type": "api_error", "message": "the engine broke"}}]));
    let out = exec(&f, &["--json", "hi"]);
    assert_eq!(out.status.code(), Some(1));
    let last = json_lines(&out).pop().unwrap();
    assert_eq!(last["type"], "session.failed");
    assert!(
        last["error"].as_str().unwrap().contains("the engine broke"),
        "{last}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let f = fixture(json!(["x"]));
    assert_eq!(exec(&f, &["--mode", "yolo", "hi"]).status.code(), Some(2));
    assert_eq!(exec(&f, &[" "]).status.code(), Some(2));
    assert_eq!(exec(&f, &["--resume", "nope", "hi"]).status.code(), Some(2));
    let out = exec(&f, &["--last", "hi"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "no session yet: {}",
        stderr_of(&out)
    );
}

#[test]
fn exec_never_asks_so_what_the_mode_does_not_allow_is_refused() {
    let f = fixture(json!([
        call("c1", "shell", json!({"command": "touch made.txt"})),
        call(
            "c2",
            "edit_file",
            json!({"path": "hello.py", "old": "a + b", "new": "a - b"})
        ),
        "done"
    ]));
    let out = exec(&f, &["--json", "--mode", "read-only", "break things"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let outputs: Vec<Value> = json_lines(&out)
        .into_iter()
        .filter(|l| l["type"] == "tool.output")
        .collect();
    assert_eq!(outputs.len(), 2);
    assert!(outputs.iter().all(|o| o["is_error"] == true));
    assert!(outputs[1]["output"].as_str().unwrap().contains("read-only"));
    assert!(!f.repo.join("made.txt").exists());
    assert_eq!(
        std::fs::read_to_string(f.repo.join("hello.py")).unwrap(),
        HELLO_PY
    );

    // auto-edit (the default) edits, but a command needs approval exec cannot ask for.
    let out = exec(
        &f_with(
            &f,
            json!([
                call("c1", "shell", json!({"command": "touch made.txt"})),
                call(
                    "c2",
                    "edit_file",
                    json!({"path": "hello.py", "old": "a + b", "new": "a - b"})
                ),
                "done"
            ]),
        ),
        &["--json", "sub"],
    );
    let outputs: Vec<Value> = json_lines(&out)
        .into_iter()
        .filter(|l| l["type"] == "tool.output")
        .collect();
    assert!(
        outputs[0]["output"]
            .as_str()
            .unwrap()
            .contains("never asks"),
        "{}",
        outputs[0]
    );
    assert_eq!(outputs[1]["is_error"], false);
    assert!(!f.repo.join("made.txt").exists());
    assert!(std::fs::read_to_string(f.repo.join("hello.py"))
        .unwrap()
        .contains("a - b"));
}

/// `f` with a new script.
fn f_with(f: &Fixture, replies: Value) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.json");
    std::fs::write(&script, replies.to_string()).unwrap();
    Fixture {
        repo: f.repo.clone(),
        data: f.data.clone(),
        script,
        _dir: dir,
    }
}

#[test]
fn last_message_is_written_and_resume_continues_the_session() {
    let f = fixture(json!(["first answer"]));
    let answer_file = f.data.join("answer.txt");
    std::fs::create_dir_all(&f.data).unwrap();
    let out = exec(
        &f,
        &[
            "--output-last-message",
            answer_file.to_str().unwrap(),
            "--json",
            "one",
        ],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(
        std::fs::read_to_string(&answer_file).unwrap(),
        "first answer"
    );
    let id = json_lines(&out)[0]["session_id"]
        .as_str()
        .unwrap()
        .to_string();

    let f2 = f_with(&f, json!(["second answer"]));
    let out = exec(&f2, &["--last", "--json", "two"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let lines = json_lines(&out);
    assert_eq!(lines[0]["session_id"], id.as_str());
    assert_eq!(lines.last().unwrap()["answer"], "second answer");
    // The session file now holds both turns.
    let files = session_files(&f.data);
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.contains("\"one\"") && text.contains("\"two\"") && text.contains("second answer"));

    let f3 = f_with(&f, json!(["third"]));
    let out = exec(&f3, &["--resume", &id, "three"]);
    assert_eq!(stdout_of(&out), "third\n", "{}", stderr_of(&out));
}

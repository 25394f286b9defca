//! `hearth exec --endpoint`: the agent talking to a model server instead of its own engine.
//!
//! Against the built `hearth serve` on the tiny test model (random weights: the answers are
//! noise, so these check the plumbing, not the content), through each protocol: the JSON
//! lines are those of a local run (the session, usage with input tokens, any tool calls
//! parsed, the turn's end), and the exit code is 0. Against a fake server on loopback: the
//! key from `--api-key-env` goes out in the headers each protocol expects. And the errors:
//! a server that refuses the connection, a key variable that is not set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hearth_tests::{hearth, stderr_of, stdout_of};
use serde_json::{json, Value};

const CALC_PY: &str = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n";

/// A `hearth serve` child, killed when dropped, with its usage ledger in a folder of its
/// own.
struct Serve {
    child: Child,
    url: String,
    ledger: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `hearth serve` on the tiny model on a free loopback port.
fn serve() -> Serve {
    serve_with(&[])
}

/// [`serve`] with more arguments.
fn serve_with(extra: &[&str]) -> Serve {
    // This package's own directory (cli/), as compiled into this test.
    let model =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/fixtures/tiny/qwen2.gguf");
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("usage.jsonl");
    let mut child = hearth!()
        .command()
        .args(["serve", "--model"])
        .arg(&model)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--ctx",
            "4096",
            "--kv-cache-disk",
            "0",
        ])
        .arg("--usage-ledger")
        .arg(&ledger)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut said = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("listening on http://") {
                let _ = tx.send(Ok(line[at + "listening on ".len()..].trim().to_string()));
            }
            said.push_str(&line);
            said.push('\n');
        }
        // The server exited: what it said is why.
        let _ = tx.send(Err(said));
    });
    let url = match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(Ok(url)) => url,
        Ok(Err(said)) => panic!("hearth serve exited before listening:\n{said}"),
        Err(e) => panic!("hearth serve did not say where it listens within 120 s ({e})"),
    };
    Serve {
        child,
        url,
        ledger,
        _dir: dir,
    }
}

/// A repository with calc.py, and places for config and data that are the test's own.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("repo")).unwrap();
        std::fs::write(dir.path().join("repo/calc.py"), CALC_PY).unwrap();
        Repo { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// `hearth exec` in the repository with `args` (read-only, not saved).
    fn exec(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = hearth!().command();
        cmd.arg("exec")
            .args(["--ephemeral", "--mode", "read-only", "--max-tokens", "48"])
            .arg("--cd")
            .arg(self.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            .args(args);
        for (name, value) in env {
            cmd.env(name, value);
        }
        cmd.output().unwrap()
    }
}

fn json_lines(out: &Output) -> Vec<Value> {
    stdout_of(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Runs the repository question through `api` against `hearth serve` and checks the lines.
fn question_through(api: &str, base_suffix: &str) {
    let server = serve();
    let repo = Repo::new();
    let url = format!("{}{base_suffix}", server.url);
    let out = repo.exec(
        &[
            "--endpoint",
            &url,
            "--api",
            api,
            "--json",
            "--max-turns",
            "3",
            "which function adds two numbers?",
        ],
        &[],
    );
    let stderr = stderr_of(&out);
    // Exit 0 (answered) or 3 (the turn limit: random weights may never answer); never a
    // failure of the connection or the translation.
    let code = out.status.code();
    assert!(matches!(code, Some(0 | 3)), "exit {code:?}:\n{stderr}");
    let lines = json_lines(&out);
    let kinds: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(lines[0]["type"], "session.started", "{kinds:?}");
    // No --model: the name the server lists first, as `hearth serve` serves it.
    assert_eq!(lines[0]["model"], "qwen2", "{}", lines[0]);
    assert!(kinds.contains(&"turn.finished"), "{kinds:?}\n{stderr}");
    let usages: Vec<&Value> = lines.iter().filter(|l| l["type"] == "usage").collect();
    assert!(!usages.is_empty(), "no usage events: {kinds:?}");
    for usage in &usages {
        let request = &usage["request"];
        let prompt = [
            "input_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        ]
        .iter()
        .map(|f| request[f].as_u64().unwrap())
        .sum::<u64>();
        assert!(prompt > 100, "a whole agent prompt was counted: {usage}");
        assert!(request["output_tokens"].as_u64().unwrap() > 0, "{usage}");
    }
    // Calls the model made (of the engine's constrained tools) parsed into objects.
    for call in lines.iter().filter(|l| l["type"] == "tool.proposed") {
        assert!(
            call["tool"].as_str().is_some_and(|t| !t.is_empty()),
            "{call}"
        );
        assert!(call["input"].is_object(), "{call}");
    }
    let last = lines.last().unwrap();
    assert!(
        last["type"] == "session.completed" || last["type"] == "session.failed",
        "{last}"
    );
}

#[test]
fn exec_through_hearth_serve_messages() {
    question_through("messages", "");
}

#[test]
fn exec_through_hearth_serve_chat_completions() {
    // OpenAI-style servers are usually given with their /v1.
    question_through("openai", "/v1");
}

#[test]
fn exec_through_hearth_serve_responses() {
    question_through("responses", "");
}

/// `hearth keys add` prints a key that `hearth serve --api-keys` accepts from the agent
/// (`--api-key-env`); a key the file lacks is refused, and the agent's error quotes the
/// server's 401.
#[test]
fn a_server_with_keys_serves_the_agent_that_presents_one() {
    let repo = Repo::new();
    let keys = repo.dir.path().join("keys.toml");
    let add = |name: &str| {
        let out = hearth!()
            .command()
            .args(["keys", "add", name, "--file"])
            .arg(&keys)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        stdout_of(&out).trim().to_string()
    };
    let key = add("alice");
    add("bob");
    assert!(key.starts_with("hearth-"), "{key}");
    assert!(!std::fs::read_to_string(&keys).unwrap().contains(&key));
    let server = serve_with(&["--api-keys", keys.to_str().unwrap()]);
    let ask = |api: &str, key: &str| {
        repo.exec(
            &[
                "--endpoint",
                &server.url,
                "--api",
                api,
                "--api-key-env",
                "HEARTH_TEST_KEY",
                "--json",
                "--max-turns",
                "1",
                "which function adds two numbers?",
            ],
            &[("HEARTH_TEST_KEY", key)],
        )
    };
    for api in ["messages", "openai"] {
        let out = ask(api, &key);
        let code = out.status.code();
        assert!(
            matches!(code, Some(0 | 3)),
            "{api}: exit {code:?}\n{}",
            stderr_of(&out)
        );
        let wrong = ask(api, "hearth-not-a-key");
        let stderr = stderr_of(&wrong);
        assert!(!wrong.status.success(), "{api}: {stderr}");
        assert!(stderr.contains("401"), "{api}: {stderr}");
    }
    // The ledger holds alice's requests and the refused ones; `hearth usage` sums them.
    let usage = hearth!()
        .command()
        .args(["usage", "--ledger"])
        .arg(&server.ledger)
        .output()
        .unwrap();
    assert!(usage.status.success(), "{}", stderr_of(&usage));
    let table = stdout_of(&usage);
    let row = |group: &str| {
        table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(group))
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .unwrap_or_else(|| panic!("no {group} row:\n{table}"))
    };
    let alice = row("alice");
    assert!(alice[1].parse::<u64>().unwrap() >= 2, "{table}");
    assert!(
        alice[3].parse::<u64>().unwrap() > 0,
        "input tokens: {table}"
    );
    let refused = row("-");
    assert_eq!(
        refused[1], refused[2],
        "every keyless request failed: {table}"
    );
    assert!(!table.contains("bob"), "{table}");
    row("total");
}

/// What a fake server saw of one request: its head (request line and headers) and body.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A loopback server that answers each request with `respond(body)` (a status and an
/// event stream) and keeps what it saw.
fn fake_server(respond: impl Fn(&str) -> (u16, String) + Send + 'static) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests: Seen = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let body = String::from_utf8_lossy(&body).into_owned();
            let (status, answer) = respond(&body);
            seen.lock().unwrap().push((head, body));
            let kind = if status == 200 {
                "text/event-stream"
            } else {
                "application/json"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: {kind}\r\nconnection: close\r\n\
                 content-length: {}\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (url, requests)
}

/// An answer (the `answer` tool's call) as a chat-completions stream.
fn chat_answer(text: &str) -> String {
    let args = json!({"text": text}).to_string();
    let call = json!({"id": "c1", "model": "fake", "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "answer", "arguments": args}}]},
        "finish_reason": "tool_calls"}]});
    let usage = json!({"id": "c1", "choices": [], "usage": {"prompt_tokens": 900,
        "completion_tokens": 12, "prompt_tokens_details": {"cached_tokens": 800}}});
    format!("data: {call}\n\ndata: {usage}\n\ndata: [DONE]\n\n")
}

/// The same answer as a Messages stream.
fn messages_answer(text: &str) -> String {
    let events = [
        json!({"type": "message_start", "message": {"id": "msg_1", "model": "fake", "usage": {"input_tokens": 900, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t1", "name": "answer", "input": {}}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": json!({"text": text}).to_string()}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 12}}),
        json!({"type": "message_stop"}),
    ];
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect()
}

#[test]
fn the_key_goes_out_as_each_protocol_expects_and_answers_come_back() {
    let answer = "`add` in calc.py adds two numbers.";
    for (api, body) in [
        ("messages", messages_answer(answer)),
        ("openai", chat_answer(answer)),
    ] {
        let (url, seen) = fake_server(move |_| (200, body.clone()));
        let repo = Repo::new();
        let out = repo.exec(
            &[
                "--endpoint",
                &url,
                "--api",
                api,
                "--api-key-env",
                "HEARTH_TEST_KEY",
                "--model",
                "fake-model",
                "--json",
                "--max-turns",
                "3",
                "which function adds two numbers?",
            ],
            &[("HEARTH_TEST_KEY", "sk-test-123")],
        );
        assert!(out.status.success(), "{api}: {}", stderr_of(&out));
        let lines = json_lines(&out);
        let done = lines.last().unwrap();
        assert_eq!(done["type"], "session.completed", "{api}: {done}");
        assert!(
            done["answer"].as_str().unwrap().contains("calc.py"),
            "{done}"
        );
        let usage = lines.iter().find(|l| l["type"] == "usage").unwrap();
        assert_eq!(
            usage["request"]["input_tokens"],
            json!(if api == "openai" { 100 } else { 900 })
        );
        let seen = seen.lock().unwrap();
        let head = seen[0].0.to_ascii_lowercase();
        assert!(
            head.contains("authorization: bearer sk-test-123"),
            "{api}: {head}"
        );
        assert_eq!(
            head.contains("x-api-key: sk-test-123"),
            api == "messages",
            "{api}: {head}"
        );
        let path = if api == "openai" {
            "/v1/chat/completions"
        } else {
            "/v1/messages"
        };
        assert!(head.starts_with(&format!("post {path} ")), "{head}");
    }
}

#[test]
fn a_server_that_cannot_force_a_call_is_asked_again_with_auto() {
    // llama-cpp-python's function-calling handlers fail on `tool_choice: "required"`: with
    // an error status before streaming, or (its chatml-function-calling format) by closing
    // a 200 stream before the first chunk.
    let refusals = [
        (500, r#"{"detail": "AssertionError: tool_choice"}"#),
        (200, ""),
    ];
    for (status, refusal) in refusals {
        let answer = chat_answer("`add` in calc.py.");
        let (url, seen) = fake_server(move |body| {
            if body.contains("\"tool_choice\":\"required\"") {
                (status, refusal.to_string())
            } else {
                (200, answer.clone())
            }
        });
        let repo = Repo::new();
        let args = [
            "--endpoint",
            &url,
            "--api",
            "openai",
            "--model",
            "m",
            "--json",
            "what is the latest commit's message?",
        ];
        let out = repo.exec(&args, &[]);
        assert!(out.status.success(), "{status}: {}", stderr_of(&out));
        let seen = seen.lock().unwrap();
        assert!(
            seen[0].1.contains("\"tool_choice\":\"required\""),
            "{}",
            seen[0].1
        );
        // Asked once more, and `auto` from then on.
        assert!(seen.len() >= 2, "{} requests", seen.len());
        for (_, body) in &seen[1..] {
            assert!(!body.contains("\"tool_choice\":\"required\""), "{body}");
        }
    }
}

#[test]
fn an_endpoint_that_refuses_the_connection_fails_naming_the_url() {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let repo = Repo::new();
    for model in [None, Some("m")] {
        let mut args = vec!["--endpoint", &url];
        if let Some(model) = model {
            args.extend(["--model", model]);
        }
        args.push("hi");
        let out = repo.exec(&args, &[]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
        let stderr = stderr_of(&out);
        assert!(stderr.contains(&url), "{stderr}");
        assert!(stderr.to_lowercase().contains("refused"), "{stderr}");
    }
}

#[test]
fn a_key_variable_that_is_not_set_is_a_usage_error_naming_it() {
    let repo = Repo::new();
    let out = repo.exec(
        &[
            "--endpoint",
            "http://127.0.0.1:9",
            "--api-key-env",
            "HEARTH_TEST_UNSET_KEY",
            "hi",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("HEARTH_TEST_UNSET_KEY"),
        "{}",
        stderr_of(&out)
    );
    // --api without --endpoint is a usage error too.
    let out = repo.exec(&["--api", "openai", "hi"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("--endpoint"),
        "{}",
        stderr_of(&out)
    );
}

/// The OpenAI backend against another engine: tests/clients/llama_cpp.sh starts
/// llama-cpp-python's server on the default model and asks the repository question.
/// Minutes on a CPU, and it needs a llama-cpp-python build, so it runs on request:
/// `LLAMA_SERVER_PYTHON=… cargo test -p hearth --test exec_endpoint -- --ignored`.
#[test]
#[ignore = "needs llama.cpp's server (LLAMA_SERVER_PYTHON) and the default model"]
fn exec_through_llama_cpp_server() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/clients/llama_cpp.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg(hearth!().path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} failed:\n{}\n{}",
        script.display(),
        stdout_of(&out),
        stderr_of(&out)
    );
    assert!(
        stdout_of(&out).contains("llama_cpp: passed"),
        "{}",
        stdout_of(&out)
    );
}

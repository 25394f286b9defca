//! `hearth generate` and `hearth model info` on the tiny fixture models:
//! the command-line behaviour, without the 1.1 GB model.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hearth_tests::{hearth, stderr_of, stdout_of, workspace_root};

fn tiny(arch: &str) -> String {
    workspace_root()
        .join(format!("engine/tests/fixtures/tiny/{arch}.gguf"))
        .display()
        .to_string()
}

#[test]
fn greedy_generation_is_deterministic_and_streams_to_stdout() {
    let m = tiny("qwen2");
    let args = [
        "generate",
        "--model",
        &m,
        "--prompt",
        "the other",
        "--temperature",
        "0",
        "-n",
        "12",
    ];
    let a = hearth!().run(&args);
    assert!(a.status.success(), "{}", stderr_of(&a));
    let b = hearth!().run(&args);
    assert_eq!(stdout_of(&a), stdout_of(&b));
    assert!(!stdout_of(&a).trim().is_empty());
    // Timings go to stderr, never into the result.
    assert!(stderr_of(&a).contains("tok/s"), "{}", stderr_of(&a));
    assert!(!stdout_of(&a).contains("tok/s"));
}

#[test]
fn a_seed_reproduces_a_sampled_run() {
    let m = tiny("qwen2");
    let run = |seed: &str| {
        let out = hearth!().run(&[
            "generate",
            "--model",
            &m,
            "--prompt",
            "in there",
            "--temperature",
            "1.5",
            "--top-k",
            "0",
            "--top-p",
            "1",
            "--min-p",
            "0",
            "-n",
            "24",
            "--seed",
            seed,
            "-q",
        ]);
        assert!(out.status.success(), "{}", stderr_of(&out));
        stdout_of(&out)
    };
    assert_eq!(run("7"), run("7"));
    assert_ne!(run("7"), run("8"));
}

#[test]
fn chat_goes_through_the_template() {
    let m = tiny("qwen3");
    let out = hearth!().run(&[
        "generate",
        "--model",
        &m,
        "--chat",
        "hello",
        "--temperature",
        "0",
        "-n",
        "4",
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    // The template wraps the message in <|im_start|>…<|im_end|>: more prompt tokens than the text.
    let err = stderr_of(&out);
    let prompt_tokens: usize = err
        .split("prompt: ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no prompt count in {err}"));
    assert!(prompt_tokens > 8, "{err}");
}

#[test]
fn model_info_describes_a_file() {
    let m = tiny("qwen2");
    let out = hearth!().run(&["model", "info", &m, "--json"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert_eq!(v["architecture"], "qwen2");
    assert_eq!(v["layers"], 2);
    assert_eq!(v["chat_template"], true);
    assert_eq!(v["context_length"], 256);
    for ty in ["Q4_K", "Q5_K", "Q6_K", "Q8_0", "Q4_0", "F16", "BF16", "F32"] {
        assert!(
            v["quantization"][ty]["tensors"].as_u64().unwrap() >= 1,
            "{ty} in {v}"
        );
    }
    let text = hearth!().run(&["model", "info", &m]);
    assert!(
        stdout_of(&text).contains("architecture:    qwen2"),
        "{}",
        stdout_of(&text)
    );
}

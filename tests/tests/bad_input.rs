//! Bad input gets one clear line naming the input and the problem, exit
//! code 2, and never a panic or a backtrace.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use hearth_engine::model::gguf::types::GgmlType;
use hearth_engine::model::gguf::{GgufWriter, MetaValue};
use hearth_tests::{hearth, stderr_of, workspace_root};

fn tiny(arch: &str) -> PathBuf {
    workspace_root().join(format!("engine/tests/fixtures/tiny/{arch}.gguf"))
}

/// Runs hearth, expects exit code 2 and a single error line containing
/// every one of `needles`.
fn expect_usage_error(args: &[&str], needles: &[&str]) {
    let out = hearth!().run(args);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "args {args:?}\nstderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(lines[0].starts_with("hearth: error: "), "{err}");
    for n in needles {
        assert!(err.contains(n), "{err:?} should mention {n:?}");
    }
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn missing_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nope.gguf");
    expect_usage_error(
        &["generate", "--model", path_str(&p), "--prompt", "hi"],
        &[path_str(&p)],
    );
}

#[test]
fn a_file_that_is_not_gguf() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notes.gguf");
    std::fs::write(&p, "these are my notes, not a model\n").unwrap();
    expect_usage_error(
        &["generate", "--model", path_str(&p), "--prompt", "hi"],
        &[path_str(&p), "GGUF"],
    );
}

#[test]
fn a_truncated_gguf() {
    let bytes = std::fs::read(tiny("qwen2")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for cut in [10, 1000, bytes.len() / 2, bytes.len() - 1] {
        let p = dir.path().join(format!("cut{cut}.gguf"));
        std::fs::write(&p, &bytes[..cut]).unwrap();
        expect_usage_error(
            &["generate", "--model", path_str(&p), "--prompt", "hi"],
            &[path_str(&p)],
        );
    }
}

#[test]
fn an_unsupported_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mamba.gguf");
    let mut w = GgufWriter::new();
    w.add_meta("general.architecture", MetaValue::String("mamba".into()))
        .unwrap();
    w.add_tensor("token_embd.weight", GgmlType::F32, &[4, 2], vec![0u8; 32])
        .unwrap();
    w.write_to(&p).unwrap();
    expect_usage_error(
        &["generate", "--model", path_str(&p), "--prompt", "hi"],
        &["mamba", "not supported", "qwen2"],
    );
}

/// A GGUF v3 file with one tensor of ggml type 16 (IQ2_XXS), written by hand
/// because no writer will produce a type it cannot read.
fn gguf_with_tensor_type(type_id: u32) -> Vec<u8> {
    let mut b = Vec::new();
    let s = |b: &mut Vec<u8>, text: &str| {
        b.extend_from_slice(&(text.len() as u64).to_le_bytes());
        b.extend_from_slice(text.as_bytes());
    };
    b.extend_from_slice(b"GGUF");
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&1u64.to_le_bytes()); // tensors
    b.extend_from_slice(&1u64.to_le_bytes()); // metadata entries
    s(&mut b, "general.architecture");
    b.extend_from_slice(&8u32.to_le_bytes()); // string
    s(&mut b, "qwen2");
    s(&mut b, "token_embd.weight");
    b.extend_from_slice(&2u32.to_le_bytes());
    b.extend_from_slice(&256u64.to_le_bytes());
    b.extend_from_slice(&4u64.to_le_bytes());
    b.extend_from_slice(&type_id.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    while b.len() % 32 != 0 {
        b.push(0);
    }
    b.extend(std::iter::repeat_n(0u8, 4 * 66 * 2));
    b
}

#[test]
fn an_unsupported_tensor_type() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("iq2.gguf");
    std::fs::write(&p, gguf_with_tensor_type(16)).unwrap();
    expect_usage_error(
        &["generate", "--model", path_str(&p), "--prompt", "hi"],
        &[path_str(&p), "token_embd.weight", "IQ2_XXS"],
    );
}

#[test]
fn a_prompt_longer_than_the_context_window() {
    let model = tiny("qwen2");
    let prompt = "the other thing ".repeat(40);
    expect_usage_error(
        &[
            "generate",
            "--model",
            path_str(&model),
            "--ctx",
            "16",
            "--prompt",
            &prompt,
        ],
        &["context window", "16"],
    );
}

#[test]
fn an_unknown_model_name() {
    expect_usage_error(
        &["generate", "--model", "gpt-17-ultra", "--prompt", "hi"],
        &["gpt-17-ultra", "qwen2.5-coder-1.5b-instruct-q4_k_m"],
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    let out = hearth!().run(&["generate", "--prompt", "x", "--top-p", "7"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("top-p"));
    let out = hearth!().run(&["generate"]);
    assert_eq!(out.status.code(), Some(2));
}

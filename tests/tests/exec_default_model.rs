//! `hearth exec` end to end on the default model (Qwen2.5-Coder-1.5B-Instruct Q4_K_M): a
//! question about a tiny repository that the model can only answer by reading a file.
//!
//! Cost on a 2-core CPU: the prompt (system text, 13 tool schemas, a repository map) is about
//! 2,000 tokens and is prefilled twice (before and after the tool call), so this one test
//! takes minutes; the fixture is kept as small as it can be.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hearth_tests::{default_model, hearth, stderr_of, stdout_of};
use serde_json::Value;

/// Names say nothing of what the functions do: only their bodies do.
const CALC_PY: &str =
    "def blend(a, b):\n    return a * b\n\n\ndef merge(a, b):\n    return a + b\n";

#[test]
fn the_default_model_answers_a_question_that_needs_a_tool() {
    let model = default_model();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("calc.py"), CALC_PY).unwrap();
    let out = hearth()
        .args(["exec", "--json", "--ephemeral", "--max-turns", "4", "--max-tokens", "128"])
        .arg("--model")
        .arg(model)
        .arg("--cd")
        .arg(dir.path())
        .arg("Use the read_file tool to read calc.py, then tell me which function multiplies its arguments.")
        .output()
        .unwrap();
    let lines: Vec<Value> = stdout_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    eprintln!("{}", stdout_of(&out));
    assert!(out.status.success(), "{}", stderr_of(&out));
    let used_tool = lines
        .iter()
        .any(|l| l["type"] == "tool.output" && l["is_error"] == false);
    assert!(used_tool, "the model read the repository through a tool");
    let last = lines.last().unwrap();
    assert_eq!(last["type"], "session.completed");
    assert!(last["answer"].as_str().unwrap().contains("blend"), "{last}");
    assert!(last["usage"]["output_tokens"].as_u64().unwrap() > 0);
}

//! `hearth exec --think N` on the default model: for budgets 1, 16, 64 and 256 the
//! thinking comes as `thinking.delta` events before the answer, the usage reports at most
//! N thinking tokens per request, the delimiter never shows, and an answer follows; `--think off`
//! gives no thinking at all. Lean for CI: one short question, short answers, and a shared
//! on-disk prefix cache so the system prompt is computed once for all runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use hearth_tests::{hearth, stderr_of, stdout_of};
use serde_json::Value;

const QUESTION: &str = "What is 17 plus 25? Reply with the number only.";

/// Runs exec with `--think think` and returns its JSON-lines events.
fn exec(repo: &Path, cache: &Path, think: &str) -> Vec<Value> {
    let out = hearth!()
        .command()
        // Room for the answer's call (every step is a tool call, the answer included).
        .args(["exec", "--json", "--ephemeral", "--max-tokens", "64"])
        .args(["--think", think, "--model"])
        .arg(hearth!().default_model())
        .arg("--cd")
        .arg(repo)
        .arg("--kv-cache-dir")
        .arg(cache)
        .arg(QUESTION)
        .output()
        .unwrap();
    assert!(out.status.success(), "--think {think}: {}", stderr_of(&out));
    stdout_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn exec_thinks_within_each_budget_then_answers() {
    let repo = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    for budget in [1u64, 16, 64, 256] {
        let events = exec(repo.path(), cache.path(), &budget.to_string());
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        let thinking: String = events
            .iter()
            .filter(|e| e["type"] == "thinking.delta")
            .map(|e| e["text"].as_str().unwrap())
            .collect();
        assert!(
            !thinking.is_empty(),
            "budget {budget}: no thinking: {kinds:?}"
        );
        // Thinking first, then the answer, in each request: a request's thinking ends
        // with its usage, and what it answered (text, a call) comes after that. A turn of
        // several requests (a call, then the answer) thinks again in each one.
        for pair in kinds.windows(2) {
            assert!(
                pair[0] != "thinking.delta" || matches!(pair[1], "thinking.delta" | "usage"),
                "budget {budget}: {} inside a request's thinking: {kinds:?}",
                pair[1]
            );
        }
        let last_thinking = kinds.iter().rposition(|k| *k == "thinking.delta").unwrap();
        let last_text = kinds.iter().rposition(|k| *k == "text.delta");
        assert!(
            last_text.is_some_and(|t| t > last_thinking),
            "budget {budget}: {kinds:?}"
        );
        let done = events.last().unwrap();
        assert_eq!(done["type"], "session.completed", "budget {budget}");
        // The budget holds for each request of the turn.
        for usage in events.iter().filter(|e| e["type"] == "usage") {
            let spent = usage["request"]["thinking_tokens"].as_u64().unwrap();
            assert!(
                (1..=budget).contains(&spent),
                "budget {budget}: {spent} thinking tokens in one request"
            );
        }
        let spent = done["usage"]["thinking_tokens"].as_u64().unwrap();
        let answer = done["answer"].as_str().unwrap();
        assert!(!answer.trim().is_empty(), "budget {budget}: no answer");
        assert!(!answer.contains("</think>") && !thinking.contains("</think>"));
        let output = done["usage"]["output_tokens"].as_u64().unwrap();
        assert!(
            output > spent,
            "budget {budget}: {output} output tokens for {spent} thinking"
        );
        eprintln!("budget {budget}: {spent} thinking tokens; answer {answer:?}");
    }
    let events = exec(repo.path(), cache.path(), "off");
    assert!(events.iter().all(|e| e["type"] != "thinking.delta"));
    let done = events.last().unwrap();
    assert_eq!(done["usage"]["thinking_tokens"], 0);
}

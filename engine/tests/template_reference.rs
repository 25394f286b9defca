//! Chat templates rendered by hearth must equal what transformers' jinja2
//! setup renders. The expected strings in `fixtures/template/cases.json` come
//! from `scripts/fixtures/template_fixtures.py` (jinja2 configured as in
//! transformers' `_compile_jinja_template`), over the real Qwen2.5, Qwen3 and
//! Llama 3.2 templates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hearth_engine::template::{ChatTemplate, TemplateError, TemplateInput};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Deserialize)]
struct Case {
    template: String,
    name: String,
    bos_token: String,
    eos_token: String,
    messages: Vec<serde_json::Value>,
    tools: Vec<serde_json::Value>,
    add_generation_prompt: bool,
    extra: serde_json::Map<String, serde_json::Value>,
    expected: Option<String>,
    expected_error: Option<String>,
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/template")
}

fn load_cases() -> Vec<Case> {
    let text = std::fs::read_to_string(fixtures().join("cases.json")).expect("read cases.json");
    serde_json::from_str(&text).expect("parse cases.json")
}

/// Where two renderings first differ, with some context, for a readable failure.
fn first_difference(got: &str, want: &str) -> String {
    let at = got
        .char_indices()
        .zip(want.chars())
        .find(|((_, a), b)| a != b)
        .map(|((i, _), _)| i)
        .unwrap_or(got.len().min(want.len()));
    let start = got[..at]
        .char_indices()
        .rev()
        .nth(60)
        .map(|(i, _)| i)
        .unwrap_or(0);
    format!(
        "first difference at byte {at}:\n  got:  {:?}\n  want: {:?}",
        &got[start..(at + 60).min(got.len())]
            .chars()
            .collect::<String>(),
        want.get(start..)
            .unwrap_or("")
            .chars()
            .take(at - start + 60)
            .collect::<String>()
    )
}

#[test]
fn renders_exactly_like_transformers() {
    let cases = load_cases();
    assert!(
        cases.len() >= 40,
        "expected the full fixture set, found {} cases",
        cases.len()
    );
    let mut templates: HashMap<(String, String, String), ChatTemplate> = HashMap::new();
    let mut failures = Vec::new();
    for case in &cases {
        let key = (
            case.template.clone(),
            case.bos_token.clone(),
            case.eos_token.clone(),
        );
        let template = templates.entry(key).or_insert_with(|| {
            let source =
                std::fs::read_to_string(fixtures().join(&case.template)).expect("read template");
            ChatTemplate::new(&source, &case.bos_token, &case.eos_token).expect("template compiles")
        });
        let input = TemplateInput {
            messages: case.messages.clone(),
            tools: case.tools.clone(),
            add_generation_prompt: case.add_generation_prompt,
            extra: case.extra.clone(),
        };
        let label = format!("{} {}", case.template, case.name);
        match (
            template.render(&input),
            &case.expected,
            &case.expected_error,
        ) {
            (Ok(got), Some(want), _) if &got == want => {}
            (Ok(got), Some(want), _) => {
                failures.push(format!("{label}: {}", first_difference(&got, want)))
            }
            (Err(TemplateError::Raised(message)), None, Some(want)) if &message == want => {}
            (result, _, _) => failures.push(format!(
                "{label}: got {result:?}, expected {:?} / error {:?}",
                case.expected, case.expected_error
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn strftime_now_is_available_and_formats_a_date() {
    let source = std::fs::read_to_string(fixtures().join("llama3.2.jinja")).unwrap();
    let template = ChatTemplate::new(&source, "<|begin_of_text|>", "<|eot_id|>").unwrap();
    let input = TemplateInput {
        messages: vec![serde_json::json!({"role": "user", "content": "hi"})],
        ..TemplateInput::default()
    };
    let out = template.render(&input).unwrap();
    let line = out
        .lines()
        .find(|l| l.starts_with("Today Date: "))
        .expect("a date line");
    let date = line.trim_start_matches("Today Date: ");
    // "%d %b %Y", e.g. "21 Nov 2026".
    let parts: Vec<&str> = date.split(' ').collect();
    assert_eq!(parts.len(), 3, "{date:?}");
    assert!(
        parts[0].len() == 2 && parts[0].chars().all(|c| c.is_ascii_digit()),
        "{date:?}"
    );
    assert!(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
            .contains(&parts[1])
    );
    assert!(parts[2].parse::<u32>().unwrap() >= 2025, "{date:?}");
}

//! Accuracy of a model on bench/thinking/questions.jsonl at several thinking budgets.
//!
//! cargo run --release -p hearth-engine --example thinking_bench -- MODEL.gguf [BUDGET[:MIN]...]
//!
//! `BUDGET:MIN` also sets `min_tokens` (budget forcing: an earlier close becomes "Wait").
//! Each question is asked on its own (greedy, no tools) with the instruction to end with
//! `Answer: <value>`; the value (else the last number in the answer) is compared with the
//! expected one. Budget 0 is thinking off. Prints one line per question to stderr and a
//! table to stdout. Slow on a laptop CPU: budget 1024 takes minutes per question.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use hearth_engine::api::{ContentBlock, Message, Request, SystemPrompt, TextBlock, ThinkingConfig};
use hearth_engine::engine::{Engine, EngineOptions};
use hearth_engine::generation::sampler::SamplingParams;
use hearth_engine::model::load::Model;

/// The most answer tokens after the thinking.
const ANSWER_TOKENS: u32 = 160;
const SYSTEM: &str = "Solve the problem. End your reply with a last line of the form \
`Answer: <value>`, where <value> is only the final number.";

struct Question {
    id: String,
    question: String,
    answer: String,
}

fn questions() -> Vec<Question> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bench/thinking/questions.jsonl");
    let text = std::fs::read_to_string(&path).expect("bench/thinking/questions.jsonl");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            Question {
                id: v["id"].as_str().unwrap().to_string(),
                question: v["question"].as_str().unwrap().to_string(),
                answer: v["answer"].as_str().unwrap().to_string(),
            }
        })
        .collect()
}

/// The value the reply gives: after the last `Answer:`, else its last number.
fn extract(reply: &str) -> Option<String> {
    let tail = reply
        .rfind("Answer:")
        .map_or(reply, |at| &reply[at + "Answer:".len()..]);
    let numbers: Vec<String> = tail
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .map(|s| s.trim_matches(|c| c == '.' || c == '-'))
        .filter(|s| !s.is_empty() && s.chars().any(|c| c.is_ascii_digit()))
        .map(str::to_string)
        .collect();
    if reply.contains("Answer:") {
        numbers.first().cloned()
    } else {
        numbers.last().cloned()
    }
}

fn same_number(got: &str, expected: &str) -> bool {
    match (got.parse::<f64>(), expected.parse::<f64>()) {
        (Ok(a), Ok(b)) => (a - b).abs() < 1e-9,
        _ => got == expected,
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let model_path = PathBuf::from(
        args.next()
            .expect("usage: thinking_bench MODEL.gguf [BUDGET...]"),
    );
    let mut budgets: Vec<(u32, u32)> = args
        .map(|a| {
            let (budget, min) = a.split_once(':').unwrap_or((&a, "0"));
            (
                budget.parse().expect("a budget in tokens"),
                min.parse().expect("a minimum in tokens"),
            )
        })
        .collect();
    if budgets.is_empty() {
        budgets = vec![(0, 0), (256, 0), (1024, 0)];
    }
    let model = Arc::new(Model::load(&model_path).expect("the model loads"));
    let mut options = EngineOptions::for_model(&model, "bench");
    options.context_tokens = 4096;
    options.default_sampling = SamplingParams::greedy();
    let engine = Engine::new(model, options);
    let questions = questions();
    let mut table = Vec::new();
    for &(budget, min_tokens) in &budgets {
        let started = Instant::now();
        let (mut correct, mut thinking_tokens) = (0, 0u64);
        for q in &questions {
            let req = Request {
                system: SystemPrompt(vec![TextBlock {
                    kind: "text".into(),
                    text: SYSTEM.into(),
                }]),
                messages: vec![Message::user(q.question.clone())],
                max_tokens: ANSWER_TOKENS + budget + 8,
                temperature: Some(0.0),
                thinking: (budget > 0).then_some(ThinkingConfig::Enabled {
                    budget_tokens: budget,
                    min_tokens: (min_tokens > 0).then_some(min_tokens),
                }),
                ..Request::default()
            };
            let response = engine
                .run(&req, &mut |_| ControlFlow::Continue(()))
                .expect("the request runs");
            let text: String = response
                .content
                .iter()
                .filter_map(|b| match b {
                    ContentBlock::Text { text } => Some(text.as_str()),
                    _ => None,
                })
                .collect();
            let got = extract(&text);
            let ok = got.as_deref().is_some_and(|g| same_number(g, &q.answer));
            correct += usize::from(ok);
            thinking_tokens += u64::from(response.usage.thinking_tokens);
            eprintln!(
                "budget {budget:>5} {:<10} {} got {:?} expected {} ({} thinking tokens)",
                q.id,
                if ok { "ok  " } else { "MISS" },
                got,
                q.answer,
                response.usage.thinking_tokens
            );
        }
        let label = if min_tokens > 0 {
            format!("{budget} (min {min_tokens})")
        } else {
            budget.to_string()
        };
        table.push((label, correct, thinking_tokens, started.elapsed()));
    }
    println!("| budget | correct | mean thinking tokens | time |");
    println!("|---|---|---|---|");
    for (budget, correct, thinking, time) in table {
        println!(
            "| {budget} | {correct}/{} | {:.0} | {:.0} s |",
            questions.len(),
            thinking as f64 / questions.len() as f64,
            time.as_secs_f64()
        );
    }
}

//! `hearth bench spec`: what speculative decoding from the context gains on an agent's
//! output, and that it changes nothing. Three requests on one model, each decoded with
//! drafting off (plain) and on, alternating: a 150-line source file rewritten with one
//! change, an `edit_file` call whose old text comes from a file read earlier in the
//! conversation (decoded under the tool-call grammar, as the agent's calls are), and a
//! free prose answer, where drafts rarely match and must cost nothing.
//!
//! Each engine first serves the request with `max_tokens: 1`, so its prompt is cached and
//! the timed runs are decoding alone; their outputs must be the same with and without
//! drafting, token for token (greedy decoding).

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

use anyhow::anyhow;
use hearth_engine::api::{ContentBlock, Request};
use hearth_engine::engine::{Engine, EngineOptions};
use hearth_engine::generation::sampler::SamplingParams;
use hearth_engine::generation::speculate::SpeculationOptions;
use serde_json::{json, Value};

use crate::args::BenchSpecArgs;
use crate::commands::load_model;
use crate::config::Environment;
use crate::error::CliError;

/// The source file the rewrite and the edit work on.
const SOURCE: &str = include_str!("../../../bench/spec/stock.py");
const SOURCE_PATH: &str = "shop/stock.py";

/// The edit the conversation of the edit case has already made.
const LOW_STOCK_OLD: &str = "def low_stock(items, threshold=LOW_STOCK_THRESHOLD):
    \"\"\"The items at or below the threshold, fewest first.\"\"\"
    low = [item for item in items if item.is_low(threshold)]
    return sorted(low, key=lambda item: item.quantity)
";
const LOW_STOCK_NEW: &str = "def low_stock(items, threshold=LOW_STOCK_THRESHOLD):
    \"\"\"The items at or below the threshold, by name.\"\"\"
    low = [item for item in items if item.is_low(threshold)]
    return sorted(low, key=lambda item: item.name)
";

/// The context window of the runs: room for the file twice and the answer.
const CONTEXT_TOKENS: usize = 8_192;

/// One request and what the target for it is.
struct Case {
    name: &'static str,
    request: Request,
    /// The least speculative / plain decode speed that meets the target.
    target: f64,
}

/// What one case measured.
struct Measured {
    name: &'static str,
    target: f64,
    tokens: u32,
    plain: Vec<f64>,
    speculative: Vec<f64>,
    drafted: u32,
    accepted: u32,
    identical: bool,
    /// The first run's answer, to see what was measured.
    output: Vec<ContentBlock>,
    /// The prompt as the model saw it, so another engine (bench/vs-llamacpp) can time
    /// the same task.
    prompt_tokens: Vec<u32>,
}

impl Measured {
    fn ratio(&self) -> f64 {
        let plain = median(&self.plain);
        if plain > 0.0 {
            median(&self.speculative) / plain
        } else {
            0.0
        }
    }

    /// Output tokens per forward pass with drafting: each pass yields the token the model
    /// picks plus the drafted tokens it accepted, so passes = tokens - accepted.
    fn tokens_per_pass(&self) -> f64 {
        let passes = self.tokens.saturating_sub(self.accepted);
        if passes == 0 {
            0.0
        } else {
            f64::from(self.tokens) / f64::from(passes)
        }
    }

    fn meets_target(&self) -> bool {
        self.identical && self.ratio() >= self.target
    }
}

/// Runs `hearth bench spec`.
pub fn run(env: &Environment, a: BenchSpecArgs) -> Result<(), CliError> {
    if a.runs == 0 {
        return Err(CliError::usage(anyhow!("--runs must be at least 1")));
    }
    let model = Arc::new(load_model(env, &a.model.model)?);
    let context = model.config().context_length.min(CONTEXT_TOKENS);
    let engine = |speculation| {
        let mut options = EngineOptions::for_model(&model, "bench");
        options.context_tokens = context;
        options.default_sampling = SamplingParams::greedy();
        options.speculation = speculation;
        Engine::new(Arc::clone(&model), options)
    };
    let plain = engine(None);
    let speculative = engine(Some(SpeculationOptions::default()));
    let mut results = Vec::new();
    for case in cases().map_err(CliError::failure)? {
        if !a.json {
            eprintln!("bench spec: {} ({} runs each)", case.name, a.runs);
        }
        results.push(measure(&plain, &speculative, case, a.runs)?);
    }
    if a.json {
        let cases: Vec<Value> = results
            .iter()
            .map(|m| {
                json!({
                    "name": m.name,
                    "tokens": m.tokens,
                    "plain_tok_s": median(&m.plain),
                    "speculative_tok_s": median(&m.speculative),
                    "plain_runs": m.plain,
                    "speculative_runs": m.speculative,
                    "ratio": m.ratio(),
                    "drafted": m.drafted,
                    "accepted": m.accepted,
                    "tokens_per_pass": m.tokens_per_pass(),
                    "identical": m.identical,
                    "target_ratio": m.target,
                    "meets_target": m.meets_target(),
                    "output": m.output,
                    "prompt_tokens": m.prompt_tokens,
                })
            })
            .collect();
        println!("{}", json!({ "runs": a.runs, "cases": cases }));
    } else {
        println!(
            "{:<10} {:>6} {:>12} {:>12} {:>7} {:>9} {:>10} {:>7}",
            "case",
            "tokens",
            "plain tok/s",
            "spec tok/s",
            "ratio",
            "tok/pass",
            "identical",
            "target"
        );
        for m in &results {
            println!(
                "{:<10} {:>6} {:>12.1} {:>12.1} {:>6.2}x {:>9.2} {:>10} {:>7}",
                m.name,
                m.tokens,
                median(&m.plain),
                median(&m.speculative),
                m.ratio(),
                m.tokens_per_pass(),
                if m.identical { "yes" } else { "NO" },
                format!(
                    "{}{:.2}",
                    if m.meets_target() { ">=" } else { "MISS " },
                    m.target
                ),
            );
        }
    }
    if results.iter().any(|m| !m.identical) {
        return Err(CliError::failure(anyhow!(
            "speculative decoding changed an output: the engine has a bug"
        )));
    }
    Ok(())
}

/// Serves `case` with both engines, alternating, `runs` times each after a warm-up.
fn measure(
    plain: &Engine,
    speculative: &Engine,
    case: Case,
    runs: usize,
) -> Result<Measured, CliError> {
    let warm_up = Request {
        max_tokens: 1,
        ..case.request.clone()
    };
    for engine in [plain, speculative] {
        serve(engine, &warm_up)?;
    }
    let mut m = Measured {
        name: case.name,
        target: case.target,
        tokens: 0,
        plain: Vec::new(),
        speculative: Vec::new(),
        drafted: 0,
        accepted: 0,
        identical: true,
        output: Vec::new(),
        prompt_tokens: plain
            .prompt_tokens(&case.request)
            .map_err(|e| CliError::failure(anyhow!("{e}")))?,
    };
    let mut first: Option<Vec<ContentBlock>> = None;
    for _ in 0..runs {
        for drafting in [false, true] {
            let engine = if drafting { speculative } else { plain };
            let started = Instant::now();
            let response = serve(engine, &case.request)?;
            let seconds = started.elapsed().as_secs_f64();
            let usage = response.usage;
            let speed = f64::from(usage.output_tokens) / seconds.max(1e-9);
            m.tokens = usage.output_tokens;
            if drafting {
                m.speculative.push(speed);
                m.drafted = usage.drafted_tokens;
                m.accepted = usage.accepted_tokens;
            } else {
                m.plain.push(speed);
            }
            match &first {
                None => first = Some(response.content),
                Some(want) => m.identical &= *want == response.content,
            }
        }
    }
    m.output = first.unwrap_or_default();
    Ok(m)
}

fn serve(engine: &Engine, req: &Request) -> Result<hearth_engine::api::Response, CliError> {
    engine
        .run(req, &mut |_| ControlFlow::Continue(()))
        .map_err(|e| CliError::failure(anyhow!("{e}")))
}

/// The three requests.
fn cases() -> anyhow::Result<Vec<Case>> {
    let rewrite = json!({
        "max_tokens": 2048,
        "messages": [{
            "role": "user",
            "content": format!(
                "Here is {SOURCE_PATH}:\n\n```python\n{SOURCE}```\n\nChange REORDER_DAYS from \
                 14 to 21. Reply with the whole file, changed, in one python code block and \
                 nothing else."
            ),
        }],
    });
    let path_schema = json!({"type": "string", "description": "The file's path."});
    let edit = json!({
        "max_tokens": 512,
        "system": "You are a coding agent working in a repository. Do the task with the tools.",
        "tools": [
            {
                "name": "read_file",
                "description": "Reads a file of the repository.",
                "input_schema": {"type": "object", "properties": {"path": path_schema},
                                 "required": ["path"]},
            },
            {
                "name": "edit_file",
                "description": "Edit a file by replacing the text `old` with `new`. `old` \
                                must occur exactly once in the file; add surrounding lines \
                                to make it unique. Copy `old` from the file.",
                "input_schema": {"type": "object", "properties": {
                    "path": path_schema,
                    "old": {"type": "string", "description": "The exact text to replace."},
                    "new": {"type": "string", "description": "The text to put in its place."},
                }, "required": ["path", "old", "new"]},
            },
        ],
        "tool_choice": {"type": "tool", "name": "edit_file"},
        // One whole-function edit earlier in the conversation shows the form; the next
        // one copies the next function the same way.
        "messages": [
            {"role": "user", "content": format!(
                "In {SOURCE_PATH}, make low_stock sort by name, then make reorder_list skip \
                 items that have no supplier. Replace each whole function."
            )},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1",
                "name": "read_file", "input": {"path": SOURCE_PATH}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                "content": SOURCE}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_2",
                "name": "edit_file", "input": {"path": SOURCE_PATH, "old": LOW_STOCK_OLD,
                    "new": LOW_STOCK_NEW}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_2",
                "content": format!("Edited {SOURCE_PATH} at line 83.")}]},
        ],
    });
    let prose = json!({
        "max_tokens": 300,
        "messages": [{
            "role": "user",
            "content": "Write a short story about a lighthouse keeper who finds a strange bottle.",
        }],
    });
    Ok(vec![
        Case {
            name: "rewrite",
            request: serde_json::from_value(rewrite)?,
            target: 2.0,
        },
        Case {
            name: "edit call",
            request: serde_json::from_value(edit)?,
            target: 2.0,
        },
        Case {
            name: "prose",
            request: serde_json::from_value(prose)?,
            target: 0.97,
        },
    ])
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

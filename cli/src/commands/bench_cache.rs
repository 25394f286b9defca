//! `hearth bench cache`: what prompt caching saves an agent session. A recorded
//! multi-turn transcript is replayed request by request through one engine with
//! its prefix cache (warm), beside the time to prefill only each request's new
//! tokens on a sequence that kept its KV (the reference a warm turn is judged
//! against) and, for some turns, an engine without a cache (cold). Then two
//! `hearth exec` processes share a fresh disk cache: how soon the second one
//! reaches its first token.
//!
//! A live session generates each reply, and the engine caches the reply's KV
//! with the prompt's. The replay generates one token per request, so after
//! each request it feeds the recorded reply's tokens (as the next request's
//! prompt renders them, up to the end-of-turn token that generation would
//! have stopped at) into the warm engine's cache: what decoding it would
//! have left there. That is exact where the model emits its reply as the
//! chat template renders it back; where it does not (e.g. a tool call in a
//! fenced block, rendered back as `<tool_call>`), the next turn recomputes
//! the reply, which `--prompts-only` measures as the worst case.

use std::io::{BufRead as _, BufReader};
use std::ops::ControlFlow;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use hearth_engine::api::{Request, Role};
use hearth_engine::engine::{Engine, EngineOptions};
use hearth_engine::generation::sampler::SamplingParams;
use hearth_engine::kv::KvCache;
use hearth_engine::model::transformer::LogitsFor;
use serde_json::{json, Value};

use crate::args::{BenchCacheArgs, ColdTurns};
use crate::commands::load_model;
use crate::config::Environment;
use crate::error::CliError;

/// The transcript replayed by default (recorded by agent/examples/cache_transcript.rs).
const BUILT_IN_TRANSCRIPT: &str = include_str!("../../../bench/cache/transcript.json");

/// The context window of the replay: room for the whole transcript.
const CONTEXT_TOKENS: usize = 32_768;

/// The task both `hearth exec` processes run.
const SECOND_PROCESS_TASK: &str = "What does this repository do? Answer in one sentence.";

/// One replayed request.
struct Turn {
    prompt: usize,
    /// Tokens of the recorded reply fed as if generated.
    reply: usize,
    cached: u32,
    new_tokens: usize,
    warm: Duration,
    reference: Duration,
    cold: Option<Duration>,
}

impl Turn {
    /// The target: a warm turn within 10% (plus 50 ms) of prefilling only its new tokens.
    fn within_target(&self) -> bool {
        self.warm.as_secs_f64() <= self.reference.as_secs_f64() * 1.1 + 0.05
    }
}

/// Runs `hearth bench cache`.
pub fn run(env: &Environment, a: BenchCacheArgs) -> Result<(), CliError> {
    let text = match &a.transcript {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("--transcript {}", path.display()))
            .map_err(CliError::usage)?,
        None => BUILT_IN_TRANSCRIPT.to_string(),
    };
    let requests = split_requests(&text).map_err(CliError::usage)?;
    let model = Arc::new(load_model(env, &a.model.model)?);
    let context = model.config().context_length.min(CONTEXT_TOKENS);
    let engine = |memory_bytes| {
        let mut options = EngineOptions::for_model(&model, "bench");
        options.context_tokens = context;
        options.default_sampling = SamplingParams::greedy();
        options.prompt_cache.memory_bytes = memory_bytes;
        Engine::new(Arc::clone(&model), options)
    };
    let warm = engine(hearth_engine::engine::prompt_cache::DEFAULT_CACHE_MEMORY_BYTES);
    let cold = engine(0);
    let transformer = model.transformer();
    let mut reference_kv = KvCache::new(transformer.kv_shape(), context);
    let mut reference_tokens: Vec<u32> = Vec::new();

    let prompts = requests
        .iter()
        .map(|req| warm.prompt_tokens(req))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CliError::usage(anyhow!("{e}")))?;
    let mut turns = Vec::new();
    for (i, (req, tokens)) in requests.iter().zip(&prompts).enumerate() {
        let common = shared_prefix(&reference_tokens, tokens).min(tokens.len() - 1);
        reference_kv.truncate(common);
        let started = Instant::now();
        transformer
            .forward(&tokens[common..], &mut reference_kv, LogitsFor::Last)
            .map_err(CliError::failure)?;
        let reference = started.elapsed();
        reference_tokens = tokens.clone();

        let (warm_time, response) = timed_run(&warm, req)?;
        let run_cold = match a.cold {
            ColdTurns::All => true,
            ColdTurns::Ends => i == 0 || i + 1 == requests.len(),
            ColdTurns::None => false,
        };
        let cold_time = if run_cold {
            Some(timed_run(&cold, req)?.0)
        } else {
            None
        };
        let reply = match prompts.get(i + 1) {
            Some(next) if !a.prompts_only => {
                generated_reply(tokens, next, |t| model.tokenizer().is_end_of_generation(t))
            }
            _ => &[],
        };
        if !reply.is_empty() {
            let mut sequence = tokens.clone();
            sequence.extend_from_slice(reply);
            warm.warm_cache(&sequence)
                .map_err(|e| CliError::failure(anyhow!("{e}")))?;
            transformer
                .forward(reply, &mut reference_kv, LogitsFor::From(reply.len()))
                .map_err(CliError::failure)?;
            reference_tokens = sequence;
        }
        let turn = Turn {
            prompt: tokens.len(),
            reply: reply.len(),
            cached: response.usage.cache_read_input_tokens,
            new_tokens: tokens.len() - common,
            warm: warm_time,
            reference,
            cold: cold_time,
        };
        eprintln!(
            "bench cache: turn {}/{}: {} prompt tokens, {} from cache, first token in {:.0} ms \
             (new tokens alone {:.0} ms)",
            i + 1,
            requests.len(),
            turn.prompt,
            turn.cached,
            ms(turn.warm),
            ms(turn.reference)
        );
        turns.push(turn);
    }

    let second = if a.no_second_process {
        None
    } else {
        Some(second_process(env, &a.model.model)?)
    };
    report(&turns, second.as_ref(), &warm, a.json);
    Ok(())
}

/// The requests of a session, from the whole conversation: one for each user
/// message (a question or tool results), holding everything before it.
fn split_requests(text: &str) -> anyhow::Result<Vec<Request>> {
    let whole: Request = serde_json::from_str(text)
        .context("transcript: expected a Messages request (JSON) holding the conversation")?;
    let requests: Vec<Request> = whole
        .messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m.role == Role::User)
        .map(|(i, _)| Request {
            messages: whole.messages[..=i].to_vec(),
            max_tokens: 1,
            temperature: Some(0.0),
            ..whole.clone()
        })
        .collect();
    if requests.is_empty() {
        return Err(anyhow!("transcript: no user message to replay"));
    }
    Ok(requests)
}

fn timed_run(
    engine: &Engine,
    req: &Request,
) -> Result<(Duration, hearth_engine::api::Response), CliError> {
    let started = Instant::now();
    let response = engine
        .run(req, &mut |_| ControlFlow::Continue(()))
        .map_err(|e| CliError::failure(anyhow!("{e}")))?;
    Ok((started.elapsed(), response))
}

/// The tokens a model generated for the request whose prompt is `prompt`,
/// read from the `next` request's prompt: what follows `prompt` up to the
/// first end-of-generation token (which generation samples but never
/// feeds back). Empty when `next` does not extend `prompt`.
fn generated_reply<'a>(prompt: &[u32], next: &'a [u32], is_end: impl Fn(u32) -> bool) -> &'a [u32] {
    let Some(rest) = next.strip_prefix(prompt) else {
        return &[];
    };
    let end = rest.iter().position(|&t| is_end(t)).unwrap_or(0);
    &rest[..end]
}

fn shared_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Time to first token of two `hearth exec` processes in the current directory, the
/// second starting from the disk cache the first left.
struct SecondProcess {
    first: Duration,
    second: Duration,
    second_cached: u64,
    prompt: u64,
}

fn second_process(env: &Environment, model: &str) -> Result<SecondProcess, CliError> {
    let exe = std::env::current_exe().map_err(CliError::failure)?;
    let dir = env
        .cache_dir
        .join(format!("bench-kv-{}", std::process::id()));
    let result = (|| {
        let (first, _, _) = exec_first_token(&exe, model, &dir)?;
        let (second, usage, _) = exec_first_token(&exe, model, &dir)?;
        let field = |k: &str| usage[k].as_u64().unwrap_or(0);
        Ok(SecondProcess {
            first,
            second,
            second_cached: field("cache_read_input_tokens"),
            prompt: field("input_tokens")
                + field("cache_read_input_tokens")
                + field("cache_creation_input_tokens"),
        })
    })();
    // Best effort: the folder is only this run's scratch space.
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Runs one `hearth exec --json` with a one-token answer; returns the time from its
/// start to its first `usage` line (the first token), that line's request usage, and
/// its exit status.
fn exec_first_token(
    exe: &Path,
    model: &str,
    kv_dir: &Path,
) -> Result<(Duration, Value, std::process::ExitStatus), CliError> {
    eprintln!(
        "bench cache: starting `hearth exec` with the disk cache in {}",
        kv_dir.display()
    );
    let started = Instant::now();
    let mut child = Command::new(exe)
        .args([
            "exec",
            "--json",
            "--ephemeral",
            "--max-turns",
            "1",
            "--max-tokens",
            "1",
        ])
        .arg("--model")
        .arg(model)
        .arg("--kv-cache-dir")
        .arg(kv_dir)
        .arg(SECOND_PROCESS_TASK)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting hearth exec")
        .map_err(CliError::failure)?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| CliError::failure(anyhow!("hearth exec: no stdout")))?;
    let mut first = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(CliError::failure)?;
        let Ok(event) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if first.is_none() && event["type"] == "usage" {
            first = Some((started.elapsed(), event["request"].clone()));
        }
    }
    let status = child.wait().map_err(CliError::failure)?;
    let (time, usage) = first.ok_or_else(|| {
        CliError::failure(anyhow!(
            "hearth exec ended ({status}) before its first token"
        ))
    })?;
    Ok((time, usage, status))
}

fn report(turns: &[Turn], second: Option<&SecondProcess>, warm: &Engine, as_json: bool) {
    let later = &turns[1..];
    let later_prompt: usize = later.iter().map(|t| t.prompt).sum();
    let later_cached: u64 = later.iter().map(|t| u64::from(t.cached)).sum();
    let share = if later_prompt == 0 {
        0.0
    } else {
        later_cached as f64 / later_prompt as f64
    };
    let within = later.iter().filter(|t| t.within_target()).count();
    let stats = warm.cache_stats();
    if as_json {
        let rows: Vec<Value> = turns
            .iter()
            .enumerate()
            .map(|(i, t)| {
                json!({
                    "turn": i + 1,
                    "prompt_tokens": t.prompt,
                    "cached_tokens": t.cached,
                    "new_tokens": t.new_tokens,
                    "reply_tokens_fed": t.reply,
                    "warm_ttft_ms": ms(t.warm),
                    "reference_prefill_ms": ms(t.reference),
                    "cold_ttft_ms": t.cold.map(ms),
                    "within_target": t.within_target(),
                })
            })
            .collect();
        let mut out = json!({
            "turns": rows,
            "cached_share_after_first_turn": share,
            "warm_turns_within_target": within,
            "warm_turns": later.len(),
            "cache_stats": stats,
        });
        if let Some(s) = second {
            out["second_process"] = json!({
                "first_ttft_ms": ms(s.first),
                "second_ttft_ms": ms(s.second),
                "ratio": s.second.as_secs_f64() / s.first.as_secs_f64(),
                "second_cached_tokens": s.second_cached,
                "prompt_tokens": s.prompt,
            });
        }
        println!("{out}");
        return;
    }
    println!(
        "{:>4} {:>7} {:>7} {:>6} {:>10} {:>10} {:>10} {:>6}",
        "turn", "prompt", "cached", "new", "warm ms", "new-only", "cold ms", "reply"
    );
    for (i, t) in turns.iter().enumerate() {
        println!(
            "{:>4} {:>7} {:>7} {:>6} {:>10.0} {:>10.0} {:>10} {:>6}{}",
            i + 1,
            t.prompt,
            t.cached,
            t.new_tokens,
            ms(t.warm),
            ms(t.reference),
            t.cold.map_or("-".to_string(), |d| format!("{:.0}", ms(d))),
            t.reply,
            if i > 0 && !t.within_target() {
                "  *"
            } else {
                ""
            }
        );
    }
    println!(
        "after the first turn: {:.2}% of prompt tokens served from cache ({later_cached} of \
         {later_prompt}); {within} of {} warm turns within 10% + 50 ms of prefilling only their \
         new tokens (* marks the others)",
        share * 100.0,
        later.len()
    );
    println!(
        "cache: {} lookups, {} blocks in memory, {} evictions",
        stats.lookups, stats.blocks_in_memory, stats.evictions
    );
    if let Some(s) = second {
        println!(
            "second process: first token after {:.0} ms vs {:.0} ms for the first ({:.1}%), \
             {} of {} prompt tokens from the disk cache",
            ms(s.second),
            ms(s.first),
            100.0 * s.second.as_secs_f64() / s.first.as_secs_f64(),
            s.second_cached,
            s.prompt
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_reply_is_what_follows_the_prompt_up_to_the_end_of_turn() {
        let end = |t: u32| t == 99;
        assert_eq!(
            generated_reply(&[1, 2], &[1, 2, 5, 6, 99, 7, 8], end),
            &[5, 6]
        );
        // Nothing before the end of turn, or no end of turn at all.
        assert!(generated_reply(&[1, 2], &[1, 2, 99, 7], end).is_empty());
        assert!(generated_reply(&[1, 2], &[1, 2, 5, 6], end).is_empty());
        // A template that rewrote the prompt: nothing is known to be generated.
        assert!(generated_reply(&[1, 2], &[1, 3, 5, 99], end).is_empty());
    }
}

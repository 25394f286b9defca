//! `hearth generate`: stream a continuation of a prompt or a chat reply.

use std::io::Write as _;
use std::ops::ControlFlow;

use anyhow::anyhow;
use hearth_engine::generation::generate::{generate, GenerateOptions};
use hearth_engine::generation::sampler::SamplingParams;
use hearth_engine::generation::speculate::SpeculationOptions;
use hearth_engine::kv::KvCache;
use hearth_engine::template::TemplateInput;
use serde_json::json;

use crate::args::GenerateArgs;
use crate::commands::load_model;
use crate::config::Environment;
use crate::error::CliError;

/// Runs `hearth generate`.
pub fn run(env: &Environment, a: GenerateArgs) -> Result<(), CliError> {
    let sampling = SamplingParams {
        temperature: a.temperature,
        top_k: a.top_k,
        top_p: a.top_p,
        min_p: a.min_p,
        repeat_penalty: a.repeat_penalty,
        repeat_last_n: 64,
        seed: a.seed.unwrap_or_else(random_seed),
    };
    sampling
        .validate()
        .map_err(|e| CliError::usage(anyhow!(e)))?;
    let model = load_model(env, &a.model.model)?;
    let prompt_text = match (&a.prompt, &a.chat) {
        (Some(p), _) => p.clone(),
        (None, Some(chat)) => {
            let template = model.template().ok_or_else(|| {
                CliError::usage(anyhow!(
                    "{} has no chat template; use --prompt instead of --chat",
                    model.file().path().display()
                ))
            })?;
            let mut messages = Vec::new();
            if let Some(system) = &a.system {
                messages.push(json!({"role": "system", "content": system}));
            }
            messages.push(json!({"role": "user", "content": chat}));
            let input = TemplateInput {
                messages,
                tools: Vec::new(),
                add_generation_prompt: true,
                extra: serde_json::Map::new(),
            };
            template.render(&input).map_err(CliError::failure)?
        }
        (None, None) => return Err(CliError::usage(anyhow!("give --prompt or --chat"))),
    };
    let prompt = model
        .tokenizer()
        .encode(&prompt_text, true)
        .map_err(CliError::failure)?;
    let context = a.ctx.unwrap_or(model.config().context_length);
    let mut kv = KvCache::new(model.transformer().kv_shape(), context);
    let opts = GenerateOptions {
        max_tokens: a.max_tokens,
        sampling,
        stop: a.stop.clone(),
        stop_on_loop: false,
        speculation: (!a.no_speculate).then(SpeculationOptions::default),
    };
    let mut stdout = std::io::stdout().lock();
    let mut write_failed = None;
    let out = generate(&model, &mut kv, &prompt, &opts, &mut |piece| match stdout
        .write_all(piece.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => {
            write_failed = Some(e);
            ControlFlow::Break(())
        }
    })
    .map_err(CliError::usage)?;
    if let Some(e) = write_failed {
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Ok(());
        }
        return Err(CliError::failure(anyhow!("cannot write to stdout: {e}")));
    }
    let _ = writeln!(stdout).and_then(|()| stdout.flush());
    if !a.quiet {
        let rate = |n: usize, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
        let (pt, dt) = (out.prompt_time.as_secs_f64(), out.decode_time.as_secs_f64());
        // The first sampled token comes from the prompt pass; the rest are decode steps.
        let decoded = out.tokens.len().saturating_sub(1);
        eprintln!(
            "prompt: {} tokens in {:.2} s ({:.1} tok/s); generated: {} tokens in {:.2} s ({:.1} tok/s); stop: {:?}",
            out.prompt_tokens,
            pt,
            rate(out.prompt_tokens, pt),
            out.tokens.len(),
            dt,
            rate(decoded, dt),
            out.stop_reason
        );
        let s = out.speculation;
        if s.passes > 0 {
            eprintln!(
                "speculation: {} of {} drafted tokens accepted in {} passes",
                s.accepted, s.drafted, s.passes
            );
        }
    }
    Ok(())
}

fn random_seed() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

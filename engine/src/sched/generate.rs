//! The generation loop of one sequence: prefill the prompt, then sample and
//! feed back one token at a time until a stop condition.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use crate::kv::KvCache;
use crate::model::load::Model;
use crate::model::transformer::{ForwardError, LogitsFor};
use crate::sched::sampler::{Sampler, SamplingParams};
use crate::sched::stop::{StopCheck, StopStrings};
use crate::tokenizer::StreamDecoder;

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateOptions {
    /// The most tokens to generate.
    pub max_tokens: usize,
    /// How to pick each token.
    pub sampling: SamplingParams,
    /// Strings that end generation (not included in the text).
    pub stop: Vec<String>,
}

/// Why generation ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model produced an end-of-generation token.
    EndOfGeneration,
    /// A stop string appeared.
    StopString(String),
    /// `max_tokens` were generated.
    MaxTokens,
    /// The context window is full.
    ContextFull,
    /// The caller asked to stop.
    Cancelled,
}

/// The result of a generation.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The generated token ids (the end-of-generation token included, if any).
    pub tokens: Vec<u32>,
    /// The text, up to any stop string.
    pub text: String,
    /// Why it ended.
    pub stop_reason: StopReason,
    /// Prompt tokens prefilled.
    pub prompt_tokens: usize,
    /// Time spent on the prompt.
    pub prompt_time: Duration,
    /// Time spent generating after the prompt.
    pub decode_time: Duration,
}

/// Generation could not start or failed on the way.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The prompt alone does not fit the context window.
    #[error("the prompt is {prompt} tokens; the context window is {context} tokens")]
    PromptTooLong {
        /// Prompt tokens (plus any already in the cache).
        prompt: usize,
        /// The window.
        context: usize,
    },
    /// The prompt is empty.
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// The sampling parameters are out of range.
    #[error("invalid sampling parameters: {0}")]
    Sampling(String),
    /// The forward pass failed.
    #[error(transparent)]
    Forward(#[from] ForwardError),
}

/// Generates a continuation of `prompt` (appended to what `kv` holds),
/// calling `on_text` with each piece of final text as it is produced; the
/// callback can stop generation by returning `ControlFlow::Break`.
pub fn generate(
    model: &Model,
    kv: &mut KvCache,
    prompt: &[u32],
    opts: &GenerateOptions,
    on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
) -> Result<Generated, GenerateError> {
    opts.sampling.validate().map_err(GenerateError::Sampling)?;
    if prompt.is_empty() {
        return Err(GenerateError::EmptyPrompt);
    }
    let context = kv.limit();
    if kv.len() + prompt.len() > context {
        return Err(GenerateError::PromptTooLong {
            prompt: kv.len() + prompt.len(),
            context,
        });
    }
    let tok = model.tokenizer();
    let mut sampler = Sampler::new(opts.sampling.clone());
    let mut history: Vec<u32> = prompt.to_vec();
    let mut decoder = StreamDecoder::new(tok);
    let mut stops = StopStrings::new(&opts.stop);
    let mut text = String::new();
    let mut tokens = Vec::new();

    let started = Instant::now();
    let mut logits = model.transformer().forward(prompt, kv, LogitsFor::Last)?;
    let prompt_time = started.elapsed();
    let decode_started = Instant::now();

    let mut emit = |piece: &str, text: &mut String| -> ControlFlow<()> {
        text.push_str(piece);
        if piece.is_empty() {
            ControlFlow::Continue(())
        } else {
            on_text(piece)
        }
    };
    let stop_reason = loop {
        if tokens.len() >= opts.max_tokens {
            break StopReason::MaxTokens;
        }
        let next = sampler.sample(&mut logits, &history);
        tokens.push(next);
        history.push(next);
        if tok.is_end_of_generation(next) {
            break StopReason::EndOfGeneration;
        }
        let piece = decoder.push(next).unwrap_or_default();
        match stops.push(&piece) {
            StopCheck::Continue(out) => {
                if emit(&out, &mut text).is_break() {
                    break StopReason::Cancelled;
                }
            }
            StopCheck::Stop { text: out, matched } => {
                // The stop string itself is withheld; generation ends here.
                let _ = emit(&out, &mut text);
                return Ok(Generated {
                    tokens,
                    text,
                    stop_reason: StopReason::StopString(matched),
                    prompt_tokens: prompt.len(),
                    prompt_time,
                    decode_time: decode_started.elapsed(),
                });
            }
        }
        if tokens.len() >= opts.max_tokens {
            break StopReason::MaxTokens;
        }
        if kv.len() >= context {
            break StopReason::ContextFull;
        }
        logits = model.transformer().forward(&[next], kv, LogitsFor::Last)?;
    };
    if stop_reason != StopReason::Cancelled {
        let rest = decoder.finish();
        let mut tail = match stops.push(&rest) {
            StopCheck::Continue(out) => out,
            StopCheck::Stop { text, .. } => text,
        };
        tail.push_str(&stops.finish());
        let _ = emit(&tail, &mut text);
    }
    Ok(Generated {
        tokens,
        text,
        stop_reason,
        prompt_tokens: prompt.len(),
        prompt_time,
        decode_time: decode_started.elapsed(),
    })
}

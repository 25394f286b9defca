//! Raw-prompt generation for the legacy `/v1/completions`: the prompt's text is tokenized
//! as it is, with no chat template, and continued, as `hearth generate --prompt` does.
//!
//! The engine's contract has no raw-prompt request (it is Messages-shaped), so this runs
//! the engine's own generation loop on the model and reports what it generates as the
//! contract's events (one text block), which lets raw jobs share the queue, the pings and
//! the cancellation of chat jobs. It does not use the engine's prefix cache: that cache
//! is private to [`Engine::run`], and a legacy completion is not an agent's conversation
//! whose prefix repeats.

use std::ops::ControlFlow;

use hearth_engine::api::{
    ApiError, ContentBlock, Delta, Event, MessageDeltaBody, Response, Role, StopReason, Usage,
};
use hearth_engine::engine::Engine;
use hearth_engine::generation::generate::{self, generate, GenerateOptions};
use hearth_engine::generation::sampler::SamplingParams;
use hearth_engine::kv::KvCache;

/// A raw-prompt completion request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawRequest {
    /// The prompt text, tokenized as it is (special tokens written in it are parsed).
    pub prompt: String,
    /// The most tokens to generate.
    pub max_tokens: u32,
    /// Sampling temperature; absent: the engine's default.
    pub temperature: Option<f32>,
    /// Nucleus sampling threshold; absent: the engine's default.
    pub top_p: Option<f32>,
    /// The sampling seed; absent: the engine's default.
    pub seed: Option<u64>,
    /// Strings that end the completion (left out of its text).
    pub stop: Vec<String>,
}

/// The prompt's token ids on `engine`'s tokenizer.
pub fn prompt_tokens(engine: &Engine, prompt: &str) -> Result<Vec<u32>, ApiError> {
    if prompt.is_empty() {
        return Err(ApiError::invalid_request(
            "prompt: empty; give the text to continue",
        ));
    }
    engine
        .model()
        .tokenizer()
        .encode(prompt, true)
        .map_err(|e| ApiError::internal(format!("tokenizing the prompt failed: {e}")))
}

/// Generates a continuation of `req.prompt`, reporting it through `on_event` as one
/// message of one text block; breaking cancels at the next token.
pub fn run(
    engine: &Engine,
    req: &RawRequest,
    on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
) -> Result<Response, ApiError> {
    let prompt = prompt_tokens(engine, &req.prompt)?;
    let context = engine.options().context_tokens;
    let max_tokens = req.max_tokens as usize;
    if prompt.len() + max_tokens > context {
        return Err(ApiError::invalid_request(format!(
            "max_tokens: the prompt is {} tokens and max_tokens is {max_tokens}, over the \
             context window of {context} tokens",
            prompt.len()
        )));
    }
    let defaults = &engine.options().default_sampling;
    let sampling = SamplingParams {
        temperature: req.temperature.unwrap_or(defaults.temperature),
        top_p: req.top_p.unwrap_or(defaults.top_p),
        seed: req.seed.unwrap_or(defaults.seed),
        ..defaults.clone()
    };
    sampling
        .validate()
        .map_err(|e| ApiError::invalid_request(format!("sampling: {e}")))?;
    let options = GenerateOptions {
        max_tokens,
        sampling,
        stop: req.stop.clone(),
        stop_on_loop: false,
    };
    let model = engine.model();
    let mut message = Response {
        id: format!("msg_raw{:08}", next_serial()),
        kind: "message".into(),
        role: Role::Assistant,
        model: engine.model_id().to_string(),
        content: Vec::new(),
        stop_reason: None,
        stop_sequence: None,
        usage: Usage {
            input_tokens: count(prompt.len()),
            ..Usage::default()
        },
    };
    let mut cancelled = on_event(&Event::MessageStart {
        message: message.clone(),
    })
    .is_break();
    cancelled |= on_event(&Event::ContentBlockStart {
        index: 0,
        content_block: ContentBlock::text(""),
    })
    .is_break();
    let mut text = String::new();
    let shape = model
        .transformer()
        .kv_shape()
        .with_dtype(engine.options().kv_type);
    let mut kv = KvCache::new(shape, context);
    let generated = if cancelled {
        None
    } else {
        let result = generate(model, &mut kv, &prompt, &options, &mut |piece| {
            text.push_str(piece);
            let flow = on_event(&Event::ContentBlockDelta {
                index: 0,
                delta: Delta::TextDelta { text: piece.into() },
            });
            cancelled |= flow.is_break();
            flow
        });
        match result {
            Ok(g) => Some(g),
            Err(e) => {
                let error = ApiError::internal(format!("generating failed: {e}"));
                let _ = on_event(&Event::Error {
                    error: error.clone(),
                });
                return Err(error);
            }
        }
    };
    let (stop_reason, stop_sequence) = match generated.as_ref().map(|g| &g.stop_reason) {
        _ if cancelled => (StopReason::Cancelled, None),
        Some(generate::StopReason::EndOfGeneration) => (StopReason::EndTurn, None),
        Some(generate::StopReason::StopString(s)) => (StopReason::StopSequence, Some(s.clone())),
        Some(generate::StopReason::Cancelled) | None => (StopReason::Cancelled, None),
        Some(_) => (StopReason::MaxTokens, None),
    };
    message.usage.output_tokens = generated.as_ref().map_or(0, |g| count(g.tokens.len()));
    let _ = on_event(&Event::ContentBlockStop { index: 0 });
    let _ = on_event(&Event::MessageDelta {
        delta: MessageDeltaBody {
            stop_reason: Some(stop_reason),
            stop_sequence: stop_sequence.clone(),
        },
        usage: message.usage,
    });
    let _ = on_event(&Event::MessageStop);
    message.content.push(ContentBlock::text(text));
    message.stop_reason = Some(stop_reason);
    message.stop_sequence = stop_sequence;
    Ok(message)
}

/// A serial per raw completion, so their ids differ within a process (the nonce the
/// HTTP side adds makes them differ across processes).
fn next_serial() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    SERIAL.fetch_add(1, Ordering::Relaxed)
}

/// Token counts are u32; none in a context window overflows it.
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

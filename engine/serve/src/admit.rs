//! The checks every chat request passes before it is queued, whichever protocol it came
//! in: `max_tokens` and the prompt fit in the context window, and the conversation
//! renders through the chat template. Done here, on the HTTP side, so every error a
//! client can cause is a 4xx before any stream begins, never an error event after a 200.

use std::sync::Arc;

use hearth_engine::api::{Request, ThinkingConfig};

use crate::app::AppState;
use crate::error::ServeError;

/// How a request limits its output.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutputLimit {
    /// The wire's name of the field (`max_tokens`, `max_completion_tokens`,
    /// `max_output_tokens`), for error messages.
    pub field: &'static str,
    /// Whether the request gave it; if not, the rest of the context window after the
    /// prompt is the limit (as vLLM does), with any thinking budget kept below it.
    pub given: bool,
}

/// Checks `request` for the served model: returns it (with its output limit settled) and
/// its prompt's length in tokens. With `generating` false (count_tokens) only the prompt
/// is rendered and counted.
pub(crate) async fn admit(
    state: &Arc<AppState>,
    mut request: Request,
    limit: OutputLimit,
    generating: bool,
) -> Result<(Request, usize), ServeError> {
    let field = limit.field;
    if generating {
        request.seed = Some(seed_or_fresh(request.seed)?);
    }
    let context = state.runner.context_tokens();
    let max_tokens = request.max_tokens as usize;
    if !limit.given {
        // Any limit renders the same prompt; the real one is set once its length is known.
        request.max_tokens = 1;
    } else if generating && max_tokens >= context {
        return Err(ServeError::invalid(format!(
            "{field}: {max_tokens} is too large: the context window of {} is {context} \
             tokens, and the prompt needs some of them",
            state.names.id
        )));
    }
    let (mut request, prompt) = count_prompt(state, request).await?;
    if generating && prompt >= context {
        return Err(ServeError::invalid(format!(
            "prompt is too long: {prompt} tokens, over the context window of {context} tokens"
        )));
    }
    if !limit.given {
        request.max_tokens = u32::try_from(context - prompt).unwrap_or(u32::MAX);
        if let Some(ThinkingConfig::Enabled { budget_tokens, .. }) = &mut request.thinking {
            *budget_tokens = (*budget_tokens).min(request.max_tokens / 2);
        }
        return Ok((request, prompt));
    }
    if generating && prompt + max_tokens > context {
        return Err(ServeError::invalid(format!(
            "{field}: {max_tokens} is too large for this prompt: {prompt} prompt tokens + \
             {max_tokens} = {} > the context window of {context} tokens; {field} can be at \
             most {}",
            prompt + max_tokens,
            context - prompt
        )));
    }
    Ok((request, prompt))
}

/// `seed`, or a fresh random one: a request that names no seed is sampled differently
/// each time, as the APIs it speaks do (llama.cpp's and vLLM's servers too), so a client
/// that retries a bad answer gets a new one instead of the same one again.
pub(crate) fn seed_or_fresh(seed: Option<u64>) -> Result<u64, ServeError> {
    if let Some(seed) = seed {
        return Ok(seed);
    }
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)
        .map_err(|e| ServeError::internal(format!("no randomness for a sampling seed: {e}")))?;
    Ok(u64::from_le_bytes(bytes))
}

/// Renders and tokenizes `request`'s prompt: CPU work (milliseconds for a long prompt),
/// so off the async threads. The engine renders it again when it runs the request; that
/// repeat is what lets every error a client can cause come before the stream starts.
async fn count_prompt(
    state: &Arc<AppState>,
    request: Request,
) -> Result<(Request, usize), ServeError> {
    let runner = Arc::clone(&state.runner);
    let (request, prompt) = tokio::task::spawn_blocking(move || {
        let prompt = runner.prompt_tokens(&request).map(|p| p.len());
        (request, prompt)
    })
    .await
    .map_err(|e| ServeError::internal(format!("counting the prompt's tokens failed: {e}")))?;
    Ok((request, prompt?))
}

/// A raw prompt's length in tokens (`/v1/completions`), checked against the context
/// window with `max_tokens` after it.
pub(crate) async fn admit_raw(
    state: &Arc<AppState>,
    prompt: &str,
    max_tokens: u32,
) -> Result<usize, ServeError> {
    let context = state.runner.context_tokens();
    let runner = Arc::clone(&state.runner);
    let text = prompt.to_string();
    let tokens =
        tokio::task::spawn_blocking(move || runner.raw_prompt_tokens(&text).map(|p| p.len()))
            .await
            .map_err(|e| {
                ServeError::internal(format!("counting the prompt's tokens failed: {e}"))
            })??;
    let max_tokens = max_tokens as usize;
    if tokens >= context {
        return Err(ServeError::invalid(format!(
            "prompt is too long: {tokens} tokens, over the context window of {context} tokens"
        )));
    }
    if tokens + max_tokens > context {
        return Err(ServeError::invalid(format!(
            "max_tokens: {max_tokens} is too large for this prompt: {tokens} prompt tokens + \
             {max_tokens} > the context window of {context} tokens; max_tokens can be at \
             most {}",
            context - tokens
        )));
    }
    Ok(tokens)
}

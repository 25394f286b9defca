//! OpenAI's wire protocols over the same queue as the Messages API: Chat Completions
//! (`/v1/chat/completions`), the Responses API (`/v1/responses`, the one Codex CLI
//! speaks) and legacy Completions (`/v1/completions`), with errors in OpenAI's shape.
//!
//! Each protocol parses its body onto the engine's contract, passes the same checks as a
//! Messages request ([`crate::admit`]) and is queued; the contract's events, with ids
//! made unique by the Messages translator, are re-encoded by the protocol's
//! [`crate::respond::Encoder`]. The non-streamed answer is the same encoder's fold of the same
//! events, so both forms of an answer hold the same content.

mod chat;
mod completions;
mod convert;
mod fields;
mod responses;
mod sse;

use axum::http::StatusCode;
use axum::response::Response as HttpResponse;
use hearth_engine::api::{StopReason, Usage};
use serde_json::{json, Value};

use crate::error::{ErrorKind, ServeError};

pub(crate) use chat::chat_completions;
pub(crate) use completions::completions;
pub(crate) use responses::responses;

/// An error as OpenAI's APIs answer it: its status, and
/// `{"error": {"message", "type", "param", "code"}}`, `param` naming the field when the
/// message starts with one.
pub fn error_response(error: &ServeError) -> HttpResponse {
    // OpenAI's clients retry a 429; 529 is the Messages API's alone.
    let status = match error.kind {
        ErrorKind::Overloaded => StatusCode::TOO_MANY_REQUESTS,
        kind => kind.status(),
    };
    error.respond(status, error_body(error))
}

/// The `{"error": {…}}` body of `error`, also sent as a stream's last event.
pub(crate) fn error_body(error: &ServeError) -> Value {
    let (kind, code) = match error.kind {
        ErrorKind::InvalidRequest => ("invalid_request_error", Value::Null),
        // OpenAI answers an unknown model with a 404 of this type and code.
        ErrorKind::NotFound => ("invalid_request_error", json!("model_not_found")),
        ErrorKind::NotFoundPath => ("invalid_request_error", json!("unknown_url")),
        // OpenAI answers a missing or wrong key with a 401 of this type and code.
        ErrorKind::Unauthorized => ("invalid_request_error", json!("invalid_api_key")),
        ErrorKind::TooLarge => ("invalid_request_error", json!("request_too_large")),
        // As OpenAI answers a key over its rate limit.
        ErrorKind::RateLimited => ("requests", json!("rate_limit_exceeded")),
        ErrorKind::Overloaded => ("server_error", json!("overloaded")),
        ErrorKind::Loading => ("server_error", json!("model_loading")),
        ErrorKind::Internal => ("server_error", Value::Null),
    };
    json!({"error": {
        "message": error.message,
        "type": kind,
        "param": param_of(&error.message),
        "code": code,
    }})
}

/// The field an error message names first (`messages[0].content: …` → the path), as
/// OpenAI's `param`; `None` when the message does not start with a field.
fn param_of(message: &str) -> Option<&str> {
    let (head, _) = message.split_once(": ")?;
    let is_path = !head.is_empty()
        && head
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'));
    is_path.then_some(head)
}

/// The id suffix the Messages translator gave a message (`msg_<nonce><serial>`), for
/// the protocol's own prefix (`chatcmpl-`, `resp_`, `cmpl-`).
pub(crate) fn id_suffix(message_id: &str) -> &str {
    message_id.trim_start_matches("msg_")
}

/// A tool call's id as OpenAI's APIs write them (`call_…`), from the translator's
/// unique `toolu_…` id.
pub(crate) fn call_id(tool_use_id: &str) -> String {
    format!("call_{}", tool_use_id.trim_start_matches("toolu_"))
}

/// Chat Completions' `finish_reason` (also the legacy Completions'): `stop`, `length` or
/// `tool_calls`.
pub(crate) fn finish_reason(stop: Option<StopReason>) -> &'static str {
    match stop {
        Some(StopReason::MaxTokens) => "length",
        Some(StopReason::ToolUse) => "tool_calls",
        _ => "stop",
    }
}

/// Chat Completions' usage: every prompt token in `prompt_tokens`, those read from the
/// prefix cache again in `cached_tokens`; thinking inside `completion_tokens`.
pub(crate) fn chat_usage(usage: &Usage) -> Value {
    let prompt = usage.prompt_tokens();
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.thinking_tokens},
    })
}

/// Seconds since the Unix epoch, for `created`.
pub(crate) fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_is_the_leading_field_only() {
        assert_eq!(param_of("n: 2 is not supported"), Some("n"));
        assert_eq!(
            param_of("messages[1].tool_calls[0].function.arguments: not JSON"),
            Some("messages[1].tool_calls[0].function.arguments")
        );
        assert_eq!(param_of("the request body is not valid JSON: eof"), None);
        assert_eq!(param_of("no colon here"), None);
    }
}

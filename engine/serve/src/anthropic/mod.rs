//! The Anthropic Messages API: `POST /v1/messages` (streamed and not) and
//! `POST /v1/messages/count_tokens`, with errors in its shape.
//!
//! A request is checked completely before it is queued (its JSON, its fields, the model,
//! thinking signatures, the conversation as the chat template renders it, the context
//! window), so every error a client can cause is an HTTP 4xx, never a 200 stream that
//! then fails. What can fail only while generating comes as an `error` event after the
//! stream began, as the Messages API does.

pub(crate) mod request;
pub(crate) mod stream;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::Extension;
use axum::Json;
use hearth_engine::api::Request;
use serde_json::json;

use crate::admit::{admit, OutputLimit};
use crate::app::{read_body, AppState, Caller};
use crate::error::ServeError;
use crate::respond::run_job;
use crate::worker::Work;
use stream::MessagesEncoder;

/// An error as the Messages API answers it: its status, and
/// `{"type": "error", "error": {"type": …, "message": …}}`.
pub fn error_response(error: &ServeError) -> HttpResponse {
    let body = json!({
        "type": "error",
        "error": {"type": error.kind.anthropic_type(), "message": error.message},
    });
    error.respond(error.kind.status(), body)
}

/// `POST /v1/messages` (also `?beta=true`, which changes nothing here).
pub(crate) async fn messages(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    body: Body,
) -> HttpResponse {
    let request = match prepare(&state, body, true).await {
        Ok((request, _)) => request,
        Err(e) => return error_response(&e),
    };
    let stream = request.stream;
    let caller = caller.as_ref().map(|Extension(c)| c);
    match run_job(
        &state,
        "POST /v1/messages",
        caller,
        Work::Chat(request),
        MessagesEncoder::new(),
        stream,
    )
    .await
    {
        Ok(response) => response,
        Err(e) => error_response(&e),
    }
}

/// `POST /v1/messages/count_tokens`: `{"input_tokens": N}`, the prompt's length as the
/// model's template renders it (tools and system included).
pub(crate) async fn count_tokens(State(state): State<Arc<AppState>>, body: Body) -> HttpResponse {
    match prepare(&state, body, false).await {
        Ok((_, prompt_tokens)) => Json(json!({"input_tokens": prompt_tokens})).into_response(),
        Err(e) => error_response(&e),
    }
}

/// Reads, parses and checks a request; returns it with its prompt's length in tokens.
/// With `generating`, also the rules of a request to generate for: `max_tokens` and the
/// prompt fit in the context window.
async fn prepare(
    state: &Arc<AppState>,
    body: Body,
    generating: bool,
) -> Result<(Request, usize), ServeError> {
    let bytes = read_body(body, state.options.max_body_bytes).await?;
    let parsed = request::parse(&bytes, &state.signer, generating)?;
    state.names.check(&parsed.model)?;
    let limit = OutputLimit {
        field: "max_tokens",
        given: true,
    };
    admit(state, parsed.request, limit, generating).await
}

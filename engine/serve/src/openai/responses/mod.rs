//! `POST /v1/responses`: the Responses API (the one Codex CLI speaks) over the queue,
//! streamed as its events or answered as one response object. Stateless: nothing is
//! stored, whatever `store` says, so `previous_response_id` is refused.

mod request;
mod stream;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response as HttpResponse;
use axum::Extension;

use crate::admit::admit;
use crate::app::{read_body, AppState, Caller};
use crate::error::ServeError;
use crate::openai::error_response;
use crate::respond::run_job;
use crate::worker::Work;
use stream::ResponsesEncoder;

/// `POST /v1/responses`.
pub(crate) async fn responses(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    body: Body,
) -> HttpResponse {
    serve(&state, caller.as_ref().map(|Extension(c)| c), body)
        .await
        .unwrap_or_else(|e| error_response(&e))
}

/// Every error a client can cause comes back before the job is queued.
async fn serve(
    state: &Arc<AppState>,
    caller: Option<&Caller>,
    body: Body,
) -> Result<HttpResponse, ServeError> {
    let bytes = read_body(body, state.options.max_body_bytes).await?;
    let parsed = request::parse(&bytes)?;
    state.names.check(&parsed.model)?;
    let (request, _) = admit(state, parsed.request, parsed.limit, true).await?;
    let stream = request.stream;
    let encoder = ResponsesEncoder::new(state.names.id.clone(), parsed.echo);
    run_job(
        state,
        "POST /v1/responses",
        caller,
        Work::Chat(request),
        encoder,
        stream,
    )
    .await
}

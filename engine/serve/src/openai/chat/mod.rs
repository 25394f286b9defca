//! `POST /v1/chat/completions`: OpenAI's Chat Completions over the queue, streamed as
//! `chat.completion.chunk`s or answered as one `chat.completion`.

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
use stream::ChatEncoder;

/// `POST /v1/chat/completions`.
pub(crate) async fn chat_completions(
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
    let encoder = ChatEncoder::new(state.names.id.clone(), parsed.include_usage);
    run_job(
        state,
        "POST /v1/chat/completions",
        caller,
        Work::Chat(request),
        encoder,
        stream,
    )
    .await
}

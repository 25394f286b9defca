//! Answering with a queued job, for every protocol: streamed as server-sent events
//! through the protocol's [`Encoder`], with a ping while the job is silent (queued, or
//! in a long prefill), or folded by the same encoder into one JSON body, so both forms
//! of an answer hold the same content. One loop serves the Messages API and OpenAI's.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::Json;
use hearth_engine::api::Event;
use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::anthropic::stream::Translator;
use crate::app::{AppState, Caller};
use crate::error::ServeError;
use crate::worker::{JobUpdate, Work};

/// A comment line: SSE clients skip it, and it keeps proxies and idle timeouts from
/// closing a stream that waits in the queue.
const PING: &[u8] = b": ping\n\n";

/// Re-encodes one message's contract events in a protocol's form.
pub(crate) trait Encoder: Send + 'static {
    /// The frame that keeps a silent stream open, or `None` where the protocol's stream
    /// has ended and must carry nothing more.
    fn ping(&self) -> Option<Bytes> {
        Some(Bytes::from_static(PING))
    }

    /// The frames for one event (ids already made unique by the translator); an `error`
    /// event is the encoder's to report in the protocol's way.
    fn event(&mut self, event: &Event, out: &mut Vec<Bytes>);

    /// The frames that end the stream: after the message (`None`), or after a failure
    /// the events did not report (`Some`).
    fn finish(&mut self, error: Option<&ServeError>, out: &mut Vec<Bytes>);

    /// The non-streamed body, once every event was given.
    fn body(self) -> Result<Value, ServeError>;
}

/// Queues `work` for `caller` (the key it came with, when the server has keys) and
/// answers with its stream (`stream`) or its folded body. The caller's cache namespace is
/// the request's cache salt, whatever the body said.
pub(crate) async fn run_job<E: Encoder>(
    state: &Arc<AppState>,
    caller: Option<&Caller>,
    mut work: Work,
    encoder: E,
    stream: bool,
) -> Result<HttpResponse, ServeError> {
    let salt = caller.map(|c| c.cache_namespace.clone());
    match &mut work {
        Work::Chat(request) | Work::Raw { request, .. } => request.cache_salt = salt,
    }
    let updates = state.queue.submit_work(work)?;
    let translator = Translator::new(state.signer.clone(), state.nonce.clone());
    if stream {
        Ok(sse_response(
            updates,
            translator,
            encoder,
            state.options.ping_interval,
        ))
    } else {
        let body = fold(updates, translator, encoder).await?;
        Ok(Json(body).into_response())
    }
}

/// The non-streamed answer: every event through the encoder, its frames dropped.
async fn fold<E: Encoder>(
    mut updates: UnboundedReceiver<JobUpdate>,
    mut translator: Translator,
    mut encoder: E,
) -> Result<Value, ServeError> {
    let mut sink = Vec::new();
    while let Some(update) = updates.recv().await {
        match update {
            JobUpdate::Event(event) => {
                for wire in translator.translate(event) {
                    if let Event::Error { error } = wire {
                        return Err(error.into());
                    }
                    encoder.event(&wire, &mut sink);
                    sink.clear();
                }
            }
            JobUpdate::Done(Err(e)) => return Err(e.into()),
            JobUpdate::Done(Ok(_)) => {
                encoder.finish(None, &mut sink);
                return encoder.body();
            }
        }
    }
    Err(ServeError::internal(
        "the engine's worker stopped before the answer was complete",
    ))
}

/// The state of one streamed response.
struct Pump<E> {
    updates: UnboundedReceiver<JobUpdate>,
    translator: Translator,
    encoder: E,
    ping_interval: Duration,
    pending: VecDeque<Bytes>,
    finished: bool,
}

impl<E: Encoder> Pump<E> {
    /// The next chunk of the body, or `None` at its end.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some(chunk);
            }
            if self.finished {
                return None;
            }
            let mut out = Vec::new();
            match tokio::time::timeout(self.ping_interval, self.updates.recv()).await {
                Err(_) => {
                    if let Some(ping) = self.encoder.ping() {
                        return Some(ping);
                    }
                }
                Ok(Some(JobUpdate::Event(event))) => {
                    for wire in self.translator.translate(event) {
                        self.encoder.event(&wire, &mut out);
                    }
                }
                Ok(Some(JobUpdate::Done(result))) => {
                    self.finished = true;
                    let error = result.err().map(ServeError::from);
                    self.encoder.finish(error.as_ref(), &mut out);
                }
                Ok(None) => {
                    self.finished = true;
                    let error = ServeError::internal(
                        "the engine's worker stopped before the answer was complete",
                    );
                    self.encoder.finish(Some(&error), &mut out);
                }
            }
            self.pending.extend(out);
        }
    }
}

/// The streamed response of a job. Dropping the body (the client left) drops the job's
/// receiver, which cancels the job at its next token.
fn sse_response<E: Encoder>(
    updates: UnboundedReceiver<JobUpdate>,
    translator: Translator,
    encoder: E,
    ping_interval: Duration,
) -> HttpResponse {
    let pump = Pump {
        updates,
        translator,
        encoder,
        ping_interval,
        pending: VecDeque::new(),
        finished: false,
    };
    let stream = futures_util::stream::unfold(pump, |mut pump| async move {
        let chunk = pump.next().await?;
        Some((Ok::<_, std::convert::Infallible>(chunk), pump))
    });
    let mut response = HttpResponse::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    response
}

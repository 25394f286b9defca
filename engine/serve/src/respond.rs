//! Answering with a queued job, for every protocol: streamed as server-sent events
//! through the protocol's [`Encoder`], with a ping while the job is silent (queued, or
//! in a long prefill), or folded by the same encoder into one JSON body, so both forms
//! of an answer hold the same content. One loop serves the Messages API and OpenAI's.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::Json;
use hearth_engine::api::{Event, Response, Usage};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::anthropic::stream::Translator;
use crate::app::{AppState, Caller};
use crate::error::ServeError;
use crate::ledger::LedgerEntry;
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
/// answers with its stream (`stream`) or its folded body; the usage ledger, when the
/// server keeps one, gets the job's line under `endpoint` as it ends. The caller's cache
/// namespace is the request's cache salt, whatever the body said.
pub(crate) async fn run_job<E: Encoder>(
    state: &Arc<AppState>,
    endpoint: &str,
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
    let meter = Meter {
        state: Arc::clone(state),
        key: caller.map(|c| c.name.clone()),
        endpoint: endpoint.to_string(),
        arrived: Instant::now(),
        usage: Usage::default(),
        first_token: None,
        last_piece: None,
        written: false,
    };
    let mut response = if stream {
        sse_response(
            updates,
            translator,
            encoder,
            state.options.ping_interval,
            meter,
        )
    } else {
        let body = fold(updates, translator, encoder, meter).await?;
        Json(body).into_response()
    };
    // The ledger has this request's line from the meter; the log layer must not add one.
    response.extensions_mut().insert(Metered);
    Ok(response)
}

/// Marks a response whose request the ledger records itself, as the job ends.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Metered;

/// What the metrics, the usage ledger and the key's token limit learn of one job as its
/// events pass; its line is written and its tokens counted and charged when the job ends,
/// or, when the client leaves first, when the meter is dropped.
struct Meter {
    state: Arc<AppState>,
    key: Option<String>,
    endpoint: String,
    arrived: Instant,
    usage: Usage,
    first_token: Option<Duration>,
    /// When the last piece of the answer passed, for the time between pieces.
    last_piece: Option<Instant>,
    written: bool,
}

impl Meter {
    fn observe(&mut self, event: &Event) {
        match event {
            Event::MessageStart { message } => self.usage = message.usage,
            Event::ContentBlockDelta { .. } => {
                let now = Instant::now();
                match self.last_piece {
                    Some(last) => self.state.metrics.between_tokens(now - last),
                    None => {
                        let first = now - self.arrived;
                        self.first_token = Some(first);
                        self.state.metrics.first_token(first);
                    }
                }
                self.last_piece = Some(now);
            }
            Event::MessageDelta { usage, .. } => self.usage = *usage,
            _ => {}
        }
    }

    /// Writes the line of a job that ended with `result`, answered with `status`.
    fn finish(&mut self, result: Result<&Response, &ServeError>, status: StatusCode) {
        let outcome = match result {
            Ok(response) => {
                self.usage = response.usage;
                response
                    .stop_reason
                    .and_then(|r| serde_json::to_value(r).ok())
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| "end_turn".to_string())
            }
            Err(error) => error.kind.anthropic_type().to_string(),
        };
        self.write(outcome, status.as_u16());
    }

    fn write(&mut self, outcome: String, status: u16) {
        if std::mem::replace(&mut self.written, true) {
            return;
        }
        self.state.metrics.tokens(self.key.as_deref(), &self.usage);
        if let Some(key) = &self.key {
            let u = &self.usage;
            let tokens = [
                u.input_tokens,
                u.cache_read_input_tokens,
                u.cache_creation_input_tokens,
                u.output_tokens,
            ];
            let tokens = tokens.iter().map(|&n| u64::from(n)).sum();
            self.state.limits.charge(key, tokens, Instant::now());
        }
        let Some(ledger) = &self.state.options.ledger else {
            return;
        };
        ledger.append(&LedgerEntry {
            key: self.key.take(),
            model: self.state.names.id.clone(),
            endpoint: std::mem::take(&mut self.endpoint),
            status,
            outcome,
            ttft_ms: self.first_token.map(millis),
            duration_ms: millis(self.arrived.elapsed()),
            ..LedgerEntry::ended_now(&self.usage)
        });
    }
}

impl Drop for Meter {
    /// A job whose answer was never finished: the client left (the job is cancelled at
    /// its next token), recorded with what it had used; 499 as proxies log it.
    fn drop(&mut self) {
        self.write("cancelled".to_string(), CLIENT_CLOSED);
    }
}

/// The status proxies log for a request whose client closed the connection first.
const CLIENT_CLOSED: u16 = 499;

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The non-streamed answer: every event through the encoder, its frames dropped.
async fn fold<E: Encoder>(
    updates: UnboundedReceiver<JobUpdate>,
    translator: Translator,
    encoder: E,
    mut meter: Meter,
) -> Result<Value, ServeError> {
    let result = fold_events(updates, translator, encoder, &mut meter).await;
    if let Err(error) = &result {
        meter.finish(Err(error), error.kind.status());
    }
    result
}

async fn fold_events<E: Encoder>(
    mut updates: UnboundedReceiver<JobUpdate>,
    mut translator: Translator,
    mut encoder: E,
    meter: &mut Meter,
) -> Result<Value, ServeError> {
    let mut sink = Vec::new();
    while let Some(update) = updates.recv().await {
        match update {
            JobUpdate::Event(event) => {
                meter.observe(&event);
                for wire in translator.translate(event) {
                    if let Event::Error { error } = wire {
                        return Err(error.into());
                    }
                    encoder.event(&wire, &mut sink);
                    sink.clear();
                }
            }
            JobUpdate::Done(Err(e)) => return Err(e.into()),
            JobUpdate::Done(Ok(response)) => {
                meter.finish(Ok(&response), StatusCode::OK);
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
    meter: Meter,
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
                    self.meter.observe(&event);
                    for wire in self.translator.translate(event) {
                        self.encoder.event(&wire, &mut out);
                    }
                }
                Ok(Some(JobUpdate::Done(result))) => {
                    self.finished = true;
                    let metered = result.as_ref().map_err(|e| ServeError::from(e.clone()));
                    // The stream's head went out as a 200, whatever followed.
                    self.meter
                        .finish(metered.as_ref().map(|r| *r), StatusCode::OK);
                    let error = result.err().map(ServeError::from);
                    self.encoder.finish(error.as_ref(), &mut out);
                }
                Ok(None) => {
                    self.finished = true;
                    let error = ServeError::internal(
                        "the engine's worker stopped before the answer was complete",
                    );
                    self.meter.finish(Err(&error), StatusCode::OK);
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
    meter: Meter,
) -> HttpResponse {
    let pump = Pump {
        updates,
        translator,
        encoder,
        ping_interval,
        pending: VecDeque::new(),
        finished: false,
        meter,
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

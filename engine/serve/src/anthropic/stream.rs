//! The engine's events as the Messages API streams them: the same event types (the
//! contract is Messages-shaped), with what only the server can add. Thinking blocks get a
//! `signature_delta` before they stop; message and tool-call ids get this process's
//! random prefix, so ids stay unique across requests and server restarts (the engine
//! numbers calls from 1 in each message, and clients key tool results by id).

use std::collections::HashMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::Response as HttpResponse;
use hearth_engine::api::{ContentBlock, Delta, Event};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::error::ServeError;
use crate::signature::Signer;
use crate::worker::JobUpdate;

/// Rewrites one message's engine events into wire events.
pub(crate) struct Translator {
    signer: Signer,
    /// This process's random id prefix.
    nonce: String,
    /// The message's own part of the ids (the engine's serial), once `message_start` came.
    serial: String,
    /// Thinking text of each open thinking block, by index, to sign at its stop.
    thinking: HashMap<usize, String>,
}

impl Translator {
    /// A translator signing with `signer`, ids prefixed by `nonce`.
    pub(crate) fn new(signer: Signer, nonce: String) -> Translator {
        Translator {
            signer,
            nonce,
            serial: String::new(),
            thinking: HashMap::new(),
        }
    }

    /// The wire events for one engine event (none for the engine's pings).
    pub(crate) fn translate(&mut self, event: Event) -> Vec<Event> {
        match event {
            Event::Ping => Vec::new(),
            Event::MessageStart { mut message } => {
                self.serial = message.id.trim_start_matches("msg_").to_string();
                message.id = format!("msg_{}{}", self.nonce, self.serial);
                vec![Event::MessageStart { message }]
            }
            Event::ContentBlockStart {
                index,
                content_block,
            } => {
                let content_block = match content_block {
                    ContentBlock::ToolUse { id, name, input } => ContentBlock::ToolUse {
                        id: self.tool_id(&id),
                        name,
                        input,
                    },
                    ContentBlock::Thinking { thinking, .. } => {
                        self.thinking.insert(index, thinking.clone());
                        ContentBlock::Thinking {
                            thinking,
                            signature: String::new(),
                        }
                    }
                    other => other,
                };
                vec![Event::ContentBlockStart {
                    index,
                    content_block,
                }]
            }
            Event::ContentBlockDelta {
                index,
                delta: Delta::ThinkingDelta { thinking },
            } => {
                if let Some(text) = self.thinking.get_mut(&index) {
                    text.push_str(&thinking);
                }
                vec![Event::ContentBlockDelta {
                    index,
                    delta: Delta::ThinkingDelta { thinking },
                }]
            }
            Event::ContentBlockStop { index } => match self.thinking.remove(&index) {
                Some(text) => vec![
                    Event::ContentBlockDelta {
                        index,
                        delta: Delta::SignatureDelta {
                            signature: self.signer.sign(&text),
                        },
                    },
                    Event::ContentBlockStop { index },
                ],
                None => vec![Event::ContentBlockStop { index }],
            },
            other => vec![other],
        }
    }

    /// The engine's per-message call id (`toolu_1`) made unique.
    fn tool_id(&self, engine_id: &str) -> String {
        let n = engine_id.trim_start_matches("toolu_");
        format!("toolu_{}{}_{n}", self.nonce, self.serial)
    }
}

/// One server-sent event: its name is the event's `type`, its data the event's JSON.
pub(crate) fn sse(event: &Event) -> Bytes {
    let data = serde_json::to_value(event).unwrap_or_else(|e| {
        serde_json::json!({"type": "error", "error": {"type": "api_error",
            "message": format!("an event could not be serialized: {e}")}})
    });
    let name = data
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or("error")
        .to_string();
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// The state of one streamed response.
struct Pump {
    updates: UnboundedReceiver<JobUpdate>,
    translator: Translator,
    ping_interval: Duration,
    pending: std::collections::VecDeque<Bytes>,
    /// The stream has ended (message_stop or an error was queued last).
    finished: bool,
}

impl Pump {
    /// The next chunk of the body, or `None` at its end. A ping goes out whenever the
    /// job has been silent for `ping_interval` (waiting in the queue, a long prefill).
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some(chunk);
            }
            if self.finished {
                return None;
            }
            match tokio::time::timeout(self.ping_interval, self.updates.recv()).await {
                Err(_) => return Some(sse(&Event::Ping)),
                Ok(Some(JobUpdate::Event(event))) => {
                    for wire in self.translator.translate(event) {
                        if matches!(wire, Event::MessageStop | Event::Error { .. }) {
                            self.finished = true;
                        }
                        self.pending.push_back(sse(&wire));
                        if self.finished {
                            break;
                        }
                    }
                }
                Ok(Some(JobUpdate::Done(result))) => {
                    // A failure before any event (or one the engine did not stream) still
                    // ends the stream with an error event, never silently.
                    self.finished = true;
                    if let Err(e) = result {
                        let error = ServeError::from(e).to_api();
                        self.pending.push_back(sse(&Event::Error { error }));
                    }
                }
                Ok(None) => {
                    self.finished = true;
                    let error = ServeError::internal(
                        "the engine's worker stopped before the message was complete",
                    )
                    .to_api();
                    self.pending.push_back(sse(&Event::Error { error }));
                }
            }
        }
    }
}

/// The streamed response of a job: `text/event-stream`, pings while the job is silent,
/// the message's events, and an `error` event if it fails. Dropping the body (the client
/// left) drops the job's receiver, which cancels the job at its next token.
pub(crate) fn sse_response(
    updates: UnboundedReceiver<JobUpdate>,
    translator: Translator,
    ping_interval: Duration,
) -> HttpResponse {
    let pump = Pump {
        updates,
        translator,
        ping_interval,
        pending: Default::default(),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A thinking block ends with its signature, which verifies against its whole text.
    #[test]
    fn thinking_blocks_end_with_a_valid_signature() {
        let signer = Signer::with_key([7; 32]);
        let mut t = Translator::new(signer.clone(), "ab".into());
        let start = ContentBlock::Thinking {
            thinking: String::new(),
            signature: String::new(),
        };
        let mut out = t.translate(Event::ContentBlockStart {
            index: 0,
            content_block: start,
        });
        for piece in ["Let ", "me ", "see."] {
            out.extend(t.translate(Event::ContentBlockDelta {
                index: 0,
                delta: Delta::ThinkingDelta {
                    thinking: piece.into(),
                },
            }));
        }
        out.extend(t.translate(Event::ContentBlockStop { index: 0 }));
        let Event::ContentBlockDelta {
            delta: Delta::SignatureDelta { signature },
            ..
        } = &out[4]
        else {
            panic!("{out:?}");
        };
        assert!(signer.verify("Let me see.", signature));
        assert_eq!(out[5], Event::ContentBlockStop { index: 0 });
    }

    #[test]
    fn sse_frames_name_the_event() {
        let frame = sse(&Event::Ping);
        assert_eq!(&frame[..], b"event: ping\ndata: {\"type\":\"ping\"}\n\n");
    }
}

//! The engine's events as the Messages API streams them: the same event types (the
//! contract is Messages-shaped), with what only the server can add. Thinking blocks get a
//! `signature_delta` before they stop; message and tool-call ids get this process's
//! random prefix, so ids stay unique across requests and server restarts (the engine
//! numbers calls from 1 in each message, and clients key tool results by id).

use std::collections::HashMap;

use axum::body::Bytes;
use hearth_engine::api::{ContentBlock, Delta, Event, MessageAccumulator};
use serde_json::Value;

use crate::error::ServeError;
use crate::respond::Encoder;
use crate::signature::Signer;

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

/// The Messages API's [`Encoder`]: each wire event is one frame named by its type, a
/// silent stream gets `ping` events until the message has stopped, and a failure the
/// events did not report ends the stream with an `error` event. The non-streamed body is
/// the events folded by the same rules as a client folds the stream.
pub(crate) struct MessagesEncoder {
    message: MessageAccumulator,
    /// The first event the accumulator refused, reported by the non-streamed body.
    refused: Option<ServeError>,
    /// `message_stop` or an `error` went out: nothing may follow.
    ended: bool,
}

impl MessagesEncoder {
    /// An encoder for one message.
    pub(crate) fn new() -> MessagesEncoder {
        MessagesEncoder {
            message: MessageAccumulator::new(),
            refused: None,
            ended: false,
        }
    }
}

impl Encoder for MessagesEncoder {
    fn ping(&self) -> Option<Bytes> {
        (!self.ended).then(|| sse(&Event::Ping))
    }

    fn event(&mut self, event: &Event, out: &mut Vec<Bytes>) {
        if self.ended {
            return;
        }
        if matches!(event, Event::MessageStop | Event::Error { .. }) {
            self.ended = true;
        }
        if self.refused.is_none() && !matches!(event, Event::Error { .. }) {
            if let Err(e) = self.message.push(event) {
                self.refused = Some(e.into());
            }
        }
        out.push(sse(event));
    }

    fn finish(&mut self, error: Option<&ServeError>, out: &mut Vec<Bytes>) {
        // A failure before any event (or one the engine did not stream) still ends the
        // stream with an error event, never silently.
        if let (Some(error), false) = (error, self.ended) {
            self.ended = true;
            out.push(sse(&Event::Error {
                error: error.to_api(),
            }));
        }
    }

    fn body(self) -> Result<Value, ServeError> {
        if let Some(e) = self.refused {
            return Err(e);
        }
        let message = self.message.into_message().ok_or_else(|| {
            ServeError::internal("the engine finished without a message_start event")
        })?;
        serde_json::to_value(message)
            .map_err(|e| ServeError::internal(format!("the message could not be serialized: {e}")))
    }
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

//! Building the contract's event stream from what a wire protocol says.
//!
//! Each protocol reports the same things in its own order and shape: text, thinking, tool
//! calls and usage. The translators call an [`Emitter`], which numbers blocks, opens and
//! closes them, hands every event to the caller's callback and to a
//! [`MessageAccumulator`] (so the returned message is built by the same rules as the local
//! engine's), and stops calling back once the caller asked to stop.

use std::ops::ControlFlow;

use hearth_engine::api::{
    self, ContentBlock, Delta, Event, MessageAccumulator, MessageDeltaBody, Role, StopReason, Usage,
};
use serde_json::{json, Value};

/// The kind of block open at the end of the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Open {
    Text,
    Thinking,
}

/// Turns protocol-neutral steps (text, thinking, a whole tool call, the end) into events.
pub(crate) struct Emitter<'a> {
    on_event: &'a mut dyn FnMut(&Event) -> ControlFlow<()>,
    message: MessageAccumulator,
    open: Option<(usize, Open)>,
    blocks: usize,
    started: bool,
    cancelled: bool,
    tool_calls: usize,
    /// What makes this message's generated call ids unique in the conversation: its id.
    id_stem: String,
    /// The model the request named, for a message whose stream names none.
    model: String,
}

impl<'a> Emitter<'a> {
    /// An emitter calling `on_event`, for a request to `model`.
    pub(crate) fn new(
        model: &str,
        on_event: &'a mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Emitter<'a> {
        Emitter {
            on_event,
            message: MessageAccumulator::new(),
            open: None,
            blocks: 0,
            started: false,
            cancelled: false,
            tool_calls: 0,
            id_stem: String::new(),
            model: model.to_string(),
        }
    }

    /// Whether the caller asked to stop: the stream should be dropped.
    pub(crate) fn cancelled(&self) -> bool {
        self.cancelled
    }

    /// Starts the message (once; later calls do nothing). `usage` is what the server
    /// counted so far (the Messages API reports input tokens here).
    pub(crate) fn start(&mut self, id: &str, model: Option<&str>, usage: Usage) {
        if self.started {
            return;
        }
        self.started = true;
        // A message id (`chatcmpl-<uuid>`) is unique; without one, the clock is.
        self.id_stem = if id.is_empty() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            format!("{nanos:x}")
        } else {
            id.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect()
        };
        let message = api::Response {
            id: if id.is_empty() { "msg_remote" } else { id }.to_string(),
            kind: "message".to_string(),
            role: Role::Assistant,
            model: model
                .filter(|m| !m.is_empty())
                .unwrap_or(&self.model)
                .to_string(),
            content: Vec::new(),
            stop_reason: None,
            stop_sequence: None,
            usage,
        };
        self.send(Event::MessageStart { message });
    }

    /// More answer text.
    pub(crate) fn text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        let index = self.ensure_open(Open::Text);
        self.send(Event::ContentBlockDelta {
            index,
            delta: Delta::TextDelta {
                text: text.to_string(),
            },
        });
    }

    /// More thinking.
    pub(crate) fn thinking(&mut self, thinking: &str) {
        if thinking.is_empty() {
            return;
        }
        let index = self.ensure_open(Open::Thinking);
        self.send(Event::ContentBlockDelta {
            index,
            delta: Delta::ThinkingDelta {
                thinking: thinking.to_string(),
            },
        });
    }

    /// The open thinking block's signature (kept so it can be sent back unchanged).
    pub(crate) fn signature(&mut self, signature: &str) {
        if let Some((index, Open::Thinking)) = self.open {
            self.send(Event::ContentBlockDelta {
                index,
                delta: Delta::SignatureDelta {
                    signature: signature.to_string(),
                },
            });
        }
    }

    /// The server is alive but has nothing to say yet (queued, or a long prefill): the
    /// caller hears of it, so an interrupt is noticed before the first token.
    pub(crate) fn ping(&mut self) {
        self.send(Event::Ping);
    }

    /// Ends the open block, if any: the next text or thinking starts a new one.
    pub(crate) fn close(&mut self) {
        if let Some((index, _)) = self.open.take() {
            self.send(Event::ContentBlockStop { index });
        }
    }

    /// A whole tool call. `arguments` is the JSON text the server sent; when it is not a
    /// JSON object the call carries the engine's `{"_error", "_raw"}` marker instead, so
    /// the model is told what was wrong rather than the turn failing.
    pub(crate) fn tool_call(&mut self, id: &str, name: &str, arguments: &str) {
        self.close();
        self.ensure_started();
        self.tool_calls += 1;
        let id = if id.is_empty() {
            // Servers that read calls from the text give them no id; the conversation
            // needs ones unique across all its messages (results are matched by id).
            format!("toolu_{}_{}", self.id_stem, self.tool_calls)
        } else {
            id.to_string()
        };
        let input = arguments_json(arguments);
        let index = self.blocks;
        self.blocks += 1;
        self.send(Event::ContentBlockStart {
            index,
            content_block: ContentBlock::ToolUse {
                id,
                name: name.to_string(),
                input: json!({}),
            },
        });
        self.send(Event::ContentBlockDelta {
            index,
            delta: Delta::InputJsonDelta {
                partial_json: input.to_string(),
            },
        });
        self.send(Event::ContentBlockStop { index });
    }

    /// How many tool calls the message holds so far.
    pub(crate) fn tool_calls(&self) -> usize {
        self.tool_calls
    }

    /// Ends the message with `stop` and the final `usage`, and returns it. A cancelled
    /// message ends with the `cancelled` stop reason; the caller is not called again.
    pub(crate) fn finish(
        mut self,
        stop: StopReason,
        stop_sequence: Option<String>,
        usage: Usage,
    ) -> Result<api::Response, api::ApiError> {
        self.ensure_started();
        self.close();
        let stop = if self.cancelled {
            StopReason::Cancelled
        } else {
            stop
        };
        self.send(Event::MessageDelta {
            delta: MessageDeltaBody {
                stop_reason: Some(stop),
                stop_sequence,
            },
            usage,
        });
        self.send(Event::MessageStop);
        self.message
            .into_message()
            .ok_or_else(|| api::ApiError::internal("the stream ended before the message began"))
    }

    fn ensure_started(&mut self) {
        if !self.started {
            self.start("", None, Usage::default());
        }
    }

    fn ensure_open(&mut self, kind: Open) -> usize {
        self.ensure_started();
        match self.open {
            Some((index, open)) if open == kind => index,
            _ => {
                self.close();
                let index = self.blocks;
                self.blocks += 1;
                let content_block = match kind {
                    Open::Text => ContentBlock::text(""),
                    Open::Thinking => ContentBlock::Thinking {
                        thinking: String::new(),
                        signature: String::new(),
                    },
                };
                self.send(Event::ContentBlockStart {
                    index,
                    content_block,
                });
                self.open = Some((index, kind));
                index
            }
        }
    }

    /// Folds `event` into the message and, unless the caller asked to stop, hands it on.
    fn send(&mut self, event: Event) {
        // The events are built here in order, so the accumulator cannot refuse them; a
        // refusal would be a bug in this file, and the message would still be returned.
        if let Err(e) = self.message.push(&event) {
            log::warn!("remote backend: {e}");
        }
        if !self.cancelled && (self.on_event)(&event).is_break() {
            self.cancelled = true;
        }
    }
}

/// A tool call's arguments as an object: parsed, `{}` when empty, or the malformed-call
/// marker the agent explains to the model.
fn arguments_json(arguments: &str) -> Value {
    let text = arguments.trim();
    if text.is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => value,
        // Some servers encode the arguments twice: a JSON string holding the object.
        Ok(Value::String(inner)) => match serde_json::from_str::<Value>(&inner) {
            Ok(value @ Value::Object(_)) => value,
            _ => json!({"_error": "the arguments are not a JSON object", "_raw": arguments}),
        },
        Ok(_) => json!({"_error": "the arguments are not a JSON object", "_raw": arguments}),
        Err(e) => {
            json!({"_error": format!("the arguments are not valid JSON ({e})"), "_raw": arguments})
        }
    }
}

//! The Messages API (`POST /v1/messages`): the contract's own wire form, so the request
//! goes out as it is and the stream comes back nearly so. What is translated is what other
//! Messages servers do differently from the engine: usage split between `message_start`
//! (input) and `message_delta` (output), blocks hearth has no use for (server tool calls,
//! redacted thinking), stop reasons it does not know.

use std::collections::HashMap;

use hearth_engine::api::{self, ApiError, StopReason, Usage};
use serde_json::{json, Value};

use super::emit::Emitter;
use super::sse::SseEvent;
use super::{data_json, stream_error, usage_over, Ending, Translate};

/// The request body: the contract's request with the model named and streaming on. hearth's
/// extensions (`seed`, `stop_on_loop`, `any_of`) travel along; `hearth serve` reads them.
pub(crate) fn body(request: &api::Request, model: &str) -> Value {
    let mut body = serde_json::to_value(request).unwrap_or_else(|_| json!({}));
    if let Value::Object(fields) = &mut body {
        fields.insert("model".into(), json!(model));
        fields.insert("stream".into(), json!(true));
    }
    body
}

/// A block of the server's message, by its index there.
enum Block {
    /// Text or thinking: passed on as it comes.
    Streamed,
    /// A tool call, whose input JSON is collected to its end.
    Tool {
        id: String,
        name: String,
        /// The input the block started with (servers send `{}`), used when no delta came.
        initial: Value,
        json: String,
    },
    /// Something hearth does not use (a server tool's call, redacted thinking): dropped.
    Skipped,
}

/// The state of one Messages stream.
#[derive(Default)]
pub(crate) struct Translator {
    blocks: HashMap<u64, Block>,
    usage: Usage,
    stop: Option<StopReason>,
    stop_sequence: Option<String>,
}

impl Translate for Translator {
    fn event(
        &mut self,
        event: &SseEvent,
        out: &mut Emitter<'_>,
    ) -> Result<Option<Ending>, ApiError> {
        let data = data_json(event)?;
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(&event.name);
        let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
        match kind {
            "message_start" => {
                let message = data.get("message").unwrap_or(&Value::Null);
                self.usage = usage_over(Usage::default(), message.get("usage"));
                let id = message.get("id").and_then(Value::as_str).unwrap_or("");
                let model = message.get("model").and_then(Value::as_str);
                out.start(id, model, self.usage);
            }
            "content_block_start" => {
                let block = data.get("content_block").unwrap_or(&Value::Null);
                let text = |field: &str| block.get(field).and_then(Value::as_str).unwrap_or("");
                let kept = match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        out.close();
                        out.text(text("text"));
                        Block::Streamed
                    }
                    Some("thinking") => {
                        out.close();
                        out.thinking(text("thinking"));
                        Block::Streamed
                    }
                    Some("tool_use") => Block::Tool {
                        id: text("id").to_string(),
                        name: text("name").to_string(),
                        initial: block.get("input").cloned().unwrap_or_else(|| json!({})),
                        json: String::new(),
                    },
                    _ => Block::Skipped,
                };
                self.blocks.insert(index, kept);
            }
            "content_block_delta" => {
                let delta = data.get("delta").unwrap_or(&Value::Null);
                let field = |name: &str| delta.get(name).and_then(Value::as_str).unwrap_or("");
                match (
                    self.blocks.get_mut(&index),
                    delta.get("type").and_then(Value::as_str),
                ) {
                    (Some(Block::Streamed), Some("text_delta")) => out.text(field("text")),
                    (Some(Block::Streamed), Some("thinking_delta")) => {
                        out.thinking(field("thinking"))
                    }
                    (Some(Block::Streamed), Some("signature_delta")) => {
                        out.signature(field("signature"))
                    }
                    (Some(Block::Tool { json, .. }), Some("input_json_delta")) => {
                        json.push_str(field("partial_json"))
                    }
                    _ => {}
                }
            }
            "content_block_stop" => match self.blocks.remove(&index) {
                Some(Block::Tool {
                    id,
                    name,
                    initial,
                    json,
                }) => {
                    let arguments = if json.trim().is_empty() {
                        initial.to_string()
                    } else {
                        json
                    };
                    out.tool_call(&id, &name, &arguments);
                }
                Some(Block::Streamed) => out.close(),
                Some(Block::Skipped) | None => {}
            },
            "message_delta" => {
                self.usage = usage_over(self.usage, data.get("usage"));
                let delta = data.get("delta").unwrap_or(&Value::Null);
                self.stop = delta
                    .get("stop_reason")
                    .and_then(Value::as_str)
                    .map(stop_reason);
                self.stop_sequence = delta
                    .get("stop_sequence")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
            "message_stop" => {
                return Ok(Some(Ending {
                    stop: self.stop,
                    stop_sequence: self.stop_sequence.take(),
                    usage: self.usage,
                }))
            }
            "ping" => out.ping(),
            "error" => return Err(stream_error(&data)),
            // Whatever later versions add.
            _ => {}
        }
        Ok(None)
    }

    fn end_of_stream(&mut self, _out: &mut Emitter<'_>) -> Result<Ending, ApiError> {
        Err(ApiError::internal(
            "the stream ended before message_stop (the server closed the connection)",
        ))
    }
}

/// A stop reason by its wire name; the ones hearth does not know (`pause_turn`,
/// `refusal`) end the turn, `model_context_window_exceeded` is a length stop.
fn stop_reason(name: &str) -> StopReason {
    match name {
        "max_tokens" | "model_context_window_exceeded" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "tool_use" => StopReason::ToolUse,
        "cancelled" => StopReason::Cancelled,
        _ => StopReason::EndTurn,
    }
}

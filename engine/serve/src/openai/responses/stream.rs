//! The contract's events as Responses API stream events, and their fold into one
//! response object. Each event has its `type` and a `sequence_number`:
//! `response.created`, `response.in_progress`; per contract block an output item
//! (`response.output_item.added` … `.done`): thinking as a `reasoning` item
//! (`response.reasoning_text.delta`), text as a `message` item
//! (`response.content_part.added`, `response.output_text.delta`/`.done`,
//! `response.content_part.done`), a tool call as a `function_call` item
//! (`response.function_call_arguments.delta`/`.done`); then `response.completed` (or
//! `response.incomplete` at the output limit, as OpenAI's API) with the usage, or
//! `response.failed`.

use std::collections::HashMap;

use axum::body::Bytes;
use hearth_engine::api::{ContentBlock, Delta, Event, StopReason, Usage};
use serde_json::{json, Map, Value};

use crate::error::{ErrorKind, ServeError};
use crate::openai::sse::named;
use crate::openai::{call_id, id_suffix, now_unix};
use crate::respond::Encoder;

/// What kind of output item a contract block became.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Reasoning,
    Message,
    Call,
}

/// Encodes one answer as a response.
#[derive(Debug)]
pub(crate) struct ResponsesEncoder {
    id: String,
    created_at: u64,
    model: String,
    echo: Map<String, Value>,
    sequence: u64,
    /// The output items so far, complete or growing.
    items: Vec<Value>,
    /// Each open contract block's output index and kind.
    open: HashMap<usize, (usize, Kind)>,
    stop: Option<StopReason>,
    usage: Usage,
    /// The response ended (completed, incomplete or failed): nothing follows.
    ended: bool,
    error: Option<ServeError>,
}

impl ResponsesEncoder {
    /// An encoder naming `model`, repeating the request's settings `echo`.
    pub(crate) fn new(model: String, echo: Map<String, Value>) -> ResponsesEncoder {
        ResponsesEncoder {
            id: String::new(),
            created_at: now_unix(),
            model,
            echo,
            sequence: 0,
            items: Vec::new(),
            open: HashMap::new(),
            stop: None,
            usage: Usage::default(),
            ended: false,
            error: None,
        }
    }

    /// Frames `event` (its `type` set by the caller) with the next sequence number.
    fn emit(&mut self, mut event: Value, out: &mut Vec<Bytes>) {
        event["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        out.push(named(&event));
    }

    /// The status the response has now.
    fn status(&self) -> &'static str {
        match (&self.error, self.ended, self.stop) {
            (Some(_), _, _) => "failed",
            (None, false, _) => "in_progress",
            (None, true, Some(StopReason::MaxTokens)) => "incomplete",
            (None, true, _) => "completed",
        }
    }

    /// The response object as it stands.
    fn response(&self) -> Value {
        let status = self.status();
        let mut r = json!({
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": self.error.as_ref().map(|e| json!({
                "code": match e.kind {
                    ErrorKind::InvalidRequest => "invalid_prompt",
                    _ => "server_error",
                },
                "message": e.message,
            })),
            "incomplete_details": if status == "incomplete" {
                json!({"reason": "max_output_tokens"})
            } else {
                Value::Null
            },
            "model": self.model,
            "output": self.items,
            "parallel_tool_calls": true,
            "previous_response_id": null,
            "store": false,
            "text": {"format": {"type": "text"}},
            "truncation": "disabled",
            "usage": if self.ended { usage(&self.usage) } else { Value::Null },
            "user": null,
            "metadata": {},
        });
        for (k, v) in &self.echo {
            r[k] = v.clone();
        }
        r
    }

    fn item_id(&self, prefix: &str, index: usize) -> String {
        format!("{prefix}_{}_{index}", id_suffix(&self.id))
    }

    fn start(&mut self, index: usize, block: &ContentBlock, out: &mut Vec<Bytes>) {
        let output_index = self.items.len();
        let (kind, item, part) = match block {
            ContentBlock::Thinking { .. } => (
                Kind::Reasoning,
                json!({"id": self.item_id("rs", index), "type": "reasoning", "summary": [],
                       "content": [], "status": "in_progress"}),
                Some(json!({"type": "reasoning_text", "text": ""})),
            ),
            ContentBlock::ToolUse { id, name, .. } => (
                Kind::Call,
                json!({"id": self.item_id("fc", index), "type": "function_call",
                       "status": "in_progress", "call_id": call_id(id), "name": name,
                       "arguments": ""}),
                None,
            ),
            _ => (
                Kind::Message,
                json!({"id": self.item_id("msg", index), "type": "message",
                       "status": "in_progress", "role": "assistant", "content": []}),
                Some(json!({"type": "output_text", "text": "", "annotations": [],
                            "logprobs": []})),
            ),
        };
        let item_id = item["id"].clone();
        self.items.push(item.clone());
        self.open.insert(index, (output_index, kind));
        self.emit(
            json!({"type": "response.output_item.added", "output_index": output_index,
                   "item": item}),
            out,
        );
        if let Some(part) = part {
            self.items[output_index]["content"] = json!([part.clone()]);
            self.emit(
                json!({"type": "response.content_part.added", "item_id": item_id,
                       "output_index": output_index, "content_index": 0, "part": part}),
                out,
            );
        }
        if let ContentBlock::Text { text } = block {
            self.grow(index, text, out);
        }
    }

    /// More of block `index`: reasoning text, answer text or argument JSON.
    fn grow(&mut self, index: usize, piece: &str, out: &mut Vec<Bytes>) {
        let Some(&(output_index, kind)) = self.open.get(&index) else {
            return;
        };
        if piece.is_empty() {
            return;
        }
        let item = &mut self.items[output_index];
        let item_id = item["id"].clone();
        let (event_type, content_index) = match kind {
            Kind::Reasoning => ("response.reasoning_text.delta", Some(0)),
            Kind::Message => ("response.output_text.delta", Some(0)),
            Kind::Call => ("response.function_call_arguments.delta", None),
        };
        match kind {
            Kind::Call => append(&mut item["arguments"], piece),
            _ => append(&mut item["content"][0]["text"], piece),
        }
        let mut event = json!({"type": event_type, "item_id": item_id,
                               "output_index": output_index, "delta": piece});
        if let Some(c) = content_index {
            event["content_index"] = json!(c);
        }
        if kind == Kind::Message {
            event["logprobs"] = json!([]);
        }
        self.emit(event, out);
    }

    fn stop_block(&mut self, index: usize, out: &mut Vec<Bytes>) {
        let Some((output_index, kind)) = self.open.remove(&index) else {
            return;
        };
        let item_id = self.items[output_index]["id"].clone();
        match kind {
            Kind::Call => {
                let item = &mut self.items[output_index];
                if item["arguments"] == "" {
                    item["arguments"] = json!("{}");
                }
                let (arguments, name) = (item["arguments"].clone(), item["name"].clone());
                self.emit(
                    json!({"type": "response.function_call_arguments.done", "item_id": item_id,
                           "output_index": output_index, "arguments": arguments, "name": name}),
                    out,
                );
            }
            Kind::Reasoning | Kind::Message => {
                let part = self.items[output_index]["content"][0].clone();
                let done = if kind == Kind::Reasoning {
                    "response.reasoning_text.done"
                } else {
                    "response.output_text.done"
                };
                self.emit(
                    json!({"type": done, "item_id": item_id, "output_index": output_index,
                           "content_index": 0, "text": part["text"]}),
                    out,
                );
                self.emit(
                    json!({"type": "response.content_part.done", "item_id": item_id,
                           "output_index": output_index, "content_index": 0, "part": part}),
                    out,
                );
            }
        }
        self.items[output_index]["status"] = json!("completed");
        let item = self.items[output_index].clone();
        self.emit(
            json!({"type": "response.output_item.done", "output_index": output_index,
                   "item": item}),
            out,
        );
    }

    fn fail(&mut self, error: ServeError, out: &mut Vec<Bytes>) {
        self.error = Some(error);
        self.ended = true;
        let response = self.response();
        self.emit(
            json!({"type": "response.failed", "response": response}),
            out,
        );
    }
}

/// Appends `piece` to the string `slot`.
fn append(slot: &mut Value, piece: &str) {
    let mut text = slot.as_str().unwrap_or_default().to_string();
    text.push_str(piece);
    *slot = Value::String(text);
}

/// The Responses API's usage: every prompt token in `input_tokens`, those read from the
/// prefix cache in `cached_tokens`; thinking inside `output_tokens`.
fn usage(usage: &Usage) -> Value {
    let input = usage.prompt_tokens();
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": usage.cache_read_input_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.thinking_tokens},
        "total_tokens": input + usage.output_tokens,
    })
}

impl Encoder for ResponsesEncoder {
    fn event(&mut self, event: &Event, out: &mut Vec<Bytes>) {
        if self.ended {
            return;
        }
        match event {
            Event::MessageStart { message } => {
                self.id = format!("resp_{}", id_suffix(&message.id));
                self.usage = message.usage;
                let response = self.response();
                self.emit(
                    json!({"type": "response.created", "response": response}),
                    out,
                );
                let response = self.response();
                self.emit(
                    json!({"type": "response.in_progress", "response": response}),
                    out,
                );
            }
            Event::ContentBlockStart {
                index,
                content_block,
            } => self.start(*index, content_block, out),
            Event::ContentBlockDelta { index, delta } => match delta {
                Delta::TextDelta { text } => self.grow(*index, text, out),
                Delta::ThinkingDelta { thinking } => self.grow(*index, thinking, out),
                Delta::InputJsonDelta { partial_json } => self.grow(*index, partial_json, out),
                Delta::SignatureDelta { .. } => {}
            },
            Event::ContentBlockStop { index } => self.stop_block(*index, out),
            Event::MessageDelta { delta, usage } => {
                self.stop = delta.stop_reason;
                self.usage = *usage;
            }
            Event::MessageStop => {
                self.ended = true;
                let kind = if self.status() == "incomplete" {
                    "response.incomplete"
                } else {
                    "response.completed"
                };
                let response = self.response();
                self.emit(json!({"type": kind, "response": response}), out);
            }
            Event::Error { error } => self.fail(ServeError::from(error.clone()), out),
            Event::Ping => {}
        }
    }

    fn finish(&mut self, error: Option<&ServeError>, out: &mut Vec<Bytes>) {
        if let Some(e) = error {
            if !self.ended {
                self.fail(e.clone(), out);
            }
        }
    }

    fn body(self) -> Result<Value, ServeError> {
        Ok(self.response())
    }
}

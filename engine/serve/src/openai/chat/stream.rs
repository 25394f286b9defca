//! The contract's events as `chat.completion.chunk`s, and their fold into one
//! `chat.completion`: a first chunk with the role, `reasoning_content` for thinking,
//! `content` for text, `tool_calls` deltas (index, id and name first, then argument
//! fragments), a last chunk with `finish_reason`, the usage chunk when asked for, and
//! `data: [DONE]`.

use std::collections::HashMap;

use axum::body::Bytes;
use hearth_engine::api::{ContentBlock, Delta, Event, StopReason, Usage};
use serde_json::{json, Value};

use crate::error::ServeError;
use crate::openai::sse::{data, done};
use crate::openai::{call_id, chat_usage, error_body, finish_reason, id_suffix, now_unix};
use crate::respond::Encoder;

/// One tool call as it grows.
#[derive(Debug, Default)]
struct Call {
    id: String,
    name: String,
    arguments: String,
}

/// Encodes one answer as Chat Completions.
#[derive(Debug)]
pub(crate) struct ChatEncoder {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    content: String,
    reasoning: String,
    calls: Vec<Call>,
    /// The contract's block index of each tool call → its index in `calls`.
    call_of_block: HashMap<usize, usize>,
    stop: Option<StopReason>,
    usage: Usage,
    /// An error was sent: nothing follows it.
    failed: bool,
}

impl ChatEncoder {
    /// An encoder naming `model`, with a usage chunk at the end when `include_usage`.
    pub(crate) fn new(model: String, include_usage: bool) -> ChatEncoder {
        ChatEncoder {
            id: String::new(),
            created: now_unix(),
            model,
            include_usage,
            content: String::new(),
            reasoning: String::new(),
            calls: Vec::new(),
            call_of_block: HashMap::new(),
            stop: None,
            usage: Usage::default(),
            failed: false,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Bytes {
        data(&json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": null,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        }))
    }

    fn text(&mut self, text: &str, out: &mut Vec<Bytes>) {
        if !text.is_empty() {
            self.content.push_str(text);
            out.push(self.chunk(json!({"content": text}), None));
        }
    }
}

impl Encoder for ChatEncoder {
    fn event(&mut self, event: &Event, out: &mut Vec<Bytes>) {
        if self.failed {
            return;
        }
        match event {
            Event::MessageStart { message } => {
                self.id = format!("chatcmpl-{}", id_suffix(&message.id));
                self.usage = message.usage;
                out.push(self.chunk(json!({"role": "assistant", "content": ""}), None));
            }
            Event::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                ContentBlock::ToolUse { id, name, .. } => {
                    let k = self.calls.len();
                    self.call_of_block.insert(*index, k);
                    self.calls.push(Call {
                        id: call_id(id),
                        name: name.clone(),
                        arguments: String::new(),
                    });
                    out.push(self.chunk(
                        json!({"tool_calls": [{"index": k, "id": call_id(id), "type": "function",
                            "function": {"name": name, "arguments": ""}}]}),
                        None,
                    ));
                }
                ContentBlock::Text { text } => self.text(text, out),
                _ => {}
            },
            Event::ContentBlockDelta { index, delta } => match delta {
                Delta::TextDelta { text } => self.text(text, out),
                Delta::ThinkingDelta { thinking } if !thinking.is_empty() => {
                    self.reasoning.push_str(thinking);
                    out.push(self.chunk(json!({"reasoning_content": thinking}), None));
                }
                Delta::InputJsonDelta { partial_json } if !partial_json.is_empty() => {
                    if let Some(&k) = self.call_of_block.get(index) {
                        self.calls[k].arguments.push_str(partial_json);
                        out.push(self.chunk(
                            json!({"tool_calls": [{"index": k,
                                "function": {"arguments": partial_json}}]}),
                            None,
                        ));
                    }
                }
                _ => {}
            },
            Event::MessageDelta { delta, usage } => {
                self.stop = delta.stop_reason;
                self.usage = *usage;
            }
            Event::MessageStop => {
                out.push(self.chunk(json!({}), Some(finish_reason(self.stop))));
                if self.include_usage {
                    out.push(data(&json!({
                        "id": self.id,
                        "object": "chat.completion.chunk",
                        "created": self.created,
                        "model": self.model,
                        "system_fingerprint": null,
                        "choices": [],
                        "usage": chat_usage(&self.usage),
                    })));
                }
            }
            Event::Error { error } => {
                self.failed = true;
                out.push(data(&error_body(&ServeError::from(error.clone()))));
            }
            Event::ContentBlockStop { .. } | Event::Ping => {}
        }
    }

    fn finish(&mut self, error: Option<&ServeError>, out: &mut Vec<Bytes>) {
        match error {
            // An error is the stream's last word, as OpenAI ends a failed stream.
            Some(e) if !self.failed => {
                self.failed = true;
                out.push(data(&error_body(e)));
            }
            Some(_) => {}
            None if !self.failed => out.push(done()),
            None => {}
        }
    }

    fn body(self) -> Result<Value, ServeError> {
        let mut message = json!({
            "role": "assistant",
            // Content is null when the answer is only tool calls, as OpenAI writes it.
            "content": if self.content.is_empty() && !self.calls.is_empty() {
                Value::Null
            } else {
                Value::String(self.content)
            },
            "refusal": null,
        });
        if !self.reasoning.is_empty() {
            message["reasoning_content"] = json!(self.reasoning);
        }
        if !self.calls.is_empty() {
            message["tool_calls"] = self
                .calls
                .iter()
                .map(|c| {
                    // A call with no arguments streamed none; its arguments are `{}`.
                    let arguments = if c.arguments.is_empty() {
                        "{}"
                    } else {
                        &c.arguments
                    };
                    json!({"id": c.id, "type": "function",
                           "function": {"name": c.name, "arguments": arguments}})
                })
                .collect();
        }
        Ok(json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": null,
            "choices": [{"index": 0, "message": message, "logprobs": null,
                         "finish_reason": finish_reason(self.stop)}],
            "usage": chat_usage(&self.usage),
        }))
    }
}

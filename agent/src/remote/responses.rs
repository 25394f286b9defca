//! The OpenAI Responses API (`POST /v1/responses`), stateless (`store: false`): every
//! request carries the whole conversation as input items, as Codex CLI sends it.
//!
//! The stream is a sequence of typed events around output items (`message`, `reasoning`,
//! `function_call`), ending in `response.completed` with usage, or `response.incomplete`
//! when the output limit was reached.

use std::collections::BTreeMap;

use hearth_engine::api::ToolResultContent;
use hearth_engine::api::{self, ApiError, ContentBlock, Role, StopReason, ToolChoice, Usage};
use serde_json::{json, Map, Value};

use super::emit::Emitter;
use super::sse::SseEvent;
use super::{count, data_json, stream_error, Ending, Translate};

/// The request body for `model`.
pub(crate) fn body(request: &api::Request, model: &str) -> Value {
    let mut fields = Map::new();
    fields.insert("model".into(), json!(model));
    if !request.system.is_empty() {
        fields.insert("instructions".into(), json!(request.system.joined()));
    }
    fields.insert("input".into(), Value::Array(input(request)));
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "name": t.name, "description": t.description,
                       "parameters": t.input_schema})
            })
            .collect();
        fields.insert("tools".into(), Value::Array(tools));
        let choice = match &request.tool_choice {
            None | Some(ToolChoice::Auto) => None,
            Some(ToolChoice::Any | ToolChoice::AnyOf { .. }) => Some(json!("required")),
            Some(ToolChoice::Tool { name }) => Some(json!({"type": "function", "name": name})),
            Some(ToolChoice::None) => Some(json!("none")),
        };
        if let Some(choice) = choice {
            fields.insert("tool_choice".into(), choice);
        }
    }
    fields.insert("max_output_tokens".into(), json!(request.max_tokens));
    if let Some(t) = request.temperature {
        fields.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        fields.insert("top_p".into(), json!(p));
    }
    let effort = match api::ThinkingConfig::budget(request.thinking.as_ref()) {
        0 => None,
        1..=2048 => Some("low"),
        2049..=8192 => Some("medium"),
        _ => Some("high"),
    };
    if let Some(effort) = effort {
        fields.insert("reasoning".into(), json!({"effort": effort}));
    }
    fields.insert("store".into(), json!(false));
    fields.insert("stream".into(), json!(true));
    Value::Object(fields)
}

/// The conversation as input items, in order.
fn input(request: &api::Request) -> Vec<Value> {
    let mut items = Vec::new();
    for message in &request.messages {
        let (role, text_type) = match message.role {
            Role::User => ("user", "input_text"),
            Role::Assistant => ("assistant", "output_text"),
        };
        let mut text = Vec::new();
        for block in &message.content {
            match block {
                ContentBlock::Text { text: t } => text.push(json!({"type": text_type, "text": t})),
                ContentBlock::ToolUse { id, name, input } => {
                    flush(&mut items, role, &mut text);
                    items.push(json!({"type": "function_call", "call_id": id, "name": name,
                                      "arguments": input.to_string()}));
                }
                ContentBlock::ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                } => {
                    flush(&mut items, role, &mut text);
                    let mut output = ToolResultContent::join(content);
                    if *is_error {
                        output = format!("Error: {output}");
                    }
                    items.push(
                        json!({"type": "function_call_output", "call_id": tool_use_id,
                                      "output": output}),
                    );
                }
                // Reasoning items need the server's own ids to go back; stateless, they
                // are left out.
                ContentBlock::Thinking { .. } => {}
            }
        }
        flush(&mut items, role, &mut text);
    }
    items
}

/// Ends a message item of the text blocks so far, if any.
fn flush(items: &mut Vec<Value>, role: &str, text: &mut Vec<Value>) {
    if !text.is_empty() {
        items.push(json!({"type": "message", "role": role, "content": std::mem::take(text)}));
    }
}

/// A function call being streamed.
#[derive(Default)]
struct PendingCall {
    call_id: String,
    name: String,
    arguments: String,
}

/// The state of one Responses stream.
#[derive(Default)]
pub(crate) struct Translator {
    /// Function calls by output index, until their item is done.
    calls: BTreeMap<u64, PendingCall>,
}

impl Translator {
    fn flush_calls(&mut self, out: &mut Emitter<'_>) {
        for call in std::mem::take(&mut self.calls).into_values() {
            out.tool_call(&call.call_id, &call.name, &call.arguments);
        }
    }
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
        let index = data
            .get("output_index")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let text = |field: &str| data.get(field).and_then(Value::as_str).unwrap_or("");
        match kind {
            "response.created" | "response.in_progress" => {
                let response = data.get("response").unwrap_or(&Value::Null);
                let id = response.get("id").and_then(Value::as_str).unwrap_or("");
                out.start(
                    id,
                    response.get("model").and_then(Value::as_str),
                    Usage::default(),
                );
            }
            "response.output_item.added" => {
                let item = data.get("item").unwrap_or(&Value::Null);
                if item.get("type").and_then(Value::as_str) == Some("function_call") {
                    let field = |name: &str| {
                        item.get(name)
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string()
                    };
                    self.calls.insert(
                        index,
                        PendingCall {
                            call_id: field("call_id"),
                            name: field("name"),
                            arguments: field("arguments"),
                        },
                    );
                } else {
                    out.close();
                }
            }
            "response.output_text.delta" => out.text(text("delta")),
            "response.reasoning_text.delta" | "response.reasoning_summary_text.delta" => {
                out.thinking(text("delta"))
            }
            "response.function_call_arguments.delta" => {
                if let Some(call) = self.calls.get_mut(&index) {
                    call.arguments.push_str(text("delta"));
                }
            }
            "response.function_call_arguments.done" => {
                if let Some(call) = self.calls.get_mut(&index) {
                    call.arguments = text("arguments").to_string();
                }
            }
            "response.output_item.done" => match self.calls.remove(&index) {
                Some(call) => out.tool_call(&call.call_id, &call.name, &call.arguments),
                None => out.close(),
            },
            "response.completed" | "response.incomplete" => {
                self.flush_calls(out);
                let response = data.get("response").unwrap_or(&Value::Null);
                let reason = response
                    .get("incomplete_details")
                    .and_then(|d| d.get("reason"))
                    .and_then(Value::as_str);
                let stop = match reason {
                    Some("max_output_tokens") => Some(StopReason::MaxTokens),
                    _ if out.tool_calls() > 0 => Some(StopReason::ToolUse),
                    _ => Some(StopReason::EndTurn),
                };
                let usage = response.get("usage").unwrap_or(&Value::Null);
                let input = count(usage, &["input_tokens"]).unwrap_or(0);
                let cached = count(usage, &["input_tokens_details", "cached_tokens"])
                    .unwrap_or(0)
                    .min(input);
                return Ok(Some(Ending {
                    stop,
                    stop_sequence: None,
                    usage: Usage {
                        input_tokens: input - cached,
                        cache_read_input_tokens: cached,
                        cache_creation_input_tokens: 0,
                        output_tokens: count(usage, &["output_tokens"]).unwrap_or(0),
                        thinking_tokens: count(
                            usage,
                            &["output_tokens_details", "reasoning_tokens"],
                        )
                        .unwrap_or(0),
                        ..Usage::default()
                    },
                }));
            }
            "response.failed" => {
                let response = data.get("response").unwrap_or(&Value::Null);
                return Err(stream_error(response));
            }
            "error" => return Err(stream_error(&data)),
            _ => {}
        }
        Ok(None)
    }

    fn end_of_stream(&mut self, _out: &mut Emitter<'_>) -> Result<Ending, ApiError> {
        Err(ApiError::internal(
            "the stream ended before response.completed (the server closed the connection)",
        ))
    }
}

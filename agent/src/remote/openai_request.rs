//! The contract's request as an OpenAI Chat Completions request.
//!
//! Messages-shaped content becomes chat messages as the engine's own chat template makes
//! them (`hearth_engine::template::chat`): system blocks one `system` message, tool results
//! `tool` messages, tool calls the assistant's `tool_calls` with their arguments as JSON
//! text. Thinking is not sent back: chat servers take no thinking in past turns.
//! The order is the contract's, so an engine's prefix cache hits as it does locally.

use hearth_engine::api::{self, ContentBlock, Role, ToolChoice, ToolResultContent};
use hearth_engine::template::chat::TOOL_ERROR_PREFIX;
use serde_json::{json, Map, Value};

/// The request body for `model`. With `required_refused`, a forced call is asked as `auto`
/// (the server refused `required` before).
pub(crate) fn body(request: &api::Request, model: &str, required_refused: bool) -> Value {
    let mut fields = Map::new();
    fields.insert("model".into(), json!(model));
    fields.insert("messages".into(), Value::Array(messages(request)));
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.input_schema,
                }})
            })
            .collect();
        fields.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = tool_choice(request.tool_choice.as_ref(), required_refused) {
            fields.insert("tool_choice".into(), choice);
        }
    }
    fields.insert("max_tokens".into(), json!(request.max_tokens));
    if let Some(t) = request.temperature {
        fields.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        fields.insert("top_p".into(), json!(p));
    }
    // Not OpenAI's, but vLLM, SGLang and llama.cpp take it.
    if let Some(k) = request.top_k {
        fields.insert("top_k".into(), json!(k));
    }
    if !request.stop_sequences.is_empty() {
        fields.insert("stop".into(), json!(request.stop_sequences));
    }
    if let Some(seed) = request.seed {
        fields.insert("seed".into(), json!(seed));
    }
    if let Some(effort) = reasoning_effort(request.thinking.as_ref()) {
        fields.insert("reasoning_effort".into(), json!(effort));
    }
    fields.insert("stream".into(), json!(true));
    fields.insert("stream_options".into(), json!({"include_usage": true}));
    Value::Object(fields)
}

/// The chat messages of `request`, system first.
fn messages(request: &api::Request) -> Vec<Value> {
    let mut out = Vec::new();
    if !request.system.is_empty() {
        out.push(json!({"role": "system", "content": request.system.joined()}));
    }
    for message in &request.messages {
        match message.role {
            Role::User => user(&message.content, &mut out),
            Role::Assistant => out.push(assistant(&message.content)),
        }
    }
    out
}

/// A user message: a `user` message per run of text blocks and a `tool` message per tool
/// result, in the order of the blocks. Text blocks are joined as they are, with nothing
/// between them: the engine's own chat template does the same, so a prompt sent here is
/// token for token the prompt a local run renders (and an engine's prefix cache hits).
fn user(content: &[ContentBlock], out: &mut Vec<Value>) {
    let mut text: Option<String> = None;
    for block in content {
        match block {
            ContentBlock::Text { text: t } => text.get_or_insert_with(String::new).push_str(t),
            ContentBlock::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => {
                if let Some(t) = text.take() {
                    out.push(json!({"role": "user", "content": t}));
                }
                let mut output = ToolResultContent::join(content);
                if *is_error {
                    // Tool messages have no error flag; the model must still know (the
                    // engine's template writes the same prefix).
                    output = format!("{TOOL_ERROR_PREFIX}{output}");
                }
                out.push(json!({"role": "tool", "tool_call_id": tool_use_id, "content": output}));
            }
            ContentBlock::Thinking { .. } | ContentBlock::ToolUse { .. } => {}
        }
    }
    if let Some(t) = text {
        out.push(json!({"role": "user", "content": t}));
    }
}

fn assistant(content: &[ContentBlock]) -> Value {
    let mut text = String::new();
    let mut calls = Vec::new();
    for block in content {
        match block {
            ContentBlock::Text { text: t } => text.push_str(t),
            ContentBlock::ToolUse { id, name, input } => calls.push(json!({
                "id": id, "type": "function",
                "function": {"name": name, "arguments": input.to_string()},
            })),
            ContentBlock::Thinking { .. } | ContentBlock::ToolResult { .. } => {}
        }
    }
    let mut message = Map::new();
    message.insert("role".into(), json!("assistant"));
    // Always a string, "" beside calls: OpenAI writes `null` there, but servers with strict
    // schemas refuse it (llama-cpp-python: "Input should be a valid string"), and "" is
    // what the engine's own template gets.
    message.insert("content".into(), json!(text));
    if !calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    Value::Object(message)
}

/// OpenAI's `tool_choice` for the contract's. `any_of` (hearth's) is `required`: the
/// request keeps all its tools either way. `None` leaves it out (the server's default,
/// `auto`).
fn tool_choice(choice: Option<&ToolChoice>, required_refused: bool) -> Option<Value> {
    match choice? {
        ToolChoice::Auto => Some(json!("auto")),
        ToolChoice::Any | ToolChoice::AnyOf { .. } if required_refused => Some(json!("auto")),
        ToolChoice::Any | ToolChoice::AnyOf { .. } => Some(json!("required")),
        ToolChoice::Tool { name } => Some(json!({"type": "function", "function": {"name": name}})),
        ToolChoice::None => Some(json!("none")),
    }
}

/// A thinking budget as OpenAI's coarse `reasoning_effort`; `None` without thinking, so
/// servers of models that do not reason get no field they might refuse.
fn reasoning_effort(thinking: Option<&api::ThinkingConfig>) -> Option<&'static str> {
    match api::ThinkingConfig::budget(thinking) {
        0 => None,
        1..=2048 => Some("low"),
        2049..=8192 => Some("medium"),
        _ => Some("high"),
    }
}

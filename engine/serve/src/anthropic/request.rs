//! A Messages API request body into the engine's [`Request`], leniently: what real
//! clients send is accepted (unknown fields, `role: "system"` messages, adaptive
//! thinking, server tools, `cache_control`, `metadata`, `context_management`), and what
//! cannot be served is refused with a message naming the field.
//!
//! The body is read as a JSON value first, so malformed JSON is told apart from a wrong
//! field, then rewritten where the wire and the contract differ, then deserialized into
//! [`Request`] with the path of a failing field kept (`messages[1].content[0].type`).

use hearth_engine::api::{Request, ThinkingConfig, ToolChoice};
use serde_json::{json, Map, Value};

use crate::error::ServeError;
use crate::signature::Signer;

/// The thinking budget of `{"type": "adaptive"}` at medium effort; low is a quarter of
/// it, high four times, max eight times. Small enough that a CPU answers in a minute at
/// the default, since the model decides for itself how much of it to use.
const ADAPTIVE_MEDIUM_BUDGET: u32 = 4096;

/// The thinking budget of an effort level (`low`, `medium`, `high`, `max`), shared by
/// the Messages API's adaptive thinking and OpenAI's `reasoning_effort`, so one effort
/// buys the same thinking whichever protocol asks; `None` for an unknown level.
pub(crate) fn effort_budget(effort: &str) -> Option<u32> {
    match effort {
        "low" => Some(ADAPTIVE_MEDIUM_BUDGET / 4),
        "medium" => Some(ADAPTIVE_MEDIUM_BUDGET),
        "high" => Some(ADAPTIVE_MEDIUM_BUDGET * 4),
        "max" => Some(ADAPTIVE_MEDIUM_BUDGET * 8),
        _ => None,
    }
}

/// A parsed request: the engine's form and what the wire says beside it.
#[derive(Debug)]
pub(crate) struct Parsed {
    /// The request for the engine (its `model` left out: resolved by the caller).
    pub request: Request,
    /// The model the client asked for.
    pub model: String,
}

/// Parses a `/v1/messages` (or `count_tokens`) body. `needs_max_tokens` is false for
/// `count_tokens`, whose bodies have no `max_tokens`.
pub(crate) fn parse(
    body: &[u8],
    signer: &Signer,
    needs_max_tokens: bool,
) -> Result<Parsed, ServeError> {
    let mut value: Value = serde_json::from_slice(body)
        .map_err(|e| ServeError::invalid(format!("the request body is not valid JSON: {e}")))?;
    let Some(fields) = value.as_object_mut() else {
        return Err(ServeError::invalid(format!(
            "the request body must be a JSON object, got {}",
            type_name(&value)
        )));
    };
    let model = match fields.remove("model") {
        Some(Value::String(m)) => m,
        Some(other) => {
            return Err(ServeError::invalid(format!(
                "model: expected a string, got {}",
                type_name(&other)
            )))
        }
        None => return Err(ServeError::invalid("model: missing; name the model to use")),
    };
    if !needs_max_tokens && !fields.contains_key("max_tokens") {
        // count_tokens counts the prompt; any valid max_tokens renders it the same.
        fields.insert("max_tokens".into(), json!(1));
    }
    verify_thinking_signatures(fields, signer)?;
    move_system_messages(fields)?;
    adaptive_thinking(fields)?;
    drop_server_tools(fields);
    let mut request: Request = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ServeError::invalid(inner.to_string())
        } else {
            ServeError::invalid(format!("{path}: {inner}"))
        }
    })?;
    check(&mut request)?;
    Ok(Parsed { request, model })
}

/// The JSON type of `v`, for error messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Every thinking block sent back must carry this server's signature of its text.
/// Checked on the wire form, so the error names the block as the client numbered it.
fn verify_thinking_signatures(
    fields: &Map<String, Value>,
    signer: &Signer,
) -> Result<(), ServeError> {
    let Some(Value::Array(messages)) = fields.get("messages") else {
        return Ok(());
    };
    for (i, message) in messages.iter().enumerate() {
        let Some(Value::Array(blocks)) = message.get("content") else {
            continue;
        };
        for (j, block) in blocks.iter().enumerate() {
            if block.get("type").and_then(Value::as_str) != Some("thinking") {
                continue;
            }
            let thinking = block.get("thinking").and_then(Value::as_str).unwrap_or("");
            let signature = block.get("signature").and_then(Value::as_str).unwrap_or("");
            if signature.is_empty() {
                return Err(ServeError::invalid(format!(
                    "messages[{i}].content[{j}].signature: missing; a thinking block must be \
                     sent back with the signature this server gave it"
                )));
            }
            if !signer.verify(thinking, signature) {
                return Err(ServeError::invalid(format!(
                    "messages[{i}].content[{j}]: the thinking block does not match its \
                     signature; send thinking blocks back unchanged, as this server returned \
                     them (signatures of an earlier server process are not accepted either)"
                )));
            }
        }
    }
    Ok(())
}

/// `role: "system"` messages inside `messages` (Claude Code sends them) join the system
/// prompt, after what `system` holds, in their order.
fn move_system_messages(fields: &mut Map<String, Value>) -> Result<(), ServeError> {
    let Some(Value::Array(messages)) = fields.get_mut("messages") else {
        return Ok(());
    };
    let mut moved = Vec::new();
    let mut kept = Vec::with_capacity(messages.len());
    for (i, message) in std::mem::take(messages).into_iter().enumerate() {
        if message.get("role").and_then(Value::as_str) != Some("system") {
            kept.push(message);
            continue;
        }
        match message.get("content") {
            Some(Value::String(text)) => moved.push(json!({"type": "text", "text": text})),
            Some(Value::Array(blocks)) => {
                for (j, block) in blocks.iter().enumerate() {
                    match block.get("text").and_then(Value::as_str) {
                        Some(text) => moved.push(json!({"type": "text", "text": text})),
                        None => {
                            return Err(ServeError::invalid(format!(
                                "messages[{i}].content[{j}]: a system message holds text \
                                 blocks only"
                            )))
                        }
                    }
                }
            }
            other => {
                return Err(ServeError::invalid(format!(
                    "messages[{i}].content: expected a string or text blocks, got {}",
                    other.map_or("nothing", type_name)
                )))
            }
        }
    }
    *messages = kept;
    if moved.is_empty() {
        return Ok(());
    }
    let mut system = match fields.remove("system") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) if text.is_empty() => Vec::new(),
        Some(Value::String(text)) => vec![json!({"type": "text", "text": text})],
        Some(Value::Array(blocks)) => blocks,
        Some(other) => {
            return Err(ServeError::invalid(format!(
                "system: expected a string or text blocks, got {}",
                type_name(&other)
            )))
        }
    };
    system.extend(moved);
    fields.insert("system".into(), Value::Array(system));
    Ok(())
}

/// `thinking: {"type": "adaptive"}` becomes a budget scaled by `output_config.effort`, at
/// most half of `max_tokens` so the answer has room after it.
fn adaptive_thinking(fields: &mut Map<String, Value>) -> Result<(), ServeError> {
    let kind = match fields.get("thinking") {
        None | Some(Value::Null) => {
            fields.remove("thinking");
            return Ok(());
        }
        Some(Value::Object(t)) => t.get("type").and_then(Value::as_str).unwrap_or(""),
        Some(other) => {
            return Err(ServeError::invalid(format!(
                "thinking: expected an object such as {{\"type\": \"enabled\", \
                 \"budget_tokens\": 2048}}, got {}",
                type_name(other)
            )))
        }
    };
    match kind {
        "enabled" | "disabled" => Ok(()),
        "adaptive" => {
            let effort = fields
                .get("output_config")
                .and_then(|c| c.get("effort"))
                .and_then(Value::as_str)
                .unwrap_or("medium");
            let Some(budget) = effort_budget(effort) else {
                return Err(ServeError::invalid(format!(
                    "output_config.effort: expected \"low\", \"medium\", \"high\" or \
                     \"max\", got {effort:?}"
                )));
            };
            let max_tokens = fields
                .get("max_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let budget = u64::from(budget).min(max_tokens / 2);
            let thinking = if budget == 0 {
                json!({"type": "disabled"})
            } else {
                json!({"type": "enabled", "budget_tokens": budget})
            };
            fields.insert("thinking".into(), thinking);
            Ok(())
        }
        other => Err(ServeError::invalid(format!(
            "thinking.type: expected \"enabled\", \"adaptive\" or \"disabled\", got {other:?}"
        ))),
    }
}

/// Server tools (web search, code execution: a `type` other than `custom`, no
/// `input_schema`) run on Anthropic's side; this server has none, so they are left out
/// rather than refusing the whole request.
fn drop_server_tools(fields: &mut Map<String, Value>) {
    if let Some(Value::Array(tools)) = fields.get_mut("tools") {
        tools.retain(|t| {
            let custom = matches!(t.get("type").and_then(Value::as_str), None | Some("custom"));
            custom || t.get("input_schema").is_some()
        });
    }
}

/// The rules between fields that serde cannot state; what the engine would refuse only
/// once the request is its turn is refused here, before any queueing.
fn check(request: &mut Request) -> Result<(), ServeError> {
    if let Some(ThinkingConfig::Enabled { budget_tokens, .. }) = request.thinking {
        if budget_tokens >= request.max_tokens {
            return Err(ServeError::invalid(format!(
                "thinking.budget_tokens: {budget_tokens} must be less than max_tokens ({})",
                request.max_tokens
            )));
        }
    }
    if request.tools.is_empty() {
        match request.tool_choice {
            // Clients send `auto` with no tools; it asks nothing.
            Some(ToolChoice::Auto | ToolChoice::None) => request.tool_choice = None,
            Some(_) => {
                return Err(ServeError::invalid(
                    "tool_choice: requires a tool, but the request has no tools",
                ))
            }
            None => {}
        }
    }
    if let Some(ToolChoice::Tool { name }) = &request.tool_choice {
        if !request.tools.iter().any(|t| &t.name == name) {
            let names: Vec<&str> = request.tools.iter().map(|t| t.name.as_str()).collect();
            return Err(ServeError::invalid(format!(
                "tool_choice.name: no tool is named {name:?}; the request's tools are {names:?}"
            )));
        }
    }
    if let Some(t) = request.temperature {
        if !t.is_finite() || t < 0.0 {
            return Err(ServeError::invalid(format!(
                "temperature: must be a number >= 0, got {t}"
            )));
        }
    }
    if let Some(p) = request.top_p {
        if !(p > 0.0 && p <= 1.0) {
            return Err(ServeError::invalid(format!(
                "top_p: must be in (0, 1], got {p}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;

//! From an [`api::Request`](crate::api::Request) to the chat template's
//! input, in the shape Hugging Face templates expect.
//!
//! The Messages protocol and HF templates cut a conversation differently:
//! the protocol puts tool calls in assistant content blocks and their
//! results in user messages, HF templates want `tool_calls` on the
//! assistant message and one `{"role": "tool"}` message per result. This
//! module does that translation, and checks the request on the way so that
//! a bad conversation is refused with a message naming what is wrong rather
//! than rendered into a prompt the model never saw in training.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use crate::api::{ApiError, ContentBlock, Message, Request, Role, ToolResultContent};
use crate::template::TemplateInput;

/// What a tool result's content starts with when the call failed, so the
/// model can tell a failure from output (templates have no error field).
pub const TOOL_ERROR_PREFIX: &str = "Error: ";

/// Checks `req` and translates it into the template's input: the system
/// text first, then the messages, then `tools`, with the generation prompt.
///
/// Thinking blocks of earlier assistant turns are left out: the templates
/// hearth renders this way do not show past reasoning to the model (thinking
/// itself is handled where thinking is generated).
pub fn template_input(req: &Request) -> Result<TemplateInput, ApiError> {
    check_conversation(req)?;
    let mut messages = Vec::new();
    if !req.system.is_empty() {
        messages.push(json!({"role": "system", "content": req.system.joined()}));
    }
    for (i, message) in req.messages.iter().enumerate() {
        match message.role {
            Role::Assistant => messages.push(assistant_message(message)),
            Role::User => user_messages(i, message, &mut messages)?,
        }
    }
    let tools = req
        .tools
        .iter()
        .map(|t| {
            json!({
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.input_schema,
                }
            })
        })
        .collect();
    Ok(TemplateInput {
        messages,
        tools,
        add_generation_prompt: true,
        extra: Map::new(),
    })
}

/// The request-level rules: something to answer, ending with the user's turn,
/// every tool result answering a call made before it.
fn check_conversation(req: &Request) -> Result<(), ApiError> {
    if req.max_tokens == 0 {
        return Err(ApiError::invalid_request(
            "max_tokens must be at least 1, got 0",
        ));
    }
    let Some(last) = req.messages.last() else {
        return Err(ApiError::invalid_request(
            "messages is empty: the request needs at least one user message",
        ));
    };
    if last.role != Role::User {
        return Err(ApiError::invalid_request(format!(
            "the last message (messages[{}]) is from the assistant; it must be a user message \
             (text or tool results) for the model to answer",
            req.messages.len() - 1
        )));
    }
    let mut seen_names = HashSet::new();
    for tool in &req.tools {
        if !seen_names.insert(tool.name.as_str()) {
            return Err(ApiError::invalid_request(format!(
                "tools: the name {:?} is defined twice",
                tool.name
            )));
        }
    }
    let mut calls = HashSet::new();
    for (i, message) in req.messages.iter().enumerate() {
        if message.content.is_empty() {
            return Err(ApiError::invalid_request(format!(
                "messages[{i}] has no content blocks"
            )));
        }
        for block in &message.content {
            match (message.role, block) {
                (Role::Assistant, ContentBlock::ToolUse { id, .. }) => {
                    calls.insert(id.as_str());
                }
                (Role::User, ContentBlock::ToolResult { tool_use_id, .. })
                    if !calls.contains(tool_use_id.as_str()) =>
                {
                    return Err(ApiError::invalid_request(format!(
                        "messages[{i}]: tool_result refers to tool_use_id {tool_use_id:?}, \
                         which no earlier assistant tool_use block has"
                    )));
                }
                (Role::User, ContentBlock::ToolUse { .. }) => {
                    return Err(ApiError::invalid_request(format!(
                        "messages[{i}]: a user message cannot hold a tool_use block"
                    )));
                }
                (Role::Assistant, ContentBlock::ToolResult { .. }) => {
                    return Err(ApiError::invalid_request(format!(
                        "messages[{i}]: an assistant message cannot hold a tool_result block \
                         (tool results go in the next user message)"
                    )));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// One assistant message: its text, and its calls as `tool_calls`.
fn assistant_message(message: &Message) -> Value {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in &message.content {
        match block {
            ContentBlock::Text { text: t } => text.push_str(t),
            ContentBlock::ToolUse { id, name, input } => tool_calls.push(json!({
                "id": id,
                "type": "function",
                "function": {"name": name, "arguments": input},
            })),
            // Past reasoning is not shown to the model again.
            ContentBlock::Thinking { .. } | ContentBlock::ToolResult { .. } => {}
        }
    }
    let mut m = json!({"role": "assistant", "content": text});
    if !tool_calls.is_empty() {
        m["tool_calls"] = Value::Array(tool_calls);
    }
    m
}

/// One user message: a `tool` message per tool result and a `user` message
/// per run of text blocks, in the order of the blocks.
fn user_messages(index: usize, message: &Message, out: &mut Vec<Value>) -> Result<(), ApiError> {
    let mut text: Option<String> = None;
    for block in &message.content {
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
                let output = ToolResultContent::join(content);
                let output = if *is_error {
                    format!("{TOOL_ERROR_PREFIX}{output}")
                } else {
                    output
                };
                out.push(json!({"role": "tool", "tool_call_id": tool_use_id, "content": output}));
            }
            ContentBlock::Thinking { .. } => {
                return Err(ApiError::invalid_request(format!(
                    "messages[{index}]: a user message cannot hold a thinking block"
                )))
            }
            // Refused by check_conversation before translation starts.
            ContentBlock::ToolUse { .. } => {}
        }
    }
    if let Some(t) = text {
        out.push(json!({"role": "user", "content": t}));
    }
    Ok(())
}

#[cfg(test)]
#[path = "chat_tests.rs"]
mod tests;

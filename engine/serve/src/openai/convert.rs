//! What Chat Completions and Responses requests share on their way to the contract:
//! a reasoning effort as a thinking budget, the conversation built message by message
//! (tool results gathered into user turns), and the rules between tools and
//! `tool_choice`.

use hearth_engine::api::{
    ContentBlock, Message, Role, SystemPrompt, TextBlock, ThinkingConfig, ToolChoice,
    ToolDefinition, ToolResultContent,
};
use serde_json::{json, Value};

use crate::anthropic::request::effort_budget;
use crate::error::ServeError;

/// The thinking of a reasoning effort (`field` names it for errors): `none` and
/// `minimal` think not at all, `low`/`medium`/`high` get the Messages API's adaptive
/// budgets, `xhigh` its `max`; a budget is kept to at most half of `max_tokens` (when
/// given) so the answer has room after it.
pub(crate) fn effort_thinking(
    effort: &str,
    field: &str,
    max_tokens: Option<u32>,
) -> Result<ThinkingConfig, ServeError> {
    let budget = match effort {
        "none" | "minimal" => 0,
        "xhigh" => effort_budget("max").unwrap_or(0),
        other => effort_budget(other)
            .filter(|_| other != "max")
            .ok_or_else(|| {
                ServeError::invalid(format!(
                    "{field}: expected \"none\", \"minimal\", \"low\", \"medium\", \"high\" or \
                 \"xhigh\", got {other:?}"
                ))
            })?,
    };
    let budget = max_tokens.map_or(budget, |m| budget.min(m / 2));
    Ok(if budget == 0 {
        ThinkingConfig::Disabled
    } else {
        ThinkingConfig::enabled(budget)
    })
}

/// A function tool for the contract; a missing schema is an object with no properties.
pub(crate) fn tool(
    name: String,
    description: Option<String>,
    parameters: Option<&Value>,
) -> ToolDefinition {
    ToolDefinition {
        name,
        description: description.unwrap_or_default(),
        input_schema: parameters
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
    }
}

/// The conversation as the contract holds it, built in wire order.
#[derive(Debug, Default)]
pub(crate) struct Conversation {
    /// System text, in order (system and developer messages, `instructions`).
    pub system: Vec<String>,
    /// The messages.
    pub messages: Vec<Message>,
}

impl Conversation {
    /// The system text as the contract's system prompt, one block per source.
    pub fn system_prompt(&mut self) -> SystemPrompt {
        SystemPrompt(
            std::mem::take(&mut self.system)
                .into_iter()
                .map(|text| TextBlock {
                    kind: "text".into(),
                    text,
                })
                .collect(),
        )
    }

    /// A user message of text.
    pub fn user(&mut self, text: String) {
        self.messages.push(Message {
            role: Role::User,
            content: vec![ContentBlock::text(text)],
        });
    }

    /// Assistant text; empty text adds nothing (the contract has no empty messages).
    pub fn assistant_text(&mut self, text: String) {
        if !text.is_empty() {
            self.assistant_block(ContentBlock::text(text));
        }
    }

    /// An assistant tool call, in the same assistant turn as the text or calls just
    /// before it.
    pub fn assistant_call(&mut self, id: String, name: String, input: Value) {
        self.assistant_block(ContentBlock::ToolUse { id, name, input });
    }

    /// A tool's result, in the same user turn as the results just before it.
    pub fn tool_result(&mut self, call_id: String, output: String) {
        let block = ContentBlock::ToolResult {
            tool_use_id: call_id,
            content: vec![ToolResultContent::Text { text: output }],
            is_error: false,
        };
        match self.messages.last_mut() {
            Some(m)
                if m.role == Role::User
                    && m.content
                        .iter()
                        .all(|b| matches!(b, ContentBlock::ToolResult { .. })) =>
            {
                m.content.push(block)
            }
            _ => self.messages.push(Message {
                role: Role::User,
                content: vec![block],
            }),
        }
    }

    fn assistant_block(&mut self, block: ContentBlock) {
        match self.messages.last_mut() {
            Some(m) if m.role == Role::Assistant => m.content.push(block),
            _ => self.messages.push(Message {
                role: Role::Assistant,
                content: vec![block],
            }),
        }
    }
}

/// The rules between `tools` and `tool_choice` (`field` names it): a choice that asks
/// for a call needs tools, and a named function must be one of them. `auto` and `none`
/// with no tools ask nothing and are dropped.
pub(crate) fn check_tool_choice(
    choice: Option<ToolChoice>,
    tools: &[ToolDefinition],
    field: &str,
) -> Result<Option<ToolChoice>, ServeError> {
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    let unknown = |name: &str| {
        ServeError::invalid(format!(
            "{field}: no function is named {name:?}; the request's tools are {names:?}"
        ))
    };
    match choice {
        Some(ToolChoice::Auto | ToolChoice::None) if tools.is_empty() => Ok(None),
        Some(_) if tools.is_empty() => Err(ServeError::invalid(format!(
            "{field}: requires a function to call, but the request has no function tools"
        ))),
        Some(ToolChoice::Tool { name }) if !names.contains(&name.as_str()) => Err(unknown(&name)),
        Some(ToolChoice::AnyOf { names: allowed }) => {
            if let Some(bad) = allowed.iter().find(|n| !names.contains(&n.as_str())) {
                return Err(unknown(bad));
            }
            Ok(Some(ToolChoice::AnyOf { names: allowed }))
        }
        other => Ok(other),
    }
}

/// `tool_choice` as a string (`auto`, `none`, `required`), or `None` for another string.
pub(crate) fn choice_word(word: &str) -> Option<ToolChoice> {
    match word {
        "auto" => Some(ToolChoice::Auto),
        "none" => Some(ToolChoice::None),
        "required" => Some(ToolChoice::Any),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Calls join the assistant turn before them, results the user turn of results
    /// before them; text after results starts a new user turn.
    #[test]
    fn calls_and_results_gather_into_turns() {
        let mut c = Conversation::default();
        c.user("go".into());
        c.assistant_text("Running both.".into());
        c.assistant_call("a".into(), "f".into(), json!({}));
        c.assistant_call("b".into(), "f".into(), json!({}));
        c.tool_result("a".into(), "1".into());
        c.tool_result("b".into(), "2".into());
        c.user("thanks".into());
        let shape: Vec<(Role, usize)> = c
            .messages
            .iter()
            .map(|m| (m.role, m.content.len()))
            .collect();
        assert_eq!(
            shape,
            [
                (Role::User, 1),
                (Role::Assistant, 3),
                (Role::User, 2),
                (Role::User, 1)
            ]
        );
    }

    /// Efforts map to the Messages API's adaptive budgets, kept under half of the
    /// output limit; `minimal` and an exhausted limit think not at all.
    #[test]
    fn efforts_map_to_budgets() {
        let budget = |e: &str, m: Option<u32>| {
            ThinkingConfig::budget(Some(&effort_thinking(e, "reasoning_effort", m).unwrap()))
        };
        assert_eq!(budget("low", None), 1024);
        assert_eq!(budget("medium", None), 4096);
        assert_eq!(budget("high", Some(1000)), 500);
        assert_eq!(budget("minimal", None), 0);
        assert_eq!(budget("low", Some(1)), 0);
        let err = effort_thinking("max", "reasoning_effort", None).unwrap_err();
        assert!(
            err.message.starts_with("reasoning_effort:"),
            "{}",
            err.message
        );
    }
}

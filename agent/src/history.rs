//! Facts about a conversation's messages that the loop, compaction and replay share.

use hearth_engine::api::{ContentBlock, Message, Role, ToolResultContent};

/// How the harness's own messages to the model begin (failing tests, an answer's missing
/// citations): they are not the user's words, so they start no user turn. The bracketed tag
/// says who wrote them wherever the history is shown again (a resumed transcript).
pub(crate) const HARNESS_TAG: &str = "[hearth ";

/// Whether `message` is one of the harness's own messages to the model.
pub(crate) fn is_harness_note(message: &Message) -> bool {
    message.role == Role::User && text_of(message).starts_with(HARNESS_TAG)
}

/// Whether `message` is a user's own words (a turn's start), not tool results nor a
/// harness note ([`HARNESS_TAG`]).
pub fn starts_user_turn(message: &Message) -> bool {
    message.role == Role::User
        && !is_harness_note(message)
        && !message
            .content
            .iter()
            .any(|b| matches!(b, ContentBlock::ToolResult { .. }))
}

/// The text blocks of a message, joined.
pub fn text_of(message: &Message) -> String {
    message
        .content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("")
}

/// A rough token count of messages: a token per four bytes of their text.
///
/// Used only between model requests, to decide whether to compact; the backend's reported
/// usage anchors the estimate (see `Session`), so this covers only what was added since.
pub fn estimate_tokens(messages: &[Message]) -> u32 {
    let bytes: usize = messages
        .iter()
        .flat_map(|m| m.content.iter())
        .map(|block| match block {
            ContentBlock::Text { text } => text.len(),
            ContentBlock::Thinking { thinking, .. } => thinking.len(),
            ContentBlock::ToolUse { name, input, .. } => name.len() + input.to_string().len(),
            ContentBlock::ToolResult { content, .. } => ToolResultContent::join(content).len(),
        })
        .map(|len| len + 16)
        .sum();
    u32::try_from(bytes / 4).unwrap_or(u32::MAX)
}

/// A plain-text transcript of messages, for the summarization request.
pub fn transcript(messages: &[Message]) -> String {
    let mut out = String::new();
    for message in messages {
        let who = match message.role {
            Role::User => "User",
            Role::Assistant => "Assistant",
        };
        for block in &message.content {
            let line = match block {
                ContentBlock::Text { text } => format!("{who}: {text}"),
                // Past reasoning is left out: the summary keeps conclusions, not deliberation.
                ContentBlock::Thinking { .. } => continue,
                ContentBlock::ToolUse { name, input, .. } => {
                    format!("{who} called {name} with {input}")
                }
                ContentBlock::ToolResult {
                    content, is_error, ..
                } => {
                    let label = if *is_error {
                        "Tool error"
                    } else {
                        "Tool result"
                    };
                    format!("{label}: {}", ToolResultContent::join(content))
                }
            };
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

//! Compaction: older turns replaced by a summary the model writes, when the prompt nears
//! the context window.

use hearth_engine::api::{ContentBlock, Message, Request, Role, SystemPrompt};

use crate::history::{estimate_tokens, starts_user_turn, transcript};

/// The instruction of the summarization request.
const SUMMARY_SYSTEM: &str = "You summarize a conversation between a user and a coding \
assistant so the assistant can continue it. Keep: the user's goals, decisions made, files \
read or changed and what was learned from them, commands run and their outcome, and what \
is left to do. Be concise; write plain prose or a short list.";

/// How a summary opens in the history, so the model knows what it is reading.
const SUMMARY_HEADING: &str = "[Summary of the earlier conversation]";

/// Where to cut `history`: the messages before the returned index are summarized.
///
/// A cut may fall before an assistant message or before a user's own words, never between
/// a tool call and its result. The earliest cut whose kept tail is estimated at no more than
/// `keep_tokens` is chosen; when no tail is that small, the latest possible cut. `None` when
/// nothing can be summarized.
pub fn plan_cut(history: &[Message], keep_tokens: u32) -> Option<usize> {
    let cuts: Vec<usize> = (1..history.len())
        .filter(|&i| history[i].role == Role::Assistant || starts_user_turn(&history[i]))
        .collect();
    cuts.iter()
        .copied()
        .find(|&i| estimate_tokens(&history[i..]) <= keep_tokens)
        .or_else(|| cuts.last().copied())
}

/// The request that asks the model to summarize `older` messages.
pub fn summary_request(older: &[Message], max_tokens: u32, temperature: Option<f32>) -> Request {
    Request {
        system: SystemPrompt::text(SUMMARY_SYSTEM),
        messages: vec![Message::user(format!(
            "Summarize this conversation:\n\n{}",
            transcript(older)
        ))],
        max_tokens,
        temperature,
        ..Request::default()
    }
}

/// The history after compaction: the `kept` blocks (the project's instructions, which a
/// summary must not paraphrase away), the summary, then the kept tail.
///
/// They join the tail's first message when that is the user's (two user messages in a row
/// are not a valid conversation); otherwise they are a user message of their own.
pub fn rebuild(kept: Vec<ContentBlock>, summary: &str, tail: &[Message]) -> Vec<Message> {
    let mut opening = kept;
    opening.push(ContentBlock::text(format!(
        "{SUMMARY_HEADING}\n{}\n\n",
        summary.trim()
    )));
    let mut history = tail.to_vec();
    match history.first_mut() {
        Some(first) if first.role == Role::User => {
            first.content.splice(0..0, opening);
        }
        _ => history.insert(
            0,
            Message {
                role: Role::User,
                content: opening,
            },
        ),
    }
    history
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use hearth_engine::api::ToolResultContent;
    use serde_json::json;

    fn tool_turn(i: usize) -> Vec<Message> {
        vec![
            Message::user(format!("question {i} {}", "x".repeat(400))),
            Message {
                role: Role::Assistant,
                content: vec![ContentBlock::ToolUse {
                    id: format!("c{i}"),
                    name: "read_file".into(),
                    input: json!({"path": "a"}),
                }],
            },
            Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult {
                    tool_use_id: format!("c{i}"),
                    content: vec![ToolResultContent::Text {
                        text: "y".repeat(400),
                    }],
                    is_error: false,
                }],
            },
            Message::assistant(format!("answer {i}")),
        ]
    }

    #[test]
    fn cuts_never_separate_a_call_from_its_result() {
        let history: Vec<Message> = (0..4).flat_map(tool_turn).collect();
        for keep in [0, 50, 200, 400, 10_000] {
            if let Some(cut) = plan_cut(&history, keep) {
                assert!(
                    !history[cut]
                        .content
                        .iter()
                        .any(|b| matches!(b, ContentBlock::ToolResult { .. })),
                    "keep {keep}: cut {cut} starts at a tool result"
                );
            }
        }
        // A generous budget keeps all but the first message pair's worth.
        assert_eq!(plan_cut(&history, 10_000), Some(1));
        // A tiny one keeps only the last answer.
        assert_eq!(plan_cut(&history, 0), Some(15));
    }

    #[test]
    fn kept_blocks_open_the_history_before_the_summary() {
        let instructions = ContentBlock::text("# Project instructions (AGENTS.md)\n\nuse tabs");
        for tail in [
            vec![Message::user("go on"), Message::assistant("ok")],
            vec![Message::assistant("ok")],
        ] {
            let rebuilt = rebuild(vec![instructions.clone()], "we read a.rs", &tail);
            assert_eq!(rebuilt[0].role, Role::User);
            assert_eq!(rebuilt[0].content[0], instructions);
            assert!(
                matches!(&rebuilt[0].content[1], ContentBlock::Text { text } if text.starts_with(SUMMARY_HEADING))
            );
        }
    }

    #[test]
    fn the_summary_merges_into_a_leading_user_message() {
        let tail = vec![Message::user("go on"), Message::assistant("ok")];
        let rebuilt = rebuild(Vec::new(), "we read a.rs", &tail);
        assert_eq!(rebuilt.len(), 2);
        assert_eq!(rebuilt[0].content.len(), 2);
        let rebuilt = rebuild(Vec::new(), "we read a.rs", &tail[1..]);
        assert_eq!(rebuilt.len(), 2);
        assert_eq!(rebuilt[0].role, Role::User);
    }
}

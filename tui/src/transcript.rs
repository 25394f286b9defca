//! The conversation as the user sees it: entries built from agent events, and their lines.

use hearth_agent::protocol::{ToolCall, ToolOutput};
use hearth_engine::api::{ContentBlock, Message, Role, ToolResultContent};
use ratatui::text::{Line, Span};

use crate::markdown;
use crate::theme::Theme;

/// One block of the transcript.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// What the user sent.
    User(String),
    /// The model's answer text (markdown).
    Assistant(String),
    /// The model's reasoning.
    Thinking(String),
    /// A tool call, with its result once it came.
    Tool {
        /// The call as proposed.
        call: ToolCall,
        /// Its output.
        output: Option<ToolOutput>,
    },
    /// A note from the front end or the session (mode changed, compacted, undone, ...).
    Notice(String),
    /// A failure.
    Error(String),
    /// A multi-line block shown as is: /help, /status.
    Block(String),
    /// A file change (from /diff).
    Diff {
        /// The file, and whether the change was undone.
        title: String,
        /// The unified diff.
        diff: String,
    },
}

/// The entries of a saved conversation (a resumed session).
pub fn from_history(history: &[Message]) -> Vec<Entry> {
    let mut entries = Vec::new();
    for message in history {
        for block in &message.content {
            match block {
                ContentBlock::Text { text } if message.role == Role::User => {
                    if !hearth_agent::prompt::is_repository_context(block) {
                        entries.push(Entry::User(text.clone()));
                    }
                }
                ContentBlock::Text { text } => entries.push(Entry::Assistant(text.clone())),
                ContentBlock::Thinking { thinking, .. } => {
                    entries.push(Entry::Thinking(thinking.clone()))
                }
                ContentBlock::ToolUse { id, name, input } => entries.push(Entry::Tool {
                    call: ToolCall {
                        call_id: id.clone(),
                        tool: name.clone(),
                        input: input.clone(),
                        diff: None,
                    },
                    output: None,
                }),
                ContentBlock::ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                } => {
                    let found = entries.iter_mut().rev().find_map(|e| match e {
                        Entry::Tool { call, output } if call.call_id == *tool_use_id => {
                            Some(output)
                        }
                        _ => None,
                    });
                    if let Some(slot) = found {
                        *slot = Some(ToolOutput {
                            call_id: tool_use_id.clone(),
                            output: ToolResultContent::join(content),
                            is_error: *is_error,
                            truncated: false,
                        });
                    }
                }
            }
        }
    }
    entries
}

/// How much of the transcript's folded parts to show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Folding {
    /// Show thinking in full (else one summary line).
    pub thinking: bool,
    /// Show tool outputs in full (else one summary line).
    pub tools: bool,
}

/// How many lines of an unfolded tool output to show at most.
const TOOL_OUTPUT_LINES: usize = 40;

impl Entry {
    /// The entry's lines, not yet wrapped to the screen's width.
    pub fn lines(&self, theme: &Theme, folding: Folding) -> Vec<Line<'static>> {
        match self {
            Entry::User(text) => text
                .lines()
                .enumerate()
                .map(|(i, line)| {
                    let mark = if i == 0 { "› " } else { "  " };
                    Line::from(vec![
                        Span::styled(mark, theme.user()),
                        Span::styled(line.to_string(), theme.user()),
                    ])
                })
                .collect(),
            Entry::Assistant(text) => markdown::render(text, theme),
            Entry::Thinking(text) => {
                if folding.thinking {
                    let mut lines = vec![Line::styled("✻ thinking", theme.thinking())];
                    lines.extend(
                        text.lines()
                            .map(|l| Line::styled(format!("  {l}"), theme.thinking())),
                    );
                    lines
                } else {
                    let words = text.split_whitespace().count();
                    vec![Line::styled(
                        format!("✻ thinking ({words} words, Ctrl-T to show)"),
                        theme.thinking(),
                    )]
                }
            }
            Entry::Tool { call, output } => tool_lines(call, output.as_ref(), theme, folding),
            Entry::Notice(text) => vec![Line::styled(format!("· {text}"), theme.dim())],
            Entry::Error(text) => vec![Line::styled(format!("✗ {text}"), theme.error())],
            Entry::Block(text) => text.lines().map(|l| Line::raw(l.to_string())).collect(),
            Entry::Diff { title, diff } => {
                let mut lines = vec![Line::styled(format!("± {title}"), theme.tool())];
                lines.extend(diff_lines(diff, theme));
                lines
            }
        }
    }
}

/// The argument that says most about a call, for its one-line form.
fn call_summary(call: &ToolCall) -> String {
    let input = &call.input;
    for key in ["command", "path", "pattern", "query", "file"] {
        if let Some(value) = input.get(key).and_then(|v| v.as_str()) {
            return value.to_string();
        }
    }
    let text = input.to_string();
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

fn tool_lines(
    call: &ToolCall,
    output: Option<&ToolOutput>,
    theme: &Theme,
    folding: Folding,
) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(vec![
        Span::styled("⏺ ", theme.tool()),
        Span::styled(call.tool.clone(), theme.tool()),
        Span::raw(" "),
        Span::raw(call_summary(call)),
    ])];
    if let Some(diff) = &call.diff {
        lines.extend(diff_lines(diff, theme));
    }
    match output {
        None => lines.push(Line::styled("  … running", theme.dim())),
        Some(out) => {
            let (mark, style) = if out.is_error {
                ("✗", theme.error())
            } else {
                ("✓", theme.ok())
            };
            let count = out.output.lines().count();
            let first = out.output.lines().next().unwrap_or("").to_string();
            if folding.tools && count > 1 {
                lines.push(Line::from(vec![
                    Span::styled(format!("  {mark} "), style),
                    Span::styled(format!("{count} lines"), theme.dim()),
                ]));
                lines.extend(
                    out.output
                        .lines()
                        .take(TOOL_OUTPUT_LINES)
                        .map(|l| Line::styled(format!("    {l}"), theme.dim())),
                );
                if count > TOOL_OUTPUT_LINES {
                    lines.push(Line::styled(
                        format!("    … {} more lines", count - TOOL_OUTPUT_LINES),
                        theme.dim(),
                    ));
                }
            } else {
                let more = if count > 2 {
                    format!(" (+{} lines, Ctrl-O to show)", count - 1)
                } else if count == 2 {
                    " (+1 line, Ctrl-O to show)".to_string()
                } else {
                    String::new()
                };
                lines.push(Line::from(vec![
                    Span::styled(format!("  {mark} "), style),
                    Span::styled(format!("{first}{more}"), theme.dim()),
                ]));
            }
        }
    }
    lines
}

/// A unified diff, coloured line by line.
pub fn diff_lines(diff: &str, theme: &Theme) -> Vec<Line<'static>> {
    diff.lines()
        .map(|l| {
            let style = if l.starts_with("+++") || l.starts_with("---") {
                theme.dim()
            } else if l.starts_with('+') {
                theme.added()
            } else if l.starts_with('-') {
                theme.removed()
            } else if l.starts_with("@@") {
                theme.hunk()
            } else {
                Default::default()
            };
            Line::styled(format!("  {l}"), style)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_first_message_shows_the_users_words_not_the_repository_context() {
        let first = Message {
            role: Role::User,
            content: vec![
                ContentBlock::text("# Project instructions (AGENTS.md)\n\nuse tabs\n\n"),
                ContentBlock::text(
                    "# Repository map (files and their top-level definitions)\n\nsrc/a.rs\n\n",
                ),
                ContentBlock::text("fix the parser"),
            ],
        };
        let entries = from_history(&[first, Message::assistant("done")]);
        let users: Vec<&Entry> = entries
            .iter()
            .filter(|e| matches!(e, Entry::User(_)))
            .collect();
        assert!(
            matches!(users.as_slice(), [Entry::User(text)] if text == "fix the parser"),
            "{entries:?}"
        );
    }
}

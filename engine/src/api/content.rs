//! Messages and their content blocks.

use serde::{Deserialize, Deserializer, Serialize};

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The user (tool results travel in user messages).
    User,
    /// The model.
    Assistant,
}

/// One message of the conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Its blocks, in order; a plain string on the wire is one text block.
    #[serde(deserialize_with = "blocks_or_string")]
    pub content: Vec<ContentBlock>,
}

impl Message {
    /// A user message of plain text.
    pub fn user(text: impl Into<String>) -> Message {
        Message {
            role: Role::User,
            content: vec![ContentBlock::text(text)],
        }
    }

    /// An assistant message of plain text.
    pub fn assistant(text: impl Into<String>) -> Message {
        Message {
            role: Role::Assistant,
            content: vec![ContentBlock::text(text)],
        }
    }
}

/// A piece of a message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// The model's reasoning before its answer.
    Thinking {
        /// The reasoning text.
        thinking: String,
        /// Opaque; hearth sends an empty string and ignores what it gets back.
        #[serde(default)]
        signature: String,
    },
    /// The model calls a tool.
    ToolUse {
        /// The call's id, which the result refers to.
        id: String,
        /// The tool.
        name: String,
        /// The arguments, a JSON object.
        input: serde_json::Value,
    },
    /// The result of a tool call, sent back in a user message.
    ToolResult {
        /// The id of the call this answers.
        tool_use_id: String,
        /// The output.
        #[serde(default, deserialize_with = "tool_result_content")]
        content: Vec<ToolResultContent>,
        /// The call failed; the content says why.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
}

impl ContentBlock {
    /// A text block.
    pub fn text(text: impl Into<String>) -> ContentBlock {
        ContentBlock::Text { text: text.into() }
    }
}

/// Content of a tool result (text only; images are not supported).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolResultContent {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
}

impl ToolResultContent {
    /// All text of a tool result, joined.
    pub fn join(content: &[ToolResultContent]) -> String {
        content
            .iter()
            .map(|c| match c {
                ToolResultContent::Text { text } => text.as_str(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A text block of the system prompt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextBlock {
    /// Always `"text"` on the wire.
    #[serde(rename = "type", default = "text_type")]
    pub kind: String,
    /// The text.
    pub text: String,
}

fn text_type() -> String {
    "text".to_string()
}

/// The system prompt: a string or text blocks on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct SystemPrompt(pub Vec<TextBlock>);

impl SystemPrompt {
    /// A system prompt of one text block.
    pub fn text(text: impl Into<String>) -> SystemPrompt {
        SystemPrompt(vec![TextBlock {
            kind: text_type(),
            text: text.into(),
        }])
    }

    /// Whether there is no system text.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|b| b.text.is_empty())
    }

    /// All blocks joined by blank lines.
    pub fn joined(&self) -> String {
        self.0
            .iter()
            .map(|b| b.text.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StringOr<T> {
    String(String),
    Items(Vec<T>),
}

impl<'de> Deserialize<'de> for SystemPrompt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match StringOr::<TextBlock>::deserialize(d)? {
            StringOr::String(s) => SystemPrompt::text(s),
            StringOr::Items(blocks) => SystemPrompt(blocks),
        })
    }
}

fn blocks_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ContentBlock>, D::Error> {
    Ok(match StringOr::<ContentBlock>::deserialize(d)? {
        StringOr::String(s) => vec![ContentBlock::text(s)],
        StringOr::Items(blocks) => blocks,
    })
}

fn tool_result_content<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<ToolResultContent>, D::Error> {
    Ok(match StringOr::<ToolResultContent>::deserialize(d)? {
        StringOr::String(s) => vec![ToolResultContent::Text { text: s }],
        StringOr::Items(items) => items,
    })
}

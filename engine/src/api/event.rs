//! The streamed events of one assistant message, and the message they add
//! up to.

use serde::{Deserialize, Serialize};

use super::content::{ContentBlock, Role};
use super::ApiError;

/// Token counts of one request.
///
/// `input_tokens` counts only the prompt tokens computed for this request;
/// those served from the prefix cache are in `cache_read_input_tokens`, and
/// those computed and then kept in the cache in `cache_creation_input_tokens`
/// (as in the Messages API, where the three add up to the prompt).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens computed and not cached.
    pub input_tokens: u32,
    /// Prompt tokens served from the prefix cache.
    #[serde(default)]
    pub cache_read_input_tokens: u32,
    /// Prompt tokens computed and written to the prefix cache.
    #[serde(default)]
    pub cache_creation_input_tokens: u32,
    /// Generated tokens, thinking included.
    pub output_tokens: u32,
    /// hearth extension: generated tokens spent inside the thinking block.
    #[serde(default)]
    pub thinking_tokens: u32,
    /// hearth extension: output tokens guessed from the context and checked by the model
    /// in a batched pass (speculative decoding).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub drafted_tokens: u32,
    /// hearth extension: drafted tokens the model agreed with, each an output token that
    /// needed no pass of its own.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub accepted_tokens: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Usage {
    /// Every prompt token, cached or not.
    pub fn prompt_tokens(&self) -> u32 {
        self.input_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens
    }

    /// Adds another request's counts to these.
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.cache_read_input_tokens += other.cache_read_input_tokens;
        self.cache_creation_input_tokens += other.cache_creation_input_tokens;
        self.output_tokens += other.output_tokens;
        self.thinking_tokens += other.thinking_tokens;
        self.drafted_tokens += other.drafted_tokens;
        self.accepted_tokens += other.accepted_tokens;
    }
}

/// Why the model stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// It finished its turn.
    EndTurn,
    /// It reached `max_tokens` (or the context window).
    MaxTokens,
    /// A stop sequence appeared.
    StopSequence,
    /// It called one or more tools and waits for their results.
    ToolUse,
    /// The caller interrupted it.
    Cancelled,
}

/// A whole assistant message (the non-streamed response).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The message id.
    pub id: String,
    /// Always `"message"` on the wire.
    #[serde(rename = "type")]
    pub kind: String,
    /// Always the assistant.
    pub role: Role,
    /// The model that wrote it.
    pub model: String,
    /// Its blocks: thinking first, then text and tool calls.
    pub content: Vec<ContentBlock>,
    /// Why it stopped; absent until it has.
    pub stop_reason: Option<StopReason>,
    /// The stop sequence that ended it, if one did.
    pub stop_sequence: Option<String>,
    /// Token counts.
    pub usage: Usage,
}

/// Changes to a content block in progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Delta {
    /// More text.
    TextDelta {
        /// The new text.
        text: String,
    },
    /// More thinking.
    ThinkingDelta {
        /// The new thinking text.
        thinking: String,
    },
    /// The thinking block's signature (sent once, before it stops).
    SignatureDelta {
        /// The signature.
        signature: String,
    },
    /// More of a tool call's input, as a piece of JSON text.
    InputJsonDelta {
        /// The new JSON text.
        partial_json: String,
    },
}

/// The top-level changes of a message at its end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageDeltaBody {
    /// Why it stopped.
    pub stop_reason: Option<StopReason>,
    /// The stop sequence that ended it.
    pub stop_sequence: Option<String>,
}

/// One streamed event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The message begins; `content` is empty.
    MessageStart {
        /// The message so far.
        message: Response,
    },
    /// A block begins (a text block empty, a tool call with its id and name
    /// and an empty input).
    ContentBlockStart {
        /// The block's position in the message.
        index: usize,
        /// The block as it starts.
        content_block: ContentBlock,
    },
    /// A block grows.
    ContentBlockDelta {
        /// The block's position.
        index: usize,
        /// What is added.
        delta: Delta,
    },
    /// A block is complete.
    ContentBlockStop {
        /// The block's position.
        index: usize,
    },
    /// The message's stop reason and final usage.
    MessageDelta {
        /// Stop reason and sequence.
        delta: MessageDeltaBody,
        /// Final token counts.
        usage: Usage,
    },
    /// The message is complete.
    MessageStop,
    /// Keeps a connection alive.
    Ping,
    /// The request failed mid-stream.
    Error {
        /// What went wrong.
        error: ApiError,
    },
}

/// Folds a stream of events into the message it describes, so streamed and
/// non-streamed answers are built by the same rules.
#[derive(Clone, Debug, Default)]
pub struct MessageAccumulator {
    message: Option<Response>,
    partial_json: Vec<String>,
}

impl MessageAccumulator {
    /// An accumulator that has seen nothing.
    pub fn new() -> MessageAccumulator {
        MessageAccumulator::default()
    }

    /// Applies one event; an event out of order is an error naming it.
    pub fn push(&mut self, event: &Event) -> Result<(), ApiError> {
        let out_of_order = || ApiError::internal(format!("event out of order: {event:?}"));
        match event {
            Event::MessageStart { message } => self.message = Some(message.clone()),
            Event::ContentBlockStart {
                index,
                content_block,
            } => {
                let m = self.message.as_mut().ok_or_else(out_of_order)?;
                if *index != m.content.len() {
                    return Err(out_of_order());
                }
                m.content.push(content_block.clone());
                self.partial_json.push(String::new());
            }
            Event::ContentBlockDelta { index, delta } => {
                let m = self.message.as_mut().ok_or_else(out_of_order)?;
                let block = m.content.get_mut(*index).ok_or_else(out_of_order)?;
                match (block, delta) {
                    (ContentBlock::Text { text }, Delta::TextDelta { text: t }) => text.push_str(t),
                    (
                        ContentBlock::Thinking { thinking, .. },
                        Delta::ThinkingDelta { thinking: t },
                    ) => thinking.push_str(t),
                    (
                        ContentBlock::Thinking { signature, .. },
                        Delta::SignatureDelta { signature: s },
                    ) => signature.push_str(s),
                    (ContentBlock::ToolUse { .. }, Delta::InputJsonDelta { partial_json }) => {
                        self.partial_json[*index].push_str(partial_json)
                    }
                    _ => return Err(out_of_order()),
                }
            }
            Event::ContentBlockStop { index } => {
                let m = self.message.as_mut().ok_or_else(out_of_order)?;
                let json = self.partial_json.get(*index).ok_or_else(out_of_order)?;
                if let Some(ContentBlock::ToolUse { input, name, .. }) = m.content.get_mut(*index) {
                    if !json.is_empty() {
                        *input = serde_json::from_str(json).map_err(|e| {
                            ApiError::internal(format!(
                                "tool call {name}: input is not JSON ({e}): {json}"
                            ))
                        })?;
                    }
                }
            }
            Event::MessageDelta { delta, usage } => {
                let m = self.message.as_mut().ok_or_else(out_of_order)?;
                m.stop_reason = delta.stop_reason;
                m.stop_sequence = delta.stop_sequence.clone();
                m.usage = *usage;
            }
            Event::MessageStop | Event::Ping => {}
            Event::Error { error } => return Err(error.clone()),
        }
        Ok(())
    }

    /// The message so far (complete once `MessageStop` was pushed).
    pub fn message(&self) -> Option<&Response> {
        self.message.as_ref()
    }

    /// The message, consuming the accumulator.
    pub fn into_message(self) -> Option<Response> {
        self.message
    }
}

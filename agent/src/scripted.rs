//! A backend that replays fixed model outputs: the agent loop's tests, and `hearth exec`'s
//! hidden `--backend-script` testing aid, run on it.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Mutex;

use hearth_engine::api::{
    self, ApiError, ContentBlock, Delta, Event, MessageAccumulator, MessageDeltaBody, Response,
    Role, StopReason, Usage,
};
use serde::Deserialize;

use crate::backend::Backend;

/// One scripted model reply, as a script file spells it.
///
/// A plain JSON string is a text answer. An object holds `content` (content blocks in the
/// Messages shape), and optionally `stop_reason` (default: `tool_use` when a block calls a
/// tool, else `end_turn`) and `usage` (default: a quarter of the request's and the reply's
/// JSON characters as tokens); or just `error` (an `ApiError`), which the request fails with.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ScriptedReply {
    /// A text answer that ends the turn.
    Text(String),
    /// A reply of content blocks.
    Message {
        /// The blocks, in order.
        content: Vec<ContentBlock>,
        /// Why the model stopped.
        #[serde(default)]
        stop_reason: Option<StopReason>,
        /// Token counts to report.
        #[serde(default)]
        usage: Option<Usage>,
    },
    /// A failed request.
    Failure {
        /// The error the request fails with.
        error: ApiError,
    },
}

/// Why a script could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The file could not be read.
    #[error("cannot read backend script {path}: {source}")]
    Read {
        /// The script's path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a JSON array of replies.
    #[error("backend script {path} is not a JSON array of replies (a string, {{\"content\": [...]}} or {{\"error\": ...}}): {source}")]
    Parse {
        /// The script's path.
        path: String,
        /// The JSON error.
        source: serde_json::Error,
    },
}

/// Replays [`ScriptedReply`]s in order, one per request, and records the requests.
#[derive(Debug)]
pub struct ScriptedBackend {
    replies: Mutex<VecDeque<ScriptedReply>>,
    requests: Mutex<Vec<api::Request>>,
    context_tokens: Option<u32>,
}

impl ScriptedBackend {
    /// A backend that answers with `replies`, in order.
    pub fn new(replies: Vec<ScriptedReply>) -> ScriptedBackend {
        ScriptedBackend {
            replies: Mutex::new(replies.into()),
            requests: Mutex::new(Vec::new()),
            context_tokens: None,
        }
    }

    /// The replies of a script file (a JSON array of [`ScriptedReply`]).
    pub fn from_file(path: &Path) -> Result<ScriptedBackend, ScriptError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScriptError::Read {
            path: name.clone(),
            source,
        })?;
        let replies = serde_json::from_str(&text)
            .map_err(|source| ScriptError::Parse { path: name, source })?;
        Ok(ScriptedBackend::new(replies))
    }

    /// Reports this context window, so tests can make compaction happen, and refuses, as
    /// the engine does, a request whose prompt (counted as its usage is) and `max_tokens`
    /// together exceed it.
    pub fn with_context_tokens(mut self, tokens: u32) -> ScriptedBackend {
        self.context_tokens = Some(tokens);
        self
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<api::Request> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// How many replies are left.
    pub fn remaining(&self) -> usize {
        self.replies.lock().map(|r| r.len()).unwrap_or(0)
    }
}

fn json_tokens(value: &impl serde::Serialize) -> u32 {
    let chars = serde_json::to_string(value).map(|s| s.len()).unwrap_or(0);
    u32::try_from(chars / 4).unwrap_or(u32::MAX)
}

/// The events that stream `content` block by block, as an engine would send them.
fn events_of(content: &[ContentBlock], stop: StopReason, usage: Usage) -> Vec<Event> {
    let mut events = vec![Event::MessageStart {
        message: Response {
            id: "msg_scripted".to_string(),
            kind: "message".to_string(),
            role: Role::Assistant,
            model: "scripted".to_string(),
            content: Vec::new(),
            stop_reason: None,
            stop_sequence: None,
            usage: Usage::default(),
        },
    }];
    for (index, block) in content.iter().enumerate() {
        let (start, delta) = match block {
            ContentBlock::Text { text } => (
                ContentBlock::text(""),
                Delta::TextDelta { text: text.clone() },
            ),
            ContentBlock::Thinking { thinking, .. } => (
                ContentBlock::Thinking {
                    thinking: String::new(),
                    signature: String::new(),
                },
                Delta::ThinkingDelta {
                    thinking: thinking.clone(),
                },
            ),
            ContentBlock::ToolUse { id, name, input } => (
                ContentBlock::ToolUse {
                    id: id.clone(),
                    name: name.clone(),
                    input: serde_json::json!({}),
                },
                Delta::InputJsonDelta {
                    partial_json: input.to_string(),
                },
            ),
            // A model never writes tool results; a script that does is replayed as is.
            other => (
                other.clone(),
                Delta::TextDelta {
                    text: String::new(),
                },
            ),
        };
        let streams = !matches!(block, ContentBlock::ToolResult { .. });
        events.push(Event::ContentBlockStart {
            index,
            content_block: start,
        });
        if streams {
            events.push(Event::ContentBlockDelta { index, delta });
        }
        events.push(Event::ContentBlockStop { index });
    }
    events.push(Event::MessageDelta {
        delta: MessageDeltaBody {
            stop_reason: Some(stop),
            stop_sequence: None,
        },
        usage,
    });
    events.push(Event::MessageStop);
    events
}

impl Backend for ScriptedBackend {
    fn model_id(&self) -> String {
        "scripted".to_string()
    }

    fn context_tokens(&self) -> Option<u32> {
        self.context_tokens
    }

    fn stream(
        &self,
        request: &api::Request,
        on_event: &mut dyn FnMut(&api::Event) -> ControlFlow<()>,
    ) -> Result<api::Response, api::ApiError> {
        if let Ok(mut requests) = self.requests.lock() {
            requests.push(request.clone());
        }
        let prompt = json_tokens(request);
        if let Some(window) = self.context_tokens {
            if prompt.saturating_add(request.max_tokens) > window {
                return Err(ApiError::invalid_request(format!(
                    "the prompt is {prompt} tokens and max_tokens is {}: together more than \
                     the context window of {window} tokens",
                    request.max_tokens
                )));
            }
        }
        let reply = self
            .replies
            .lock()
            .map_err(|_| ApiError::internal("scripted backend: a test panicked while holding it"))?
            .pop_front()
            .ok_or_else(|| {
                ApiError::internal(format!(
                    "scripted backend: no reply left for request {} (the script is too short)",
                    self.requests().len()
                ))
            })?;
        let (content, stop, usage) = match reply {
            ScriptedReply::Text(text) => (vec![ContentBlock::text(text)], None, None),
            ScriptedReply::Message {
                content,
                stop_reason,
                usage,
            } => (content, stop_reason, usage),
            ScriptedReply::Failure { error } => return Err(error),
        };
        let calls_tool = content
            .iter()
            .any(|b| matches!(b, ContentBlock::ToolUse { .. }));
        let stop = stop.unwrap_or(if calls_tool {
            StopReason::ToolUse
        } else {
            StopReason::EndTurn
        });
        let usage = usage.unwrap_or(Usage {
            input_tokens: prompt,
            output_tokens: json_tokens(&content),
            ..Usage::default()
        });
        let mut accumulator = MessageAccumulator::new();
        for event in events_of(&content, stop, usage) {
            accumulator.push(&event)?;
            if on_event(&event).is_break() {
                let mut message = accumulator.into_message().ok_or_else(|| {
                    ApiError::internal("scripted backend: interrupted before the message began")
                })?;
                message.stop_reason = Some(StopReason::Cancelled);
                return Ok(message);
            }
        }
        accumulator
            .into_message()
            .ok_or_else(|| ApiError::internal("scripted backend: the message never started"))
    }
}

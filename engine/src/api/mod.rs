//! The model contract: requests and streamed events in the shape of the
//! Messages protocol.
//!
//! Everything that talks to a model speaks these types: the in-process
//! engine, `hearth serve`'s `/v1/messages` (the same shapes on the wire) and
//! the agent's backends. Field names and tags follow the Messages API so that
//! serializing a value gives the wire form; hearth's own additions (the
//! sampling seed, thinking tokens in usage) are optional fields that other
//! servers ignore.
//!
//! [`Event`] here is the stream of one model response (content blocks and
//! their deltas, usage, stop reason). The agent has its own
//! `hearth_agent::protocol::Event` for a whole session turn (tool calls,
//! approvals, tool output, errors), which a front end consumes; the two stay
//! separate because a model knows nothing of tools being run or approved,
//! and the UI contract must not change when a backend's wire form does.

mod content;
mod event;

pub use content::{ContentBlock, Message, Role, SystemPrompt, TextBlock, ToolResultContent};
pub use event::{Delta, Event, MessageAccumulator, MessageDeltaBody, Response, StopReason, Usage};

use serde::{Deserialize, Serialize};

/// A request for one assistant message.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The model to use; `None` means the serving engine's model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// System text, before everything else.
    #[serde(default, skip_serializing_if = "SystemPrompt::is_empty")]
    pub system: SystemPrompt,
    /// The conversation so far, oldest first.
    pub messages: Vec<Message>,
    /// Tools the model may call, in the order they are shown to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolDefinition>,
    /// Whether the model must, may or must not call the tools; absent: `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// The most tokens to generate (thinking included).
    pub max_tokens: u32,
    /// Sampling temperature; 0 is greedy. Absent: the engine's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Keep only the k most likely tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Strings that end the message when generated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    /// Extended thinking: how many tokens the model may reason for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<ThinkingConfig>,
    /// Whether the caller wants events as they happen (the wire's `stream`).
    #[serde(default)]
    pub stream: bool,
    /// hearth extension: the sampling seed, for reproducible runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// hearth extension: end the message when the output falls into a loop (the same run
    /// of tokens over and over), with stop reason `max_tokens`, instead of spending the
    /// rest of the budget on it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stop_on_loop: bool,
    /// hearth extension: requests with different salts never share a cached prefix (as
    /// vLLM's `cache_salt`), so one tenant cannot learn another's prompts from how fast
    /// they are served; `None`: the cache shared by every request without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_salt: Option<String>,
}

/// A tool the model may call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    /// The name the model uses to call it.
    pub name: String,
    /// What it does, for the model.
    #[serde(default)]
    pub description: String,
    /// JSON schema of its input object.
    pub input_schema: serde_json::Value,
}

/// Whether the answer calls tools (the Messages API's `tool_choice`). The engine
/// enforces it while decoding, so it holds whatever the model would rather write.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides: text, calls, or both.
    #[default]
    Auto,
    /// The answer starts with a call of one of the tools.
    Any,
    /// The answer starts with a call of the tool `name`.
    Tool {
        /// The tool to call.
        name: String,
    },
    /// No calls: the answer is text.
    None,
    /// hearth extension (OpenAI's `allowed_tools` in `required` mode): the answer starts with
    /// a call of one of the tools `names`, and calls no other tool. The request keeps all its
    /// tools, so its prompt (and the prefix cache's hold on it) is the same as with `any`.
    AnyOf {
        /// The tools that may be called: at least one, each a tool of the request.
        names: Vec<String>,
    },
}

/// Whether and how long the model may think before answering.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ThinkingConfig {
    /// Think for at most `budget_tokens` tokens.
    Enabled {
        /// The most thinking tokens; the engine enforces it exactly.
        budget_tokens: u32,
        /// hearth extension: below this many thinking tokens an early end of thinking is
        /// replaced by "Wait" and the reasoning goes on (budget forcing).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_tokens: Option<u32>,
    },
    /// No thinking.
    Disabled,
}

impl ThinkingConfig {
    /// Thinking for at most `budget_tokens` tokens, with no minimum.
    pub fn enabled(budget_tokens: u32) -> ThinkingConfig {
        ThinkingConfig::Enabled {
            budget_tokens,
            min_tokens: None,
        }
    }

    /// The thinking budget in tokens; 0 when thinking is off.
    pub fn budget(config: Option<&ThinkingConfig>) -> u32 {
        match config {
            Some(ThinkingConfig::Enabled { budget_tokens, .. }) => *budget_tokens,
            _ => 0,
        }
    }
}

/// An error as the contract reports it (the wire's `error` object).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct ApiError {
    /// The class of error (`invalid_request_error`, `overloaded_error`, `api_error`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// What went wrong, naming the input.
    pub message: String,
}

impl ApiError {
    /// The request itself is wrong: the caller must change it.
    pub fn invalid_request(message: impl Into<String>) -> ApiError {
        ApiError {
            kind: "invalid_request_error".to_string(),
            message: message.into(),
        }
    }

    /// The engine failed while serving a valid request.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            kind: "api_error".to_string(),
            message: message.into(),
        }
    }

    /// Whether the caller's request caused it.
    pub fn is_invalid_request(&self) -> bool {
        self.kind == "invalid_request_error"
    }
}

#[cfg(test)]
mod tests;

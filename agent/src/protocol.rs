//! The UI contract: ops a front end submits, events the session sends back.
//!
//! Both are plain serde enums whose JSON form carries a `type` tag with a dotted name
//! (`turn.started`, `tool.output`, …). That form is versioned by [`PROTOCOL_VERSION`]:
//! adding a variant or an optional field keeps the version, renaming or removing one bumps
//! it. `hearth exec --json` writes these events one a line (docs/exec-json.md).
//!
//! [`Event`] is not [`hearth_engine::api::Event`]: that one streams a single
//! model response in the Messages shape (blocks and deltas); this one
//! reports a whole session turn to a front end, including what only the
//! agent knows (tool calls proposed, approvals, tool output, errors). The
//! session translates the first into the second, so the UI contract stays
//! the same whichever backend produced the response.

use hearth_engine::api::{Message, StopReason, Usage};
use serde::{Deserialize, Serialize};

use crate::permissions::Mode;

/// The version of the JSON form of [`Op`] and [`Event`].
pub const PROTOCOL_VERSION: u32 = 1;

/// What a front end asks the session to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Op {
    /// The user says something; the session runs a turn.
    #[serde(rename = "user_turn")]
    UserTurn(UserTurn),
    /// Run a tool call that waits for approval.
    #[serde(rename = "approve")]
    Approve {
        /// The call's id, from [`Event::ApprovalRequested`].
        call_id: String,
    },
    /// Run a tool call that waits for approval, and from now on run the calls `scope`
    /// covers without asking (the TUI's `a`). The session keeps it as a rule its permission
    /// engine checks, so a deny rule still wins and nothing broader is approved.
    #[serde(rename = "approve_for_session")]
    ApproveForSession {
        /// The call's id, from [`Event::ApprovalRequested`].
        call_id: String,
        /// Which later calls run without asking.
        scope: SessionApproval,
    },
    /// Refuse a tool call that waits for approval; the model is told why.
    #[serde(rename = "deny")]
    Deny {
        /// The call's id.
        call_id: String,
        /// Why, in the user's words (sent to the model).
        reason: String,
    },
    /// Stop the turn in progress as soon as possible.
    #[serde(rename = "interrupt")]
    Interrupt,
    /// Summarize older history now, whatever its size.
    #[serde(rename = "compact")]
    Compact,
    /// Revert the latest file change a tool made that is not undone yet.
    #[serde(rename = "undo")]
    Undo,
    /// Set the thinking budget of the session's next requests: `Some(n)` lets the model
    /// reason for up to `n` tokens before it answers; `None` or `Some(0)` turns thinking off.
    #[serde(rename = "set_thinking")]
    SetThinking {
        /// The most thinking tokens per model request.
        budget_tokens: Option<u32>,
    },
    /// Change the permission mode for the rest of the session.
    #[serde(rename = "set_mode")]
    SetMode {
        /// The new mode.
        mode: Mode,
    },
    /// Forget the conversation so far (the prompt prefix and file changes stay).
    #[serde(rename = "clear")]
    Clear,
    /// Continue a saved session of this repository in place of the current one.
    #[serde(rename = "resume")]
    Resume {
        /// The session's id; `None`: the latest other session of this repository.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// List the file changes the session's tools made ([`Event::Changes`] answers).
    #[serde(rename = "list_changes")]
    ListChanges,
    /// Serve the rest of the session with another model (a known name or a path); the
    /// history carries over. [`Event::ModelChanged`] or an [`Event::Error`] answers.
    #[serde(rename = "set_model")]
    SetModel {
        /// The model to load.
        model: String,
    },
    /// End the session.
    #[serde(rename = "shutdown")]
    Shutdown,
}

/// A user message that starts a turn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserTurn {
    /// What the user wrote.
    pub text: String,
}

/// What an approval for the session ([`Op::ApproveForSession`]) covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SessionApproval {
    /// Calls like the approved one: for `shell`, the same command line exactly; for a tool
    /// that edits files, every call of that tool (each edit differs from the last).
    ThisCall,
    /// Shell commands that begin with these words (a prefix of the approved command) and
    /// do not chain, pipe, redirect or substitute.
    CommandPrefix {
        /// The leading words, such as `cargo test`.
        prefix: String,
    },
}

/// What the session reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    /// A turn began.
    #[serde(rename = "turn.started")]
    TurnStarted(TurnStarted),
    /// More of the model's answer text.
    #[serde(rename = "text.delta")]
    TextDelta(TextDelta),
    /// More of the model's reasoning.
    #[serde(rename = "thinking.delta")]
    ThinkingDelta(TextDelta),
    /// The model asked to run a tool.
    #[serde(rename = "tool.proposed")]
    ToolCallProposed(ToolCall),
    /// A tool call waits for [`Op::Approve`] or [`Op::Deny`].
    #[serde(rename = "approval.requested")]
    ApprovalRequested(ToolCall),
    /// A tool call's result, as the model sees it.
    #[serde(rename = "tool.output")]
    ToolOutput(ToolOutput),
    /// Token counts after a model request.
    #[serde(rename = "usage")]
    Usage(UsageReport),
    /// Older history was replaced by a summary.
    #[serde(rename = "context.compacted")]
    Compacted(Compacted),
    /// A tool's file change was reverted.
    #[serde(rename = "checkpoint.undone")]
    Undone(Undone),
    /// The file changes of the session, answering [`Op::ListChanges`].
    #[serde(rename = "changes")]
    Changes(Changes),
    /// The conversation was cleared, answering [`Op::Clear`].
    #[serde(rename = "history.cleared")]
    Cleared,
    /// A saved session now continues, answering [`Op::Resume`].
    #[serde(rename = "session.resumed")]
    Resumed(Resumed),
    /// The permission mode changed, answering [`Op::SetMode`].
    #[serde(rename = "mode.changed")]
    ModeChanged {
        /// The mode now in force.
        mode: Mode,
    },
    /// The session's model changed, answering [`Op::SetModel`].
    #[serde(rename = "model.changed")]
    ModelChanged {
        /// The model's name as its backend reports it.
        model: String,
        /// Its context window in tokens, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context_window: Option<u32>,
    },
    /// A turn ended.
    #[serde(rename = "turn.finished")]
    TurnFinished(TurnFinished),
    /// Something failed; a turn in progress ends with [`Event::TurnFinished`] after it.
    #[serde(rename = "error")]
    Error(ErrorReport),
}

/// Payload of [`Event::TurnStarted`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnStarted {
    /// The turn's number in the session, from 1.
    pub turn: u32,
}

/// Payload of text and thinking deltas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextDelta {
    /// The new text.
    pub text: String,
}

/// A tool call the model made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id (the model's `tool_use` id).
    pub call_id: String,
    /// The tool's name.
    pub tool: String,
    /// The arguments as the model gave them.
    pub input: serde_json::Value,
    /// For file edits, the unified diff the call would make (when it can be computed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// Payload of [`Event::ToolOutput`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolOutput {
    /// The call's id.
    pub call_id: String,
    /// The text sent back to the model.
    pub output: String,
    /// The call failed or was refused; `output` says why.
    pub is_error: bool,
    /// The output was cut to fit the limits.
    pub truncated: bool,
}

/// Payload of [`Event::Usage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReport {
    /// The model request that just ended alone: its prompt's cache hits.
    #[serde(default)]
    pub request: Usage,
    /// Summed over the model requests of the current turn.
    pub turn: Usage,
    /// Summed over the whole session.
    pub session: Usage,
}

/// Payload of [`Event::Compacted`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compacted {
    /// How many history messages the summary replaced.
    pub replaced_messages: usize,
    /// The estimated prompt tokens before and after.
    pub tokens_before: u32,
    /// The estimated prompt tokens after.
    pub tokens_after: u32,
    /// The summary the model wrote.
    pub summary: String,
}

/// Payload of [`Event::Undone`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Undone {
    /// The tool call whose change was reverted.
    pub call_id: String,
    /// The file, relative to the repository root.
    pub path: String,
}

/// Payload of [`Event::Resumed`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resumed {
    /// The resumed session's id.
    pub session_id: String,
    /// Its conversation, for the front end to show.
    pub history: Vec<Message>,
}

/// Payload of [`Event::Changes`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// One entry per file change, oldest first.
    pub changes: Vec<FileChangeReport>,
}

/// One file change a tool made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChangeReport {
    /// The tool call that made it.
    pub call_id: String,
    /// The file, relative to the repository root.
    pub path: String,
    /// The unified diff.
    pub diff: String,
    /// Whether it has been undone.
    pub undone: bool,
}

/// Why a turn ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnStop {
    /// The model answered without calling more tools.
    Done,
    /// The model stopped at its token limit.
    MaxTokens,
    /// The turn made as many model requests as it may.
    MaxTurns,
    /// [`Op::Interrupt`] stopped it.
    Interrupted,
    /// An error ended it (reported by [`Event::Error`] first).
    Failed,
}

impl TurnStop {
    /// How a model's stop reason ends a turn that calls no more tools.
    pub fn from_model(stop: Option<StopReason>) -> TurnStop {
        match stop {
            Some(StopReason::MaxTokens) => TurnStop::MaxTokens,
            Some(StopReason::Cancelled) => TurnStop::Interrupted,
            _ => TurnStop::Done,
        }
    }
}

/// Payload of [`Event::TurnFinished`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnFinished {
    /// Why it ended.
    pub stop: TurnStop,
    /// The text of the model's last message.
    pub answer: String,
    /// How many model requests the turn made.
    pub requests: u32,
}

/// Payload of [`Event::Error`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReport {
    /// What went wrong.
    pub message: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn events_carry_a_dotted_type_tag_and_flat_payloads() {
        let event = Event::ToolOutput(ToolOutput {
            call_id: "c1".into(),
            output: "ok".into(),
            is_error: false,
            truncated: false,
        });
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "tool.output");
        assert_eq!(json["call_id"], "c1");
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn ops_round_trip() {
        for op in [
            Op::UserTurn(UserTurn { text: "hi".into() }),
            Op::Deny {
                call_id: "c".into(),
                reason: "no".into(),
            },
            Op::Undo,
            Op::SetThinking {
                budget_tokens: Some(256),
            },
            Op::SetThinking {
                budget_tokens: None,
            },
            Op::SetMode { mode: Mode::Ask },
        ] {
            let text = serde_json::to_string(&op).unwrap();
            assert_eq!(serde_json::from_str::<Op>(&text).unwrap(), op);
        }
    }
}

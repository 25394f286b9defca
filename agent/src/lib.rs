//! The agent: the session loop, prompt assembly, tool dispatch, permissions and sessions.
//!
//! A front end (the TUI, `hearth exec`) submits [`protocol::Op`]s and receives
//! [`protocol::Event`]s: directly through [`Session::handle`] with its own [`TurnIo`], or
//! through the channels of [`spawn`]. The session talks to a model through a [`Backend`],
//! and to the repository through `hearth_tools`. Front ends set sessions up through one
//! [`SessionBuilder`], which also sizes every request ([`RequestBudget`]).

mod acting;
mod answer;
mod backend;
mod builder;
mod checkpoint;
mod compaction;
mod direct_answer;
mod error;
mod grounding;
mod history;
mod local;
mod mentions;
mod permissions;
pub mod prompt;
pub mod protocol;
mod remote;
mod repair;
mod runner;
mod scripted;
mod session;
mod session_config;
mod store;
mod task_kind;
mod tool_call;
mod turn;
mod verify;

pub use answer::{answer_tool, ANSWER_TOOL};
pub use backend::{Backend, BackendFactory};
pub use builder::{
    context_window, parse_thinking, BadThinking, RequestBudget, Resume, SessionBuilder,
    SessionPlan, SetupError, DEFAULT_MAX_CONTEXT, THINKING_DELIMITER_TOKENS,
};
pub use checkpoint::{Checkpoint, Checkpoints, UndoError};
pub use error::AgentError;
/// The sandbox of shell commands, as front ends offer and show it (`--sandbox`,
/// `hearth config show`).
pub use hearth_tools::{
    landlock_abi, SandboxLevel, SandboxUnavailable, ALLOWED_VARIABLES, CREDENTIAL_PATHS,
};
pub use local::LocalBackend;
pub use permissions::{BadRule, CommandRule, Decision, Mode, Permissions, UnknownMode};
pub use prompt::{PromptPrefix, RequestSettings};
pub use remote::{Api, RemoteBackend, RemoteOptions, UnknownApi};
pub use runner::{spawn, AgentHandle};
pub use scripted::{ScriptError, ScriptedBackend, ScriptedReply};
pub use session::{Approval, Session, SessionConfig, TurnIo};
pub use store::{new_session_id, Record, Replay, SessionHeader, SessionStore, StoreError};

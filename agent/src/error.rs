//! The errors that end a turn or stop a session from starting.

use std::path::PathBuf;

use hearth_engine::api::ApiError;
use hearth_tools::ToolError;

use crate::store::StoreError;

/// Why a session could not start or a turn could not go on.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The model request failed. Its message is shown here and not again as a source:
    /// front ends print an error's chain, and the backend's message is the whole story.
    #[error("the model request failed: {0}")]
    Backend(ApiError),
    /// A tool failed on our side (I/O, a damaged repository): the model cannot fix it.
    #[error("tool `{tool}` failed: {source}")]
    Tool {
        /// The tool.
        tool: String,
        /// What failed.
        source: ToolError,
    },
    /// The repository could not be opened or mapped.
    #[error("cannot open the repository {root}: {source}")]
    Repository {
        /// The root given.
        root: PathBuf,
        /// What failed.
        source: ToolError,
    },
    /// The session file could not be written or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A resumed session belongs to another repository.
    #[error("session {id} was started in {session_root}, not in {root}; run it from there (or with --cd)")]
    OtherRepository {
        /// The session's id.
        id: String,
        /// Where it was started.
        session_root: PathBuf,
        /// Where it was resumed.
        root: PathBuf,
    },
}

impl From<ApiError> for AgentError {
    fn from(error: ApiError) -> AgentError {
        AgentError::Backend(error)
    }
}

//! What the agent can do to a repository: read, search, edit, shell, git, code intelligence.
//!
//! Every capability is a [`Tool`]: a name, a one-sentence description and a JSON schema for
//! the model (derived from the struct its arguments are parsed into), a flag saying whether it
//! mutates the repository, a call that returns bounded text or a [`ToolError`], and for the
//! file edits a dry run that returns the change the call would write ([`Tool::dry_run`]).
//! Errors the model can fix (a bad path, a snippet that matches twice) go back to the model;
//! the others ([`ToolError::is_model_fixable`] is false) end the turn.
//!
//! Every path a tool touches is resolved against the repository root first ([`resolve_path`]):
//! nothing outside the root is read or written, and nothing under `.git` is ever written.
//! Files are read and written only when they are regular files (a FIFO is refused, never
//! waited on) and no larger than [`OutputLimits::max_file_bytes`]. Files that usually hold
//! credentials (`.env`, `*.pem`, SSH keys) are not read unless the user lifts the rule
//! ([`SecretFiles`]), and the git tools only open a repository that lies wholly inside the
//! root.

mod args;
mod code;
mod context;
mod error;
mod fs;
mod git;
mod output;
mod paths;
mod project;
mod registry;
mod secrets;
mod shell;
mod typed;
mod walk;

use typed::TypedTool;

#[cfg(test)]
mod test_support;

pub use code::citations::missing_citations;
pub use code::find_symbol::FindSymbolTool;
pub use code::language::Language;
pub use code::localize::{is_test_path, localize, FailingTest, Localized, Suspect};
pub use code::outline::{outline_source, Definition, SymbolKind};
pub use code::outline_tool::OutlineTool;
pub use code::rename::RenameSymbolTool;
pub use code::repo_map::repo_map;
pub use code::retrieve::{retrieve, Retrieved};
pub use code::task_values::value_lines;
pub use code::terms::split_identifier;
pub use context::{OutputLimits, ToolContext};
pub use error::ToolError;
pub use fs::atomic::{sync_dir, write_file_atomically};
pub use fs::edit_file::EditFileTool;
pub use fs::grep::GrepTool;
pub use fs::list_files::ListFilesTool;
pub use fs::read_file::ReadFileTool;
pub use fs::write_file::WriteFileTool;
pub use fs::{read_text_file, read_utf8_file};
pub use git::blame::GitBlameTool;
pub use git::diff::GitDiffTool;
pub use git::log::GitLogTool;
pub use git::show::GitShowTool;
pub use git::status::GitStatusTool;
pub use paths::{resolve_path, Access};
pub use project::test_command::{detect_test_command, TestCommand, TestCommandSource};
pub use registry::{RegistryError, ToolRegistry, ToolSpec};
pub use secrets::{SecretFiles, DEFAULT_SECRET_RULES};
pub use shell::env::{command_environment, is_allowed_variable, ALLOWED_VARIABLES};
pub use shell::{
    landlock_abi, shell_exit_code, SandboxLevel, SandboxPolicy, SandboxUnavailable, ShellPolicy,
    ShellTool, CREDENTIAL_PATHS,
};

/// One capability the model can invoke.
pub trait Tool: Send + Sync {
    /// The name the model calls the tool by (snake_case, unique in a registry).
    fn name(&self) -> &'static str;
    /// One or two sentences telling the model what the tool does and when to use it.
    fn description(&self) -> &'static str;
    /// The JSON schema (an object schema) of the arguments, with a deterministic key order.
    fn schema(&self) -> serde_json::Value;
    /// Whether the tool writes files or runs commands (permissions are decided on this).
    fn mutates(&self) -> bool;
    /// The file changes a call with these arguments would make, computed without writing
    /// anything (a dry run): what a user asked to approve the call is shown. The call itself
    /// computes its changes with the same code, then writes them. Empty when the effect
    /// cannot be known in advance (a command) or the tool changes no file; an error is the
    /// one the call would end in.
    fn dry_run(
        &self,
        _ctx: &ToolContext,
        _args: &serde_json::Value,
    ) -> Result<Vec<FileChange>, ToolError> {
        Ok(Vec::new())
    }
    /// Runs the tool on the repository of `ctx` with the model's arguments.
    fn call(&self, ctx: &ToolContext, args: &serde_json::Value) -> Result<ToolOutput, ToolError>;
}

/// What a tool call produced: text for the model, and for mutating tools what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    /// The text shown to the model, already bounded by the context's [`OutputLimits`].
    pub text: String,
    /// Whether `text` was cut to fit the limits (the text then says how much was cut).
    pub truncated: bool,
    /// The files a mutating file tool changed (one for an edit, several for a rename), in
    /// the order written, for checkpoints, undo and the UI.
    pub changes: Vec<FileChange>,
}

impl ToolOutput {
    /// An output with no file change.
    pub fn text(text: String, truncated: bool) -> Self {
        ToolOutput {
            text,
            truncated,
            changes: Vec::new(),
        }
    }
}

/// One file written by a tool: enough to show the change and to undo it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Path relative to the repository root, with `/` separators.
    pub path: String,
    /// The content before the change; `None` when the tool created the file.
    pub before: Option<String>,
    /// The content after the change.
    pub after: String,
    /// The unified diff from `before` to `after` (complete, not bounded).
    pub diff: String,
}

//! What every tool call runs against: the repository root and the limits on output.

use std::path::{Path, PathBuf};

use crate::{SecretFiles, ShellPolicy, ToolError};

/// How much text a tool may return; longer output is cut with a note saying how much.
///
/// The defaults suit a small local model with a context of a few thousand tokens per tool
/// result; an agent with a larger context window raises them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// The most bytes of text one tool result holds.
    pub max_bytes: usize,
    /// The most lines one tool result holds.
    pub max_lines: usize,
    /// The most characters shown of one line (minified files have megabyte lines).
    pub max_line_chars: usize,
    /// The largest file the file tools read, edit or parse.
    pub max_file_bytes: u64,
}

impl Default for OutputLimits {
    fn default() -> Self {
        OutputLimits {
            max_bytes: 20_000,
            max_lines: 400,
            max_line_chars: 1_000,
            max_file_bytes: 8 * 1024 * 1024,
        }
    }
}

/// The repository a tool call works on, and how.
#[derive(Debug, Clone)]
pub struct ToolContext {
    /// The canonical repository root: every path is resolved against it and confined to it.
    pub root: PathBuf,
    /// The bounds on tool output.
    pub limits: OutputLimits,
    /// How the `shell` tool runs commands.
    pub shell: ShellPolicy,
    /// The files the tools refuse to read because they usually hold credentials
    /// ([`SecretFiles::default`] unless the caller sets it from the user's configuration,
    /// which is how a user lifts a rule).
    pub secret_files: SecretFiles,
}

impl ToolContext {
    /// A context for the repository at `root` (canonicalized here, so it must exist) with
    /// default output limits.
    pub fn new(root: &Path, shell: ShellPolicy) -> Result<Self, ToolError> {
        let root = root
            .canonicalize()
            .map_err(|source| ToolError::io(root, source))?;
        if !root.is_dir() {
            return Err(ToolError::io(
                &root,
                std::io::Error::new(
                    std::io::ErrorKind::NotADirectory,
                    "the repository root is not a directory",
                ),
            ));
        }
        Ok(ToolContext {
            root,
            limits: OutputLimits::default(),
            shell,
            secret_files: SecretFiles::default(),
        })
    }
}

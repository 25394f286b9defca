//! The errors a tool call can end in, split by who can fix them.

use std::path::PathBuf;

/// Why a tool call failed.
///
/// Most variants describe a mistake in the model's call, and their messages say what was
/// wrong and what would work; those go back to the model. [`ToolError::is_model_fixable`]
/// is false only for failures on our side (I/O, a damaged repository), which end the turn.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The arguments did not match the tool's schema or made no sense together.
    #[error("invalid arguments for `{tool}`: {message}")]
    BadArguments {
        /// The tool that was called.
        tool: &'static str,
        /// What was wrong and what was expected.
        message: String,
    },
    /// No tool of that name exists.
    #[error("there is no tool named `{name}`; the tools are: {available}")]
    UnknownTool {
        /// The name the model used.
        name: String,
        /// The names that exist, comma separated.
        available: String,
    },
    /// The path does not exist.
    #[error("`{path}` does not exist (paths are relative to the repository root)")]
    NotFound {
        /// The path as the model gave it.
        path: String,
    },
    /// The path cannot be resolved: a symlink loop, or characters no path may hold.
    #[error("`{path}` is not a usable path: {reason}")]
    InvalidPath {
        /// The path as the model gave it.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file was expected but the path is a directory.
    #[error("`{path}` is a directory, expected a file (use list_files to see what it holds)")]
    IsDirectory {
        /// The path as the model gave it.
        path: String,
    },
    /// The path is neither a file nor a directory: a FIFO, a socket or a device, whose
    /// reads would block or never end.
    #[error("`{path}` is a {kind}, not a regular file; the file tools only read and write regular files")]
    NotARegularFile {
        /// The path as the model gave it.
        path: String,
        /// What it is instead ("FIFO (named pipe)", "socket", …).
        kind: &'static str,
    },
    /// The path resolves (through `..` or symlinks) to a place outside the repository.
    #[error(
        "`{path}` is outside the repository; only paths inside the repository root can be used"
    )]
    OutsideRepository {
        /// The path as the model gave it.
        path: String,
    },
    /// A write into the `.git` directory, which tools never touch.
    #[error(
        "`{path}` is inside `.git`, which tools never write; use the git tools to inspect history"
    )]
    GitDirWrite {
        /// The path as the model gave it.
        path: String,
    },
    /// The file matches a secret-file rule ([`crate::SecretFiles`]): it usually holds
    /// credentials, so the tools do not read it unless the user lifts the rule.
    #[error(
        "`{path}` matches the secret-file rule `{rule}`, so hearth does not read it: such \
         files usually hold credentials. Work without it; the user can lift the rule in \
         their hearth configuration (an exception such as `!{rule}`)"
    )]
    SecretFile {
        /// The path as the model gave it.
        path: String,
        /// The rule that matched.
        rule: String,
    },
    /// The file holds binary data (a NUL byte), so it cannot be shown or edited as text.
    #[error("`{path}` is a binary file, expected a text file")]
    Binary {
        /// The path as the model gave it.
        path: String,
    },
    /// The file is text but not valid UTF-8, so editing it could corrupt it.
    #[error("`{path}` is not valid UTF-8, so it cannot be edited safely")]
    NotUtf8 {
        /// The path as the model gave it.
        path: String,
    },
    /// The file is larger than the tools read.
    #[error("`{path}` is {bytes} bytes, larger than the {limit}-byte limit for this tool")]
    TooLarge {
        /// The path as the model gave it.
        path: String,
        /// The file's size.
        bytes: u64,
        /// The largest size accepted.
        limit: u64,
    },
    /// `write_file` was asked to create a file that already exists.
    #[error("`{path}` already exists; pass \"overwrite\": true to replace it, or use edit_file to change part of it")]
    AlreadyExists {
        /// The path as the model gave it.
        path: String,
    },
    /// `edit_file` found no occurrence of the snippet to replace.
    #[error("the `old` snippet was not found in `{path}`{hint}")]
    NotFoundInFile {
        /// The path as the model gave it.
        path: String,
        /// A hint towards the text the model probably meant (may be empty).
        hint: String,
    },
    /// `edit_file` found the snippet more than once.
    #[error("the `old` snippet occurs {count} times in `{path}` (starting at lines {lines}); include more surrounding lines so that it matches exactly once")]
    NotUnique {
        /// How many times the snippet occurs.
        count: usize,
        /// The path as the model gave it.
        path: String,
        /// The 1-based lines where the occurrences start, comma separated.
        lines: String,
    },
    /// A well-formed call that would change nothing (`old` equal to `new`). Not a
    /// malformed call: it parsed and matched the schema, but doing it would be a no-op, so
    /// the model is asked for the text that should replace `old`.
    #[error("`{tool}` would change nothing: {message}")]
    NoChange {
        /// The tool that was called.
        tool: &'static str,
        /// Why nothing would change and what would.
        message: String,
    },
    /// A regular expression or glob did not parse.
    #[error("invalid {what} `{pattern}`: {message}")]
    InvalidPattern {
        /// "regex" or "glob".
        what: &'static str,
        /// The pattern as the model gave it.
        pattern: String,
        /// The parser's explanation.
        message: String,
    },
    /// A git revision that does not name a commit (or a range that does not parse).
    #[error("`{rev}` is not a valid revision here: {message}")]
    BadRevision {
        /// The revision as the model gave it.
        rev: String,
        /// What git said.
        message: String,
    },
    /// The repository root is not a git repository, so git tools do not apply.
    #[error("`{root}` is not a git repository; the git tools cannot be used here")]
    NotARepository {
        /// The repository root.
        root: PathBuf,
    },
    /// The repository at the root reaches outside it (a `.git` file or symlink, `core.worktree`,
    /// `commondir`, object alternates or a symlink under `.git` pointing elsewhere), so the git
    /// tools would read another repository or files outside the root.
    #[error(
        "the repository's {what} `{path}` lies outside the repository root `{root}`; the git \
         tools only read a repository whose git directory and work tree are inside the root \
         (a `.git` file or symlink, `core.worktree`, `commondir` or object alternates point \
         elsewhere here), so they cannot be used in this repository"
    )]
    RepositoryOutsideRoot {
        /// The repository root.
        root: PathBuf,
        /// Which part of the repository lies outside ("git directory", "work tree", …).
        what: &'static str,
        /// Where that part is, as the repository names it.
        path: PathBuf,
    },
    /// The path is not tracked by git (blame needs history).
    #[error("`{path}` is not tracked by git in HEAD")]
    NotTracked {
        /// The path as the model gave it.
        path: String,
    },
    /// The file's language has no outline support.
    #[error("`{path}` is not in a supported language; outline supports {supported}")]
    UnsupportedLanguage {
        /// The path as the model gave it.
        path: String,
        /// The supported languages and their file extensions.
        supported: String,
    },
    /// An I/O error on our side.
    #[error("I/O error on `{path}`: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A git operation failed for a reason other than the model's input.
    #[error("git failed to {operation}: {source}")]
    Git {
        /// What was being done.
        operation: String,
        /// The libgit2 error.
        source: git2::Error,
    },
    /// A command could not be confined by the OS sandbox, so it was not run.
    #[error("the command was not run: {reason}")]
    Sandbox {
        /// Why the sandbox could not be set up, and what the user can do.
        reason: String,
    },
    /// A built-in tree-sitter query did not compile (a defect in this crate).
    #[error("the built-in {language} outline query is invalid: {message}")]
    Query {
        /// The language whose query failed.
        language: &'static str,
        /// The tree-sitter error.
        message: String,
    },
}

impl ToolError {
    /// Whether the model can fix this by calling differently (the error goes back to it),
    /// as opposed to a failure on our side that ends the turn. A git failure is a fact
    /// about the repository (no commits yet, a missing reference), not a broken hearth:
    /// the model is told and can use another tool.
    pub fn is_model_fixable(&self) -> bool {
        !matches!(
            self,
            ToolError::Io { .. } | ToolError::Query { .. } | ToolError::Sandbox { .. }
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ToolError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn git(operation: impl Into<String>, source: git2::Error) -> Self {
        ToolError::Git {
            operation: operation.into(),
            source,
        }
    }

    pub(crate) fn bad_arguments(tool: &'static str, message: impl Into<String>) -> Self {
        ToolError::BadArguments {
            tool,
            message: message.into(),
        }
    }
}

